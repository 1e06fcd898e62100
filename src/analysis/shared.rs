//! The shared scan of a report: the columns its queries read, loaded once for all of them. They stay
//! in memory while they fit in the budget's share (accounted in the run's memory pool while the
//! queries run); beyond it they go to a temporary Parquet store in the run's spill directory and
//! the queries read them from there, so memory stays bounded whatever the input size.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SendableRecordBatchStream, context::SessionContext};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;

use super::AnalysisError;
use crate::memory::{self, Budget};

/// Bytes written between two free-space checks.
const CHECK_EVERY: u64 = 64 << 20;

/// Where the shared scan ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// In memory: this many bytes of Arrow arrays.
    Memory { bytes: u64 },
    /// In a temporary Parquet store: this many bytes of files in `dir`.
    Spilled { dir: PathBuf, bytes: u64 },
    /// Too large for memory and not spilled: the caller reads its source again per query.
    Direct,
}

/// The loaded table, registered as `audit` in the session by [`Loaded::register`].
pub struct Loaded {
    pub placement: Placement,
    pub rows: u64,
    table: Option<MemTable>,
    /// Keeps the in-memory table accounted in the pool while the queries run.
    _reservation: Option<MemoryReservation>,
}

impl Loaded {
    /// Registers the table as `audit` in place of the source it was loaded from: the in-memory table
    /// or the temporary store. `Direct` leaves the source registered.
    pub async fn register(&mut self, ctx: &SessionContext) -> Result<(), AnalysisError> {
        if let Some(t) = self.table.take() {
            crate::apf::udf::register_audit(ctx, Arc::new(t)).await?;
        } else if let Placement::Spilled { dir, .. } = &self.placement {
            let url = format!("{}/", dir.display());
            let spilled = ctx
                .read_parquet(url, datafusion::prelude::ParquetReadOptions::default())
                .await?
                .into_view();
            crate::apf::udf::register_audit(ctx, spilled).await?;
        }
        Ok(())
    }
}

/// The spill side: a directory for the temporary store and the free space to leave.
struct Spill {
    dir: PathBuf,
    min_free: u64,
}

struct Shared {
    reservation: Mutex<MemoryReservation>,
    cap: usize,
    overflow: AtomicBool,
}

/// What one partition's stream became.
enum Part {
    Memory(Vec<RecordBatch>),
    Disk(Box<Writer>),
    Abandoned,
}

/// One Parquet file of the temporary store, checking free space as it grows.
struct Writer {
    inner: ArrowWriter<std::fs::File>,
    spill: Arc<Spill>,
    since_check: u64,
    rows: u64,
}

impl Writer {
    fn create(spill: &Arc<Spill>, part: usize, schema: &SchemaRef) -> Result<Self, AnalysisError> {
        let path = spill.dir.join(format!("part-{part}.parquet"));
        let file = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
        // fast to write and read back: LZ4, small row groups (the writer buffers one)
        let props = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_max_row_group_row_count(Some(64 * 1024))
            .build();
        let inner = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| AnalysisError::DataFusion(e.into()))?;
        Ok(Writer {
            inner,
            spill: spill.clone(),
            since_check: 0,
            rows: 0,
        })
    }

    fn write(&mut self, b: &RecordBatch) -> Result<(), AnalysisError> {
        let size = b.get_array_memory_size() as u64;
        if self.since_check == 0 || self.since_check + size > CHECK_EVERY {
            memory::ensure_space(&self.spill.dir, CHECK_EVERY.max(size), self.spill.min_free)?;
            self.since_check = 0;
        }
        self.since_check += size;
        self.rows += b.num_rows() as u64;
        self.inner
            .write(b)
            .map_err(|e| AnalysisError::DataFusion(e.into()))
    }

    fn close(self) -> Result<(), AnalysisError> {
        self.inner
            .close()
            .map(|_| ())
            .map_err(|e| AnalysisError::DataFusion(e.into()))
    }
}

fn io(path: &std::path::Path, e: std::io::Error) -> AnalysisError {
    AnalysisError::DataFusion(datafusion::error::DataFusionError::External(
        format!("{}: {e}", path.display()).into(),
    ))
}

