//! Losses: a value, and its gradient with respect to the network's output, with
//! PyTorch's default `reduction = "mean"`.
//!
//! For an output batch `x` of `n` rows and width `D`:
//!
//! ```text
//! Mse                  L = 1/(n D) sum_ij (x_ij - t_ij)^2         torch.nn.MSELoss
//!                      dL/dx_ij = 2 (x_ij - t_ij) / (n D)
//! SoftmaxCrossEntropy  L = 1/n sum_i -log softmax(x_i)[c_i]       torch.nn.CrossEntropyLoss
//!                        = 1/n sum_i (logsumexp(x_i) - x_i[c_i])   (integer class targets)
//!                      dL/dx_ij = (softmax(x_i)_j - [j == c_i]) / n
//! BceWithLogits        L = 1/(n D) sum_ij max(x,0) - x t + log(1 + exp(-|x|))
//!                      dL/dx_ij = (sigmoid(x_ij) - t_ij) / (n D)  torch.nn.BCEWithLogitsLoss
//! ```
//!
//! Numerics. The cross-entropy subtracts each row's maximum `m` before `exp`, and
//! writes `logsumexp(x) - x_c` as `(m - x_c) + log1p(sum_{j != argmax} exp(x_j - m))`,
//! so logits of any finite size give a finite loss, and a confident right answer gives
//! a small loss to full relative precision rather than a rounded-off zero. The
//! gradient entry of the target class is formed as `-(sum of the other
//! probabilities)` when the target is the arg-max, never as `p - 1`. Binary
//! cross-entropy evaluates `exp(-|x|)` once per element and uses it for both the
//! softplus and the sigmoid, taking `sigmoid(x) - t = (1 - t) - sigmoid(-x)` for
//! `x >= 0`, so saturated logits lose no precision either. Sums are taken per row,
//! then over rows.
//!
//! Every loss checks its inputs before writing anything: an empty output is
//! [`Error::EmptyBatch`], a target with other rows than the output is
//! [`Error::RowMismatch`], a class index `>= D` is [`Error::ClassOutOfRange`], an MSE
//! target holding a NaN or infinity is [`Error::NonFinite`], and a binary target that
//! is not a finite number in `[0, 1]` is [`Error::TargetOutOfRange`]. A NaN in the *output* is not an error: it propagates
//! into the loss, where [`crate::diagnostics`] can see it.
//!
//! ```
//! use gradnet_core::{Batch, loss::{Loss, SoftmaxCrossEntropy}};
//! let logits = Batch::<f64, 3>::from_rows(&[[1.0, 2.0, 3.0]])?;
//! let mut grad = Batch::new();
//! let l = SoftmaxCrossEntropy.loss_and_grad(&logits, &[2], &mut grad)?;
//! // -log(e^3 / (e^1 + e^2 + e^3)) = log(1 + e^-1 + e^-2)
//! assert!((l - (1.0 + (-1.0f64).exp() + (-2.0f64).exp()).ln()).abs() < 1e-15);
//! // the gradient is softmax minus the one-hot target, so each row sums to zero
//! assert!(grad.row(0).iter().sum::<f64>().abs() < 1e-15);
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::real::Real;

/// A loss comparing a network's output with a target, with its gradient.
///
/// Generic code (a generated training step) takes `L: Loss<T, D>` and a
/// `&L::Target`; the reduction is the mean, as PyTorch's default.
pub trait Loss<T: Real, const D: usize>: Copy + core::fmt::Debug {
    /// What the loss compares the output with.
    type Target: ?Sized;

    /// Loss value only.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`], [`Error::RowMismatch`], and the target errors of the
    /// particular loss; see the [module documentation](self).
    fn loss(&self, output: &Batch<T, D>, target: &Self::Target) -> Result<T>;

    /// Loss value, and dL/d(output) written into `grad` (resized to
    /// `output.rows()`, without allocating when its capacity suffices).
    ///
    /// # Errors
    /// As [`Loss::loss`]; on error `grad` is left untouched.
    fn loss_and_grad(
        &self,
        output: &Batch<T, D>,
        target: &Self::Target,
        grad: &mut Batch<T, D>,
    ) -> Result<T>;

    /// Checks a target for an output of `rows` rows without computing anything: the
    /// checks [`Loss::loss`] makes of its target. A generated training pass calls it
    /// before its forward pass, so a bad target is refused before any state moves.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] if `rows` is 0, [`Error::RowMismatch`], and the target
    /// errors of the particular loss.
    fn check_target(&self, rows: usize, target: &Self::Target) -> Result<()>;
}

/// Mean squared error, `torch.nn.MSELoss()`: the target is a batch of the output's
/// shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mse;

