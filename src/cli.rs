//! The command line: flags (one doc comment each, shown by `--help`) and dispatch.

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::analysis;
use crate::audit::scan::{IngestStats, ScanOptions};
use crate::audit::source::{self, SourceSpec};
use crate::cloudwatch::{self, cache::Cache};
use crate::finding::FailOn;
use crate::inventory::Version;
use crate::inventory::live::LiveOptions;
use crate::lint::{self, Source};
use crate::query::{self, Params};
use crate::render::{self, Format};
use crate::rules::{self};
use crate::timearg;

/// kscope keeps Kubernetes API servers healthy: it analyses API-server audit logs with SQL (top talkers,
/// expensive and unpaginated LISTs, watch churn, throttling, deprecated API callers, access hygiene),
/// and lints live clusters and manifests (admission webhooks, API Priority and Fairness, deprecated
/// APIs, CRD bloat, garbage).
///
/// Exit codes: 0 nothing at or above --fail-on; 1 findings at or above --fail-on; 2 usage error,
/// unreadable input, or input not fully read (malformed lines).
#[derive(Debug, Parser)]
#[command(name = "kscope", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// Diagnostics on stderr: -v info (timings, counts), -vv debug, -vvv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every analysis in queries/ (or those chosen with --query) and print one table per query,
    /// a summary and the findings.
    Report(ReportArgs),
    /// Run one SQL statement over the `audit` table.
    Sql(SqlArgs),
    /// List the analyses, or explain one.
    Queries(QueriesArgs),
    /// Check a live cluster or manifest files against the rules in rules/ (webhooks, API Priority
    /// and Fairness, deprecated APIs, CRD bloat, garbage).
    Lint(LintArgs),
    /// List the lint rules, or explain one.
    Rules(RulesArgs),
    /// The cache of audit events downloaded from CloudWatch Logs: list or clear it.
    Cache(CacheArgs),
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: Option<CacheCommand>,

    #[command(flatten)]
    pub dir: CacheDirArg,
}

/// Where downloaded CloudWatch events are kept.
#[derive(Debug, Args, Clone)]
pub struct CacheDirArg {
    /// Cache directory (default: the user cache directory + kscope, e.g. ~/.cache/kscope).
    #[arg(long, value_name = "DIR", env = "KSCOPE_CACHE_DIR", global = true)]
    pub cache_dir: Option<std::path::PathBuf>,
}

impl CacheDirArg {
    fn cache(&self) -> Cache {
        Cache::new(self.cache_dir.clone().unwrap_or_else(Cache::default_root))
    }
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// One line per cached slice: region, log group, stream, time range, events, size, state.
    Ls,
    /// Delete every cached slice.
    Clear,
}

/// Amazon CloudWatch Logs as the audit source (EKS control-plane audit logging).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "CloudWatch Logs source")]
pub struct CloudWatchArgs {
    /// EKS cluster whose audit log to read (log group /aws/eks/NAME/cluster); the window
    /// defaults to the last 24 hours.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,

    /// Log group to read (instead of /aws/eks/NAME/cluster).
    #[arg(long, value_name = "GROUP")]
    pub log_group: Option<String>,

    /// Read the streams whose names start with this (default: kube-apiserver-audit-<32 hex>).
    #[arg(long, value_name = "PREFIX")]
    pub stream_prefix: Option<String>,

    /// AWS region (default: from the environment or profile).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// AWS profile from the shared config files (SSO, assume-role and process profiles work).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// CloudWatch Logs endpoint, e.g. a VPC endpoint or a local emulator.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// GetLogEvents requests per second, shared by all downloads (default: 80 % of the
    /// per-account quota: 20, or 8 in us-east-1 and us-west-2).
    #[arg(long, value_name = "N")]
    pub max_tps: Option<f64>,

    /// FilterLogEvents requests per second: its quota is separate from GetLogEvents', so some runs
    /// read with it (default 4: 80 % of the lowest regional quota; 0: GetLogEvents only).
    #[arg(long, value_name = "N")]
    pub max_filter_tps: Option<f64>,

    /// Downloads at once; the hours to download are cut into about twice this many runs
    /// (consecutive hours of one stream, read through one token chain).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub parallel: usize,

    /// Retries of one call (throttling, 5xx, dropped connections) before the download stops.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_retries: u32,

    /// Download again what the cache already holds.
    #[arg(long)]
    pub refresh: bool,

    #[command(flatten)]
    pub dir: CacheDirArg,
}

impl CloudWatchArgs {
    fn wanted(&self) -> bool {
        self.cluster.is_some() || self.log_group.is_some()
    }
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Manifest files or directories (YAML or JSON, multi-document, `kind: List`); - for stdin.
    /// Without -f, the live cluster of the kubeconfig's current context is scanned.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<std::path::PathBuf>,

