//! The memory budget of a run: the default limit, DataFusion's memory pool and spill directory,
//! free-space checks before spilling, and the run's spill directory (under the cache directory),
//! removed when the run ends, also on Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

/// The smallest and largest default limit.
const DEFAULT_MIN: usize = 256 << 20;
const DEFAULT_MAX: usize = 4 << 30;
/// The most the shared scan keeps in memory (see [`Budget::shared_scan`]).
const SHARED_SCAN_MAX: usize = 512 << 20;

/// How much memory a run may use, and where it spills beyond that.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Bytes for DataFusion's memory pool: the report's shared scan plus the queries' operators.
    pub limit: usize,
    /// Whether `limit` is the default (for messages).
    pub default: bool,
    /// Where the run's spill directory is created (`<cache>/spill`).
    pub spill_root: PathBuf,
    /// Free space to leave on the spill directory's file system.
    pub min_free: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            limit: default_limit(),
            default: true,
            spill_root: crate::cloudwatch::cache::Cache::default_root().join("spill"),
            min_free: 1 << 30,
        }
    }
}

impl Budget {
    /// What the report's shared scan may keep in memory: half the budget (the rest is for the
    /// queries' sorts, aggregations and joins, which spill to disk when they run out), and at most
    /// 512 MiB: beyond that, measured on 3 and 10 GiB logs (benches/memory.sh), the queries run
    /// faster over the temporary Parquet copy than over Arrow arrays in memory.
    pub fn shared_scan(&self) -> usize {
        (self.limit / 2).min(SHARED_SCAN_MAX)
    }

    /// `--memory-limit 512 MiB` or `the default memory limit (1.0 GiB)`, for messages.
    pub fn describe(&self) -> String {
        if self.default {
            format!("the default memory limit ({})", human(self.limit as u64))
        } else {
            format!("--memory-limit {}", human(self.limit as u64))
        }
    }

    /// A session configuration for `partitions` within this budget: each sort keeps room for merging
    /// its spill files (DataFusion's 10 MiB, less on a small budget so that a query's concurrent sorts
    /// still fit).
    pub fn config(&self, partitions: usize) -> datafusion::prelude::SessionConfig {
        datafusion::prelude::SessionConfig::new()
            .with_target_partitions(partitions.max(1))
            .with_sort_spill_reservation_bytes((self.limit / 64).clamp(1 << 20, 10 << 20))
    }

    /// Rows per batch for sorting whole rows of `audit` (ingest): a merge of spill files holds one
    /// batch of each, and a row is about 2 KiB, so smaller batches on a small budget.
    pub fn wide_batch_rows(&self) -> usize {
        match self.limit {
            l if l < 512 << 20 => 1024,
            l if l < 1 << 30 => 2048,
            _ => 8192,
        }
    }

    /// A DataFusion runtime with a pool of `limit` bytes (fair between spilling operators; the
    /// error names the largest consumers) whose spill files go to the run's spill directory, at
    /// most the free space minus `min_free`.
    pub fn runtime(&self) -> Result<Arc<RuntimeEnv>, MemoryError> {
        let top = std::num::NonZeroUsize::MIN.saturating_add(2);
        let pool = TrackConsumersPool::new(FairSpillPool::new(self.limit), top);
        let disk = match spill_dir(&self.spill_root) {
            Ok(dir) => {
                let room = free_space(&dir)
                    .map(|f| f.saturating_sub(self.min_free))
                    .unwrap_or(u64::MAX);
                DiskManagerBuilder::default()
                    .with_mode(DiskManagerMode::Directories(vec![dir]))
                    .with_max_temp_directory_size(room.max(1))
                    // a merge holds a batch of each file it reads: fewer at once on a small budget
                    .with_max_spill_merge_fan_in((self.limit >> 26).clamp(4, 16))
            }
            Err(e) => {
                // a read-only cache directory need not stop a run that fits in memory
                tracing::warn!(
                    "{e}; sorts and aggregations spill to the system's temporary directory"
                );
                DiskManagerBuilder::default()
            }
        };
        RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(pool))
            .with_disk_manager_builder(disk)
            .build_arc()
            .map_err(|e| MemoryError::Runtime(self.spill_root.clone(), e))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("cannot create the spill directory {0}: {1}")]
    SpillDir(PathBuf, std::io::Error),
    #[error("cannot set up spilling to {0}: {1}")]
    Runtime(PathBuf, datafusion::error::DataFusionError),
    #[error(
        "not enough free disk space to spill in {dir}: about {need} more needed, {free} free and {reserve} kept free \
         (free some space, point --cache-dir at a larger disk, or raise --memory-limit)",
        need = human(*need),
        free = human(*free),
        reserve = human(*reserve)
    )]
    NoSpace {
        dir: PathBuf,
        need: u64,
        free: u64,
        reserve: u64,
    },
}

