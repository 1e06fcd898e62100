//! `kscope ingest`: audit sources into the store, one source at a time, each streamed through the
//! scan into its hour partitions (unsorted, in staging), then one hour at a time sorted by time
//! (spilling to disk beyond the memory budget) and written as zstd Parquet: memory is bounded by an
//! hour's sort within the budget, whatever the source's size.

use std::io::Read;
use std::sync::Arc;

use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::execution::context::SessionContext;
use object_store::ObjectStoreExt;

use super::{Entry, STAGING, Store, StoreError, check_cluster_name};
use crate::audit::scan::{AuditTable, IngestStats, ScanOptions};
use crate::audit::source::SourceSpec;

/// FNV-1a over a file's bytes: its identity in the manifest (`file:<hash>`), so that the same log
/// ingested again from another path replaces what it wrote before.
pub fn content_key(path: &std::path::Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        len += n as u64;
        for b in &buf[..n] {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(format!("file:{h:016x}-{len}"))
}

/// A file name part from a source key (`file:abcd-12` → `file_abcd-12`).
fn key_stem(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What ingesting one source did.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub key: String,
    pub entry: Entry,
    /// Files of an earlier ingest of the same source that were replaced (deleted).
    pub replaced: usize,
    pub stats: IngestStats,
}

/// A session whose sorts spill to disk beyond the run's memory budget, writing row groups of at most
/// `row_group` rows.
fn session(opts: &ScanOptions, row_group: usize) -> Result<SessionContext, StoreError> {
    let runtime = opts.memory.runtime()?;
    let cfg = opts
        .memory
        .config(opts.partitions)
        .with_batch_size(opts.memory.wide_batch_rows())
        .set_str("datafusion.execution.parquet.compression", "zstd(3)")
        .set_str("datafusion.execution.parquet.statistics_enabled", "page")
        .set_usize("datafusion.execution.parquet.max_row_group_size", row_group)
        .set_usize("datafusion.execution.minimum_parallel_output_files", 1)
        .set_bool(
            "datafusion.execution.parquet.allow_single_file_parallelism",
            false,
        );
    Ok(SessionContext::new_with_config_rt(cfg, runtime))
}

/// Removes what an interrupted earlier ingest of `key` left in the staging area (its runs are named
/// after the key): a run stopped between its two phases leaves its unsorted hours there. Other
/// keys' runs are left alone, as they may be in progress.
async fn remove_stale_staging(store: &Store, key: &str) -> Result<(), StoreError> {
    let mine = format!("{STAGING}/{}-", key_stem(key));
    for rel in store.list(STAGING).await? {
        if rel.starts_with(&mine) {
            match store.objects.delete(&store.path(&rel)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store.obj_err(e)),
            }
        }
    }
    if let Some(dir) = &store.local
        && let Ok(entries) = std::fs::read_dir(dir.join(STAGING))
    {
        let stem = format!("{}-", key_stem(key));
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&stem) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}

