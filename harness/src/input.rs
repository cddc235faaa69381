//! Reading the files a person points the harness at: regular files only, up to a cap.
//!
//! Every input file is read through [`read`] or [`read_text`]: scenarios, the phase
//! plan, proxy files, the JSON Schema, PEM and recorded traffic files a scenario names,
//! run records, baselines and `result.json`. Two rules hold for all of them:
//!
//! - only a regular file (or a link to one) is read. The path is looked at first
//!   (`stat`), before anything is opened, because opening a FIFO blocks until a writer
//!   appears and a character device such as `/dev/zero` never ends: a FIFO, a device, a
//!   socket or a directory is refused at once;
//! - at most the cap of the file's kind is read (one byte more, to tell): TOML and the
//!   files it names are small ([`TEXT_CAP`], 1 MiB), except recorded traffic that a flow
//!   replays ([`TRAFFIC_CAP`], 64 MiB: a HAR export carries the answers' bodies);
//!   records and results hold histograms and can be large ([`DATA_CAP`], 256 MiB). A
//!   larger file is refused with the cap named.
//!
//! Errors are [`io::Error`]s, so every caller keeps its own error type (and exit code)
//! and only gains a clearer reason: "not a regular file (a FIFO); give the path of a
//! scenario file", "larger than the 1 MiB limit for a scenario file (2.0 MiB)".

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;

/// The cap of a TOML file and of the files it names (schemas, certificates): 1 MiB.
pub const TEXT_CAP: u64 = 1024 * 1024;

/// The cap of a JSON file the harness wrote (run records, baselines, results): 256 MiB.
pub const DATA_CAP: u64 = 256 * 1024 * 1024;

/// A kind of input file: what it is called in messages and how large it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input {
    /// What the file is, with its article: "a scenario file".
    pub what: &'static str,
    /// The most bytes read.
    pub cap: u64,
}

/// A scenario file.
pub const SCENARIO: Input = Input {
    what: "a scenario file",
    cap: TEXT_CAP,
};

/// The phase plan.
pub const PLAN: Input = Input {
    what: "a phase plan",
    cap: TEXT_CAP,
};

/// A proxy file (`harness proxy --file`).
pub const PROXY_FILE: Input = Input {
    what: "a proxy file",
    cap: TEXT_CAP,
};

/// A JSON Schema file named by a scenario's check.
pub const SCHEMA: Input = Input {
    what: "a JSON Schema file",
    cap: TEXT_CAP,
};

/// A PEM file named by a `tls` table.
pub const PEM: Input = Input {
    what: "a PEM file",
    cap: TEXT_CAP,
};

/// The cap of a recorded traffic file (HAR exports carry the answers' bodies): 64 MiB.
pub const TRAFFIC_CAP: u64 = 64 * 1024 * 1024;

/// A recorded traffic file (HAR or JSON lines) named by a flow's `replay`.
pub const TRAFFIC: Input = Input {
    what: "a recorded traffic file (HAR or JSON lines)",
    cap: TRAFFIC_CAP,
};

/// A run record, a baseline or a `result.json`.
pub const RESULT: Input = Input {
    what: "a JSON file written by the harness",
    cap: DATA_CAP,
};

/// The bytes of the regular file at `path`, at most `input.cap` of them.
pub fn read(path: &Path, input: Input) -> io::Result<Vec<u8>> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(not_regular(&metadata, input));
    }
    if metadata.len() > input.cap {
        return Err(too_large(Some(metadata.len()), input));
    }
    let file = open_nonblocking(path)?;
    // The path may have been swapped between the look and the open: look again at what
    // was opened. The open itself never blocks (a FIFO swapped in is opened without
    // waiting for a writer, then refused here); reads of a regular file ignore the flag.
    let opened = file.metadata()?;
    if !opened.is_file() {
        return Err(not_regular(&opened, input));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    // One byte past the cap tells a file that grew (or reports no size, as /proc does).
    file.take(input.cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > input.cap {
        return Err(too_large(None, input));
    }
    Ok(bytes)
}

/// Opens `path` for reading without blocking on a FIFO or device.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// The text of the regular file at `path` (UTF-8), at most `input.cap` bytes.
pub fn read_text(path: &Path, input: Input) -> io::Result<String> {
    String::from_utf8(read(path, input)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 text; {} is UTF-8 text", input.what),
        )
    })
}

fn not_regular(metadata: &Metadata, input: Input) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "not a regular file ({}); give the path of {}",
            file_type(metadata),
            input.what
        ),
    )
}

fn too_large(size: Option<u64>, input: Input) -> io::Error {
    let size = size.map(|s| format!(" ({})", mib(s))).unwrap_or_default();
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "larger than the {} limit for {}{size}; give the path of {}",
            mib(input.cap),
            input.what,
            input.what
        ),
    )
}

/// `1 MiB`, `2.5 MiB`.
fn mib(bytes: u64) -> String {
    let m = bytes as f64 / (1024.0 * 1024.0);
    if m.fract() == 0.0 {
        format!("{m:.0} MiB")
    } else {
        format!("{m:.1} MiB")
    }
}

/// What a path that is not a regular file is, in words.
fn file_type(metadata: &Metadata) -> &'static str {
    let t = metadata.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Input = Input {
        what: "a test file",
        cap: 10,
    };

    #[test]
    fn a_regular_file_up_to_the_cap_is_read() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("f");
        std::fs::write(&file, "0123456789").expect("write");
        assert_eq!(read(&file, SMALL).expect("read"), b"0123456789");
        assert_eq!(read_text(&file, SMALL).expect("read"), "0123456789");
    }

    #[test]
    fn a_file_past_the_cap_is_refused_naming_the_cap() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("f");
        std::fs::write(&file, vec![b'x'; 3 * 1024 * 1024]).expect("write");
        let e = read(&file, SCENARIO).expect_err("too large");
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            e.to_string(),
            "larger than the 1 MiB limit for a scenario file (3 MiB); give the path of a scenario file"
        );
        std::fs::write(&file, "01234567890").expect("write");
        assert!(read(&file, SMALL).is_err());
    }

    #[test]
    fn directories_and_devices_are_refused_without_reading() {
        let dir = tempfile::tempdir().expect("dir");
        let e = read(dir.path(), SCENARIO).expect_err("a directory");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            "not a regular file (a directory); give the path of a scenario file"
        );
        #[cfg(unix)]
        {
            let e = read(Path::new("/dev/zero"), SCENARIO).expect_err("a device");
            assert!(e.to_string().contains("(a character device)"), "{e}");
        }
        let e = read(&dir.path().join("missing"), SCENARIO).expect_err("missing");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("f");
        std::fs::write(&file, [0xff, 0xfe]).expect("write");
        let e = read_text(&file, SMALL).expect_err("not UTF-8");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn sizes_read_in_mib() {
        assert_eq!(mib(TEXT_CAP), "1 MiB");
        assert_eq!(mib(DATA_CAP), "256 MiB");
        assert_eq!(mib(TEXT_CAP * 5 / 2), "2.5 MiB");
    }
}
