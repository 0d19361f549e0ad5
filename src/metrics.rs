//! Metrics computed over an epoch, batch by batch: [`Accuracy`] and [`TopK`] for
//! classification, [`BinaryAccuracy`] for one logit per row, [`Mse`], [`Mae`] and
//! [`R2`] for regression. [`Metric`] is open: implement it for your own.
//!
//! A metric accumulates sums over the batches of an epoch ([`Metric::update`]) and
//! gives its value over all of them ([`Metric::value`]), so it does not depend on
//! how the epoch was cut into batches. The sums live in a vector of f64 the caller
//! keeps, which a checkpoint saves, so that a fit resumed within an epoch gives the
//! same value as one never stopped.
//!
//! ```
//! use gradnet::metrics::{Accuracy, Metric, R2};
//! use gradnet::Batch;
//! let logits = Batch::<f32, 3>::from_rows(&[[2.0, 0.0, 1.0], [0.0, 1.0, 3.0]])?;
//! let mut sums = Vec::new();
//! Metric::<Batch<f32, 3>, [usize]>::update(&Accuracy, &mut sums, &logits, &[0, 1]);
//! assert_eq!(Metric::<Batch<f32, 3>, [usize]>::value(&Accuracy, &sums), 0.5);
//!
//! let y = Batch::<f64, 1>::from_rows(&[[1.0], [2.0], [3.0]])?;
//! let mut sums = Vec::new();
//! R2.update(&mut sums, &y, &y);
//! assert_eq!(Metric::<Batch<f64, 1>, Batch<f64, 1>>::value(&R2, &sums), 1.0);
//! # Ok::<(), gradnet::Error>(())
//! ```

use gradnet_core::{Batch, Real, Seq, SeqClasses};

/// A value computed over an epoch from a network's outputs `O` and targets `Y`.
///
/// The metric itself holds only its settings; what it accumulates lives in a
/// vector of f64 sums the caller keeps (and resets by clearing): so one metric
/// serves training and validation side by side, and its state is saved as it is.
pub trait Metric<O: ?Sized, Y: ?Sized> {
    /// The name in a history and in progress lines (`accuracy`, `mae`, ...).
    fn name(&self) -> String;

    /// Whether a larger value is better (for early stopping and "best" checkpoints).
    fn higher_is_better(&self) -> bool;

    /// Adds one batch to `sums` (empty at the start of an epoch: the metric sizes
    /// it).
    fn update(&self, sums: &mut Vec<f64>, output: &O, target: &Y);

    /// The value over every batch added to `sums`; NaN before the first.
    fn value(&self, sums: &[f64]) -> f64;
}

/// An output whose values are rows of a fixed width: a [`Batch`], or a [`Seq`]
/// read as its `(steps * rows) x D` batch.
pub trait Rowwise {
    /// The scalar type.
    type Scalar: Real;
    /// Values per row.
    const WIDTH: usize;
    /// All values, row after row.
    fn values(&self) -> &[Self::Scalar];
}