    /// Kubeconfig context to scan (default: the current context).
    #[arg(long, value_name = "CTX", conflicts_with = "files")]
    pub context: Option<String>,

    /// Kubeconfig file (default: $KUBECONFIG or ~/.kube/config; in a pod, the service account).
    #[arg(
        long,
        value_name = "PATH",
        env = "KSCOPE_KUBECONFIG",
        conflicts_with = "files"
    )]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// Judge deprecated APIs against this Kubernetes version (1.NN). Default: the cluster's
    /// version for live scans, the newest version kscope knows for files.
    #[arg(long, value_name = "1.NN")]
    pub target_version: Option<String>,

    /// Run only this rule (code such as WH001, name, or a prefix such as AP). Repeatable.
    #[arg(long = "rule", value_name = "CODE")]
    pub rules: Vec<String>,

    /// Do not run this rule (code, name or prefix). Repeatable.
    #[arg(long = "skip", value_name = "CODE")]
    pub skip: Vec<String>,

    /// Set a rule parameter: NAME=VALUE for every rule that has it, CODE.NAME=VALUE for one.
    /// Lists are comma-separated. See `kscope rules explain CODE`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,

    /// Exit with code 1 when a finding has at least this severity.
    #[arg(long, value_enum, default_value = "error")]
    pub fail_on: FailOn,

    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,

    /// Live scans: API requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,

    /// Live scans: seconds to wait for one response.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub request_timeout: u64,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: Option<RulesCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// One line per rule: code, name, severity, kinds, summary (the default).
    List,
    /// Everything about one rule: summary, why, remediation, parameters, references.
    Explain {
        /// Rule code (WH001) or name.
        code: String,
    },
}

/// Where audit events come from and how to read them.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Keep requests received at or after this time: RFC 3339 (2026-11-01T00:00:00Z), a date
    /// (2026-11-01), or relative to now (90s, 30m, 6h, 2d, 1w). Alias: --start. --until takes
    /// the same forms.
    #[arg(long, alias = "start", value_name = "TIME")]
    pub since: Option<String>,

    /// Keep requests received before this time (alias --end).
    #[arg(long, alias = "end", value_name = "TIME")]
    pub until: Option<String>,

    /// Stop at the first malformed line or unreadable source instead of counting and reporting it.
    #[arg(long)]
    pub strict: bool,

    /// Parse threads (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// How results are printed.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,

    /// Rows shown per table in table and markdown output (0: all). JSON and CSV hold every row.
    #[arg(long, value_name = "N", default_value_t = 15)]
    pub max_rows: usize,

    /// Set a query parameter: NAME=VALUE for every query that has it, CODE.NAME=VALUE for one query.
    /// Repeatable. See `kscope queries explain CODE` for each query's parameters and defaults.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Audit logs: files, directories (read recursively), globs, or - for stdin. JSON lines, gzip,
    /// EventList documents, CloudWatch Logs exports, GKE and AKS exports are recognised per file.
    /// Not needed with --cluster or --log-group.
    #[arg(value_name = "SOURCE", required_unless_present_any = ["cluster", "log_group"])]
    pub sources: Vec<String>,

    /// Run only this query (code such as AUD020, or name). Repeatable.
    #[arg(long = "query", value_name = "CODE")]
    pub queries: Vec<String>,

    /// Exit with code 1 when a finding has at least this severity.
    #[arg(long, value_enum, default_value = "error")]
    pub fail_on: FailOn,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub cloudwatch: CloudWatchArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The SQL statement, then the audit sources. With -f, every argument is a source.
    #[arg(value_name = "SQL_THEN_SOURCES", required = true)]
    pub args: Vec<String>,

    /// Read the SQL from this file instead of the first argument.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
    pub file: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub cloudwatch: CloudWatchArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct QueriesArgs {
    #[command(subcommand)]
    pub command: Option<QueriesCommand>,
}

#[derive(Debug, Subcommand)]
pub enum QueriesCommand {
    /// One line per query: code, name, severity, audit level needed, title (the default).
    List,
    /// Everything about one query: what it finds, why it matters, columns, parameters, its SQL.
    Explain {
        /// Query code (AUD020) or name (lists-without-limit).
        code: String,
    },
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    Findings,
    /// The input was not fully read (malformed lines, unreadable sources).
    IncompleteInput,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Findings => 1,
            Outcome::IncompleteInput => 2,
        }
    }
}

