//! The on-disk cache of downloaded CloudWatch events.
//!
//! Layout: `<root>/cloudwatch/<region>/<log group, %-encoded>/<stream>/<start>-<end>.jsonl.gz`, one
//! file per (stream, time slice), slice bounds in ms since the epoch, half-open. Each file holds the
//! events' messages, one per line (gzip members appended page by page), so the audit reader takes it
//! like any other audit log. Beside it, `<start>-<end>.state.json` records progress: the forward
//! token to continue from and the length of the data file when that token was saved, so an
//! interrupted download resumes exactly there (bytes written after the last checkpoint are cut off).
//! Slices are downloaded in runs (consecutive slices of a stream, one token chain): every slice of
//! a run is checkpointed with the run's token after each page.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A slice whose end is closer to the download time than this may still receive events
/// (CloudWatch ingestion lags), so it is downloaded again rather than reused.
pub const SETTLE_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache {path}: {err}")]
    Io { path: String, err: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |err| CacheError::Io {
        path: path.display().to_string(),
        err,
    }
}

/// Where a slice lives and how far its download got.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SliceState {
    pub region: String,
    pub log_group: String,
    pub stream: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub events: u64,
    /// Message bytes (uncompressed).
    pub bytes: u64,
    /// Length of the data file at the last checkpoint.
    pub file_len: u64,
    /// Forward token to continue from; None before the first page.
    pub next_token: Option<String>,
    /// The time range the token was issued for: the run of consecutive slices of the stream read
    /// through one token chain (see `cloudwatch::Run`). Every slice of an interrupted run holds
    /// the same token; the run resumes only when all of them still agree.
    #[serde(default)]
    pub run: Option<[i64; 2]>,
    /// The operation the run reads with (its tokens fit no other); None: GetLogEvents.
    #[serde(default)]
    pub via: Option<super::aws::Op>,
    pub complete: bool,
    /// When the download finished (or last checkpointed), ms since the epoch.
    pub saved_at_ms: i64,
}

impl SliceState {
    /// A complete slice that ended well before it was downloaded: its events will not change.
    pub fn settled(&self) -> bool {
        self.complete && self.end_ms + SETTLE_MS <= self.saved_at_ms
    }
}

/// Where a cached slice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceStatus {
    /// Complete and settled: never downloaded again.
    Complete,
    /// Complete, but it ended less than 10 minutes before it was downloaded (late events may still
    /// arrive), so it is downloaded again.
    Recent,
    /// An interrupted download, resumed by the next run.
    Partial,
}

impl SliceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SliceStatus::Complete => "complete",
            SliceStatus::Recent => "recent",
            SliceStatus::Partial => "partial",
        }
    }
}

impl SliceState {
    pub fn status(&self) -> SliceStatus {
        if self.settled() {
            SliceStatus::Complete
        } else if self.complete {
            SliceStatus::Recent
        } else {
            SliceStatus::Partial
        }
    }
}

/// One cached slice, as `kscope cache ls` shows it.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub paths: SlicePaths,
    pub state: SliceState,
    /// Size of the data file in bytes.
    pub bytes: u64,
}

/// One slice's files.
#[derive(Debug, Clone)]
pub struct SlicePaths {
    pub data: PathBuf,
    pub state: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: PathBuf) -> Self {
        Cache { root }
    }

    /// The default root: `$KSCOPE_CACHE_DIR`, else the user cache directory + `kscope`.
    pub fn default_root() -> PathBuf {
        dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("kscope")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn cloudwatch(&self) -> PathBuf {
        self.root.join("cloudwatch")
    }

    pub fn slice(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> SlicePaths {
        let dir = self
            .cloudwatch()
            .join(encode(region))
            .join(encode(group))
            .join(encode(stream));
        SlicePaths {
            data: dir.join(format!("{start_ms}-{end_ms}.jsonl.gz")),
            state: dir.join(format!("{start_ms}-{end_ms}.state.json")),
        }
    }

    /// Every slice in the cache with its data file's size (unreadable state files are left out).
    pub fn entries(&self) -> Result<Vec<CacheEntry>, CacheError> {
        Ok(self
            .list()?
            .into_iter()
            .map(|(paths, state)| CacheEntry {
                bytes: paths.data.metadata().map(|m| m.len()).unwrap_or(0),
                paths,
                state,
            })
            .collect())
    }

    /// Every slice in the cache (unreadable state files are left out).
    pub fn list(&self) -> Result<Vec<(SlicePaths, SliceState)>, CacheError> {
        let mut out = Vec::new();
        for p in files(&self.cloudwatch())? {
            let stem = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".state.json"));
            if let (Some(stem), Some(state)) = (stem, read_state(&p)) {
                out.push((
                    SlicePaths {
                        data: p.with_file_name(format!("{stem}.jsonl.gz")),
                        state: p.clone(),
                    },
                    state,
                ));
            }
        }
        out.sort_by(|a, b| {
            (&a.1.region, &a.1.log_group, &a.1.stream, a.1.start_ms).cmp(&(
                &b.1.region,
                &b.1.log_group,
                &b.1.stream,
                b.1.start_ms,
            ))
        });
        Ok(out)
    }

    /// Removes every cached slice; returns (files removed, bytes freed).
    pub fn clear(&self) -> Result<(u64, u64), CacheError> {
        let root = self.cloudwatch();
        let all = files(&root)?;
        let bytes = all
            .iter()
            .map(|p| p.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        if root.exists() {
            fs::remove_dir_all(&root).map_err(io_err(&root))?;
        }
        Ok((all.len() as u64, bytes))
    }
}

