//! The command line: clap structs only (one doc comment per flag, shown by `--help`), with values
//! validated by their parsers. What each command does lives in [`crate::cmd`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::finding::FailOn;
use crate::inventory::Version;
use crate::render::Format;
use crate::render::format::ColorChoice;

/// kscope keeps Kubernetes API servers healthy: it analyses API-server audit logs with SQL (top talkers,
/// expensive and unpaginated LISTs, watch churn, throttling, deprecated API callers, access hygiene),
/// lints live clusters and manifests (admission webhooks, API Priority and Fairness, deprecated
/// APIs, CRD bloat, garbage), judges upgrades hop by hop (preflight), and gates CI (SARIF, JUnit,
/// annotations, baselines).
#[derive(Debug, Parser)]
#[command(
    name = "kscope",
    version,
    about,
    long_about,
    max_term_width = 100,
    after_long_help = EXIT_CODES
)]
pub struct Cli {
    /// Diagnostics on stderr: -v info (timings, counts, peak memory), -vv debug, -vvv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Configuration file (default: .kscope.yaml in the working directory or a parent, up to the
    /// repository root).
    #[arg(long, value_name = "FILE", global = true, env = "KSCOPE_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The exit codes, for `--help` (the README has the same table).
pub const EXIT_CODES: &str = "Exit codes:
  0  no finding at or above --fail-on (or --exit-zero); preflight: READY or READY WITH WARNINGS
  1  findings at or above --fail-on (with --baseline: new ones only); preflight: BLOCKED
  2  usage error, unreadable input, input not fully read (malformed lines or documents), a query over --memory-limit, or preflight UNKNOWN (a hop past the release kscope is reviewed through, with no known blocker)";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every analysis in queries/ (or those chosen with --query) and print one table per query,
    /// a summary and the findings.
    Report(ReportArgs),
    /// Run one SQL statement over the `audit` table.
    Sql(SqlArgs),

    /// Run a Ballista scheduler or executor (the distributed engine for --engine ballista).
    #[cfg(feature = "ballista")]
    Ballista(BallistaArgs),

    /// Write audit logs (files or CloudWatch Logs) into a Parquet store, a directory or an S3
    /// prefix, partitioned by cluster, date and hour; re-ingesting a source replaces its files.
    Ingest(IngestArgs),
    /// List the analyses, or explain one.
    Queries(QueriesArgs),
    /// Check a live cluster or manifest files against the rules in rules/ (webhooks, API Priority
    /// and Fairness, deprecated APIs, CRD bloat, garbage).
    Lint(LintArgs),
    /// The configuration file: write a commented example, or show the one in effect.
    Config(ConfigArgs),

    /// Shell completions (bash, zsh, fish, powershell, elvish) on stdout.
    Completions(CompletionsArgs),

    /// Man pages (roff) for kscope and every subcommand, written to a directory.
    Man(ManArgs),

    /// Judge an upgrade to --target-version hop by hop (READY, READY WITH WARNINGS, BLOCKED) from
    /// the live cluster, manifests, Helm releases, the audit log and /metrics.
    Preflight(Box<PreflightArgs>),

    /// List the lint rules, or explain one.
    Rules(RulesArgs),
    /// The cache of audit events downloaded from CloudWatch Logs: list or clear it.
    Cache(CacheArgs),
}

// ---- shared flag groups ----

/// How a findings document (report, lint, preflight) is printed, and the CI gate: when it fails the
/// run, suppressions, baselines.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Output and CI gate")]
pub struct FindingsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,

    #[command(flatten)]
    pub term: TermArgs,

    /// Exit with code 1 when a finding has at least this severity (default: error, or `fail_on`
    /// in .kscope.yaml).
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,

    /// Also write FORMAT to PATH, e.g. --output sarif=kscope.sarif --output junit=junit.xml
    /// (repeatable; the terminal still gets --format).
    #[arg(long = "output", value_name = "FORMAT=PATH", value_parser = output_spec)]
    pub outputs: Vec<(Format, PathBuf)>,

    /// Exit with code 0 even when findings reach --fail-on (unreadable input still exits 2).
    #[arg(long)]
    pub exit_zero: bool,

    /// Fail only on findings that are not in this baseline file (see --write-baseline); report
    /// the entries that no longer occur as fixed.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Write this run's findings (after suppressions) to FILE as a baseline, keeping the reasons
    /// an existing file gives.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,

    /// With --baseline: rewrite the file without the entries that no longer occur.
    #[arg(long, requires = "baseline")]
    pub prune_baseline: bool,

    /// List suppressed and baselined findings too (they never fail the run).
    #[arg(long)]
    pub show_suppressed: bool,
}

