//! kube-apiserver's work estimator (API Priority and Fairness): the seats a request occupies while
//! it runs, as the server computes them, per release line. Read from k8s.io/apiserver
//! `pkg/util/flowcontrol/request/` (list_work_estimator.go "LWE", mutating_work_estimator.go,
//! config.go, width.go) and `pkg/storage/cacher/delegator/interface.go` ("DLG") at release-1.33
//! 3968f09f ("R133") and release-1.34 94c3691e ("R134"), release-1.35 9633d587 ("R135"); the
//! per-level cap from `pkg/util/flowcontrol/apf_controller.go` ("CTL"). Each rule below names its
//! lines.

use crate::inventory::Version;

/// Objects per seat of the count-based estimate (config.go, R133:28).
const OBJECTS_PER_SEAT: u64 = 100;
/// Bytes per seat of the size-based estimate (LWE R134:34).
const BYTES_PER_SEAT: f64 = 100_000.0;
/// What a LIST served from the watch cache is assumed to hold in memory at most (LWE R134:35).
const CACHE_MAX_BYTES: f64 = 1_000_000.0;
/// The object size assumed when the average is unknown (LWE R134:39, 183-185).
const MAX_OBJECT_BYTES: f64 = 1_500_000.0;
/// The seat cap of every request up to 1.33, and of mutating requests after (config.go R133:27, R134:78).
const SEATS_CAP: u32 = 10;
/// The seat cap of LIST and WATCH from 1.34 with SizeBasedListCostEstimate (config.go R134:70-77).
const LIST_SEATS_CAP_134: u32 = 100;
/// API groups served by aggregated servers, whose object counts the API server does not track:
/// such LISTs cost 1 seat (ObjectCountNotFound, LWE R133:101-114, R134:115-128).
const AGGREGATED_GROUPS: &[&str] = &[
    "metrics.k8s.io",
    "custom.metrics.k8s.io",
    "external.metrics.k8s.io",
];

/// Object count and average size of one resource.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectStat {
    pub count: u64,
    /// Bytes per object as the server estimates it (`apiserver_resource_size_estimate_bytes` /
    /// count), when known.
    pub avg_bytes: Option<f64>,
}

/// The request attributes the estimator reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Req<'a> {
    pub verb: &'a str,
    pub api_group: &'a str,
    /// `None` for a non-resource request.
    pub resource: Option<&'a str>,
    pub name: Option<&'a str>,
    pub limit: Option<i64>,
    pub continue_token: bool,
    pub resource_version: Option<&'a str>,
    pub resource_version_match: Option<&'a str>,
    pub label_selector: bool,
    pub field_selector: Option<&'a str>,
    pub send_initial_events: bool,
}

/// The estimate and what decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// `None`: the object count it needs is unknown.
    pub seats: Option<u32>,
    /// `cache` or `etcd` for LISTs (and WATCHes costed as LISTs); `None` otherwise.
    pub served_from: Option<&'static str>,
    /// The objects the estimate counted (LIST), when known.
    pub objects: Option<u64>,
}

impl Estimate {
    fn fixed(seats: u32) -> Estimate {
        Estimate {
            seats: Some(seats),
            served_from: None,
            objects: None,
        }
    }
}

/// Which parts of the estimator a release has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// 1.34+: SizeBasedListCostEstimate (beta, on by default from 1.34: kube_features.go R134:402-404).
    pub size_based: bool,
    /// The WatchList gate (width.go R133:112-128): beta on in 1.32, off in 1.33, on from 1.34.
    pub watch_list: bool,
    /// 1.35+: a watch without resourceVersion or with "0" is costed as a LIST (LWE R135:89-97).
    pub legacy_watch_costed: bool,
    /// 1.31+: consistent reads (no resourceVersion) are served from the cache where etcd supports
    /// progress notify (ConsistentListFromCache; DLG R133:109-113). Assumed supported.
    pub consistent_from_cache: bool,
}

impl Line {
    pub fn of(v: Version) -> Line {
        let at = |m: u32| v >= Version::new(1, m);
        Line {
            size_based: at(34),
            watch_list: at(34) || v == Version::new(1, 32),
            legacy_watch_costed: at(35),
            consistent_from_cache: at(31),
        }
    }
}

