//! The 8x8 handwritten digits (`data/digits.csv.gz`): loading with typed errors, a
//! stratified train/test split, and standardization fitted on the training part.
//!
//! Shared by the examples through `#[path = "common/digits.rs"] mod digits;`.
//!
//! The file is gzip-compressed CSV without a header, one image per line: 64 pixel
//! values (integers 0..=16, row after row of the 8x8 image), then the digit 0..=9.

#![allow(dead_code)] // each example uses part of this module

use gradnet::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Pixels per image.
pub const PIXELS: usize = 64;
/// Number of classes (the digits 0..=9).
pub const CLASSES: usize = 10;
/// The largest pixel value (the images are counts of set pixels in 4x4 blocks).
pub const MAX_PIXEL: u8 = 16;
/// Where the data set lives in this repository.
pub const DEFAULT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");

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
    /// The decompressed bytes are not UTF-8 text.
    #[error("not UTF-8 text: {0}")]
    NotText(#[from] std::str::Utf8Error),
    /// A line without 64 pixels and a label.
    #[error("line {line}: expected {expected} comma-separated values (64 pixels and a label), found {found}")]
    RowWidth {
        /// 1-based line number.
        line: usize,
        /// Values a line must hold.
        expected: usize,
        /// Values found.
        found: usize,
    },
    /// A field that is not a non-negative integer.
    #[error("line {line}, column {column}: {text:?} is not a non-negative integer")]
    NotInteger {
        /// 1-based line number.
        line: usize,
        /// 1-based column (field) number.
        column: usize,
        /// The field as written.
        text: String,
    },
    /// A pixel value above 16.
    #[error("line {line}, column {column}: pixel value {value} is outside 0..={MAX_PIXEL}")]
    PixelOutOfRange {
        /// 1-based line number.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The value found.
        value: u64,
    },
    /// A label that is not a digit 0..=9.
    #[error("line {line}: label {value} is outside 0..{CLASSES}")]
    LabelOutOfRange {
        /// 1-based line number.
        line: usize,
        /// The label found.
        value: u64,
    },
    /// A file without a single image.
    #[error("the data set holds no images")]
    Empty,
}

/// The images and their labels, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    /// Pixel values 0..=16, row-major 8x8.
    pub images: Vec<[u8; PIXELS]>,
    /// The digit each image shows.
    pub labels: Vec<usize>,
}