/// How text output looks on a terminal.
#[derive(Debug, Args, Clone, Default)]
pub struct TermArgs {
    /// Colour in text output: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorChoice,

    /// Show table cells whole in text output (never shortened with …), however wide the table.
    #[arg(long)]
    pub wide: bool,
}

/// `--param` overrides, for queries, rules and free SQL alike.
#[derive(Debug, Args, Clone, Default)]
pub struct ParamArgs {
    /// Set a parameter: NAME=VALUE for every selected query or rule that has it, CODE.NAME=VALUE
    /// for one. Values take the type of the default (lists are comma-separated). Repeatable. See
    /// `kscope queries explain CODE` and `kscope rules explain CODE`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

/// Reading the Parquet store instead of raw audit logs.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Audit store")]
pub struct StoreArgs {
    /// Read the audit table from this Parquet store (a directory or s3://bucket/prefix, written
    /// by `kscope ingest`) instead of raw logs; --since/--until prune its hours.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub store: Option<String>,

    /// Only this cluster of the store (repeatable; default: every cluster, one fleet table).
    #[arg(long = "cluster-name", value_name = "NAME", requires = "store")]
    pub cluster_names: Vec<String>,

    /// `report` over a local-engine store: neither read nor write the per-hour partial aggregates
    /// kept in STORE/_kscope/partials (every query then reads the rows it needs).
    #[arg(long, requires = "store")]
    pub no_partials: bool,
}

/// Where queries run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Engine {
    /// In this process (DataFusion).
    #[default]
    Local,
    /// On an Apache DataFusion Ballista cluster (--scheduler); needs --store, and kscope built
    /// with the `ballista` feature.
    Ballista,
}

/// The query engine.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Engine")]
pub struct EngineArgs {
    /// Where the queries run: here, or on a Ballista cluster reading the store.
    #[arg(long, value_enum, default_value = "local")]
    pub engine: Engine,

    /// The Ballista scheduler (df://HOST:PORT), with --engine ballista.
    #[arg(long, value_name = "df://HOST:PORT", env = "KSCOPE_SCHEDULER")]
    pub scheduler: Option<String>,

    /// With --engine ballista: seconds one query may take, re-submissions after a lost executor
    /// included, before the run fails (never a hang, never a partial answer).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub query_timeout: u64,
}

/// Rows shown per table.
#[derive(Debug, Args, Clone)]
pub struct MaxRowsArg {
    /// Rows shown per table in table and markdown output (0: all). JSON and CSV hold every row.
    #[arg(long, value_name = "N", default_value_t = 15)]
    pub max_rows: usize,
}

/// Where audit events come from and how to read them.
#[derive(Debug, Args, Clone)]
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
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub threads: Option<usize>,

    #[command(flatten)]
    pub memory: MemoryArgs,

    #[command(flatten)]
    pub cloudwatch: CloudWatchArgs,
}

/// The run's memory budget and spilling.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Memory")]
pub struct MemoryArgs {
    /// Memory for the run (K, M, G). A report keeps the columns its queries read in memory up to
    /// half of it (at most 512M), beyond that in a temporary Parquet store; sorts and aggregations
    /// spill to disk beyond the rest. Spill files go under the cache directory and are removed at
    /// exit. Default: a quarter of the machine's memory (or of its cgroup limit), 256M to 4G.
    #[arg(long, value_name = "SIZE", value_parser = memory_size, env = "KSCOPE_MEMORY_LIMIT")]
    pub memory_limit: Option<usize>,