/// Ingests one source as `cluster` under `key`, replacing what an earlier ingest of the same key
/// wrote. The manifest is updated before old files are deleted.
pub async fn ingest_source(
    store: &Store,
    source: SourceSpec,
    key: &str,
    cluster: &str,
    opts: &ScanOptions,
) -> Result<Ingested, StoreError> {
    check_cluster_name(cluster)?;
    // staging files hold one open row group per hour the source spans: small ones
    let ctx = session(opts, 4 * 1024)?;
    store.register(&ctx);
    let label = source.label();
    let table = Arc::new(AuditTable::new(vec![source], opts.clone()));
    ctx.register_table("audit", table.clone())?;
    let run = format!(
        "{}-{}",
        key_stem(key),
        chrono::Utc::now().format("%Y%m%dT%H%M%S%6f")
    );
    remove_stale_staging(store, key).await?;
    let staging = format!("{STAGING}/{run}/");
    let staging_url = format!("{}{staging}", store.url.as_str());
    // 1. stream the source into its hour partitions, unsorted: memory is a row group per hour
    let unsorted = format!("{STAGING}/{run}-unsorted/");
    let sql = format!(
        "SELECT *, {} AS cluster, to_char(request_received_ts, '%Y-%m-%d') AS date, \
         to_char(request_received_ts, '%H') AS hour FROM audit",
        super::quote(cluster)
    );
    let df = ctx.sql(&sql).await?;
    df.write_parquet(
        &format!("{}{unsorted}", store.url.as_str()),
        DataFrameWriteOptions::new()
            .with_partition_by(super::PARTITIONS.iter().map(|s| s.to_string()).collect()),
        None::<TableParquetOptions>,
    )
    .await?;
    let stats = table.stats();
    // 2. sort one hour at a time (spilling beyond the budget) into one file per hour
    let mut hours: Vec<String> = store
        .list(&unsorted)
        .await?
        .iter()
        .filter_map(|rel| {
            rel.strip_prefix(&unsorted)
                .and_then(|r| r.rsplit_once('/'))
                .map(|(dir, _)| dir.to_string())
        })
        .collect();
    hours.sort();
    hours.dedup();
    for hour in &hours {
        let sort = session(
            &ScanOptions {
                partitions: 1,
                ..opts.clone()
            },
            64 * 1024,
        )?;
        store.register(&sort);
        // the staged hour read as the table's types (strings, not string views), so the store's
        // files are too and reading them needs no cast
        sort.sql("SET datafusion.execution.parquet.schema_force_view_types = false")
            .await?
            .collect()
            .await?;
        sort.register_parquet(
            "hour",
            &format!("{}{unsorted}{hour}/", store.url.as_str()),
            datafusion::prelude::ParquetReadOptions::default(),
        )
        .await?;
        sort.sql("SELECT * FROM hour ORDER BY request_received_ts")
            .await?
            .write_parquet(
                &format!("{staging_url}{hour}/sorted.parquet"),
                DataFrameWriteOptions::new().with_single_file_output(true),
                None::<TableParquetOptions>,
            )
            .await?;
    }
    for rel in store.list(&unsorted).await? {
        let _ = store.objects.delete(&store.path(&rel)).await;
    }
    if let Some(dir) = &store.local {
        let _ = std::fs::remove_dir_all(dir.join(&unsorted));
    }

    // move the complete files into their partitions under names that say which source wrote them
    let staged = store.list(&staging).await?;
    let mut files = Vec::new();
    for (i, rel) in staged.iter().enumerate() {
        let Some(partition) = rel
            .strip_prefix(&staging)
            .and_then(|r| r.rsplit_once('/'))
            .map(|(dir, _)| dir.to_string())
        else {
            continue;
        };
        let dest = format!("{partition}/{run}-{i}.parquet");
        store
            .objects
            .rename(&store.path(rel), &store.path(&dest))
            .await
            .map_err(|e| store.obj_err(e))?;
        files.push(dest);
    }
    files.sort();
    if let Some(dir) = &store.local {
        // object stores have no directories; a local one keeps the empty staging tree
        let _ = std::fs::remove_dir_all(dir.join(&staging));
    }
    let entry = Entry {
        source: label,
        cluster: cluster.to_string(),
        files,
        rows: stats.events,
        malformed: stats.malformed,
        ingested_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let old = store.manifest().await?.sources.remove(key);
    store.write_entry(key, &entry).await?;
    let mut replaced = 0;
    if let Some(old) = old {
        for f in old.files.iter().filter(|f| !entry.files.contains(f)) {
            match store.objects.delete(&store.path(f)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => replaced += 1,
                Err(e) => return Err(store.obj_err(e)),
            }
        }
    }
    // files an interrupted earlier run of this key left in the same partitions: named after the
    // key, not in the manifest
    let stem = format!("{}-", key_stem(key));
    let mut dirs: Vec<&str> = entry
        .files
        .iter()
        .filter_map(|f| f.rsplit_once('/').map(|(d, _)| d))
        .collect();
    dirs.dedup();
    for dir in dirs {
        for rel in store.list(dir).await? {
            let name = rel.rsplit('/').next().unwrap_or_default();
            if name.starts_with(&stem) && !entry.files.contains(&rel) {
                let _ = store.objects.delete(&store.path(&rel)).await;
                replaced += 1;
            }
        }
    }
    Ok(Ingested {
        key: key.to_string(),
        entry,
        replaced,
        stats,
    })
}
