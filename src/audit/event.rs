//! One audit event (`audit.k8s.io/v1` or `v1beta1`), decoded from JSON with only the members a scan needs.

use std::borrow::Cow;

use super::json::{Cursor, JsonError};

/// Which groups of members to decode; the rest is skipped without being built.
#[derive(Debug, Clone, Copy, Default)]
pub struct Need {
    pub level: bool,
    pub uri: bool,
    pub user: bool,
    pub user_groups: bool,
    /// `user.groups` kept as its raw JSON (parsed only when needed: the control-plane label).
    pub user_groups_raw: bool,
    pub user_extra: bool,
    pub impersonated: bool,
    pub source_ip: bool,
    pub user_agent: bool,
    pub object_ref: bool,
    pub status: bool,
    /// `responseStatus.message` (kept for the webhook columns).
    pub message: bool,
    pub timestamps: bool,
    pub annotations: bool,
    pub annotation_map: bool,
    pub bodies: bool,
}

impl Need {
    pub fn all() -> Self {
        Need {
            level: true,
            uri: true,
            user: true,
            user_groups: true,
            user_groups_raw: true,
            user_extra: true,
            impersonated: true,
            source_ip: true,
            user_agent: true,
            object_ref: true,
            status: true,
            message: true,
            timestamps: true,
            annotations: true,
            annotation_map: true,
            bodies: true,
        }
    }
}

/// Why a line is not a usable audit event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    #[error("invalid timestamp in `{0}`: {1:?}")]
    BadTimestamp(&'static str, String),
    #[error("{0}")]
    Other(String),
}

/// The decoded members of one event. Strings borrow from the line unless they had escapes.
#[derive(Debug, Default)]
pub struct RawEvent<'a> {
    pub audit_id: Option<Cow<'a, str>>,
    pub stage: Option<Cow<'a, str>>,
    pub level: Option<Cow<'a, str>>,
    pub verb: Option<Cow<'a, str>>,
    pub request_uri: Option<Cow<'a, str>>,
    pub user_name: Option<Cow<'a, str>>,
    pub user_groups: Vec<Cow<'a, str>>,
    /// The raw JSON array of `user.groups` (with [`Need::user_groups_raw`]).
    pub user_groups_raw: Option<&'a [u8]>,
    pub user_pod_name: Option<Cow<'a, str>>,
    pub impersonated_user: Option<Cow<'a, str>>,
    pub source_ip: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    pub resource: Option<Cow<'a, str>>,
    pub subresource: Option<Cow<'a, str>>,
    pub namespace: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub api_group: Option<Cow<'a, str>>,
    pub api_version: Option<Cow<'a, str>>,
    pub response_code: Option<i64>,
    pub response_reason: Option<Cow<'a, str>>,
    pub response_message: Option<Cow<'a, str>>,
    pub request_received: Option<Cow<'a, str>>,
    pub stage_timestamp: Option<Cow<'a, str>>,
    /// v1beta1's `timestamp` (and `metadata.creationTimestamp`), used when `requestReceivedTimestamp` is absent.
    pub legacy_timestamp: Option<Cow<'a, str>>,
    pub annotations: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub request_object_bytes: Option<i64>,
    pub response_object_bytes: Option<i64>,
}

pub const EXTRA_POD_NAME: &[u8] = b"authentication.kubernetes.io/pod-name";