impl Digits {
    /// Reads and parses a gzip-compressed CSV file.
    ///
    /// # Errors
    /// [`DigitsError::Io`] if the file cannot be read, and the errors of
    /// [`Digits::from_gzip`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DigitsError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| DigitsError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_gzip(&bytes)
    }

    /// Decompresses and parses gzip-compressed CSV bytes.
    ///
    /// # Errors
    /// [`DigitsError::Gzip`] for a bad or truncated stream, [`DigitsError::NotText`],
    /// and the errors of [`Digits::parse`].
    pub fn from_gzip(bytes: &[u8]) -> Result<Self, DigitsError> {
        let mut text = Vec::new();
        // Reading from memory cannot fail for other reasons: any error is the stream's.
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut text)
            .map_err(DigitsError::Gzip)?;
        Self::parse(std::str::from_utf8(&text)?)
    }

    /// Parses CSV text: one image per line, 64 pixels then the label.
    ///
    /// # Errors
    /// The first bad line as [`DigitsError::RowWidth`], [`DigitsError::NotInteger`],
    /// [`DigitsError::PixelOutOfRange`] or [`DigitsError::LabelOutOfRange`];
    /// [`DigitsError::Empty`] if there is no line.
    pub fn parse(text: &str) -> Result<Self, DigitsError> {
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let found = if line.trim().is_empty() {
                0
            } else {
                line.split(',').count()
            };
            if found != PIXELS + 1 {
                return Err(DigitsError::RowWidth {
                    line: line_no,
                    expected: PIXELS + 1,
                    found,
                });
            }
            let mut image = [0u8; PIXELS];
            for (j, field) in line.split(',').enumerate() {
                let field = field.trim();
                let value: u64 = field.parse().map_err(|_| DigitsError::NotInteger {
                    line: line_no,
                    column: j + 1,
                    text: field.to_owned(),
                })?;
                if j < PIXELS {
                    image[j] = u8::try_from(value).ok().filter(|&v| v <= MAX_PIXEL).ok_or(
                        DigitsError::PixelOutOfRange {
                            line: line_no,
                            column: j + 1,
                            value,
                        },
                    )?;
                } else if value < CLASSES as u64 {
                    labels.push(value as usize);
                } else {
                    return Err(DigitsError::LabelOutOfRange {
                        line: line_no,
                        value,
                    });
                }
            }
            images.push(image);
        }
        if images.is_empty() {
            return Err(DigitsError::Empty);
        }
        Ok(Digits { images, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Images per class.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Digits {
        Digits {
            images: indices.iter().map(|&i| self.images[i]).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// A stratified shuffle split, like scikit-learn's `train_test_split(...,
    /// stratify=y)`: `ceil(fraction * n)` images go to the second part, shared among
    /// the classes in proportion to their sizes (largest remainders get the rounding),
    /// each class's images drawn at random. Returns `(first, second)` indices, each
    /// shuffled.
    pub fn stratified_split(&self, fraction: f64, rng: &mut SeededRng) -> (Vec<usize>, Vec<usize>) {
        let n = self.len();
        let counts = self.class_counts();
        let total = ((fraction * n as f64).ceil() as usize).min(n);
        // Exact shares, their floors, then one more for the largest remainders.
        let shares: Vec<f64> = counts
            .iter()
            .map(|&c| total as f64 * c as f64 / n as f64)
            .collect();
        let mut take: Vec<usize> = shares.iter().map(|s| s.floor() as usize).collect();
        let mut order: Vec<usize> = (0..CLASSES).collect();
        order.sort_by(|&a, &b| {
            let (ra, rb) = (shares[a] - shares[a].floor(), shares[b] - shares[b].floor());
            rb.total_cmp(&ra)
        });
        let missing = total - take.iter().sum::<usize>();
        for &c in order.iter().take(missing) {
            take[c] += 1;
        }
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for (class, &k) in take.iter().enumerate() {
            let mut members: Vec<usize> = (0..n).filter(|&i| self.labels[i] == class).collect();
            gradnet::rng::shuffle(&mut members, rng);
            second.extend_from_slice(&members[..k]);
            first.extend_from_slice(&members[k..]);
        }
        gradnet::rng::shuffle(&mut first, rng);
        gradnet::rng::shuffle(&mut second, rng);
        (first, second)
    }
}

/// Per-pixel standardization, `(x - mean) / std`, like scikit-learn's
/// `StandardScaler` (population standard deviation; a pixel that never varies keeps
/// scale 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    mean: [f64; PIXELS],
    scale: [f64; PIXELS],
}

impl Standardizer {
    /// Statistics of `data` (use the training part only).
    pub fn fit(data: &Digits) -> Self {
        let n = data.len().max(1) as f64;
        let mut mean = [0.0; PIXELS];
        for image in &data.images {
            for (m, &v) in mean.iter_mut().zip(image) {
                *m += f64::from(v) / n;
            }
        }
        let mut scale = [0.0; PIXELS];
        for image in &data.images {
            for ((s, &m), &v) in scale.iter_mut().zip(&mean).zip(image) {
                *s += (f64::from(v) - m).powi(2) / n;
            }
        }
        for s in &mut scale {
            *s = if *s > 0.0 { s.sqrt() } else { 1.0 };
        }
        Standardizer { mean, scale }
    }

    /// The standardized images as a batch.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] if `data` holds no image.
    pub fn transform<T: Real>(&self, data: &Digits) -> Result<Batch<T, PIXELS>, Error> {
        let mut values = Vec::with_capacity(data.len() * PIXELS);
        for image in &data.images {
            for ((&v, &m), &s) in image.iter().zip(&self.mean).zip(&self.scale) {
                values.push(T::of((f64::from(v) - m) / s));
            }
        }
        Batch::from_vec(values)
    }
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
        let d = Digits::from_gzip(&gzip(&text)).unwrap();
        assert_eq!(d.labels, vec![7, 0]);
        assert_eq!(d.images[0][2], 6);
        assert_eq!(d.images[1][4], 20 % 17);
    }

    #[test]
    fn the_shipped_file_loads() {
        let d = Digits::load(DEFAULT_PATH).unwrap();
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
        let err = Digits::parse(&format!("{good}\n{short}\n")).unwrap_err();
        assert!(
            matches!(
                err,
                DigitsError::RowWidth {
                    line: 2,
                    expected: 65,
                    found: 64
                }
            ),
            "{err}"
        );
        let err = Digits::parse(&format!("{good}\n\n{good}")).unwrap_err();
        assert!(
            matches!(
                err,
                DigitsError::RowWidth {
                    line: 2,
                    found: 0,
                    ..
                }
            ),
            "{err}"
        );

        let mut fields: Vec<&str> = good.split(',').collect();
        fields[4] = "3.5";
        let err = Digits::parse(&fields.join(",")).unwrap_err();
        assert!(
            matches!(&err, DigitsError::NotInteger { line: 1, column: 5, text } if text == "3.5"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "line 1, column 5: \"3.5\" is not a non-negative integer"
        );
        fields[4] = "17";
        let err = Digits::parse(&fields.join(",")).unwrap_err();
        assert!(
            matches!(
                err,
                DigitsError::PixelOutOfRange {
                    line: 1,
                    column: 5,
                    value: 17
                }
            ),
            "{err}"
        );
        fields[4] = "300";
        let err = Digits::parse(&fields.join(",")).unwrap_err();
        assert!(
            matches!(err, DigitsError::PixelOutOfRange { value: 300, .. }),
            "{err}"
        );
        let err = Digits::parse(&format!("{good}\n{}", row(1, 10))).unwrap_err();
        assert!(
            matches!(err, DigitsError::LabelOutOfRange { line: 2, value: 10 }),
            "{err}"
        );
        assert!(matches!(Digits::parse(""), Err(DigitsError::Empty)));
    }

    #[test]
    fn io_gzip_and_text_errors_are_told_apart() {
        let err = Digits::load("/nonexistent/digits.csv.gz").unwrap_err();
        assert!(matches!(err, DigitsError::Io { .. }), "{err}");
        let err = Digits::from_gzip(b"0,1,2\n").unwrap_err();
        assert!(matches!(err, DigitsError::Gzip(_)), "{err}");
        let whole = gzip(&row(2, 3));
        let err = Digits::from_gzip(&whole[..whole.len() - 6]).unwrap_err();
        assert!(matches!(err, DigitsError::Gzip(_)), "truncated: {err}");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[0xff, 0xfe, b'\n']).unwrap();
        let err = Digits::from_gzip(&enc.finish().unwrap()).unwrap_err();
        assert!(matches!(err, DigitsError::NotText(_)), "{err}");
    }

    #[test]
    fn stratified_split_keeps_class_proportions_and_partitions() {
        let d = Digits::load(DEFAULT_PATH).unwrap();
        let (train, test) = d.stratified_split(0.2, &mut seeded(3));
        assert_eq!(test.len(), 360); // ceil(0.2 * 1797), as scikit-learn
        assert_eq!(train.len() + test.len(), d.len());
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert!(all.iter().enumerate().all(|(i, &v)| i == v));
        let (full, part) = (d.class_counts(), d.subset(&test).class_counts());
        for c in 0..CLASSES {
            let share = 360.0 * full[c] as f64 / 1797.0;
            assert!(
                (part[c] as f64 - share).abs() < 1.0,
                "class {c}: {} vs {share}",
                part[c]
            );
        }
        // Another seed draws other images.
        let (_, other) = d.stratified_split(0.2, &mut seeded(4));
        assert_ne!(test, other);
    }

    #[test]
    fn standardizer_uses_the_fitted_statistics() {
        let text = format!("{}\n{}\n{}", row(1, 0), row(2, 1), row(4, 2));
        let d = Digits::parse(&text).unwrap();
        let s = Standardizer::fit(&d);
        let x = s.transform::<f64>(&d).unwrap();
        // Every varying pixel: mean 0 and population variance 1 over the fitted data.
        for j in 0..PIXELS {
            let col: Vec<f64> = x.iter_rows().map(|r| r[j]).collect();
            let mean = col.iter().sum::<f64>() / 3.0;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0;
            assert!(mean.abs() < 1e-12, "pixel {j}: mean {mean}");
            assert!(
                (var - 1.0).abs() < 1e-12 || var == 0.0,
                "pixel {j}: var {var}"
            );
        }
        // Pixel 0 is 0 in every row: it stays 0 (scale 1), not NaN.
        assert_eq!(x.row(0)[0], 0.0);
        // Other data is transformed with the fitted statistics, not its own.
        let y = s.transform::<f64>(&d.subset(&[2])).unwrap();
        assert_eq!(y.row(0), x.row(2));
    }
}
