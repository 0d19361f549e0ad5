//! Gradient clipping: by total norm and by value, PyTorch's formulas.
//!
//! ```text
//! clip by norm   total = sqrt(sum over every gradient g of sum_i g_i^2)
//!                coef  = max_norm / (total + 1e-6)
//!                if coef < 1:  g_i <- coef * g_i   for every gradient
//! clip by value  g_i <- clamp(g_i, -c, c)
//! ```
//!
//! These are `torch.nn.utils.clip_grad_norm_(params, max_norm,
//! error_if_nonfinite=True)` and `torch.nn.utils.clip_grad_value_(params, c)`. The norm
//! is accumulated in f64, so f32 gradients of size 1e30 (whose squares overflow f32)
//! still have a finite norm and are clipped rather than turned into NaN; f64 values
//! whose squares overflow f64 are rescaled by their largest magnitude, as LAPACK's
//! `dnrm2` does. The coefficient is formed in f64 and rounded once to `T` (PyTorch
//! forms it in the gradients' type, so f32 results may differ from it in the last bit).
//!
//! [`Clip`] is the option a spec names (`clip: norm(1.0)`, `clip: value(0.5)`).
//!
//! ```
//! use gradnet_core::{clip::{clip_grad_norm, Clip}, DenseGrads};
//! let mut g = DenseGrads::<f64, 2, 1>::zeros(false);
//! g.weight_mut().copy_from_slice(&[3.0, 4.0]); // norm 5
//! let before = clip_grad_norm(&mut g, 1.0)?;
//! assert_eq!(before, 5.0);
//! let coef = 1.0 / (5.0 + 1e-6);
//! assert_eq!(g.weight(), &[3.0 * coef, 4.0 * coef]);
//! assert_eq!(Clip::Value(0.7).apply(&mut g)?, None); // 0.6 stays, 0.8 -> 0.7
//! assert_eq!(g.weight(), &[3.0 * coef, 0.7]);
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use core::fmt;

use crate::error::{Error, Result};
use crate::params::Gradients;
use crate::real::Real;

/// The `1e-6` PyTorch adds to the total norm before dividing by it.
pub const NORM_EPS: f64 = 1e-6;

/// The L2 norm `sqrt(sum_i v_i^2)` of `values`, computed in f64.
///
/// NaN if any value is NaN, otherwise infinity if any value is infinite; finite
/// otherwise, even when the squares overflow (the values are then rescaled by their
/// largest magnitude). Allocates nothing.
///
/// ```
/// assert_eq!(gradnet_core::clip::l2_norm(&[3.0f32, -4.0]), 5.0);
/// // The squares overflow f32, not the f64 sum: sqrt(9e60 + 16e60) = 5e30.
/// let n = gradnet_core::clip::l2_norm(&[3e30f32, 4e30]);
/// assert!((n / 5e30 - 1.0).abs() < 1e-7);
/// ```
pub fn l2_norm<T: Real>(values: &[T]) -> f64 {
    let mut sum = 0.0f64;
    for &v in values {
        let v = v.as_f64();
        sum += v * v;
    }
    if sum.is_finite() {
        return sum.sqrt();
    }
    // A NaN or an infinity among the values, or f64 values whose squares overflow.
    let mut scale = 0.0f64;
    for &v in values {
        let a = v.as_f64().abs();
        if a.is_nan() {
            return f64::NAN;
        }
        scale = scale.max(a);
    }
    if scale.is_infinite() {
        return f64::INFINITY;
    }
    let mut sum = 0.0f64;
    for &v in values {
        let r = v.as_f64() / scale;
        sum += r * r;
    }
    scale * sum.sqrt()
}

/// `sqrt(a^2 + b^2)` without overflow, keeping a NaN a NaN (`f64::hypot` turns
/// `hypot(NaN, inf)` into `inf`).
pub(crate) fn hypot(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.hypot(b)
    }
}

/// The total L2 norm of all gradients, as if they were one vector, in f64: the norm of
/// the per-gradient norms, as PyTorch computes it. NaN or infinite when a gradient
/// holds a NaN or infinity.
pub fn grad_norm<T: Real, G: Gradients<T>>(grads: &G) -> f64 {
    let mut total = 0.0f64;
    grads.visit_grads(&mut |_, g| total = hypot(total, l2_norm(g)));
    total
}

