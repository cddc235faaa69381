//! Atomic file writes: a temp file in the same directory, flushed, then moved into place,
//! so a reader (or a crash) never sees a half-written record or baseline.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temp files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What to do when the target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it (an atomic rename).
    Replace,
    /// Leave it and fail with `ErrorKind::AlreadyExists` (an atomic no-clobber link).
    Keep,
}

/// Writes `bytes` to `file`, creating its directory.
pub fn write(file: &Path, bytes: &[u8], existing: Existing) -> io::Result<()> {
    let name = file
        .file_name()
        .ok_or_else(|| io::Error::other("the path names no file"))?;
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let temp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            // Flushed before it becomes visible, so a crash cannot publish an empty file.
            f.sync_all()
        });
    let published = written.and_then(|()| publish(&temp, file, existing));
    // The temp file is gone after a rename; after a link or a failure it must go too.
    let _ = fs::remove_file(&temp);
    published?;
    sync_dir(dir);
    Ok(())
}

/// Moves `temp` to `file`: a rename to replace, a no-clobber hard link to keep.
fn publish(temp: &Path, file: &Path, existing: Existing) -> io::Result<()> {
    if existing == Existing::Replace {
        return fs::rename(temp, file);
    }
    match fs::hard_link(temp, file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        // A file system without hard links: fall back to check-then-rename.
        Err(_) if fs::symlink_metadata(file).is_ok() => {
            Err(io::Error::from(io::ErrorKind::AlreadyExists))
        }
        Err(_) => fs::rename(temp, file),
    }
}

/// Makes the new directory entry durable; best effort (not every platform can open a dir).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_refuses_an_existing_file_and_leaves_it_and_no_temp_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("sub").join("a.json");
        write(&file, b"one", Existing::Keep).expect("first write");
        let err = write(&file, b"two", Existing::Keep).expect_err("must not overwrite");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&file).expect("read"), b"one");
        write(&file, b"three", Existing::Replace).expect("replace");
        assert_eq!(fs::read(&file).expect("read"), b"three");
        let leftovers = fs::read_dir(file.parent().expect("dir"))
            .expect("list")
            .count();
        assert_eq!(leftovers, 1, "temp files are cleaned up");
    }
}