impl<T: Real, const D: usize> Rowwise for Batch<T, D> {
    type Scalar = T;
    const WIDTH: usize = D;
    fn values(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Real, const D: usize> Rowwise for Seq<T, D> {
    type Scalar = T;
    const WIDTH: usize = D;
    fn values(&self) -> &[T] {
        self.as_slice()
    }
}

/// Class indices, one per row of an output ([`Rowwise`]) in the same order.
pub trait Classes {
    /// The indices.
    fn classes(&self) -> &[usize];
}

impl Classes for [usize] {
    fn classes(&self) -> &[usize] {
        self
    }
}

impl Classes for Vec<usize> {
    fn classes(&self) -> &[usize] {
        self
    }
}

impl Classes for SeqClasses {
    fn classes(&self) -> &[usize] {
        self.as_slice()
    }
}

/// Adds `values` to `sums`, sizing it on first use.
fn add(sums: &mut Vec<f64>, values: &[f64]) {
    if sums.len() != values.len() {
        sums.clear();
        sums.resize(values.len(), 0.0);
    }
    for (s, v) in sums.iter_mut().zip(values) {
        *s += v;
    }
}

/// `num / den`, NaN when nothing was counted.
fn ratio(sums: &[f64]) -> f64 {
    match sums {
        [num, den] if *den > 0.0 => num / den,
        _ => f64::NAN,
    }
}

/// The fraction of rows whose target class is among the `k` largest logits
/// (counting ties with the target's logit in its favour). `k = 1` is [`Accuracy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopK(pub usize);

/// The fraction of rows whose largest logit is the target class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accuracy;

/// Hits and rows of a top-`k` count.
fn top_k_hits<O: Rowwise + ?Sized>(k: usize, output: &O, target: &[usize]) -> [f64; 2] {
    let mut hits = 0usize;
    for (row, &class) in output.values().chunks_exact(O::WIDTH).zip(target) {
        if let Some(&mine) = row.get(class) {
            // Logits above the target's; a NaN logit never ranks above it, a NaN
            // target logit is never a hit.
            let above = row.iter().filter(|&&v| v > mine).count();
            hits += usize::from(above < k && !mine.as_f64().is_nan());
        }
    }
    [hits as f64, target.len() as f64]
}

impl<O: Rowwise + ?Sized, Y: Classes + ?Sized> Metric<O, Y> for TopK {
    fn name(&self) -> String {
        format!("top{}_accuracy", self.0)
    }
    fn higher_is_better(&self) -> bool {
        true
    }
    fn update(&self, sums: &mut Vec<f64>, output: &O, target: &Y) {
        add(sums, &top_k_hits(self.0, output, target.classes()));
    }
    fn value(&self, sums: &[f64]) -> f64 {
        ratio(sums)
    }
}

impl<O: Rowwise + ?Sized, Y: Classes + ?Sized> Metric<O, Y> for Accuracy {
    fn name(&self) -> String {
        "accuracy".into()
    }
    fn higher_is_better(&self) -> bool {
        true
    }
    fn update(&self, sums: &mut Vec<f64>, output: &O, target: &Y) {
        add(sums, &top_k_hits(1, output, target.classes()));
    }
    fn value(&self, sums: &[f64]) -> f64 {
        ratio(sums)
    }
}

/// The fraction of values whose logit is on the target's side of 0 (targets in
/// `{0, 1}`, thresholded at 0.5), for one logit per row and a binary
/// cross-entropy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BinaryAccuracy;

impl<O: Rowwise + ?Sized, Y: Rowwise<Scalar = O::Scalar> + ?Sized> Metric<O, Y> for BinaryAccuracy {
    fn name(&self) -> String {
        "binary_accuracy".into()
    }
    fn higher_is_better(&self) -> bool {
        true
    }
    fn update(&self, sums: &mut Vec<f64>, output: &O, target: &Y) {
        let hits = output
            .values()
            .iter()
            .zip(target.values())
            .filter(|(o, y)| (o.as_f64() > 0.0) == (y.as_f64() > 0.5))
            .count();
        add(sums, &[hits as f64, output.values().len() as f64]);
    }
    fn value(&self, sums: &[f64]) -> f64 {
        ratio(sums)
    }
}

/// The mean squared error over every value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mse;

/// The mean absolute error over every value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mae;

/// Sum of `f(output - target)` over the values, and their number.
fn error_sums<O: Rowwise + ?Sized, Y: Rowwise<Scalar = O::Scalar> + ?Sized>(
    output: &O,
    target: &Y,
    f: impl Fn(f64) -> f64,
) -> [f64; 2] {
    let sum = output
        .values()
        .iter()
        .zip(target.values())
        .map(|(o, y)| f(o.as_f64() - y.as_f64()))
        .sum();
    [sum, output.values().len().min(target.values().len()) as f64]
}

impl<O: Rowwise + ?Sized, Y: Rowwise<Scalar = O::Scalar> + ?Sized> Metric<O, Y> for Mse {
    fn name(&self) -> String {
        "mse".into()
    }
    fn higher_is_better(&self) -> bool {
        false
    }
    fn update(&self, sums: &mut Vec<f64>, output: &O, target: &Y) {
        add(sums, &error_sums(output, target, |e| e * e));
    }
    fn value(&self, sums: &[f64]) -> f64 {
        ratio(sums)
    }
}

impl<O: Rowwise + ?Sized, Y: Rowwise<Scalar = O::Scalar> + ?Sized> Metric<O, Y> for Mae {
    fn name(&self) -> String {
        "mae".into()
    }
    fn higher_is_better(&self) -> bool {
        false
    }
    fn update(&self, sums: &mut Vec<f64>, output: &O, target: &Y) {
        add(sums, &error_sums(output, target, f64::abs));
    }
    fn value(&self, sums: &[f64]) -> f64 {
        ratio(sums)
    }
}

/// The coefficient of determination, `1 - SS_res / SS_tot`, of each output column,
/// averaged over the columns (scikit-learn's `r2_score`, `uniform_average`). A
/// column whose target never varies scores 1 if predicted exactly, else 0 (as
/// scikit-learn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct R2;

impl<O: Rowwise + ?Sized, Y: Rowwise<Scalar = O::Scalar> + ?Sized> Metric<O, Y> for R2 {
    fn name(&self) -> String {
        "r2".into()
    }
    fn higher_is_better(&self) -> bool {
        true
    }
    /// Per column: a shift (its first target), the sums of shifted targets, of
    /// their squares, and of squared errors; then the row count. The shift keeps
    /// the sums of squares exact for targets far from 0.
    fn update(&self, sums: &mut Vec<f64>, output: &O, target: &Y) {
        let w = O::WIDTH;
        let rows = output
            .values()
            .chunks_exact(w)
            .zip(target.values().chunks_exact(w));
        for (o, y) in rows {
            if sums.len() != 4 * w + 1 {
                sums.clear();
                sums.extend(y.iter().flat_map(|v| [v.as_f64(), 0.0, 0.0, 0.0]));
                sums.push(0.0);
            }
            for j in 0..w {
                let (o, y) = (o[j].as_f64(), y[j].as_f64());
                let d = y - sums[4 * j];
                sums[4 * j + 1] += d;
                sums[4 * j + 2] += d * d;
                sums[4 * j + 3] += (o - y) * (o - y);
            }
            sums[4 * w] += 1.0;
        }
    }
    fn value(&self, sums: &[f64]) -> f64 {
        let Some((&n, cols)) = sums.split_last() else {
            return f64::NAN;
        };
        if n == 0.0 || cols.is_empty() {
            return f64::NAN;
        }
        let scores = cols.chunks_exact(4).map(|c| {
            let (sd, sdd, sse) = (c[1], c[2], c[3]);
            let ss_tot = (sdd - sd * sd / n).max(0.0);
            if ss_tot > 0.0 {
                1.0 - sse / ss_tot
            } else if sse == 0.0 {
                1.0
            } else {
                0.0
            }
        });
        scores.sum::<f64>() / (cols.len() / 4) as f64
    }
}