    /// Free disk space to leave on the spill directory's file system: spilling beyond it stops
    /// the run with an error naming the directory.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = size)]
    pub min_free_disk: usize,
}

/// Which checks run: `--rule`/`--query` and `--skip`.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Do not run this check (code, name, or a code prefix such as AP or AUD0). Repeatable.
    #[arg(long = "skip", value_name = "CODE")]
    pub skip: Vec<String>,
}

/// Where downloaded CloudWatch events are kept.
#[derive(Debug, Args, Clone)]
pub struct CacheDirArg {
    /// Cache directory (default: the user cache directory + kscope, e.g. ~/.cache/kscope).
    #[arg(long, value_name = "DIR", env = "KSCOPE_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
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
    #[arg(long, value_name = "N", value_parser = positive_rate)]
    pub max_tps: Option<f64>,

    /// FilterLogEvents requests per second: its quota is separate from GetLogEvents', so some runs
    /// read with it (default 4: 80 % of the lowest regional quota; 0: GetLogEvents only).
    #[arg(long, value_name = "N", value_parser = rate_or_zero)]
    pub max_filter_tps: Option<f64>,

    /// Downloads at once; the hours to download are cut into about twice this many runs
    /// (consecutive hours of one stream, read through one token chain).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = at_least_one)]
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
    /// Whether CloudWatch Logs is a source.
    pub fn wanted(&self) -> bool {
        self.cluster.is_some() || self.log_group.is_some()
    }
}

/// Bounds on what one manifest document may cost (manifests in a pull request are hostile input).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Manifest limits")]
pub struct ManifestLimitArgs {
    /// Largest manifest document read (K, M, G suffixes); a larger one is reported as invalid.
    #[arg(long, value_name = "SIZE", default_value = "32M", value_parser = size)]
    pub max_document_size: usize,

    /// Deepest nesting of mappings and sequences in a manifest document.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = at_least_one)]
    pub max_depth: usize,
}

/// How to reach a live cluster and how hard to push it.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Live cluster")]
pub struct ClusterArgs {
    /// Kubeconfig context to scan (default: the current context).
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,

    /// Kubeconfig file (default: $KUBECONFIG or ~/.kube/config; in a pod, the service account).
    #[arg(long, value_name = "PATH", env = "KSCOPE_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// API requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = at_least_one)]
    pub concurrency: usize,

    /// Seconds to wait for one response.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub request_timeout: u64,
}

// ---- commands ----

#[derive(Debug, Args)]
#[command(after_long_help = EXIT_CODES)]
pub struct ReportArgs {
    /// Audit logs: files, directories (read recursively), globs, or - for stdin. JSON lines, gzip,
    /// EventList documents, CloudWatch Logs exports, GKE and AKS exports are recognised per file
    /// (and per line, in files that mix them). Not needed with --cluster or --log-group.
    #[arg(value_name = "SOURCE", required_unless_present_any = ["cluster", "log_group", "store"])]
    pub sources: Vec<String>,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    /// Run only this query (code such as AUD020, name, or a code prefix such as AUD02). Repeatable.
    #[arg(long = "query", value_name = "CODE")]
    pub queries: Vec<String>,

    #[command(flatten)]
    pub select: SelectArgs,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub output: FindingsArgs,

    #[command(flatten)]
    pub max_rows: MaxRowsArg,

    #[command(flatten)]
    pub params: ParamArgs,

    #[command(flatten)]
    pub webhooks: WebhookArgs,

    #[command(flatten)]
    pub pricing: PricingArgs,
}

/// Where `report` reads the webhook configurations that explain AUD044's webhook failures.
#[derive(Debug, Args)]
#[command(next_help_heading = "Webhook configurations")]
pub struct WebhookArgs {
    /// Manifest files or directories holding the cluster's webhook configurations (and their
    /// Services, Deployments and APIServices): each AUD044 finding then names its configuration,
    /// failurePolicy, timeoutSeconds and selectors, and what `kscope lint`'s WH rules say about it.
    #[arg(long = "webhooks", value_name = "PATH")]
    pub files: Vec<PathBuf>,

