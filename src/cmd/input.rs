//! The audit input shared by `report`, `sql` and `preflight`: the Parquet store, or files named on
//! the command line plus, when asked, the slices downloaded from CloudWatch Logs; the scan window;
//! what could not be read.

use anyhow::{Context, Result, bail};

use crate::analysis;
use crate::audit::scan::{IngestStats, ScanOptions};
use crate::audit::source::{self, SourceSpec};
use crate::cli::{CacheDirArg, InputArgs};
use crate::cloudwatch::{self, cache::Cache};
use crate::timearg;

impl CacheDirArg {
    pub fn cache(&self) -> Cache {
        Cache::new(self.cache_dir.clone().unwrap_or_else(Cache::default_root))
    }
}

/// The sources to scan, how findings name them, and the scan options.
pub struct AuditInput {
    pub sources: Vec<SourceSpec>,
    pub origin: String,
    pub opts: ScanOptions,
    /// Directory entries that could not be read.
    pub problems: Vec<String>,
}

fn scan_options(a: &InputArgs) -> Result<ScanOptions> {
    let now = timearg::now_micros();
    let mut o = ScanOptions::default();
    let time = |flag: &str, s: &Option<String>| -> Result<Option<i64>> {
        s.as_ref()
            .map(|s| {
                timearg::parse(s, now)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("invalid {flag} {s:?}"))
            })
            .transpose()
    };
    o.since_us = time("--since", &a.since)?;
    o.until_us = time("--until", &a.until)?;
    if let (Some(a), Some(b)) = (o.since_us, o.until_us) {
        if a >= b {
            bail!("--since must be before --until");
        }
    }
    o.strict = a.strict;
    if let Some(t) = a.threads {
        o.partitions = t;
    }
    if let Some(l) = a.memory.memory_limit {
        o.memory.limit = l;
        o.memory.default = false;
    }
    o.memory.min_free = a.memory.min_free_disk as u64;
    o.memory.spill_root = a.cloudwatch.dir.cache().root().join("spill");
    Ok(o)
}

/// The store `--store` names, the part of it selected (--cluster-name, --since/--until), and the
/// scan options; `None` without --store.
pub async fn store_input(
    s: &crate::cli::StoreArgs,
    a: &InputArgs,
) -> Result<Option<(crate::store::Store, crate::store::Selection, ScanOptions)>> {
    let Some(spec) = &s.store else {
        return Ok(None);
    };
    let opts = scan_options(a)?;
    for c in &s.cluster_names {
        crate::store::check_cluster_name(c)?;
    }
    let store = crate::store::Store::open(spec, &aws_options(a)).await?;
    let sel = crate::store::Selection {
        clusters: s.cluster_names.clone(),
        since_us: opts.since_us,
        until_us: opts.until_us,
    };
    Ok(Some((store, sel, opts)))
}

/// The audit input of `report`, `sql` and `preflight`, resolved in one place: the Parquet store
/// (read locally, or by a Ballista cluster with `--engine ballista`), or raw logs (files and
/// CloudWatch Logs).
pub enum Audit {
    Store {
        store: Box<crate::store::Store>,
        sel: crate::store::Selection,
        opts: ScanOptions,
        /// The remote engine and the deadline of each of its queries.
        remote: Option<(
            datafusion::execution::context::SessionContext,
            std::time::Duration,
        )>,
    },
    Raw(AuditInput),
}

/// Resolves the audit input: `--store` (with `engine`, when the command has one), else the raw
/// sources `files` and CloudWatch Logs (`default_hours` back by default).
pub async fn audit(
    files: &[String],
    s: &crate::cli::StoreArgs,
    a: &InputArgs,
    engine: Option<&crate::cli::EngineArgs>,
    default_hours: i64,
) -> Result<Audit> {
    let remote_asked = engine.is_some_and(|e| e.engine == crate::cli::Engine::Ballista);
    match store_input(s, a).await? {
        Some((store, sel, opts)) => {
            if !files.is_empty() {
                bail!("--store reads the store: give no audit sources besides it");
            }
            let remote = match engine {
                Some(e) => super::engine(e)
                    .await?
                    .map(|ctx| (ctx, std::time::Duration::from_secs(e.query_timeout.max(1)))),
                None => None,
            };
            Ok(Audit::Store {
                store: Box::new(store),
                sel,
                opts,
                remote,
            })
        }
        None if remote_asked => {
            bail!("--engine ballista reads the Parquet store: give --store (see kscope ingest)")
        }
        None => Ok(Audit::Raw(gather(files, a, default_hours).await?)),
    }
}