/// Softmax cross-entropy on class indices, `torch.nn.CrossEntropyLoss()` with
/// integer targets: the output holds logits, the target one class in `0..D` per row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftmaxCrossEntropy;

/// Binary cross-entropy on logits, `torch.nn.BCEWithLogitsLoss()`: the target is a
/// batch of the output's shape with values in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BceWithLogits;

impl<T: Real, const D: usize> Loss<T, D> for Mse {
    type Target = Batch<T, D>;

    fn loss(&self, output: &Batch<T, D>, target: &Batch<T, D>) -> Result<T> {
        mse_impl(output, target, None)
    }

    fn loss_and_grad(
        &self,
        output: &Batch<T, D>,
        target: &Batch<T, D>,
        grad: &mut Batch<T, D>,
    ) -> Result<T> {
        mse_impl(output, target, Some(grad))
    }

    fn check_target(&self, rows: usize, target: &Batch<T, D>) -> Result<()> {
        check_target_rows(rows, target.rows(), "mse")?;
        target.check_finite()
    }
}

impl<T: Real, const D: usize> Loss<T, D> for SoftmaxCrossEntropy {
    type Target = [usize];

    fn loss(&self, output: &Batch<T, D>, target: &[usize]) -> Result<T> {
        cross_entropy_impl(output, target, None)
    }

    fn loss_and_grad(
        &self,
        output: &Batch<T, D>,
        target: &[usize],
        grad: &mut Batch<T, D>,
    ) -> Result<T> {
        cross_entropy_impl(output, target, Some(grad))
    }

    fn check_target(&self, rows: usize, target: &[usize]) -> Result<()> {
        check_target_rows(rows, target.len(), "cross_entropy")?;
        check_class_range::<D>(target)
    }
}

impl<T: Real, const D: usize> Loss<T, D> for BceWithLogits {
    type Target = Batch<T, D>;

    fn loss(&self, output: &Batch<T, D>, target: &Batch<T, D>) -> Result<T> {
        bce_impl(output, target, None)
    }

    fn loss_and_grad(
        &self,
        output: &Batch<T, D>,
        target: &Batch<T, D>,
        grad: &mut Batch<T, D>,
    ) -> Result<T> {
        bce_impl(output, target, Some(grad))
    }

    fn check_target(&self, rows: usize, target: &Batch<T, D>) -> Result<()> {
        check_target_rows(rows, target.rows(), "bce_with_logits")?;
        check_unit_targets(target)
    }
}

/// [`Mse`]'s value: `mean((output - target)^2)`.
///
/// # Errors
/// As [`Loss::loss`].
pub fn mse<T: Real, const D: usize>(output: &Batch<T, D>, target: &Batch<T, D>) -> Result<T> {
    mse_impl(output, target, None)
}

/// [`Mse`]'s value and gradient, as [`Loss::loss_and_grad`].
///
/// # Errors
/// As [`Loss::loss`].
pub fn mse_and_grad<T: Real, const D: usize>(
    output: &Batch<T, D>,
    target: &Batch<T, D>,
    grad: &mut Batch<T, D>,
) -> Result<T> {
    mse_impl(output, target, Some(grad))
}

/// [`SoftmaxCrossEntropy`]'s value: `mean_i -log softmax(logits_i)[classes_i]`.
///
/// # Errors
/// As [`Loss::loss`], and [`Error::ClassOutOfRange`].
pub fn softmax_cross_entropy<T: Real, const D: usize>(
    logits: &Batch<T, D>,
    classes: &[usize],
) -> Result<T> {
    cross_entropy_impl(logits, classes, None)
}

/// [`SoftmaxCrossEntropy`]'s value and gradient, as [`Loss::loss_and_grad`].
///
/// # Errors
/// As [`softmax_cross_entropy`].
pub fn softmax_cross_entropy_and_grad<T: Real, const D: usize>(
    logits: &Batch<T, D>,
    classes: &[usize],
    grad: &mut Batch<T, D>,
) -> Result<T> {
    cross_entropy_impl(logits, classes, Some(grad))
}

/// [`BceWithLogits`]'s value.
///
/// # Errors
/// As [`Loss::loss`], and [`Error::TargetOutOfRange`].
pub fn bce_with_logits<T: Real, const D: usize>(
    logits: &Batch<T, D>,
    target: &Batch<T, D>,
) -> Result<T> {
    bce_impl(logits, target, None)
}

/// [`BceWithLogits`]'s value and gradient, as [`Loss::loss_and_grad`].
///
/// # Errors
/// As [`bce_with_logits`].
pub fn bce_with_logits_and_grad<T: Real, const D: usize>(
    logits: &Batch<T, D>,
    target: &Batch<T, D>,
    grad: &mut Batch<T, D>,
) -> Result<T> {
    bce_impl(logits, target, Some(grad))
}