/// `1.5 GiB`, `300 MiB`.
pub fn human(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The default limit: a quarter of the memory this process may use (the machine's, or its
/// cgroup's limit when lower), between 256 MiB and 4 GiB; 1 GiB when neither can be read.
pub fn default_limit() -> usize {
    match available_memory() {
        Some(m) => usize::try_from(m / 4)
            .unwrap_or(DEFAULT_MAX)
            .clamp(DEFAULT_MIN, DEFAULT_MAX),
        None => 1 << 30,
    }
}

/// Total memory (Linux: `MemTotal` in /proc/meminfo), lowered to the cgroup's limit if one is set.
pub fn available_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
                .map(|kib| kib * 1024)
        })?;
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .filter_map(|s| s.trim().parse::<u64>().ok())
    .min();
    Some(cgroup.map_or(total, |c| c.min(total)))
}

/// Bytes free for this user on the file system holding `dir`.
pub fn free_space(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Fails unless `need` more bytes fit in `dir` while leaving `reserve` free.
pub fn ensure_space(dir: &Path, need: u64, reserve: u64) -> Result<(), MemoryError> {
    match free_space(dir) {
        Some(free) if free < need.saturating_add(reserve) => Err(MemoryError::NoSpace {
            dir: dir.to_path_buf(),
            need,
            free,
            reserve,
        }),
        _ => Ok(()),
    }
}

/// The spill directories this process created, removed by [`cleanup`].
static CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The host's name (Linux), so that processes of other hosts or containers sharing a cache
/// directory never take each other's spill directories for stale.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace(['/', '-'], "_"))
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// This process's spill directory under `root` (`root/<host>-<pid>`), created on first use.
/// Directories of earlier runs on this host whose process is gone (killed before it could clean
/// up) are removed.
pub fn spill_dir(root: &Path) -> Result<PathBuf, MemoryError> {
    let host = host();
    let dir = root.join(format!("{host}-{}", std::process::id()));
    let mut created = CREATED.lock().unwrap_or_else(|p| p.into_inner());
    if !created.contains(&dir) {
        std::fs::create_dir_all(&dir).map_err(|e| MemoryError::SpillDir(dir.clone(), e))?;
        remove_stale(root, &host);
        created.push(dir.clone());
    }
    Ok(dir)
}

/// Removes spill directories of this host's processes that no longer run (Linux: no /proc/<pid>).
fn remove_stale(root: &Path, host: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(host))
            .and_then(|n| n.strip_prefix('-'))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            tracing::debug!(
                "removing the spill directory of an earlier run: {}",
                e.path().display()
            );
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Removes this process's spill directories (at exit, and on Ctrl-C before exiting).
pub fn cleanup() {
    let created = std::mem::take(&mut *CREATED.lock().unwrap_or_else(|p| p.into_inner()));
    for dir in created {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Bytes currently in files under `dir` (what a run has spilled so far).
pub fn dir_size(dir: &Path) -> u64 {
    let opts = crate::walk::WalkOptions {
        hidden: true,
        extensions: None,
    };
    crate::walk::walk(dir, opts)
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limit_is_a_quarter_of_memory_within_bounds() {
        let l = default_limit();
        assert!((DEFAULT_MIN..=DEFAULT_MAX).contains(&l), "{l}");
        if let Some(m) = available_memory() {
            let quarter = (m / 4) as usize;
            assert_eq!(l, quarter.clamp(DEFAULT_MIN, DEFAULT_MAX));
        }
    }

    #[test]
    fn not_enough_space_names_the_directory_and_the_need() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure_space(dir.path(), 1, 0).is_ok());
        let e = ensure_space(dir.path(), 10 << 20, u64::MAX / 2).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains("10.0 MiB more needed"), "{msg}");
    }

    #[test]
    fn stale_spill_directories_of_this_host_go_others_stay() {
        let root = tempfile::tempdir().unwrap();
        let h = host();
        // pid 0 never names a user process: its directory is stale
        let stale = root.path().join(format!("{h}-0"));
        let other_host = root.path().join("elsewhere-0");
        std::fs::create_dir_all(stale.join("x")).unwrap();
        std::fs::create_dir_all(&other_host).unwrap();
        let mine = spill_dir(root.path()).unwrap();
        assert!(mine.ends_with(format!("{h}-{}", std::process::id())));
        assert!(mine.is_dir());
        assert!(!stale.exists(), "a dead process's directory stayed");
        assert!(other_host.exists(), "another host's directory was removed");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(512 << 20), "512.0 MiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }
}