    /// Read those webhook configurations from the live cluster of this kubeconfig context instead
    /// ("" for the current context); read only when there is a webhook failure to explain.
    #[arg(
        long = "webhooks-context",
        value_name = "CTX",
        conflicts_with = "files"
    )]
    pub context: Option<String>,

    /// Kubeconfig file for --webhooks-context (default: $KUBECONFIG or ~/.kube/config).
    #[arg(
        long = "webhooks-kubeconfig",
        value_name = "PATH",
        env = "KSCOPE_KUBECONFIG"
    )]
    pub kubeconfig: Option<PathBuf>,
}

/// What the APF estimate (`est_seats`, `flow_schema`, `priority_level` of `audit`) rests on. Each
/// is optional; the report names every input it used.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "APF estimate")]
pub struct PricingArgs {
    /// Read the APF objects (FlowSchemas, PriorityLevelConfigurations), object counts and sizes
    /// (`/metrics`) and the server's version (`/version`) from the cluster of this kubeconfig
    /// context ("" for the current one). Read-only; nothing else is listed.
    #[arg(id = "apf_context", long = "context", value_name = "CTX")]
    pub context: Option<String>,

    /// Kubeconfig file for --context (default: $KUBECONFIG or ~/.kube/config); giving it reads
    /// the current context's cluster.
    #[arg(id = "apf_kubeconfig", long = "kubeconfig", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// FlowSchema and PriorityLevelConfiguration manifests (files or directories) to classify
    /// requests with, instead of the server's suggested objects.
    #[arg(long = "apf-config", value_name = "PATH")]
    pub apf_config: Vec<PathBuf>,

    /// Object counts and sizes per resource: a saved `/metrics` text, or YAML/JSON rows
    /// `{group, resource, count, avg_bytes}` (the README shows the format).
    #[arg(long = "object-stats", value_name = "PATH")]
    pub object_stats: Option<PathBuf>,

    /// The API server's version (1.NN): which estimator applies (count-based up to 1.33,
    /// size-based from 1.34). Default: the live /version, else the log's kube-apiserver user
    /// agent, else 1.34 (said in the report).
    #[arg(long = "server-version", value_name = "1.NN", value_parser = k8s_version)]
    pub server_version: Option<Version>,

    /// The server's concurrency limit in seats (--max-requests-inflight plus
    /// --max-mutating-requests-inflight; 600 by default, more on larger managed control planes).
    #[arg(long = "server-seats", value_name = "N", default_value_t = 600)]
    pub server_seats: u32,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The SQL statement, then the audit sources. With -f, every argument is a source.
    #[arg(value_name = "SQL_THEN_SOURCES", required = true)]
    pub args: Vec<String>,

    /// Read the SQL from this file instead of the first argument.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    /// Output format: text, json (an array of row objects), csv, markdown or html.
    #[arg(long, default_value = "text", value_parser = row_format())]
    pub format: Format,

    #[command(flatten)]
    pub term: TermArgs,

    #[command(flatten)]
    pub max_rows: MaxRowsArg,

    #[command(flatten)]
    pub params: ParamArgs,

    #[command(flatten)]
    pub pricing: PricingArgs,
}

/// `kscope ballista`.
#[cfg(feature = "ballista")]
#[derive(Debug, Args)]
pub struct BallistaArgs {
    #[command(subcommand)]
    pub command: BallistaCommand,
}

#[cfg(feature = "ballista")]
#[derive(Debug, Subcommand)]
pub enum BallistaCommand {
    /// A Ballista scheduler: plans queries and hands their tasks to the executors.
    Scheduler {
        /// Address to listen on.
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
        /// Seconds without a heartbeat after which an executor is lost and its tasks move.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        executor_timeout: u64,
    },
    /// A Ballista executor: runs tasks, reading the store (a shared directory or S3).
    Executor {
        /// The scheduler to register with.
        #[arg(long, value_name = "df://HOST:PORT")]
        scheduler: String,
        /// Address of its Arrow Flight service (results and shuffles).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50051")]
        bind: std::net::SocketAddr,
        /// Address of its gRPC service (default: the --bind port + 1).
        #[arg(long, value_name = "HOST:PORT")]
        grpc_bind: Option<std::net::SocketAddr>,
        /// Directory for shuffle files (default: a temporary directory).
        #[arg(long, value_name = "DIR")]
        work_dir: Option<String>,
        /// Seconds between heartbeats to the scheduler.
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        heartbeat: u64,
    },
}