/// Every file under `root` (none when it does not exist), with the one directory walk.
fn files(root: &Path) -> Result<Vec<PathBuf>, CacheError> {
    if !root.exists() {
        return Ok(Vec::new());
    }
    let w = crate::walk::walk(
        root,
        crate::walk::WalkOptions {
            hidden: true,
            extensions: None,
        },
    );
    if let Some(p) = w.problems.into_iter().next() {
        return Err(CacheError::Io {
            path: root.display().to_string(),
            err: std::io::Error::other(p),
        });
    }
    Ok(w.files)
}

pub fn read_state(path: &Path) -> Option<SliceState> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes a slice: appends pages to the data file and checkpoints the state after each.
pub struct SliceWriter {
    paths: SlicePaths,
    file: File,
    pub state: SliceState,
}

impl SliceWriter {
    /// Opens a slice for writing: continues from the saved checkpoint when `resume` holds one,
    /// else starts empty.
    pub fn open(
        paths: SlicePaths,
        fresh: SliceState,
        resume: Option<SliceState>,
    ) -> Result<Self, CacheError> {
        if let Some(dir) = paths.data.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&paths.data)
            .map_err(io_err(&paths.data))?;
        let state = match resume {
            Some(s)
                if !s.complete && file.metadata().map(|m| m.len()).unwrap_or(0) >= s.file_len =>
            {
                s
            }
            _ => fresh,
        };
        // cut off whatever was written after the checkpoint
        file.set_len(state.file_len).map_err(io_err(&paths.data))?;
        let mut w = SliceWriter { paths, file, state };
        w.seek_end()?;
        w.save()?;
        Ok(w)
    }

    fn seek_end(&mut self) -> Result<(), CacheError> {
        use std::io::Seek;
        self.file
            .seek(io::SeekFrom::End(0))
            .map(|_| ())
            .map_err(io_err(&self.paths.data))
    }

    /// Appends one page (messages, one per line) and checkpoints `next_token`.
    pub fn append(
        &mut self,
        messages: &[String],
        next_token: Option<String>,
        now_ms: i64,
    ) -> Result<(), CacheError> {
        if !messages.is_empty() {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            for m in messages {
                // one event per line: a raw line break inside a message would split it
                if m.contains(['\n', '\r']) {
                    gz.write_all(m.replace(['\n', '\r'], " ").as_bytes())
                } else {
                    gz.write_all(m.as_bytes())
                }
                .and_then(|_| gz.write_all(b"\n"))
                .map_err(io_err(&self.paths.data))?;
                self.state.bytes += m.len() as u64;
            }
            let data = gz.finish().map_err(io_err(&self.paths.data))?;
            self.file
                .write_all(&data)
                .and_then(|_| self.file.sync_data())
                .map_err(io_err(&self.paths.data))?;
            self.state.file_len += data.len() as u64;
            self.state.events += messages.len() as u64;
        }
        self.state.next_token = next_token;
        self.state.saved_at_ms = now_ms;
        self.save()
    }

    /// Marks the slice complete.
    pub fn finish(mut self, now_ms: i64) -> Result<SliceState, CacheError> {
        self.state.complete = true;
        self.state.saved_at_ms = now_ms;
        self.save()?;
        Ok(self.state)
    }

    fn save(&self) -> Result<(), CacheError> {
        let tmp = self.paths.state.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(&self.state).map_err(|e| CacheError::Io {
            path: tmp.display().to_string(),
            err: io::Error::other(e),
        })?;
        fs::write(&tmp, text).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &self.paths.state).map_err(io_err(&self.paths.state))
    }
}

/// Makes a name safe as one path component: keeps `[A-Za-z0-9._-]`, %-encodes the rest.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "%2E");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn state(start: i64, end: i64) -> SliceState {
        SliceState {
            region: "eu-central-1".into(),
            log_group: "/aws/eks/demo/cluster".into(),
            stream: "s".into(),
            start_ms: start,
            end_ms: end,
            events: 0,
            bytes: 0,
            file_len: 0,
            next_token: None,
            run: None,
            via: None,
            complete: false,
            saved_at_ms: 0,
        }
    }

    fn lines(p: &Path) -> Vec<String> {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(File::open(p).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s.lines().map(String::from).collect()
    }

    #[test]
    fn resumes_at_the_checkpoint_and_cuts_what_came_after() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let paths = cache.slice("eu-central-1", "/aws/eks/demo/cluster", "s", 0, 10);
        assert!(
            paths
                .data
                .to_string_lossy()
                .contains("%2Faws%2Feks%2Fdemo%2Fcluster")
        );
        let mut w = SliceWriter::open(paths.clone(), state(0, 10), None).unwrap();
        w.append(&["a".into(), "b\nc".into()], Some("t1".into()), 5)
            .unwrap();
        drop(w);
        // a page written after the checkpoint, then a crash before the state was saved
        let mut f = OpenOptions::new().append(true).open(&paths.data).unwrap();
        f.write_all(b"garbage").unwrap();
        drop(f);
        let saved = read_state(&paths.state).unwrap();
        assert_eq!(saved.next_token.as_deref(), Some("t1"));
        let mut w = SliceWriter::open(paths.clone(), state(0, 10), Some(saved)).unwrap();
        w.append(&["d".into()], None, 6).unwrap();
        let done = w.finish(20 + SETTLE_MS).unwrap();
        assert_eq!(lines(&paths.data), ["a", "b c", "d"]);
        assert_eq!(
            (done.events, done.complete, done.settled()),
            (3, true, true)
        );
        let listed = cache.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].1, done);
        assert_eq!(cache.clear().unwrap().0, 2);
        assert!(cache.list().unwrap().is_empty());
    }
}