/// Row-wise softmax, `probs_ij = exp(x_ij - m_i) / sum_k exp(x_ik - m_i)` with `m_i`
/// the row maximum (so no `exp` overflows), as `torch.softmax(x, dim=1)`. `probs` is
/// resized to `logits.rows()`; an empty batch gives an empty result.
pub fn softmax_into<T: Real, const D: usize>(logits: &Batch<T, D>, probs: &mut Batch<T, D>) {
    probs.set_rows(logits.rows());
    for (x, p) in logits
        .iter_rows()
        .zip(probs.as_mut_slice().chunks_exact_mut(D.max(1)))
    {
        let (_, m) = row_max(x);
        let mut s = T::zero();
        for (p, &x) in p.iter_mut().zip(x) {
            *p = (x - m).exp();
            s += *p;
        }
        let inv = T::one() / s;
        for p in p.iter_mut() {
            *p *= inv;
        }
    }
}

/// The index of each row's largest value (the first one on ties), as
/// `torch.argmax(x, dim=1)` for rows without NaN. `out` is cleared and refilled
/// (no allocation when its capacity suffices).
pub fn argmax_rows<T: Real, const D: usize>(logits: &Batch<T, D>, out: &mut Vec<usize>) {
    out.clear();
    out.extend(logits.iter_rows().map(|r| row_max(r).0));
}

/// The fraction of rows whose arg-max (as [`argmax_rows`]) is the given class.
///
/// # Errors
/// [`Error::EmptyBatch`], [`Error::RowMismatch`] if `classes.len() != logits.rows()`,
/// [`Error::ClassOutOfRange`].
pub fn accuracy<T: Real, const D: usize>(logits: &Batch<T, D>, classes: &[usize]) -> Result<T> {
    check_classes(logits, classes, "accuracy")?;
    let hits = logits
        .iter_rows()
        .zip(classes)
        .filter(|(r, &c)| row_max(r).0 == c)
        .count();
    Ok(T::of(hits as f64) / T::of(classes.len() as f64))
}

/// Index and value of the largest entry of a non-empty row (first on ties).
#[inline]
fn row_max<T: Real>(x: &[T]) -> (usize, T) {
    let mut k = 0;
    let mut m = x[0];
    for (j, &v) in x.iter().enumerate().skip(1) {
        if v > m {
            m = v;
            k = j;
        }
    }
    (k, m)
}

fn check_rows<T: Real, const D: usize>(
    output: &Batch<T, D>,
    target_rows: usize,
    op: &'static str,
) -> Result<()> {
    check_target_rows(output.rows(), target_rows, op)
}

fn check_target_rows(rows: usize, target_rows: usize, op: &'static str) -> Result<()> {
    if rows == 0 {
        return Err(Error::EmptyBatch);
    }
    if target_rows != rows {
        return Err(Error::RowMismatch {
            op,
            expected: rows,
            found: target_rows,
        });
    }
    Ok(())
}

/// Every class index below `D`.
fn check_class_range<const D: usize>(classes: &[usize]) -> Result<()> {
    match classes.iter().position(|&c| c >= D) {
        None => Ok(()),
        Some(row) => Err(Error::ClassOutOfRange {
            row,
            class: classes[row],
            classes: D,
        }),
    }
}

/// Every binary target a number in `[0, 1]`.
fn check_unit_targets<T: Real, const D: usize>(target: &Batch<T, D>) -> Result<()> {
    let (zero, one) = (T::zero(), T::one());
    // `!(t >= 0 && t <= 1)` also catches NaN.
    match target
        .as_slice()
        .iter()
        .position(|&t| !(t >= zero && t <= one))
    {
        None => Ok(()),
        Some(i) => Err(Error::TargetOutOfRange {
            op: "bce_with_logits",
            row: i / D,
            col: i % D,
            value: target.as_slice()[i].as_f64(),
            range: "[0, 1]",
        }),
    }
}

fn check_classes<T: Real, const D: usize>(
    logits: &Batch<T, D>,
    classes: &[usize],
    op: &'static str,
) -> Result<()> {
    check_rows(logits, classes.len(), op)?;
    check_class_range::<D>(classes)
}