/// `kscope ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Audit logs: files, directories (read recursively), globs, or - for stdin (as `report`).
    /// Not needed with --cluster or --log-group (CloudWatch Logs).
    #[arg(value_name = "SOURCE", required_unless_present_any = ["cluster", "log_group"])]
    pub sources: Vec<String>,

    /// The store: a directory (created if missing) or s3://bucket/prefix (the AWS flags of the
    /// CloudWatch source apply: --region, --profile, --endpoint-url).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub store: String,

    /// The cluster the logs belong to: the `cluster` column and partition (default: --cluster).
    #[arg(long = "cluster-name", value_name = "NAME")]
    pub cluster_name: Option<String>,

    /// Do not compute the report's per-hour partial aggregates after writing (the first report
    /// over the new hours then computes them; see `report --no-partials`).
    #[arg(long)]
    pub no_partials: bool,

    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Args)]
#[command(after_long_help = EXIT_CODES)]
pub struct LintArgs {
    /// Manifest files or directories (YAML or JSON, multi-document, `kind: List`); - for stdin.
    /// Without -f, the live cluster of the kubeconfig's current context is scanned.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,

    /// Judge deprecated APIs against this Kubernetes version (1.NN). Default: the cluster's
    /// version for live scans, the newest version kscope knows for files.
    #[arg(long, value_name = "1.NN", value_parser = k8s_version)]
    pub target_version: Option<Version>,

    /// Run only this rule (code such as WH001, name, or a prefix such as AP). Repeatable.
    #[arg(long = "rule", value_name = "CODE")]
    pub rules: Vec<String>,

    #[command(flatten)]
    pub select: SelectArgs,

    #[command(flatten)]
    pub params: ParamArgs,

    #[command(flatten)]
    pub output: FindingsArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[command(flatten)]
    pub limits: ManifestLimitArgs,
}

/// `kscope preflight`. Sources combine freely; the live cluster is read unless --no-cluster.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Exit codes: 0 READY (also READY WITH WARNINGS unless --fail-on warning); \
                       1 BLOCKED; 2 usage error, unreadable source or input not fully read."
)]
pub struct PreflightArgs {
    /// The Kubernetes version to upgrade the control plane to (1.NN); every minor version on the
    /// way is a hop, judged on its own. Required here or as `target_version` in .kscope.yaml.
    #[arg(long, value_name = "1.NN", value_parser = k8s_version)]
    pub target_version: Option<Version>,

    /// Judge a control-plane rollback to this version (one minor below the current one, as EKS
    /// allows within seven days of an upgrade) instead of an upgrade: objects, manifests and
    /// kubelets that only the newer version serves or allows.
    #[arg(long, value_name = "1.NN", value_parser = k8s_version, conflicts_with = "target_version")]
    pub rollback_to: Option<Version>,

    /// The current version. Default: the live cluster's (/version); required with --no-cluster.
    #[arg(long, value_name = "1.NN", value_parser = k8s_version, required_if_eq("no_cluster", "true"))]
    pub from_version: Option<Version>,

    /// Do not read a live cluster: judge files (-f, --audit) only.
    #[arg(long, conflicts_with = "helm")]
    pub no_cluster: bool,

    /// Manifest files or directories (YAML or JSON, as `lint -f`); - for stdin.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,

    /// Read deployed Helm v3 releases from the cluster's release Secrets (type helm.sh/release.v1,
    /// newest revision) and check their rendered manifests. The only Secret data kscope reads:
    /// needs list on secrets; never printed.
    #[arg(long)]
    pub helm: bool,

