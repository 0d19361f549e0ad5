//! The 8x8 handwritten digits (`data/digits.csv.gz`) as a [`gradnet::data::Dataset`]:
//! gzip, then the library's CSV reader (`gradnet::data::csv`), then a check that
//! every pixel is an integer 0..=16; and the split every example uses (stratified
//! 80/20, standardized with the training part's statistics).
//!
//! Shared by the examples through `#[path = "common/digits.rs"] mod digits;`.
//!
//! The file is gzip-compressed CSV without a header, one image per line: 64 pixel
//! values (integers 0..=16, row after row of the 8x8 image), then the digit 0..=9.

#![allow(dead_code)] // each example uses part of this module

use gradnet::data::csv::{read_classification, CsvOptions};
use gradnet::data::{DataError, Dataset, Standardizer};
use gradnet::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Pixels per image.
pub const PIXELS: usize = 64;
/// Number of classes (the digits 0..=9).
pub const CLASSES: usize = 10;
/// The largest pixel value (the images are counts of set pixels in 4x4 blocks).
pub const MAX_PIXEL: f32 = 16.0;
/// Where the data set lives in this repository.
pub const DEFAULT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");

/// The images (pixel values as `f32`) and their digits.
pub type Digits = Dataset<Batch<f32, PIXELS>, Vec<usize>>;

/// Everything that can go wrong reading the data set.
#[derive(Debug, thiserror::Error)]
pub enum DigitsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The bytes are not a valid gzip stream.
    #[error("not valid gzip data: {0}")]
    Gzip(std::io::Error),
    /// The CSV's own errors (widths, numbers, labels), by line and column.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A pixel value that is not an integer in 0..=16.
    #[error("line {line}, column {column}: pixel value {value} is not an integer in 0..=16")]
    BadPixel {
        /// 1-based line number.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The value found.
        value: f32,
    },
}

/// Reads and parses the gzip-compressed CSV file at `path`.
///
/// # Errors
/// [`DigitsError::Io`], then as [`from_gzip`].
pub fn load(path: impl AsRef<Path>) -> Result<Digits, DigitsError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| DigitsError::Io {
        path: path.to_owned(),
        source,
    })?;
    from_gzip(&bytes)
}

/// Decompresses and parses gzip-compressed CSV bytes.
///
/// # Errors
/// [`DigitsError::Gzip`] for a bad or truncated stream, then as [`parse`].
pub fn from_gzip(bytes: &[u8]) -> Result<Digits, DigitsError> {
    let mut text = Vec::new();
    // Reading from memory cannot fail for other reasons: any error is the stream's.
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut text)
        .map_err(DigitsError::Gzip)?;
    parse(&text)
}

/// Parses CSV bytes: one image per line, 64 pixels then the label.
///
/// # Errors
/// [`DigitsError::Data`] (a line of the wrong width, a field that is not a
/// number, a label outside 0..=9, no line at all), [`DigitsError::BadPixel`].
pub fn parse(text: &[u8]) -> Result<Digits, DigitsError> {
    let data = read_classification::<f32, PIXELS, _>(text, CLASSES, &CsvOptions::new())?;
    for (i, row) in data.x().iter_rows().enumerate() {
        if let Some(j) = row
            .iter()
            .position(|&v| !(0.0..=MAX_PIXEL).contains(&v) || v.fract() != 0.0)
        {
            return Err(DigitsError::BadPixel {
                line: i + 1,
                column: j + 1,
                value: row[j],
            });
        }
    }
    Ok(data)
}