impl<'a> RawEvent<'a> {
    /// Decodes one event. Always reads `auditID`, `stage`, `verb`, `objectRef.subresource` and the
    /// timestamps (needed to count each request once and to apply the time window).
    pub fn parse(line: &'a [u8], need: &Need) -> Result<RawEvent<'a>, EventError> {
        match std::str::from_utf8(line) {
            Ok(text) => Self::parse_str(text, need),
            Err(e) => Err(EventError::Json(JsonError::BadUtf8(e.valid_up_to()))),
        }
    }

    /// [`RawEvent::parse`] of a line already known to be UTF-8.
    pub fn parse_str(line: &'a str, need: &Need) -> Result<RawEvent<'a>, EventError> {
        let mut c = Cursor::indexed(line);
        let ev = Self::parse_members(&mut c, need);
        c.recycle();
        let mut ev = ev?;
        if ev.audit_id.is_none() {
            return Err(EventError::Missing("auditID"));
        }
        if ev.stage.is_none() {
            return Err(EventError::Missing("stage"));
        }
        if ev.verb.is_none() {
            return Err(EventError::Missing("verb"));
        }
        if ev.request_uri.is_none() {
            return Err(EventError::Missing("requestURI"));
        }
        if ev.request_received.is_none() {
            if ev.legacy_timestamp.is_some() {
                ev.request_received = ev.legacy_timestamp.take();
            } else {
                return Err(EventError::Missing("requestReceivedTimestamp"));
            }
        }
        Ok(ev)
    }

    /// The members of one event (whether the required ones are there is the caller's check).
    fn parse_members(c: &mut Cursor<'a>, need: &Need) -> Result<RawEvent<'a>, EventError> {
        let mut ev = RawEvent::default();
        c.begin_object()?;
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"auditID" => ev.audit_id = c.str_or_null()?,
                b"stage" => ev.stage = c.str_or_null()?,
                b"verb" => ev.verb = c.str_or_null()?,
                b"level" if need.level => ev.level = c.str_or_null()?,
                b"requestURI" => ev.request_uri = c.str_or_null()?,
                // the small nested members are always walked the same way, decoded or not, so that
                // whether a line is malformed never depends on the columns a query reads
                b"user" => parse_user(c, &mut ev, need)?,
                b"impersonatedUser" => {
                    let mut tmp = RawEvent::default();
                    parse_user(c, &mut tmp, &Need::default())?;
                    if need.impersonated {
                        ev.impersonated_user = tmp.user_name;
                    }
                }
                b"sourceIPs" => {
                    let (s, e) = c.skip_value()?;
                    if need.source_ip {
                        ev.source_ip = string_array(c.slice(s, e)).into_iter().next();
                    }
                }
                b"userAgent" if need.user_agent => ev.user_agent = c.str_or_null()?,
                b"objectRef" => parse_object_ref(c, &mut ev, need.object_ref)?,
                b"responseStatus" => parse_status(c, &mut ev, need)?,
                b"requestReceivedTimestamp" => ev.request_received = c.str_or_null()?,
                b"stageTimestamp" => ev.stage_timestamp = c.str_or_null()?,
                b"timestamp" => ev.legacy_timestamp = c.str_or_null()?,
                // v1beta1 events carry metadata.creationTimestamp
                b"metadata" if c.peek() == Some(b'{') => {
                    c.begin_object()?;
                    let mut f = true;
                    while let Some(k) = c.next_key(&mut f)? {
                        if k == b"creationTimestamp" && ev.legacy_timestamp.is_none() {
                            ev.legacy_timestamp = c.str_or_null()?;
                        } else {
                            c.skip_value()?;
                        }
                    }
                }
                b"annotations" if c.peek() == Some(b'{') => {
                    c.begin_object()?;
                    let mut f = true;
                    while let Some(k) = c.next_key(&mut f)? {
                        let v = c.str_or_null()?;
                        if let (true, Ok(k), Some(v)) =
                            (need.annotations, std::str::from_utf8(k), v)
                        {
                            ev.annotations.push((Cow::Borrowed(k), v));
                        }
                    }
                }
                b"requestObject" if need.bodies => {
                    let (s, e) = c.skip_value()?;
                    ev.request_object_bytes = body_len(c, s, e);
                }
                b"responseObject" if need.bodies => {
                    let (s, e) = c.skip_value()?;
                    ev.response_object_bytes = body_len(c, s, e);
                }
                _ => {
                    c.skip_value()?;
                }
            }
        }
        c.end()?;
        Ok(ev)
    }

    /// True for the requests the API server treats as long-running (they log `ResponseStarted` first).
    pub fn is_long_running(&self) -> bool {
        matches!(self.verb.as_deref(), Some("watch" | "proxy"))
            || matches!(
                self.subresource.as_deref(),
                Some("attach" | "exec" | "proxy" | "log" | "portforward")
            )
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }
}

fn body_len(c: &Cursor<'_>, s: usize, e: usize) -> Option<i64> {
    if c.slice(s, e) == b"null" {
        None
    } else {
        Some((e - s) as i64)
    }
}

/// The strings of a JSON array, read leniently from an already-delimited span.
pub fn string_array(span: &[u8]) -> Vec<Cow<'_, str>> {
    let mut out = Vec::new();
    let mut c = Cursor::new(span);
    if c.expect(b'[', "'['").is_err() {
        return out;
    }
    let mut f = true;
    while let Ok(true) = c.next_elem(&mut f) {
        match c.str_or_null() {
            Ok(Some(s)) => out.push(s),
            Ok(None) => {}
            Err(_) => break,
        }
    }
    out
}

