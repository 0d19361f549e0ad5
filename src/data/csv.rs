//! Data sets from CSV, with the `csv` crate: `D` feature columns and the target
//! columns (one class index, or `O` target values), with typed errors naming the
//! line and column of bad data.
//!
//! ```
//! use gradnet::data::csv::{read_classification, CsvOptions};
//! let text = "x1,x2,label\n0.5,1.5,0\n2.0,-1.0,2\n";
//! let data = read_classification::<f32, 2, _>(text.as_bytes(), 3, &CsvOptions::new().header(true))?;
//! assert_eq!(data.len(), 2);
//! assert_eq!((data.x().row(1), data.y()[1]), (&[2.0f32, -1.0][..], 2));
//!
//! let bad = "x1,x2,label\n0.5,oops,0\n";
//! let err = read_classification::<f32, 2, _>(bad.as_bytes(), 3, &CsvOptions::new().header(true)).unwrap_err();
//! assert_eq!(err.to_string(), "line 2, column 2: \"oops\" is not a finite number");
//! # Ok::<(), gradnet::data::DataError>(())
//! ```

use super::{DataError, Dataset};
use gradnet_core::{Batch, Real};
use std::io::Read;
use std::path::Path;

/// How a CSV file is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    header: bool,
    delimiter: u8,
    target_first: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl CsvOptions {
    /// Comma-separated, no header line, the features first and the targets last.
    pub fn new() -> Self {
        CsvOptions {
            header: false,
            delimiter: b',',
            target_first: false,
        }
    }

    /// Whether the first line is a header (skipped).
    pub fn header(mut self, header: bool) -> Self {
        self.header = header;
        self
    }

    /// The field separator (`b';'`, `b'\t'`, ...).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// Whether the target columns come before the features instead of after them.
    pub fn target_first(mut self, target_first: bool) -> Self {
        self.target_first = target_first;
        self
    }
}

/// Reads every record as `features + targets` fields and hands each field, with
/// its record's line and its 1-based column, to `feature` or `target`.
fn read_records<R: Read>(
    reader: R,
    features: usize,
    targets: usize,
    opts: &CsvOptions,
    mut feature: impl FnMut(u64, usize, &str) -> Result<(), DataError>,
    mut target: impl FnMut(u64, usize, usize, &str) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(opts.header)
        .delimiter(opts.delimiter)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(reader);
    let width = features + targets;
    let target_start = if opts.target_first { 0 } else { features };
    for record in rdr.byte_records() {
        let record = record.map_err(|e| DataError::Csv {
            line: e.position().map_or(0, |p| p.line()),
            reason: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != width {
            return Err(DataError::RowWidth {
                line,
                expected: width,
                found: record.len(),
            });
        }
        for (j, field) in record.iter().enumerate() {
            let field = std::str::from_utf8(field).map_err(|_| DataError::Csv {
                line,
                reason: format!("column {} is not UTF-8 text", j + 1),
            })?;
            if (target_start..target_start + targets).contains(&j) {
                target(line, j + 1, j - target_start, field)?;
            } else {
                feature(line, j + 1, field)?;
            }
        }
    }
    Ok(())
}

fn number<T: Real>(line: u64, column: usize, text: &str) -> Result<T, DataError> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(T::of)
        .filter(|v| v.is_finite())
        .ok_or_else(|| DataError::NotANumber {
            line,
            column,
            text: text.to_owned(),
        })
}

/// A classification data set: `D` features and one class index in `0..classes`
/// per record.
///
/// # Errors
/// [`DataError::Csv`] for an unreadable record, [`DataError::RowWidth`],
/// [`DataError::NotANumber`] (NaN and infinities included), [`DataError::BadClass`],
/// each naming the line (and column); [`DataError::Empty`] for no record.
pub fn read_classification<T: Real, const D: usize, R: Read>(
    reader: R,
    classes: usize,
    opts: &CsvOptions,
) -> Result<Dataset<Batch<T, D>, Vec<usize>>, DataError> {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    read_records(
        reader,
        D,
        1,
        opts,
        |line, column, text| {
            x.push(number(line, column, text)?);
            Ok(())
        },
        |line, column, _, text| {
            let class = text.parse::<usize>().ok().filter(|&c| c < classes);
            y.push(class.ok_or_else(|| DataError::BadClass {
                line,
                column,
                text: text.to_owned(),
                classes,
            })?);
            Ok(())
        },
    )?;
    if y.is_empty() {
        return Err(DataError::Empty);
    }
    Dataset::new(Batch::from_vec(x)?, y)
}

/// A regression data set: `D` features and `O` target values per record.
///
/// # Errors
/// As [`read_classification`], without [`DataError::BadClass`].
pub fn read_regression<T: Real, const D: usize, const O: usize, R: Read>(
    reader: R,
    opts: &CsvOptions,
) -> Result<Dataset<Batch<T, D>, Batch<T, O>>, DataError> {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    read_records(
        reader,
        D,
        O,
        opts,
        |line, column, text| {
            x.push(number(line, column, text)?);
            Ok(())
        },
        |line, column, _, text| {
            y.push(number(line, column, text)?);
            Ok(())
        },
    )?;
    if y.is_empty() {
        return Err(DataError::Empty);
    }
    Dataset::new(Batch::from_vec(x)?, Batch::from_vec(y)?)
}

fn open(path: &Path) -> Result<std::fs::File, DataError> {
    std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })
}

/// [`read_classification`] of the file at `path`.
///
/// # Errors
/// [`DataError::Io`] if it cannot be opened, then as [`read_classification`].
pub fn load_classification<T: Real, const D: usize>(
    path: impl AsRef<Path>,
    classes: usize,
    opts: &CsvOptions,
) -> Result<Dataset<Batch<T, D>, Vec<usize>>, DataError> {
    read_classification(open(path.as_ref())?, classes, opts)
}

/// [`read_regression`] of the file at `path`.
///
/// # Errors
/// [`DataError::Io`] if it cannot be opened, then as [`read_regression`].
pub fn load_regression<T: Real, const D: usize, const O: usize>(
    path: impl AsRef<Path>,
    opts: &CsvOptions,
) -> Result<Dataset<Batch<T, D>, Batch<T, O>>, DataError> {
    read_regression(open(path.as_ref())?, opts)
}