/// Loads the partitions' streams into memory within the budget's share for the shared scan. Beyond
/// it: with `spill`, into a temporary Parquet store in the run's spill directory; without,
/// [`Placement::Direct`] (the source is already on disk in a columnar form, as a store is).
pub async fn load(
    schema: SchemaRef,
    streams: Vec<SendableRecordBatchStream>,
    runtime: &Arc<RuntimeEnv>,
    budget: &Budget,
    spill: bool,
) -> Result<Loaded, AnalysisError> {
    let shared = Arc::new(Shared {
        reservation: Mutex::new(
            MemoryConsumer::new("kscope shared scan").register(&runtime.memory_pool),
        ),
        cap: budget.shared_scan(),
        overflow: AtomicBool::new(false),
    });
    let spill = if spill {
        let root = memory::spill_dir(&budget.spill_root)?;
        let dir = root.join(format!(
            "shared-scan-{}",
            chrono::Utc::now().format("%H%M%S%6f")
        ));
        Some(Arc::new(Spill {
            dir,
            min_free: budget.min_free,
        }))
    } else {
        None
    };
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| tokio::spawn(drive(i, s, schema.clone(), shared.clone(), spill.clone())))
        .collect();
    let mut parts = Vec::new();
    let mut failed = None;
    for t in tasks {
        match t.await {
            Ok(Ok(p)) => parts.push(p),
            Ok(Err(e)) => {
                failed.get_or_insert(e);
            }
            Err(e) => {
                failed.get_or_insert(AnalysisError::DataFusion(
                    datafusion::error::DataFusionError::External(Box::new(e)),
                ));
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    // every partition's task has ended: the shared state is ours alone
    let Ok(shared) = Arc::try_unwrap(shared) else {
        return Err(AnalysisError::DataFusion(
            datafusion::error::DataFusionError::Internal(
                "the shared scan is still in use after its partitions ended".into(),
            ),
        ));
    };
    let overflowed = shared.overflow.into_inner();
    let reservation = shared
        .reservation
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let rows_of = |bs: &[RecordBatch]| bs.iter().map(|b| b.num_rows() as u64).sum::<u64>();
    match (overflowed, spill) {
        (false, _) => {
            let batches: Vec<Vec<RecordBatch>> = parts
                .into_iter()
                .map(|p| match p {
                    Part::Memory(b) => b,
                    Part::Disk(_) | Part::Abandoned => Vec::new(),
                })
                .collect();
            let rows = batches.iter().map(|b| rows_of(b)).sum();
            let bytes = reservation.size() as u64;
            Ok(Loaded {
                placement: Placement::Memory { bytes },
                rows,
                table: Some(MemTable::try_new(schema, batches)?),
                _reservation: Some(reservation),
            })
        }
        (true, None) => Ok(Loaded {
            placement: Placement::Direct,
            rows: 0,
            table: None,
            _reservation: None,
        }),
        (true, Some(spill)) => {
            // partitions that ended before the overflow still hold their batches: write them too
            let mut rows = 0;
            for (i, p) in parts.into_iter().enumerate() {
                match p {
                    Part::Memory(batches) if !batches.is_empty() => {
                        rows += rows_of(&batches);
                        let mut w = Writer::create(&spill, i, &schema)?;
                        for b in &batches {
                            w.write(b)?;
                        }
                        w.close()?;
                    }
                    Part::Disk(w) => {
                        rows += w.rows;
                        w.close()?;
                    }
                    Part::Memory(_) | Part::Abandoned => {}
                }
            }
            drop(reservation);
            let bytes = memory::dir_size(&spill.dir);
            Ok(Loaded {
                placement: Placement::Spilled {
                    dir: spill.dir.clone(),
                    bytes,
                },
                rows,
                table: None,
                _reservation: None,
            })
        }
    }
}

/// Pulls one partition's stream: into memory while the shared reservation grows, then (after any
/// partition overflowed) into its file of the temporary store, or abandoned without one.
async fn drive(
    part: usize,
    mut stream: SendableRecordBatchStream,
    schema: SchemaRef,
    shared: Arc<Shared>,
    spill: Option<Arc<Spill>>,
) -> Result<Part, AnalysisError> {
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut writer: Option<Writer> = None;
    while let Some(b) = stream.next().await {
        let b = b?;
        if writer.is_none() && !shared.overflow.load(Ordering::SeqCst) {
            let size = b.get_array_memory_size();
            let r = shared.reservation.lock().unwrap_or_else(|p| p.into_inner());
            if r.size() + size <= shared.cap && r.try_grow(size).is_ok() {
                batches.push(b);
                continue;
            }
            shared.overflow.store(true, Ordering::SeqCst);
        }
        let Some(spill) = &spill else {
            return Ok(Part::Abandoned);
        };
        let w = match &mut writer {
            Some(w) => w,
            None => {
                if !spill.dir.exists() {
                    std::fs::create_dir_all(&spill.dir).map_err(|e| io(&spill.dir, e))?;
                }
                let held: u64 = batches
                    .iter()
                    .map(|b| b.get_array_memory_size() as u64)
                    .sum();
                tracing::info!(
                    "shared scan: more than {} of columns; spilling them to {}",
                    memory::human(shared.cap as u64),
                    spill.dir.display()
                );
                memory::ensure_space(&spill.dir, held, spill.min_free)?;
                let mut w = Writer::create(spill, part, &schema)?;
                for old in batches.drain(..) {
                    w.write(&old)?;
                    shared
                        .reservation
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .shrink(old.get_array_memory_size());
                }
                writer.insert(w)
            }
        };
        w.write(&b)?;
    }
    Ok(match writer {
        Some(w) => Part::Disk(Box::new(w)),
        None => Part::Memory(batches),
    })
}
