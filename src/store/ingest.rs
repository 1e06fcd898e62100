//! `kscope ingest`: audit sources into the store, one source at a time, each streamed through the
//! scan, sorted by time (spilling to disk beyond the memory limit) and written as zstd Parquet into
//! its hour partitions.

use std::io::Read;
use std::sync::Arc;

use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::execution::context::SessionContext;
use datafusion::execution::disk_manager::DiskManagerBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;
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

/// A session whose sorts spill to disk beyond `memory_limit` bytes.
fn session(opts: &ScanOptions, memory_limit: usize) -> Result<SessionContext, StoreError> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(memory_limit)))
        .with_disk_manager_builder(DiskManagerBuilder::default())
        .build_arc()?;
    let cfg = SessionConfig::new()
        .with_target_partitions(opts.partitions.max(1))
        .set_str("datafusion.execution.parquet.compression", "zstd(3)")
        .set_str("datafusion.execution.parquet.statistics_enabled", "page")
        .set_usize(
            "datafusion.execution.parquet.max_row_group_size",
            256 * 1024,
        )
        .set_usize("datafusion.execution.minimum_parallel_output_files", 1);
    Ok(SessionContext::new_with_config_rt(cfg, runtime))
}

/// Ingests one source as `cluster` under `key`, replacing what an earlier ingest of the same key
/// wrote. The manifest is updated before old files are deleted.
pub async fn ingest_source(
    store: &Store,
    source: SourceSpec,
    key: &str,
    cluster: &str,
    opts: &ScanOptions,
    memory_limit: usize,
) -> Result<Ingested, StoreError> {
    check_cluster_name(cluster)?;
    let ctx = session(opts, memory_limit)?;
    store.register(&ctx);
    let label = source.label();
    let table = Arc::new(AuditTable::new(vec![source], opts.clone()));
    ctx.register_table("audit", table.clone())?;
    let run = format!(
        "{}-{}",
        key_stem(key),
        chrono::Utc::now().format("%Y%m%dT%H%M%S%6f")
    );
    let staging = format!("{STAGING}/{run}/");
    let staging_url = format!("{}{staging}", store.url.as_str());
    let sql = format!(
        "SELECT *, {} AS cluster, to_char(request_received_ts, '%Y-%m-%d') AS date, \
         to_char(request_received_ts, '%H') AS hour FROM audit ORDER BY request_received_ts",
        super::quote(cluster)
    );
    let df = ctx.sql(&sql).await?;
    df.write_parquet(
        &staging_url,
        DataFrameWriteOptions::new()
            .with_partition_by(super::PARTITIONS.iter().map(|s| s.to_string()).collect()),
        None::<TableParquetOptions>,
    )
    .await?;
    let stats = table.stats();

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
    let mut manifest = store.manifest().await?;
    let old = manifest.sources.insert(key.to_string(), entry.clone());
    store.write_manifest(&manifest).await?;
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