fn scan_options(a: &InputArgs) -> Result<ScanOptions> {
    let now = timearg::now_micros();
    let mut o = ScanOptions::default();
    if let Some(s) = &a.since {
        o.since_us = Some(
            timearg::parse(s, now)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("invalid --since {s:?}"))?,
        );
    }
    if let Some(s) = &a.until {
        o.until_us = Some(
            timearg::parse(s, now)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("invalid --until {s:?}"))?,
        );
    }
    if let (Some(a), Some(b)) = (o.since_us, o.until_us) {
        if a >= b {
            bail!("--since must be before --until");
        }
    }
    o.strict = a.strict;
    if let Some(t) = a.threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
        o.partitions = t;
    }
    Ok(o)
}

fn expand(sources: &[String]) -> Result<Vec<SourceSpec>> {
    source::expand(sources).context("cannot read the audit sources")
}

/// The audit sources: files named, plus the slices downloaded from CloudWatch Logs when asked,
/// and how findings name them. For CloudWatch the window defaults to the last 24 hours, and it also
/// bounds the scan.
async fn gather(
    files: &[String],
    cw: &CloudWatchArgs,
    opts: &mut ScanOptions,
) -> Result<(Vec<SourceSpec>, String)> {
    let mut sources = if files.is_empty() {
        Vec::new()
    } else {
        expand(files)?
    };
    if !cw.wanted() {
        let origin = analysis::origin(&sources);
        return Ok((sources, origin));
    }
    if cw.parallel == 0 {
        bail!("--parallel must be at least 1");
    }
    if cw.max_tps.is_some_and(|t| t.is_nan() || t <= 0.0) {
        bail!("--max-tps must be more than 0");
    }
    if cw.max_filter_tps.is_some_and(|t| t.is_nan() || t < 0.0) {
        bail!("--max-filter-tps must be 0 (GetLogEvents only) or more");
    }
    let now_us = timearg::now_micros();
    let since_us = *opts.since_us.get_or_insert(now_us - 24 * 3_600_000_000);
    let until_us = opts.until_us.unwrap_or(now_us);
    let o = cloudwatch::CwOptions {
        client: cloudwatch::aws::ClientOptions {
            region: cw.region.clone(),
            profile: cw.profile.clone(),
            endpoint_url: cw.endpoint_url.clone(),
        },
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
    eprintln!(
        "kscope: CloudWatch {} ({}): {} audit stream(s), {} events ({} downloaded in {} requests, {} slice(s) of {} from the cache) in {:.1}s",
        s.log_group,
        s.region,
        s.streams.len(),
        s.events,
        s.events_downloaded,
        s.requests,
        s.slices_cached,
        s.slices,
        s.seconds
    );
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
    Ok((sources, origin))
}

/// Prints what could not be read to stderr.
fn report_input_problems(stats: &IngestStats) {
    if stats.malformed > 0 {
        tracing::warn!(
            "{} malformed line(s) skipped; the input was not fully read (exit code 2; --strict stops at the first)",
            stats.malformed
        );
        for m in &stats.malformed_samples {
            eprintln!("kscope: malformed: {}: {}", m.source, m.reason);
        }
        if stats.malformed as usize > stats.malformed_samples.len() {
            eprintln!(
                "kscope: … and {} more malformed line(s)",
                stats.malformed as usize - stats.malformed_samples.len()
            );
        }
    }
    for e in &stats.read_errors {
        eprintln!("kscope: unreadable: {e}");
    }
}

pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<Outcome> {
    match cli.command {
        Command::Report(a) => {
            let queries = query::select(&a.queries)?;
            let params = Params::parse(&a.output.params, &queries)?;
            let mut opts = scan_options(&a.input)?;
            let (sources, origin) = gather(&a.sources, &a.cloudwatch, &mut opts).await?;
            let started = std::time::Instant::now();
            let report = analysis::report(sources, origin, opts, &queries, &params).await?;
            tracing::info!(
                "report: {} requests, {} queries, {} findings in {:.2?}",
                report.ingest.events,
                report.queries.len(),
                report.findings.len(),
                started.elapsed()
            );
            report_input_problems(&report.ingest);
            render::report(&report, a.output.format, a.output.max_rows, out)?;
            Ok(if !report.ingest.fully_read() {
                Outcome::IncompleteInput
            } else if a.fail_on.fails(&report.findings) {
                Outcome::Findings
            } else {
                Outcome::Clean
            })
        }
        Command::Sql(a) => {
            let (sql, srcs) = match &a.file {
                Some(f) => (
                    std::fs::read_to_string(f)
                        .with_context(|| format!("cannot read {}", f.display()))?,
                    a.args.clone(),
                ),
                None => (a.args[0].clone(), a.args[1..].to_vec()),
            };
            if srcs.is_empty() && !a.cloudwatch.wanted() {
                bail!(
                    "no audit source given: name files, directories, globs, or - for stdin, or \
                     --cluster / --log-group for CloudWatch Logs"
                );
            }
            let sql = bind_free_params(&sql, &a.output.params)?;
            let mut opts = scan_options(&a.input)?;
            let (sources, _) = gather(&srcs, &a.cloudwatch, &mut opts).await?;
            let started = std::time::Instant::now();
            let (table, stats) = analysis::sql(sources, opts, &sql).await?;
            tracing::info!(
                "sql: {} rows from {} requests in {:.2?}",
                table.rows.len(),
                stats.events,
                started.elapsed()
            );
            report_input_problems(&stats);
            render::sql_result(&table, a.output.format, a.output.max_rows, out)?;
            Ok(if stats.fully_read() {
                Outcome::Clean
            } else {
                Outcome::IncompleteInput
            })
        }
        Command::Lint(a) => lint(a, out).await,
        Command::Rules(a) => {
            match a.command.unwrap_or(RulesCommand::List) {
                RulesCommand::List => render::rules_list(rules::registry()?, out)?,
                RulesCommand::Explain { code } => {
                    for r in rules::select(std::slice::from_ref(&code), &[])? {
                        render::rule_explain(r, out)?;
                    }
                }
            }
            Ok(Outcome::Clean)
        }
        Command::Cache(a) => {
            let cache = a.dir.cache();
            match a.command.unwrap_or(CacheCommand::Ls) {
                CacheCommand::Ls => render::cache_list(&cache.list()?, cache.root(), out)?,
                CacheCommand::Clear => {
                    let (files, bytes) = cache.clear()?;
                    writeln!(
                        out,
                        "removed {files} file(s), {:.1} MB, from {}",
                        bytes as f64 / 1e6,
                        cache.root().display()
                    )?;
                }
            }
            Ok(Outcome::Clean)
        }
        Command::Queries(a) => {
            match a.command.unwrap_or(QueriesCommand::List) {
                QueriesCommand::List => {
                    let t = crate::table::Table {
                        columns: ["code", "name", "severity", "requires", "title"]
                            .map(String::from)
                            .to_vec(),
                        rows: query::registry()?
                            .iter()
                            .map(|q| {
                                vec![
                                    q.code.clone().into(),
                                    q.name.clone().into(),
                                    q.severity.map(|s| s.as_str()).unwrap_or("-").into(),
                                    q.requires.clone().into(),
                                    q.title.clone().into(),
                                ]
                            })
                            .collect(),
                    };
                    writeln!(out, "{}", render::text_table(&t, 0))?;
                }
                QueriesCommand::Explain { code } => {
                    let q = query::select(std::slice::from_ref(&code))?;
                    for q in q {
                        writeln!(out, "{}", q.text.trim_end())?;
                    }
                }
            }
            Ok(Outcome::Clean)
        }
    }
}

async fn lint(a: LintArgs, out: &mut dyn Write) -> Result<Outcome> {
    let selected = rules::select(&a.rules, &a.skip)?;
    let params = rules::RuleParams::parse(&a.params, &selected)?;
    let target = match &a.target_version {
        Some(t) => Some(
            Version::parse(t)
                .with_context(|| format!("invalid --target-version {t:?}: expected 1.NN"))?,
        ),
        None => None,
    };
    if a.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let source = if a.files.is_empty() {
        Source::Cluster(LiveOptions {
            kubeconfig: a.kubeconfig.clone(),
            context: a.context.clone(),
            concurrency: a.concurrency,
            request_timeout: std::time::Duration::from_secs(a.request_timeout.max(1)),
            ..LiveOptions::default()
        })
    } else {
        Source::Files(a.files.clone())
    };
    let started = std::time::Instant::now();
    let inv = lint::inventory(&source, &selected).await?;
    let target = lint::target(&inv, target)?;
    let report = lint::run(&inv, &selected, target, &params);
    if inv.live {
        tracing::info!(
            "lint: {} API requests, {} objects, {} rules in {:.2?}",
            inv.requests,
            report.objects,
            selected.len(),
            started.elapsed()
        );
    } else {
        tracing::info!(
            "lint: {} objects, {} rules in {:.2?}",
            report.objects,
            selected.len(),
            started.elapsed()
        );
    }
    for p in &report.problems {
        eprintln!("kscope: invalid: {p}");
    }
    render::lint(&report, a.format, out)?;
    Ok(if !report.problems.is_empty() {
        Outcome::IncompleteInput
    } else if a.fail_on.fails(&report.outcome.findings) {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// `--param name=value` for free-form SQL: replaces `${name}`.
fn bind_free_params(sql: &str, params: &[String]) -> Result<String> {
    let mut values = std::collections::HashMap::new();
    for p in params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| query::QueryError::BadParamSyntax(p.clone()))?;
        if !sql.contains(&format!("${{{}}}", k.trim())) {
            bail!("--param {k}: the SQL has no ${{{k}}}");
        }
        values.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(query::bind(sql, &values))
}
