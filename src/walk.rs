//! The one directory walk, used by every source that takes directories (audit logs, manifests) and
//! by the CloudWatch cache.
//!
//! Policy: entries are visited in sorted order; symlinks to files are followed; a directory (reached
//! directly or through a symlink) is entered at most once, so a link to a parent cannot loop (loop
//! detection by device and inode); the same file reached twice (two links, or named twice) is listed
//! once; hidden entries (`.name`) inside a walked directory are skipped unless asked for; an entry that
//! cannot be read is reported and the walk goes on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What one walk found.
#[derive(Debug, Default, Clone)]
pub struct Walk {
    /// Files, in walk order (sorted within each directory), each once.
    pub files: Vec<PathBuf>,
    /// Entries that could not be read (`path: reason`); the walk continued past them.
    pub problems: Vec<String>,
}

/// How to walk.
#[derive(Debug, Clone, Copy, Default)]
pub struct WalkOptions<'a> {
    /// Keep files and enter directories whose names start with a dot.
    pub hidden: bool,
    /// Only files with one of these extensions (without the dot), when set; roots named as files
    /// are always kept.
    pub extensions: Option<&'a [&'a str]>,
}

/// The identity of a file: device and inode where the platform has them, else the canonical path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Id {
    #[cfg(unix)]
    Inode(u64, u64),
    #[allow(dead_code)]
    Path(PathBuf),
}

fn id(p: &Path, md: &std::fs::Metadata) -> Id {
    #[cfg(unix)]
    {
        let _ = p;
        use std::os::unix::fs::MetadataExt;
        Id::Inode(md.dev(), md.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = md;
        Id::Path(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
    }
}

/// A walk over several roots that shares the set of what was seen, so a file named twice (or
/// reached from two roots) is listed once.
#[derive(Debug, Default)]
pub struct Walker {
    seen_dirs: HashSet<Id>,
    seen_files: HashSet<Id>,
    pub walk: Walk,
}

impl Walker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `root`: a file (kept whatever its extension) or a directory (walked). Returns false
    /// when it does not exist or cannot be read (the reason is in `problems`).
    pub fn add(&mut self, root: &Path, opts: WalkOptions<'_>) -> bool {
        match std::fs::metadata(root) {
            Err(e) => {
                self.walk
                    .problems
                    .push(format!("{}: {}", root.display(), e));
                false
            }
            Ok(md) if md.is_dir() => {
                self.dir(root, &md, opts);
                true
            }
            Ok(md) => {
                self.file(root, &md);
                true
            }
        }
    }

    fn file(&mut self, p: &Path, md: &std::fs::Metadata) {
        if self.seen_files.insert(id(p, md)) {
            self.walk.files.push(p.to_path_buf());
        }
    }

    fn dir(&mut self, root: &Path, md: &std::fs::Metadata, opts: WalkOptions<'_>) {
        if !self.seen_dirs.insert(id(root, md)) {
            return;
        }
        // depth-first in sorted order, without recursion (no stack overflow on deep trees)
        let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) => {
                    self.walk.problems.push(format!("{}: {e}", dir.display()));
                    continue;
                }
            };
            let mut entries = Vec::new();
            for e in rd {
                match e {
                    Ok(e) => entries.push(e.path()),
                    Err(e) => self.walk.problems.push(format!("{}: {e}", dir.display())),
                }
            }
            entries.sort();
            let mut subdirs = Vec::new();
            for p in entries {
                let hidden = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'));
                if hidden && !opts.hidden {
                    continue;
                }
                // follows symlinks: a link to a directory is walked (once), a link to a file read
                let md = match std::fs::metadata(&p) {
                    Ok(md) => md,
                    Err(e) => {
                        self.walk.problems.push(format!("{}: {e}", p.display()));
                        continue;
                    }
                };
                if md.is_dir() {
                    if self.seen_dirs.insert(id(&p, &md)) {
                        subdirs.push(p);
                    }
                } else if opts.extensions.is_none_or(|exts| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| exts.contains(&e))
                }) {
                    self.file(&p, &md);
                }
            }
            // files of a directory come before its subdirectories', subdirectories in order
            stack.extend(subdirs.into_iter().rev());
        }
    }
}

/// Walks `root` alone.
pub fn walk(root: &Path, opts: WalkOptions<'_>) -> Walk {
    let mut w = Walker::new();
    w.add(root, opts);
    w.walk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn links_loops_hidden_and_order() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        std::fs::create_dir_all(a.join("sub")).unwrap();
        std::fs::create_dir_all(a.join(".git")).unwrap();
        std::fs::write(a.join("z.yaml"), "x").unwrap();
        std::fs::write(a.join("b.yaml"), "x").unwrap();
        std::fs::write(a.join("sub/c.yaml"), "x").unwrap();
        std::fs::write(a.join(".git/h.yaml"), "x").unwrap();
        std::fs::write(a.join("note.txt"), "x").unwrap();
        std::os::unix::fs::symlink("..", a.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("b.yaml", a.join("link.yaml")).unwrap();
        std::os::unix::fs::symlink("missing", a.join("dangling.yaml")).unwrap();
        let exts: &[&str] = &["yaml"];
        let w = walk(
            &a,
            WalkOptions {
                hidden: false,
                extensions: Some(exts),
            },
        );
        let names: Vec<String> = w
            .files
            .iter()
            .map(|p| p.strip_prefix(&a).unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["b.yaml", "z.yaml", "sub/c.yaml"]);
        assert_eq!(w.problems.len(), 1, "{:?}", w.problems);
        assert!(w.problems[0].contains("dangling.yaml"), "{:?}", w.problems);

        // two roots naming the same files: each file once
        let mut both = Walker::new();
        both.add(&a, WalkOptions::default());
        both.add(&a.join("b.yaml"), WalkOptions::default());
        assert_eq!(
            both.walk
                .files
                .iter()
                .filter(|p| p.ends_with("b.yaml"))
                .count(),
            1
        );
    }
}
