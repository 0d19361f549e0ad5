//! What the code the macros derive symbolically (`map(|x| ...)` in `network!`, and
//! `grad!`) calls at run time: the float methods, and the two primitives `Float`
//! lacks, in their numerically stable forms.

pub use num_traits::Float;

use crate::real::Real;

/// `1 / (1 + e^-x)`, the activation module's: from one `exp(-|x|)` and a select (no
/// branch around the `exp`, so loops over it vectorize), to full relative precision
/// on both sides.
#[inline(always)]
pub fn sigmoid<T: Real>(x: T) -> T {
    crate::activation::sigmoid(x)
}

/// `ln(1 + e^x)` as `max(x, 0) + ln(1 + e^-|x|)`: finite for every finite `x`, and
/// exact to rounding for large `|x|`.
#[inline(always)]
pub fn softplus<T: Real>(x: T) -> T {
    x.max(T::zero()) + (-x.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_forms() {
        assert_eq!(sigmoid(0.0f64), 0.5);
        assert!(sigmoid(-800.0f64) >= 0.0 && sigmoid(800.0f64) == 1.0);
        assert!((sigmoid(-3.0f64) - 1.0 / (1.0 + 3f64.exp())).abs() < 1e-16);
        assert_eq!(softplus(1000.0f64), 1000.0);
        assert!((softplus(0.5f64) - (1.0 + 0.5f64.exp()).ln()).abs() < 1e-15);
        assert!(softplus(-1000.0f64) >= 0.0);
    }
}