/// `user.extra[authentication.kubernetes.io/pod-name][0]`, read leniently from the span of `extra`.
fn extra_pod_name(span: &[u8]) -> Option<Cow<'_, str>> {
    let mut c = Cursor::new(span);
    c.begin_object().ok()?;
    let mut f = true;
    while let Ok(Some(k)) = c.next_key(&mut f) {
        let (s, e) = c.skip_value().ok()?;
        if k == EXTRA_POD_NAME {
            return string_array(c.slice(s, e)).into_iter().next();
        }
    }
    None
}

fn parse_user<'a>(
    c: &mut Cursor<'a>,
    ev: &mut RawEvent<'a>,
    need: &Need,
) -> Result<(), EventError> {
    if c.peek() != Some(b'{') {
        c.skip_value()?;
        return Ok(());
    }
    c.begin_object()?;
    let mut first = true;
    while let Some(k) = c.next_key(&mut first)? {
        match k {
            b"username" => ev.user_name = c.str_or_null()?,
            b"groups" => {
                let (s, e) = c.skip_value()?;
                if need.user_groups_raw {
                    ev.user_groups_raw = Some(c.slice(s, e));
                }
                if need.user_groups {
                    ev.user_groups = string_array(c.slice(s, e));
                }
            }
            b"extra" => {
                let (s, e) = c.skip_value()?;
                if need.user_extra {
                    ev.user_pod_name = extra_pod_name(c.slice(s, e));
                }
            }
            _ => {
                c.skip_value()?;
            }
        }
    }
    Ok(())
}

fn parse_object_ref<'a>(
    c: &mut Cursor<'a>,
    ev: &mut RawEvent<'a>,
    all: bool,
) -> Result<(), EventError> {
    if c.peek() != Some(b'{') {
        c.skip_value()?;
        return Ok(());
    }
    c.begin_object()?;
    let mut first = true;
    while let Some(k) = c.next_key(&mut first)? {
        match k {
            b"subresource" => ev.subresource = c.str_or_null()?,
            b"resource" if all => ev.resource = c.str_or_null()?,
            b"namespace" if all => ev.namespace = c.str_or_null()?,
            b"name" if all => ev.name = c.str_or_null()?,
            b"apiGroup" if all => ev.api_group = c.str_or_null()?,
            b"apiVersion" if all => ev.api_version = c.str_or_null()?,
            _ => {
                c.skip_value()?;
            }
        }
    }
    Ok(())
}

fn parse_status<'a>(
    c: &mut Cursor<'a>,
    ev: &mut RawEvent<'a>,
    need: &Need,
) -> Result<(), EventError> {
    let keep = need.status;
    if c.peek() != Some(b'{') {
        c.skip_value()?;
        return Ok(());
    }
    c.begin_object()?;
    let mut first = true;
    while let Some(k) = c.next_key(&mut first)? {
        match k {
            b"code" if keep => ev.response_code = c.int_or_null()?,
            b"reason" if keep => ev.response_reason = c.str_or_null()?,
            b"message" if need.message => ev.response_message = c.str_or_null()?,
            _ => {
                c.skip_value()?;
            }
        }
    }
    Ok(())
}