/// Scales all gradients so that their total L2 norm is at most `max_norm`
/// (`torch.nn.utils.clip_grad_norm_` with `error_if_nonfinite=True`) and returns the
/// total norm before clipping.
///
/// With `total` the norm of all gradients as one vector and
/// `coef = max_norm / (total + 1e-6)`, every gradient is multiplied by `coef` when
/// `coef < 1` and left alone otherwise. The returned norm is rounded to `T`; it is
/// infinite only if it exceeds `T`'s range, which a finite f32 gradient can reach only
/// near `f32::MAX` (the clipping itself is still done, in f64). Allocates nothing.
///
/// # Errors
/// [`Error::InvalidParameter`] if `max_norm` is negative or NaN (`+inf` means "never
/// clip"); [`Error::NonFiniteGradNorm`] if a gradient holds a NaN or infinity. In both
/// cases the gradients are left untouched.
pub fn clip_grad_norm<T: Real, G: Gradients<T>>(grads: &mut G, max_norm: T) -> Result<T> {
    let max = check_threshold("max_norm", max_norm)?;
    let total = grad_norm(grads);
    if !total.is_finite() {
        return Err(Error::NonFiniteGradNorm { norm: total });
    }
    let coef = max / (total + NORM_EPS);
    if coef < 1.0 {
        let c = T::of(coef);
        grads.visit_grads_mut(&mut |_, g| {
            for v in g {
                *v *= c;
            }
        });
    }
    Ok(T::of(total))
}

/// Clamps every gradient value to `[-clip_value, clip_value]`
/// (`torch.nn.utils.clip_grad_value_`). A NaN stays NaN, as with `torch.clamp`.
/// Allocates nothing.
///
/// # Errors
/// [`Error::InvalidParameter`] if `clip_value` is negative or NaN; the gradients are
/// then left untouched.
pub fn clip_grad_value<T: Real, G: Gradients<T>>(grads: &mut G, clip_value: T) -> Result<()> {
    check_threshold("clip_value", clip_value)?;
    let (lo, hi) = (-clip_value, clip_value);
    grads.visit_grads_mut(&mut |_, g| {
        for v in g {
            if *v < lo {
                *v = lo;
            } else if *v > hi {
                *v = hi;
            }
        }
    });
    Ok(())
}

/// A threshold must be a number `>= 0` (infinity allowed); returns it as f64.
fn check_threshold<T: Real>(name: &'static str, value: T) -> Result<f64> {
    let v = value.as_f64();
    if v.is_nan() || v < 0.0 {
        return Err(Error::InvalidParameter {
            name,
            value: v,
            reason: "must be a number >= 0",
        });
    }
    Ok(v)
}

/// How to clip gradients before an optimizer step: the `clip:` option of a spec.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip<T> {
    /// `clip: norm(max_norm)`: [`clip_grad_norm`].
    Norm(T),
    /// `clip: value(c)`: [`clip_grad_value`].
    Value(T),
}

impl<T: Real> Clip<T> {
    /// Checks the threshold, so a bad one is caught when a model is built rather than
    /// at its first step.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the threshold is negative or NaN.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Clip::Norm(m) => check_threshold("max_norm", m).map(drop),
            Clip::Value(c) => check_threshold("clip_value", c).map(drop),
        }
    }

    /// Clips `grads` in place. Returns the total norm before clipping for
    /// [`Clip::Norm`] and `None` for [`Clip::Value`]. Allocates nothing.
    ///
    /// # Errors
    /// Those of [`clip_grad_norm`] and [`clip_grad_value`].
    pub fn apply<G: Gradients<T>>(&self, grads: &mut G) -> Result<Option<T>> {
        match *self {
            Clip::Norm(m) => clip_grad_norm(grads, m).map(Some),
            Clip::Value(c) => clip_grad_value(grads, c).map(|()| None),
        }
    }
}

/// Prints the option as a spec writes it: `norm(1)`, `value(0.5)`.
impl<T: Real> fmt::Display for Clip<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clip::Norm(m) => write!(f, "norm({m})"),
            Clip::Value(c) => write!(f, "value({c})"),
        }
    }
}
