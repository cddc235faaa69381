//! The report manager: the one place report files are written. It creates the report
//! folder and every target file before any load starts, so a bad `--out` fails in the
//! first second rather than after the runs; later it renders each format and writes it
//! atomically. The table is printed to standard output instead of written.
//!
//! Placeholders that were created but never written (the command failed or was
//! interrupted before a decision) are removed again, so nobody mistakes an empty
//! `result.json` for a result.

use std::cell::Cell;
use std::fs::{self, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::document::ReportDocument;
use super::json::JsonReporter;
use super::junit::JunitReporter;
use super::markdown::MarkdownReporter;
use super::reporter::{Format, ReportError, Reporter};
use super::table::TableReporter;
use crate::atomic_file::{self, Existing};

/// `report.html`: one self-contained page, rendered by the HTML reporter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HtmlReporter;

impl Reporter for HtmlReporter {
    fn format(&self) -> Format {
        Format::Html
    }

    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, doc: &ReportDocument) -> Result<Vec<u8>, ReportError> {
        Ok(super::html::render_html(doc).into_bytes())
    }
}

/// The reporter of `format`; `color` applies to the table only.
pub fn reporter(format: Format, color: bool) -> Box<dyn Reporter> {
    match format {
        Format::Table => Box::new(TableReporter::new(color)),
        Format::Json => Box::new(JsonReporter),
        Format::Markdown => Box::new(MarkdownReporter),
        Format::Junit => Box::new(JunitReporter),
        Format::Html => Box::new(HtmlReporter),
    }
}

/// Whether standard output should get ANSI colour: a terminal, and `NO_COLOR` unset.
pub fn stdout_wants_color() -> bool {
    std::io::stdout().is_terminal() && no_color_unset()
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Where the table is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Console {
    Stdout,
    /// When standard output carries machine output (`--json -`).
    Stderr,
}

/// Makes the reporter of a format for a kind of document; `bool`: colour.
pub type ReporterFactory<D> = fn(Format, bool) -> Box<dyn Reporter<D>>;

/// One format's destination.
struct Target<D: ?Sized> {
    reporter: Box<dyn Reporter<D>>,
    /// `None` for the table, which is printed.
    file: Option<PathBuf>,
    /// Whether `new` created the file (and so may remove it again).
    created: bool,
    /// Whether `write` has written it.
    done: Cell<bool>,
}

/// Owns a report folder: its files are created up front and written once. `D` is the
/// document it renders: a comparison (the default) or a gate result.
pub struct ReportManager<D: ?Sized = ReportDocument> {
    dir: PathBuf,
    targets: Vec<Target<D>>,
    console: Console,
    make: ReporterFactory<D>,
}

impl<D: ?Sized> std::fmt::Debug for ReportManager<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let formats: Vec<Format> = self.targets.iter().map(|t| t.reporter.format()).collect();
        f.debug_struct("ReportManager")
            .field("dir", &self.dir)
            .field("formats", &formats)
            .finish()
    }
}

impl ReportManager<ReportDocument> {
    /// Creates `dir` and an (empty, if new) file for every format but the table, so that
    /// an unwritable path fails now. A format given twice is produced once.
    pub fn new(dir: &Path, formats: &[Format]) -> Result<Self, ReportError> {
        Self::with_reporters(dir, formats, reporter)
    }
}

impl<D: ?Sized> ReportManager<D> {
    /// [`ReportManager::new`] for the documents `make` renders.
    pub fn with_reporters(
        dir: &Path,
        formats: &[Format],
        make: ReporterFactory<D>,
    ) -> Result<Self, ReportError> {
        fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let color = stdout_wants_color();
        let mut manager = Self {
            dir: dir.to_path_buf(),
            targets: Vec::new(),
            console: Console::Stdout,
            make,
        };
        let mut seen = Vec::new();
        for &format in formats {
            if seen.contains(&format) {
                continue;
            }
            seen.push(format);
            let reporter = make(format, color);
            let (file, created) = if format == Format::Table {
                (None, false)
            } else {
                let file = dir.join(reporter.file_name());
                let created = prepare(&file)?;
                (Some(file), created)
            };
            // Pushed one by one so that, if a later target fails, `Drop` removes the
            // placeholders already made.
            manager.targets.push(Target {
                reporter,
                file,
                created,
                done: Cell::new(false),
            });
        }
        Ok(manager)
    }

    /// Prints the table on standard error instead, so that standard output carries only
    /// machine output (`--json -`); colour then follows standard error.
    pub fn table_on_stderr(mut self) -> Self {
        self.console = Console::Stderr;
        let color = std::io::stderr().is_terminal() && no_color_unset();
        for target in self.targets.iter_mut().filter(|t| t.file.is_none()) {
            target.reporter = (self.make)(Format::Table, color);
        }
        self
    }

    /// The report folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Renders every format: prints the table, writes the files atomically, and returns
    /// the files written. A format this build cannot render yet is skipped with a note
    /// on standard error, its placeholder removed.
    pub fn write(&self, doc: &D) -> Result<Vec<PathBuf>, ReportError> {
        let mut written = Vec::new();
        for target in &self.targets {
            let bytes = match target.reporter.render(doc) {
                Ok(bytes) => bytes,
                Err(ReportError::Unavailable(name)) => {
                    eprintln!("note: no {name} report: that format is not available in this build");
                    target.remove_placeholder();
                    target.done.set(true);
                    continue;
                }
                Err(e) => return Err(e),
            };
            match &target.file {
                None => print(&bytes, self.console)?,
                Some(file) => {
                    atomic_file::write(file, &bytes, Existing::Replace).map_err(|source| {
                        ReportError::Write {
                            path: file.clone(),
                            source,
                        }
                    })?;
                    written.push(file.clone());
                }
            }
            target.done.set(true);
        }
        Ok(written)
    }
}

impl<D: ?Sized> Target<D> {
    /// Removes the file `new` created if it is still the empty placeholder.
    fn remove_placeholder(&self) {
        if let (true, Some(file)) = (self.created, &self.file)
            && fs::metadata(file).is_ok_and(|m| m.len() == 0)
        {
            // Best effort: a leftover empty file is harmless, only untidy.
            let _ = fs::remove_file(file);
        }
    }
}

impl<D: ?Sized> Drop for ReportManager<D> {
    fn drop(&mut self) {
        for target in self.targets.iter().filter(|t| !t.done.get()) {
            target.remove_placeholder();
        }
    }
}

/// Opens `file` for writing without truncating it (an earlier report stays whole until
/// the new one replaces it); returns whether it was created.
fn prepare(file: &Path) -> Result<bool, ReportError> {
    let existed = fs::symlink_metadata(file).is_ok();
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(file)
        .map_err(|source| ReportError::Target {
            path: file.to_path_buf(),
            source,
        })?;
    Ok(!existed)
}

/// Writes to the console; a closed pipe (`| head`) is a quiet success.
fn print(bytes: &[u8], console: Console) -> Result<(), ReportError> {
    let written = match console {
        Console::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        Console::Stderr => {
            let mut out = std::io::stderr().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
    };
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(ReportError::Write {
            path: PathBuf::from("-"),
            source: e,
        }),
        _ => Ok(()),
    }
}