/// Parses an RFC 3339 timestamp (`2026-11-01T00:00:00.123456Z`, any fraction, `Z` or `±hh:mm`)
/// into microseconds since the Unix epoch, UTC.
pub fn parse_rfc3339_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as i64;
        }
        Some(v)
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..6 {
            micros *= 10;
        }
    }
    let offset_s = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let v = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if sign == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86400 + h * 3600 + mi * 60 + sec) - offset_s) * 1_000_000 + micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parses a Go `time.Duration` string (`1.2s`, `629.994µs`, `780ns`, `1m2.5s`, `1h0m0s`) into milliseconds.
pub fn parse_go_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let ms = match &rest[..u] {
            "ns" => 1e-6,
            "us" | "µs" | "μs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            _ => return None,
        };
        total += v * ms;
        rest = &rest[u..];
    }
    Some(if neg { -total } else { total })
}

/// The client a user agent names: its product (`kubelet`, `kubectl`, `Prometheus`), and for the
/// controller managers the controller after the build (`kube-controller-manager/replicaset-controller`).
pub fn client_of(ua: &str) -> String {
    let ua = ua.trim();
    let end = ua.find(['/', ' ']).unwrap_or(ua.len());
    let product = &ua[..end];
    if product.ends_with("controller-manager") {
        // `kube-controller-manager/v1.30.4 (linux/amd64) kubernetes/abc1234/<who>`
        if let Some(k) = ua.find(") ") {
            let tail = &ua[k + 2..];
            let mut parts = tail.splitn(3, '/');
            let _kubernetes = parts.next();
            let _commit = parts.next();
            if let Some(who) = parts.next().filter(|w| !w.is_empty()) {
                let who = who.rsplit(':').next().unwrap_or(who);
                return format!("{product}/{who}");
            }
        }
    }
    product.to_string()
}

/// The query parameters of a request URI that matter for LIST and WATCH analysis.
#[derive(Debug, Default, PartialEq)]
pub struct UriParams<'a> {
    pub limit: Option<i64>,
    pub continue_token: Option<Cow<'a, str>>,
    pub resource_version: Option<Cow<'a, str>>,
    pub resource_version_match: Option<Cow<'a, str>>,
    pub label_selector: Option<Cow<'a, str>>,
    pub field_selector: Option<Cow<'a, str>>,
    pub watch: Option<bool>,
    pub timeout_seconds: Option<i64>,
}

/// Splits a request URI into its path and the parameters in [`UriParams`] (percent-decoded).
pub fn parse_uri(uri: &str) -> (&str, UriParams<'_>) {
    let mut p = UriParams::default();
    let (path, query) = match uri.split_once('?') {
        Some((a, b)) => (a, b),
        None => (uri, ""),
    };
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "limit" => p.limit = v.parse().ok(),
            "continue" => p.continue_token = Some(percent_decode(v)),
            "resourceVersion" => p.resource_version = Some(percent_decode(v)),
            "resourceVersionMatch" => p.resource_version_match = Some(percent_decode(v)),
            "labelSelector" => p.label_selector = Some(percent_decode(v)),
            "fieldSelector" => p.field_selector = Some(percent_decode(v)),
            "watch" => p.watch = Some(matches!(v, "true" | "1" | "True" | "")),
            "timeoutSeconds" => p.timeout_seconds = v.parse().ok(),
            _ => {}
        }
    }
    (path, p)
}