    /// Read the kubelets' own configuration and metrics through the node proxy
    /// (/api/v1/nodes/NAME/proxy/configz and /metrics), one node per node group, OS image and
    /// version: their feature gates, failCgroupV1, kubelet_cgroup_version and
    /// kubelet_cri_losing_support. Needs get on nodes/proxy, a powerful permission kscope never
    /// uses without this flag.
    #[arg(long)]
    pub kubelet: bool,

    /// Audit logs (files, directories, globs, - for stdin, as `report`): callers of removed APIs.
    /// --cluster NAME reads CloudWatch Logs instead or as well, by default the last 30 days.
    #[arg(long = "audit", value_name = "SOURCE", num_args = 1..)]
    pub audit: Vec<String>,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub select: SelectArgs,

    #[command(flatten)]
    pub params: ParamArgs,

    #[command(flatten)]
    pub output: FindingsArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub limits: ManifestLimitArgs,
}

#[derive(Debug, Args)]
pub struct QueriesArgs {
    #[command(subcommand)]
    pub command: Option<CatalogueCommand>,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: Option<CatalogueCommand>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented example .kscope.yaml (every key, with its default).
    Init {
        /// Where to write it.
        #[arg(long, value_name = "FILE", default_value = ".kscope.yaml")]
        path: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print which configuration file is in effect and what it sets (as JSON).
    Show,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write kscope.1 and kscope-SUBCOMMAND.1 into.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `kscope queries` and `kscope rules`.
#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// One line per entry: code, name, severity and what it looks at (the default).
    List,
    /// Everything about one entry: what it finds, why, remediation, parameters, references (and a
    /// query's SQL).
    Explain {
        /// Code (AUD020, WH001) or name.
        code: String,
    },
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: Option<CacheCommand>,

    #[command(flatten)]
    pub dir: CacheDirArg,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// One line per cached slice: region, log group, stream, time range, events, size, state.
    Ls,
    /// Delete every cached slice.
    Clear,
}

/// `FORMAT=PATH` of --output.
fn output_spec(s: &str) -> Result<(Format, PathBuf), String> {
    let (f, p) = s
        .split_once('=')
        .ok_or_else(|| format!("expected FORMAT=PATH, e.g. sarif=kscope.sarif, got {s:?}"))?;
    let format = <Format as clap::ValueEnum>::from_str(f.trim(), true)
        .map_err(|_| format!("unknown format {f:?}: {}", Format::names()))?;
    if p.trim().is_empty() {
        return Err(format!("--output {s:?}: the path is empty"));
    }
    Ok((format, PathBuf::from(p)))
}

/// The formats that carry rows (`kscope sql`), from the one format enum: completions and help
/// list exactly these.
fn row_format() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::ValueEnum;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(
        Format::value_variants()
            .iter()
            .filter(|f| f.has_rows())
            .filter_map(ValueEnum::to_possible_value),
    )
    .map(|s: String| Format::from_str(&s, true).unwrap_or(Format::Text))
}

/// An integer of at least 1.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A rate above 0.
fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err("must be more than 0".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A rate of 0 or more.
fn rate_or_zero(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err("must be 0 (GetLogEvents only) or more".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A Kubernetes minor version, 1.NN.
fn k8s_version(s: &str) -> Result<Version, String> {
    Version::parse(s).ok_or_else(|| format!("expected 1.NN, got {s:?}"))
}

/// A memory budget: a [`size`] of at least 16 MiB (below that DataFusion's operators cannot run).
fn memory_size(s: &str) -> Result<usize, String> {
    let v = size(s)?;
    if v < 16 << 20 {
        return Err(format!(
            "{s:?} is too small for a memory budget (at least 16M)"
        ));
    }
    Ok(v)
}

/// A size: bytes, or with a K, M or G suffix (powers of 1024).
pub fn size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let mult: usize = match t[i..].to_ascii_uppercase().trim_end_matches(['B', 'I']) {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                other => return Err(format!("unknown size unit {other:?} (use K, M or G)")),
            };
            (&t[..i], mult)
        }
        None => (t, 1),
    };
    let n: usize = num
        .trim()
        .parse()
        .map_err(|_| format!("expected a size such as 512K or 64M, got {s:?}"))?;
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("size {s:?} is out of range"))
}