fn mse_impl<T: Real, const D: usize>(
    output: &Batch<T, D>,
    target: &Batch<T, D>,
    grad: Option<&mut Batch<T, D>>,
) -> Result<T> {
    check_rows(output, target.rows(), "mse")?;
    target.check_finite()?;
    let count = T::of((output.rows() * D) as f64);
    let mut total = T::zero();
    match grad {
        None => {
            for (x, t) in output.iter_rows().zip(target.iter_rows()) {
                let mut s = T::zero();
                for (&x, &t) in x.iter().zip(t) {
                    let d = x - t;
                    s += d * d;
                }
                total += s;
            }
        }
        Some(grad) => {
            grad.set_rows(output.rows());
            let scale = T::of(2.0) / count;
            for ((x, t), g) in output
                .iter_rows()
                .zip(target.iter_rows())
                .zip(grad.as_mut_slice().chunks_exact_mut(D))
            {
                let mut s = T::zero();
                for ((&x, &t), g) in x.iter().zip(t).zip(g.iter_mut()) {
                    let d = x - t;
                    s += d * d;
                    *g = scale * d;
                }
                total += s;
            }
        }
    }
    Ok(total / count)
}

fn cross_entropy_impl<T: Real, const D: usize>(
    logits: &Batch<T, D>,
    classes: &[usize],
    mut grad: Option<&mut Batch<T, D>>,
) -> Result<T> {
    check_classes(logits, classes, "softmax_cross_entropy")?;
    let n = T::of(classes.len() as f64);
    let inv_n = T::one() / n;
    if let Some(g) = grad.as_deref_mut() {
        g.set_rows(logits.rows());
    }
    let mut total = T::zero();
    for (i, (x, &c)) in logits.iter_rows().zip(classes).enumerate() {
        // e_j = exp(x_j - m) with e_k = 1 at the arg-max k; rest = sum_{j != k} e_j,
        // so sum_j e_j = 1 + rest and logsumexp(x) = m + log1p(rest).
        let (k, m) = row_max(x);
        let mut rest = T::zero();
        match grad.as_deref_mut() {
            None => {
                for (j, &v) in x.iter().enumerate() {
                    if j != k {
                        rest += (v - m).exp();
                    }
                }
            }
            Some(g) => {
                let g = g.row_mut(i);
                for (j, (&v, g)) in x.iter().zip(g.iter_mut()).enumerate() {
                    if j == k {
                        *g = T::one();
                    } else {
                        *g = (v - m).exp();
                        rest += *g;
                    }
                }
                // g_j = (p_j - [j == c]) / n with p_j = e_j / (1 + rest).
                let scale = inv_n / (T::one() + rest);
                for g in g.iter_mut() {
                    *g *= scale;
                }
                if c == k {
                    // p_c - 1 = -rest / (1 + rest): no cancellation when p_c ~ 1.
                    g[c] = -rest * scale;
                } else {
                    // p_c <= p_k, so p_c <= 1/2 and p_c - 1 cancels nothing.
                    g[c] -= inv_n;
                }
            }
        }
        total += (m - x[c]) + rest.ln_1p();
    }
    Ok(total * inv_n)
}

/// One element of [`BceWithLogits`]: (loss, dloss/dx) before the mean.
///
/// With e = exp(-|x|), loss = softplus(x) - x t is written so that neither part
/// cancels: x >= 0: x (1 - t) + log1p(e); x < 0: -x t + log1p(e). And with
/// q = sigmoid(-|x|) = e / (1 + e): sigmoid(x) - t = (1 - t) - q for x >= 0, q - t below.
#[inline(always)]
fn bce_element<T: Real>(x: T, t: T) -> (T, T) {
    let e = (-x.abs()).exp();
    let q = e / (T::one() + e);
    if x >= T::zero() {
        (x * (T::one() - t) + e.ln_1p(), (T::one() - t) - q)
    } else {
        (-x * t + e.ln_1p(), q - t)
    }
}

fn bce_impl<T: Real, const D: usize>(
    logits: &Batch<T, D>,
    target: &Batch<T, D>,
    grad: Option<&mut Batch<T, D>>,
) -> Result<T> {
    check_rows(logits, target.rows(), "bce_with_logits")?;
    check_unit_targets(target)?;
    let count = T::of((logits.rows() * D) as f64);
    let mut total = T::zero();
    match grad {
        None => {
            for (x, t) in logits.iter_rows().zip(target.iter_rows()) {
                let mut s = T::zero();
                for (&x, &t) in x.iter().zip(t) {
                    s += bce_element(x, t).0;
                }
                total += s;
            }
        }
        Some(grad) => {
            grad.set_rows(logits.rows());
            let inv = T::one() / count;
            for ((x, t), g) in logits
                .iter_rows()
                .zip(target.iter_rows())
                .zip(grad.as_mut_slice().chunks_exact_mut(D))
            {
                let mut s = T::zero();
                for ((&x, &t), g) in x.iter().zip(t).zip(g.iter_mut()) {
                    let (l, d) = bce_element(x, t);
                    s += l;
                    *g = d * inv;
                }
                total += s;
            }
        }
    }
    Ok(total / count)
}