/// Decodes `%XX` and `+` in a query-string value; invalid escapes are kept as written.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_micros("1970-01-01T00:00:01.5Z"),
            Some(1_500_000)
        );
        assert_eq!(
            parse_rfc3339_micros("2026-11-01T00:00:00.123456Z"),
            Some(1_793_491_200_123_456)
        );
        // nanoseconds are truncated to microseconds
        assert_eq!(
            parse_rfc3339_micros("2026-11-01T00:00:00.123456789Z"),
            Some(1_793_491_200_123_456)
        );
        assert_eq!(
            parse_rfc3339_micros("2026-11-01T02:00:00+02:00"),
            Some(1_793_491_200_000_000)
        );
        assert_eq!(
            parse_rfc3339_micros("2026-10-31T19:00:00-05:00"),
            Some(1_793_491_200_000_000)
        );
        for bad in [
            "",
            "2026-11-01",
            "2026-13-01T00:00:00Z",
            "2026-11-01T00:00:00",
            "2026-11-01T00:00:00.Z",
            "2026-11-01T00:00:00Zjunk",
        ] {
            assert_eq!(parse_rfc3339_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn latency_across_midnight_is_positive() {
        let a = parse_rfc3339_micros("2026-11-01T23:59:59.900000Z").unwrap();
        let b = parse_rfc3339_micros("2026-11-02T00:00:00.150000Z").unwrap();
        assert_eq!(b - a, 250_000);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration_ms("1.2s"), Some(1200.0));
        assert!((parse_go_duration_ms("629.994µs").unwrap() - 0.629994).abs() < 1e-12);
        assert!((parse_go_duration_ms("629.994μs").unwrap() - 0.629994).abs() < 1e-12);
        assert!((parse_go_duration_ms("780ns").unwrap() - 0.00078).abs() < 1e-12);
        assert_eq!(parse_go_duration_ms("1m2.5s"), Some(62500.0));
        assert_eq!(parse_go_duration_ms("1h0m0s"), Some(3_600_000.0));
        assert_eq!(parse_go_duration_ms("0"), Some(0.0));
        assert_eq!(parse_go_duration_ms("-3ms"), Some(-3.0));
        for bad in ["", "s", "1", "1x", "ms5", "1.2.3s"] {
            assert_eq!(parse_go_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn clients() {
        let kv = "v1.30.4 (linux/amd64) kubernetes/abc1234";
        assert_eq!(client_of(&format!("kubelet/{kv}")), "kubelet");
        assert_eq!(
            client_of(&format!(
                "kube-controller-manager/{kv}/system:serviceaccount:kube-system:replicaset-controller"
            )),
            "kube-controller-manager/replicaset-controller"
        );
        assert_eq!(
            client_of(&format!("kube-controller-manager/{kv}/leader-election")),
            "kube-controller-manager/leader-election"
        );
        assert_eq!(
            client_of(&format!("kube-controller-manager/{kv}")),
            "kube-controller-manager"
        );
        assert_eq!(
            client_of(&format!("kube-scheduler/{kv}/scheduler")),
            "kube-scheduler"
        );
        assert_eq!(client_of("Prometheus/2.53.1"), "Prometheus");
        assert_eq!(
            client_of("OpenAPI-Generator/29.0.0/python"),
            "OpenAPI-Generator"
        );
        assert_eq!(client_of("Go-http-client/2.0"), "Go-http-client");
        assert_eq!(client_of("curl"), "curl");
        assert_eq!(client_of(""), "");
    }

    #[test]
    fn uri_params() {
        let (path, p) = parse_uri(
            "/api/v1/pods?fieldSelector=spec.nodeName%3Dip-1&labelSelector=app+in+(a%2Cb)&limit=500&resourceVersion=0&resourceVersionMatch=NotOlderThan&continue=abc%3D&timeoutSeconds=321&watch=true",
        );
        assert_eq!(path, "/api/v1/pods");
        assert_eq!(
            p,
            UriParams {
                limit: Some(500),
                continue_token: Some("abc=".into()),
                resource_version: Some("0".into()),
                resource_version_match: Some("NotOlderThan".into()),
                label_selector: Some("app in (a,b)".into()),
                field_selector: Some("spec.nodeName=ip-1".into()),
                watch: Some(true),
                timeout_seconds: Some(321),
            }
        );
        let (path, p) = parse_uri("/apis/apps/v1/deployments");
        assert_eq!(path, "/apis/apps/v1/deployments");
        assert_eq!(p, UriParams::default());
        let (_, p) = parse_uri("/api/v1/pods?limit=abc&labelSelector=%zz");
        assert_eq!(p.limit, None);
        assert_eq!(p.label_selector.as_deref(), Some("%zz"));
    }

    #[test]
    fn event_requires_fields() {
        let ok = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete","verb":"get","requestURI":"/x","requestReceivedTimestamp":"2026-11-01T00:00:00Z"}"#;
        assert!(RawEvent::parse(ok, &Need::all()).is_ok());
        let missing = br#"{"auditID":"a","stage":"ResponseComplete","requestURI":"/x","requestReceivedTimestamp":"2026-11-01T00:00:00Z"}"#;
        assert_eq!(
            RawEvent::parse(missing, &Need::all()).err(),
            Some(EventError::Missing("verb"))
        );
        // v1beta1: `timestamp` stands in for requestReceivedTimestamp
        let beta = br#"{"apiVersion":"audit.k8s.io/v1beta1","auditID":"a","stage":"ResponseComplete","verb":"get","requestURI":"/x","timestamp":"2026-11-01T00:00:00Z"}"#;
        let ev = RawEvent::parse(beta, &Need::all()).unwrap();
        assert_eq!(ev.request_received.as_deref(), Some("2026-11-01T00:00:00Z"));
    }

    #[test]
    fn event_reads_nested_members_and_body_sizes() {
        let line = br#"{"auditID":"id1","stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces/a/configmaps?fieldManager=kubectl\u0026x=1",
          "user":{"username":"u","groups":["g1","g2"],"extra":{"authentication.kubernetes.io/pod-name":["p-1"],"x":["y"]}},
          "impersonatedUser":{"username":"sa","groups":["z"]},"sourceIPs":["10.0.0.1","10.0.0.2"],"userAgent":"kubectl/v1.30.2 (darwin/arm64) kubernetes/3968350",
          "objectRef":{"resource":"configmaps","namespace":"a","name":"c","apiVersion":"v1"},
          "responseStatus":{"metadata":{},"code":201},"requestObject":{"a":"}"},"responseObject":null,
          "requestReceivedTimestamp":"2026-11-01T00:00:00Z","stageTimestamp":"2026-11-01T00:00:00.004Z",
          "annotations":{"authorization.k8s.io/decision":"allow","k8s.io/deprecated":"true"}}"#;
        let ev = RawEvent::parse(line, &Need::all()).unwrap();
        assert_eq!(
            ev.request_uri.as_deref(),
            Some("/api/v1/namespaces/a/configmaps?fieldManager=kubectl&x=1")
        );
        assert_eq!(ev.user_groups, vec!["g1", "g2"]);
        assert_eq!(ev.user_pod_name.as_deref(), Some("p-1"));
        assert_eq!(ev.impersonated_user.as_deref(), Some("sa"));
        assert_eq!(ev.source_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(ev.response_code, Some(201));
        assert_eq!(ev.request_object_bytes, Some(r#"{"a":"}"}"#.len() as i64));
        assert_eq!(ev.response_object_bytes, None);
        assert_eq!(ev.annotation("k8s.io/deprecated"), Some("true"));
        assert!(!ev.is_long_running());
    }

    #[test]
    fn every_truncation_of_a_real_event_is_an_error_never_a_panic() {
        let line = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/nodes/n1/status?timeout=10s","verb":"patch","user":{"username":"system:node:n1","groups":["system:nodes"],"extra":{"authentication.kubernetes.io/pod-name":["p"]}},"sourceIPs":["10.0.0.1"],"userAgent":"kubelet/v1.30.4","objectRef":{"resource":"nodes","name":"n1","apiVersion":"v1","subresource":"status"},"responseStatus":{"metadata":{},"code":200},"requestObject":{"status":{"conditions":[{"type":"Ready","message":"a \"quoted\" {brace}"}]}},"requestReceivedTimestamp":"2026-11-01T00:00:00.000000Z","stageTimestamp":"2026-11-01T00:00:00.004000Z","annotations":{"authorization.k8s.io/decision":"allow"}}"#;
        assert!(RawEvent::parse(line, &Need::all()).is_ok());
        for cut in 0..line.len() - 1 {
            for need in [Need::all(), Need::default()] {
                assert!(
                    RawEvent::parse(&line[..cut], &need).is_err(),
                    "cut at {cut} accepted"
                );
            }
        }
    }
}