/// A stratified split (`test_fraction` to the second part, as scikit-learn's
/// `train_test_split(..., stratify=y)`), both parts standardized with the
/// statistics of the first only.
///
/// # Errors
/// As [`Dataset::stratified_split`] and [`Standardizer::fit`].
pub fn standardized_split(
    data: &Digits,
    test_fraction: f64,
    rng: &mut SeededRng,
) -> Result<(Digits, Digits), DataError> {
    let (train, test) = data.stratified_split(test_fraction, rng)?;
    let scaler = Standardizer::fit(train.x())?;
    let standardize = |d: Digits| -> Result<Digits, DataError> {
        let (x, y) = d.into_parts();
        Dataset::new(scaler.transform(&x)?, y)
    };
    Ok((standardize(train)?, standardize(test)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn row(pixels: u64, label: u64) -> String {
        let mut fields: Vec<String> = (0..PIXELS as u64)
            .map(|i| (i * pixels % 17).to_string())
            .collect();
        fields.push(label.to_string());
        fields.join(",")
    }

    fn gzip(text: &str) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn parses_rows_and_labels() {
        let text = format!("{}\n{}\r\n", row(3, 7), row(5, 0));
        let d = from_gzip(&gzip(&text)).unwrap();
        assert_eq!(d.y(), &vec![7, 0]);
        assert_eq!(d.x().row(0)[2], 6.0);
        assert_eq!(d.x().row(1)[4], (20 % 17) as f32);
    }

    #[test]
    fn the_shipped_file_loads() {
        let d = load(DEFAULT_PATH).unwrap();
        assert_eq!(d.len(), 1797);
        // Class sizes of the UCI test set (scikit-learn's load_digits).
        assert_eq!(
            d.class_counts(),
            [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
    }

    #[test]
    fn bad_rows_name_their_line_and_column() {
        let good = row(1, 1);
        let short = good.rsplit_once(',').unwrap().0.to_owned();
        let err = parse(format!("{good}\n{short}\n").as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                DigitsError::Data(DataError::RowWidth {
                    line: 2,
                    expected: 65,
                    found: 64
                })
            ),
            "{err}"
        );
        let bad = good.replacen("1", "x", 1);
        let err = parse(format!("{good}\n{good}\n{bad}").as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                DigitsError::Data(DataError::NotANumber {
                    line: 3,
                    column: 2,
                    ..
                })
            ),
            "{err}"
        );
        let big = good.replacen("1", "17", 1);
        let err = parse(big.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                DigitsError::BadPixel {
                    line: 1,
                    column: 2,
                    ..
                }
            ),
            "{err}"
        );
        let half = good.replacen("1", "1.5", 1);
        let err = parse(half.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                DigitsError::BadPixel {
                    line: 1,
                    column: 2,
                    ..
                }
            ),
            "{err}"
        );
        let label = format!("{short},10");
        let err = parse(label.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                DigitsError::Data(DataError::BadClass {
                    line: 1,
                    column: 65,
                    ..
                })
            ),
            "{err}"
        );
        assert!(matches!(
            parse(b""),
            Err(DigitsError::Data(DataError::Empty))
        ));
    }

    #[test]
    fn io_and_gzip_errors_are_told_apart() {
        let err = load("/nonexistent/digits.csv.gz").unwrap_err();
        assert!(matches!(err, DigitsError::Io { .. }), "{err}");
        let err = from_gzip(b"0,1,2\n").unwrap_err();
        assert!(matches!(err, DigitsError::Gzip(_)), "{err}");
        let whole = gzip(&row(2, 3));
        let err = from_gzip(&whole[..whole.len() - 6]).unwrap_err();
        assert!(matches!(err, DigitsError::Gzip(_)), "truncated: {err}");
    }

    #[test]
    fn the_split_is_stratified_and_standardized_on_the_training_part() {
        let d = load(DEFAULT_PATH).unwrap();
        let (train, test) = standardized_split(&d, 0.2, &mut seeded(3)).unwrap();
        assert_eq!(test.len(), 360); // ceil(0.2 * 1797), as scikit-learn
        assert_eq!(train.len() + test.len(), d.len());
        let (full, part) = (d.class_counts(), test.class_counts());
        for c in 0..CLASSES {
            let share = 360.0 * full[c] as f64 / 1797.0;
            assert!(
                (part[c] as f64 - share).abs() < 1.0,
                "class {c}: {} vs {share}",
                part[c]
            );
        }
        // Every varying pixel has mean 0 over the training part.
        for j in 0..PIXELS {
            let mean =
                train.x().iter_rows().map(|r| f64::from(r[j])).sum::<f64>() / train.len() as f64;
            assert!(mean.abs() < 1e-5, "pixel {j}: mean {mean}");
        }
    }
}