/// The per-level seat limit (CTL R134:880-894): max(1, min(ceil(0.15 × nominal), nominal /
/// handSize)) for levels that queue; 0 (none) for levels that reject and exempt ones.
pub fn level_max_seats(nominal: u32, hand_size: f64, queues: bool) -> u32 {
    if !queues || nominal == 0 {
        return 0;
    }
    let a = (0.15 * f64::from(nominal)).ceil() as u32;
    let b = (f64::from(nominal) / hand_size.max(1.0)).floor() as u32;
    a.min(b).max(1)
}

/// The cap that applies: the level's limit when set and below the global one.
fn cap(global: u32, level_max: u32) -> u32 {
    if level_max > 0 && level_max <= global {
        level_max
    } else {
        global
    }
}

/// Whether the estimator counts a LIST as served from the watch cache (DLG R133:27-64,81-113,
/// identical through R136; 1.29-1.30 sent a limited read without resourceVersion to etcd).
pub fn from_cache(r: &Req, line: Line) -> bool {
    if r.verb == "watch" {
        return true; // LWE R133:91
    }
    let rv = r.resource_version.filter(|s| !s.is_empty());
    let limited = r.limit.is_some_and(|l| l > 0);
    match r.resource_version_match.filter(|s| !s.is_empty()) {
        Some("NotOlderThan") => return true,
        Some(_) => return false,
        None => {}
    }
    if r.continue_token {
        return false;
    }
    match rv {
        None => line.consistent_from_cache,
        Some("0") => true,
        Some(_) => !limited,
    }
}

