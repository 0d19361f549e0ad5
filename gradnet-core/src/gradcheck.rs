//! Central finite differences in f64, the oracle every backward pass is tested against.
//!
//! The rule: an analytic derivative `a` and a numeric one `n` agree when
//! `|a - n| <= 1e-6 * max(|a|, |n|) + 1e-9`. Test points must lie at least `1e-3`
//! from any kink (relu at 0, hard_tanh at its bounds, ...); with the default step
//! `h = 1e-5` the central difference never straddles one.
//!
//! ```
//! use gradnet_core::gradcheck::{check_gradient, numeric_gradient};
//! // f(x) = x0^2 * x1, df = (2 x0 x1, x0^2)
//! let f = |x: &[f64]| x[0] * x[0] * x[1];
//! let x = [1.5, -2.0];
//! check_gradient(f, &x, &[2.0 * 1.5 * -2.0, 1.5 * 1.5]).unwrap();
//! assert!(check_gradient(f, &x, &[0.0, 0.0]).is_err());
//! ```

use core::fmt;

/// Default step of the central difference.
pub const STEP: f64 = 1e-5;
/// Relative tolerance of the agreement rule.
pub const RTOL: f64 = 1e-6;
/// Absolute tolerance of the agreement rule.
pub const ATOL: f64 = 1e-9;

/// Whether an analytic and a numeric derivative agree by the project's rule.
pub fn agree(analytic: f64, numeric: f64) -> bool {
    (analytic - numeric).abs() <= RTOL * analytic.abs().max(numeric.abs()) + ATOL
}

/// The first coordinate where analytic and numeric gradients disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Index of the coordinate.
    pub index: usize,
    /// The derivative from the backward pass.
    pub analytic: f64,
    /// The central finite difference.
    pub numeric: f64,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradient mismatch at {}: analytic {:e}, numeric {:e} (diff {:e})",
            self.index,
            self.analytic,
            self.numeric,
            (self.analytic - self.numeric).abs()
        )
    }
}

impl std::error::Error for Mismatch {}

/// Central difference `(f(x + h e_i) - f(x - h e_i)) / 2h` for every `i`.
pub fn numeric_gradient(mut f: impl FnMut(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let x0 = x[i];
            x[i] = x0 + STEP;
            let fp = f(&x);
            x[i] = x0 - STEP;
            let fm = f(&x);
            x[i] = x0;
            (fp - fm) / (2.0 * STEP)
        })
        .collect()
}

/// Checks `analytic` against the central difference of `f` at `x`.
///
/// # Errors
/// The first [`Mismatch`].
pub fn check_gradient(
    f: impl FnMut(&[f64]) -> f64,
    x: &[f64],
    analytic: &[f64],
) -> Result<(), Mismatch> {
    assert_eq!(x.len(), analytic.len(), "one derivative per coordinate");
    let numeric = numeric_gradient(f, x);
    compare(analytic, &numeric)
}

/// Compares two gradients coordinate by coordinate by the rule of [`agree`].
///
/// # Errors
/// The first [`Mismatch`].
pub fn compare(analytic: &[f64], numeric: &[f64]) -> Result<(), Mismatch> {
    for (i, (&a, &n)) in analytic.iter().zip(numeric).enumerate() {
        if !agree(a, n) {
            return Err(Mismatch {
                index: i,
                analytic: a,
                numeric: n,
            });
        }
    }
    Ok(())
}
