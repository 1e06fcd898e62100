//! `kscope ingest`: audit logs (files, or CloudWatch Logs slices) into the Parquet store, one
//! source at a time, replacing what an earlier ingest of the same source wrote.

use std::io::Write;

use anyhow::{Context, Result, bail};

use super::Outcome;
use super::input::{aws_options, gather, report_input_problems};
use crate::audit::source::SourceSpec;
use crate::cli::IngestArgs;
use crate::gate::config::Config;
use crate::store::{self, Store, ingest};

/// The CloudWatch window ingest reads by default, as `report`.
const INGEST_HOURS: i64 = super::input::REPORT_HOURS;

pub async fn run(a: IngestArgs, cfg: &Config, out: &mut dyn Write) -> Result<Outcome> {
    let cluster = match (&a.cluster_name, &a.input.cloudwatch.cluster) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) => c.clone(),
        (None, None) => bail!("--cluster-name NAME is required: the cluster the logs belong to"),
    };
    store::check_cluster_name(&cluster)?;
    let st = Store::open(&a.store, &aws_options(&a.input)).await?;
    let input = gather(&a.sources, &a.input, INGEST_HOURS).await?;
    let cache_root = a.input.cloudwatch.dir.cache().root().to_path_buf();
    let started = std::time::Instant::now();
    let manifest = st.manifest().await?;
    let (mut rows, mut files, mut replaced, mut skipped) = (0u64, 0usize, 0usize, 0usize);
    let mut fully_read = input.problems.is_empty();
    let _ = crate::render::stderr::problems("unreadable", &input.problems, &mut std::io::stderr());
    for source in input.sources {
        // CloudWatch slices are keyed by slice; a slice already in the store is not read again
        let key = match &source {
            SourceSpec::File(p) if p.starts_with(&cache_root) => {
                let rel = p.strip_prefix(&cache_root).unwrap_or(p);
                let key = format!("{cluster}/cloudwatch:{}", rel.display());
                if manifest.sources.contains_key(&key) && !a.input.cloudwatch.refresh {
                    skipped += 1;
                    continue;
                }
                key
            }
            // the same log is another source in another cluster
            SourceSpec::File(p) => format!(
                "{cluster}/{}",
                ingest::content_key(p).with_context(|| format!("cannot read {}", p.display()))?
            ),
            SourceSpec::Stdin | SourceSpec::Memory(..) => format!(
                "{cluster}/stdin:{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%S%6f")
            ),
        };
        let label = source.label();
        let done = ingest::ingest_source(&st, source, &key, &cluster, &input.opts)
            .await
            .with_context(|| format!("cannot ingest {label}"))?;
        report_input_problems(&done.stats);
        if a.input.strict && !done.stats.fully_read() {
            bail!("{label}: input not fully read (--strict)");
        }
        fully_read &= done.stats.fully_read();
        tracing::info!(
            "ingest {label}: {} requests into {} file(s){}",
            done.entry.rows,
            done.entry.files.len(),
            if done.replaced > 0 {
                format!(", replacing {} file(s) of an earlier ingest", done.replaced)
            } else {
                String::new()
            }
        );
        rows += done.entry.rows;
        files += done.entry.files.len();
        replaced += done.replaced;
    }
    // the next report reads the hours' partial aggregates instead of their requests
    let mut warmed = None;
    if files > 0 && !a.no_partials {
        let t = std::time::Instant::now();
        let (queries, params) = super::report::selected_queries(cfg, &[], &[], &[])?;
        let sel = store::Selection {
            clusters: vec![cluster.clone()],
            ..Default::default()
        };
        let (n, pruned) =
            crate::analysis::warm_partials(&st, &sel, &input.opts, &queries, &params).await?;
        warmed = Some(format!(
            "kept {n} hour state(s) of the report's partial aggregates in {:.1}s{}",
            t.elapsed().as_secs_f64(),
            match pruned {
                0 => String::new(),
                n => format!("; deleted {n} file(s) of states other kscope versions kept"),
            }
        ));
    }
    writeln!(
        out,
        "ingested {rows} requests of cluster {cluster} into {} file(s) in {} ({} replaced, {} CloudWatch slice(s) already in the store) in {:.1}s",
        files,
        st.spec,
        replaced,
        skipped,
        started.elapsed().as_secs_f64()
    )?;
    if let Some(line) = warmed {
        writeln!(out, "{line}")?;
    }
    Ok(Outcome {
        fully_read,
        failed: false,
    })
}