/// The seats of one request at the server line `line`, in a level whose own limit is `level_max`
/// (0: none), with the resource's `stat`.
pub fn estimate(r: &Req, line: Line, level_max: u32, stat: Option<ObjectStat>) -> Estimate {
    let listing = match r.verb {
        "list" => true,
        // WATCH is costed as a LIST only with the WatchList gate, and then only when it asks for
        // initial events (1.35+: also a legacy watch from resourceVersion unset or "0")
        "watch" => {
            line.watch_list
                && (r.send_initial_events
                    || (line.legacy_watch_costed
                        && matches!(r.resource_version, None | Some("") | Some("0"))))
        }
        _ => false,
    };
    let Some(_resource) = r.resource.filter(|_| listing) else {
        // get, mutations (1 seat while running; the seats held after a write depend on the
        // watchers, which the log does not show), non-resource URLs (width.go R133:112-128)
        return Estimate::fixed(1);
    };
    let by_name = r.name.is_some_and(|n| !n.is_empty())
        || r.field_selector
            .is_some_and(|f| f.starts_with("metadata.name=") && !f.contains(','));
    let cached = from_cache(r, line);
    let served_from = Some(if cached { "cache" } else { "etcd" });
    if by_name && !line.size_based {
        return Estimate {
            seats: Some(1),
            served_from,
            objects: Some(1),
        };
    }
    let Some(stat) = stat else {
        if AGGREGATED_GROUPS.contains(&r.api_group) {
            return Estimate {
                seats: Some(1),
                served_from,
                objects: None,
            };
        }
        return Estimate {
            seats: None,
            served_from,
            objects: None,
        };
    };
    let n = stat.count;
    let l = match r.limit {
        Some(l) if l > 0 => (l as u64).min(n),
        _ => n,
    };
    let selector = r.label_selector || r.field_selector.is_some_and(|f| !f.is_empty());
    if !line.size_based {
        // LWE R133:122-153: objects / 100, cap 10
        let objects = if cached {
            n
        } else if selector {
            n + l
        } else {
            2 * l
        };
        let seats = objects.div_ceil(OBJECTS_PER_SEAT).max(1) as u32;
        return Estimate {
            seats: Some(seats.min(cap(SEATS_CAP, level_max))),
            served_from,
            objects: Some(objects),
        };
    }
    // LWE R134:182-208: bytes / 100 000, cap 100 (a cache read counts at most 1 MB)
    let objects = if by_name {
        1
    } else if cached {
        l
    } else if selector {
        l.max(n / 2)
    } else {
        l
    };
    let avg = match stat.avg_bytes {
        Some(a) if a > 0.0 => a,
        _ if n == 0 => 0.0,
        _ => MAX_OBJECT_BYTES,
    };
    let mut bytes = objects as f64 * avg;
    if cached {
        bytes = bytes.min(CACHE_MAX_BYTES);
    }
    let seats = ((bytes / BYTES_PER_SEAT).ceil() as u32).max(1);
    Estimate {
        seats: Some(seats.min(cap(LIST_SEATS_CAP_134, level_max))),
        served_from,
        objects: Some(objects),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V133: Line = Line {
        size_based: false,
        watch_list: false,
        legacy_watch_costed: false,
        consistent_from_cache: true,
    };

    fn v(m: u32) -> Line {
        Line::of(Version::new(1, m))
    }

    fn list<'a>(limit: Option<i64>, rv: Option<&'a str>, cont: bool) -> Req<'a> {
        Req {
            verb: "list",
            resource: Some("pods"),
            limit,
            resource_version: rv,
            continue_token: cont,
            ..Req::default()
        }
    }

    fn stat(count: u64, avg: f64) -> Option<ObjectStat> {
        Some(ObjectStat {
            count,
            avg_bytes: Some(avg),
        })
    }

    #[test]
    fn lines_follow_the_feature_gates() {
        assert_eq!(v(33), V133);
        assert!(v(34).size_based && v(34).watch_list && !v(34).legacy_watch_costed);
        assert!(v(32).watch_list && !v(33).watch_list);
        assert!(!v(30).consistent_from_cache);
    }

    /// DLG R133:27-64: which reads the estimator counts as cache reads.
    #[test]
    fn served_from_the_cache_or_etcd() {
        let l = v(33);
        assert!(from_cache(&list(None, Some("0"), false), l));
        assert!(from_cache(&list(Some(500), None, false), l)); // consistent read from cache (1.31+)
        assert!(!from_cache(&list(Some(500), None, false), v(30)));
        assert!(!from_cache(&list(Some(500), Some("12345"), false), l)); // legacy exact
        assert!(from_cache(&list(None, Some("12345"), false), l));
        assert!(!from_cache(&list(Some(500), None, true), l)); // continue
        let mut exact = list(None, Some("5"), false);
        exact.resource_version_match = Some("Exact");
        assert!(!from_cache(&exact, l));
        exact.resource_version_match = Some("NotOlderThan");
        assert!(from_cache(&exact, l));
    }

    /// Worked cases of the fact sheet (≤1.33: LWE R133:122-153).
    #[test]
    fn count_based_up_to_1_33() {
        let l = v(33);
        // page 2 of 10 000 pods from etcd: 2 × 500 objects → 10 seats (cap)
        let e = estimate(&list(Some(500), None, true), l, 37, stat(10_000, 2000.0));
        assert_eq!(
            (e.seats, e.served_from, e.objects),
            (Some(10), Some("etcd"), Some(1000))
        );
        // a cache read ignores the limit: 10 000 / 100 → capped at 10
        let e = estimate(
            &list(Some(100), Some("0"), false),
            l,
            0,
            stat(10_000, 2000.0),
        );
        assert_eq!((e.seats, e.objects), (Some(10), Some(10_000)));
        // small: 250 objects from the cache → 3 seats; a level limit of 4 caps at 4
        assert_eq!(
            estimate(&list(None, Some("0"), false), l, 4, stat(250, 1.0)).seats,
            Some(3)
        );
        assert_eq!(
            estimate(&list(None, Some("0"), false), l, 2, stat(250, 1.0)).seats,
            Some(2)
        );
        // etcd with a selector: N + L
        let mut sel = list(Some(500), Some("7"), false);
        sel.label_selector = true;
        assert_eq!(
            estimate(&sel, l, 0, stat(10_000, 1.0)).objects,
            Some(10_500)
        );
        // by name: 1 seat
        let mut one = list(None, None, false);
        one.field_selector = Some("metadata.name=x");
        assert_eq!(estimate(&one, l, 0, stat(10_000, 1.0)).seats, Some(1));
    }

    /// Worked cases of the fact sheet (1.34+: LWE R134:182-208).
    #[test]
    fn size_based_from_1_34() {
        let l = v(34);
        // page 2 from etcd: 500 × 2 KB = 1 MB → 10
        assert_eq!(
            estimate(&list(Some(500), None, true), l, 37, stat(10_000, 2000.0)).seats,
            Some(10)
        );
        // with a selector: max(500, 5000) × 2 KB = 10 MB → 100 → the level's 37
        let mut sel = list(Some(500), None, true);
        sel.label_selector = true;
        assert_eq!(estimate(&sel, l, 37, stat(10_000, 2000.0)).seats, Some(37));
        // catch-all has no level limit: 100
        assert_eq!(estimate(&sel, l, 0, stat(10_000, 2000.0)).seats, Some(100));
        // first page from the cache, limit 100: 100 × 2 KB → 2 seats
        assert_eq!(
            estimate(&list(Some(100), None, false), l, 37, stat(10_000, 2000.0)).seats,
            Some(2)
        );
        // a cache read counts at most 1 MB: 10 seats
        assert_eq!(
            estimate(&list(None, Some("0"), false), l, 37, stat(50_000, 2000.0)).seats,
            Some(10)
        );
        // unknown size: 1.5 MB per object; by name from etcd → 15, capped by the level (from
        // the cache, capped at 1 MB: 10)
        let mut one = list(None, None, false);
        one.name = Some("x");
        let unknown = Some(ObjectStat {
            count: 10,
            avg_bytes: None,
        });
        assert_eq!(estimate(&one, l, 37, unknown).seats, Some(10));
        one.resource_version_match = Some("Exact");
        let unknown = Some(ObjectStat {
            count: 10,
            avg_bytes: None,
        });
        assert_eq!(estimate(&one, l, 37, unknown).seats, Some(15));
        assert_eq!(estimate(&one, l, 8, unknown).seats, Some(8));
    }

    #[test]
    fn watches_gets_mutations_unknowns() {
        let w = Req {
            verb: "watch",
            resource: Some("pods"),
            resource_version: Some("0"),
            ..Req::default()
        };
        assert_eq!(estimate(&w, v(34), 0, stat(50_000, 2000.0)).seats, Some(1));
        assert_eq!(estimate(&w, v(35), 0, stat(50_000, 2000.0)).seats, Some(10));
        let mut init = w;
        init.send_initial_events = true;
        init.resource_version = Some("5");
        assert_eq!(
            estimate(&init, v(33), 0, stat(50_000, 2000.0)).seats,
            Some(1)
        ); // WatchList off
        assert_eq!(
            estimate(&init, v(34), 0, stat(50_000, 2000.0)).seats,
            Some(10)
        );
        let get = Req {
            verb: "get",
            resource: Some("pods"),
            ..Req::default()
        };
        assert_eq!(estimate(&get, v(34), 0, None).seats, Some(1));
        let create = Req {
            verb: "create",
            resource: Some("pods"),
            ..Req::default()
        };
        assert_eq!(estimate(&create, v(33), 0, None).seats, Some(1));
        // a LIST whose object count is unknown is unknown, except aggregated APIs (1 seat)
        assert_eq!(
            estimate(&list(None, None, false), v(34), 0, None).seats,
            None
        );
        let mut m = list(None, None, false);
        m.api_group = "metrics.k8s.io";
        assert_eq!(estimate(&m, v(34), 0, None).seats, Some(1));
    }

    /// CTL R134:880-894 with the default levels at 600 seats (fact sheet §6).
    #[test]
    fn per_level_limits() {
        assert_eq!(level_max_seats(245, 6.0, true), 37); // workload-low
        assert_eq!(level_max_seats(98, 6.0, true), 15); // workload-high, node-high
        assert_eq!(level_max_seats(25, 4.0, true), 4); // leader-election
        assert_eq!(level_max_seats(49, 6.0, true), 8); // global-default
        assert_eq!(level_max_seats(13, 1.0, false), 0); // catch-all rejects
    }
}