/// The AWS flags of the CloudWatch source (also used for S3 stores).
pub fn aws_options(a: &InputArgs) -> cloudwatch::aws::ClientOptions {
    cloudwatch::aws::ClientOptions {
        region: a.cloudwatch.region.clone(),
        profile: a.cloudwatch.profile.clone(),
        endpoint_url: a.cloudwatch.endpoint_url.clone(),
    }
}

/// Gathers the audit input: files named, plus the slices downloaded from CloudWatch Logs when
/// asked. For CloudWatch the window defaults to the last `default_hours` hours, and it also bounds
/// the scan.
pub async fn gather(files: &[String], a: &InputArgs, default_hours: i64) -> Result<AuditInput> {
    let mut opts = scan_options(a)?;
    let cw = &a.cloudwatch;
    if files.is_empty() && !cw.wanted() {
        bail!(
            "no audit source given: name files, directories, globs, or - for stdin, or \
             --cluster / --log-group for CloudWatch Logs"
        );
    }
    let expanded = if files.is_empty() {
        source::Expanded::default()
    } else {
        source::expand(files).context("cannot read the audit sources")?
    };
    if a.strict {
        if let Some(p) = expanded.problems.first() {
            bail!("unreadable: {p} (--strict)");
        }
    }
    let mut sources = expanded.sources;
    if !cw.wanted() {
        return Ok(AuditInput {
            origin: analysis::origin(&sources),
            sources,
            opts,
            problems: expanded.problems,
        });
    }
    let now_us = timearg::now_micros();
    let since_us = *opts
        .since_us
        .get_or_insert(now_us - default_hours * 3_600_000_000);
    let until_us = opts.until_us.unwrap_or(now_us);
    let o = cloudwatch::CwOptions {
        client: aws_options(a),
        cluster: cw.cluster.clone(),
        log_group: cw.log_group.clone(),
        stream_prefix: cw.stream_prefix.clone(),
        start_ms: since_us.div_euclid(1000),
        // the scan keeps requests before `until`: cover its last millisecond too
        end_ms: (until_us + 999).div_euclid(1000),
        max_tps: cw.max_tps,
        max_filter_tps: cw.max_filter_tps,
        parallel: cw.parallel,
        max_retries: cw.max_retries,
        refresh: cw.refresh,
        cache: cw.dir.cache(),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let fetched = cloudwatch::fetch(&o)
        .await
        .context("cannot read the audit log from CloudWatch Logs")?;
    let s = &fetched.stats;
    let _ = crate::render::stderr::fetched(s, &mut std::io::stderr());
    let mut origin = format!(
        "CloudWatch Logs {} ({}), {} stream(s), {} to {}",
        s.log_group,
        s.region,
        s.streams.len(),
        timearg::format_micros(since_us),
        timearg::format_micros(until_us)
    );
    if !sources.is_empty() {
        origin = format!("{origin}; {}", analysis::origin(&sources));
    }
    sources.extend(fetched.files.into_iter().map(SourceSpec::File));
    Ok(AuditInput {
        sources,
        origin,
        opts,
        problems: expanded.problems,
    })
}

/// The CloudWatch window `report` and `sql` read by default.
pub const REPORT_HOURS: i64 = 24;

/// Says what could not be read (on stderr).
pub fn report_input_problems(stats: &IngestStats) {
    if stats.malformed > 0 {
        tracing::warn!(
            "{} malformed line(s) skipped; the input was not fully read (exit code 2; --strict stops at the first)",
            stats.malformed
        );
    }
    let _ = crate::render::stderr::input_problems(stats, &mut std::io::stderr());
}
