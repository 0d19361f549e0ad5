//! Seeded randomness. One seed fixes every random number gradnet draws (weights,
//! shuffles, dropout masks) on every machine: the generator is ChaCha8, whose stream
//! is specified independently of platform and word size.
//!
//! ```
//! use gradnet_core::rng::seeded;
//! use rand::RngExt;
//! let (mut a, mut b) = (seeded(42), seeded(42));
//! assert_eq!(a.random::<u64>(), b.random::<u64>());
//! ```

use crate::error::{Error, Result};
use crate::real::Real;

/// The random number generator gradnet uses and re-exports, so users need no
/// matching version of `rand`.
pub type SeededRng = rand_chacha::ChaCha8Rng;

/// A generator fixed by `seed`.
pub fn seeded(seed: u64) -> SeededRng {
    <SeededRng as rand::SeedableRng>::seed_from_u64(seed)
}

/// Fisher-Yates shuffle of `items` with `rng` (for minibatch order).
pub fn shuffle<I>(items: &mut [I], rng: &mut SeededRng) {
    use rand::RngExt;
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

/// `Ok` unless a distribution's setting is not finite or out of range.
fn check_setting(name: &'static str, value: f64, ok: bool, reason: &'static str) -> Result<()> {
    if value.is_finite() && ok {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value,
            reason,
        })
    }
}

/// One draw from the normal distribution `N(mean, std^2)`, for synthetic data,
/// without importing `rand`'s traits.
///
/// ```
/// use gradnet_core::rng::{normal, seeded};
/// let mut rng = seeded(3);
/// let x: f64 = normal(&mut rng, 1.0, 0.5)?;
/// assert!(x.is_finite());
/// assert!(normal::<f32>(&mut rng, 0.0, -1.0).is_err());
/// # Ok::<(), gradnet_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParameter`] unless `mean` is finite and `std` finite and `>= 0`;
/// the generator is not advanced then.
pub fn normal<T: Real>(rng: &mut SeededRng, mean: f64, std: f64) -> Result<T> {
    check_normal(mean, std)?;
    Ok(T::of(draw_normal(rng, mean, std)))
}

/// One draw from the uniform distribution on `[low, high)` (`low` when they are
/// equal).
///
/// # Errors
/// [`Error::InvalidParameter`] unless both bounds are finite and `low <= high`; the
/// generator is not advanced then.
pub fn uniform<T: Real>(rng: &mut SeededRng, low: f64, high: f64) -> Result<T> {
    check_uniform(low, high)?;
    Ok(T::of(draw_uniform(rng, low, high)))
}

/// Fills `out` with draws from `N(mean, std^2)`, in order.
///
/// ```
/// use gradnet_core::{Batch, rng::{fill_normal, seeded}};
/// let mut x = Batch::<f32, 2>::zeros(100);
/// fill_normal(x.as_mut_slice(), 0.0, 1.0, &mut seeded(0))?;
/// let mean = x.as_slice().iter().sum::<f32>() / 200.0;
/// assert!(mean.abs() < 0.3);
/// # Ok::<(), gradnet_core::Error>(())
/// ```
///
/// # Errors
/// As [`normal`]; nothing is written then.
pub fn fill_normal<T: Real>(out: &mut [T], mean: f64, std: f64, rng: &mut SeededRng) -> Result<()> {
    check_normal(mean, std)?;
    for v in out {
        *v = T::of(draw_normal(rng, mean, std));
    }
    Ok(())
}

/// Fills `out` with draws from the uniform distribution on `[low, high)`, in order.
///
/// # Errors
/// As [`uniform`]; nothing is written then.
pub fn fill_uniform<T: Real>(
    out: &mut [T],
    low: f64,
    high: f64,
    rng: &mut SeededRng,
) -> Result<()> {
    check_uniform(low, high)?;
    for v in out {
        *v = T::of(draw_uniform(rng, low, high));
    }
    Ok(())
}

fn check_normal(mean: f64, std: f64) -> Result<()> {
    check_setting("mean", mean, true, "must be finite")?;
    check_setting("std", std, std >= 0.0, "must be finite and >= 0")
}

fn check_uniform(low: f64, high: f64) -> Result<()> {
    check_setting("low", low, true, "must be finite")?;
    check_setting("high", high, high >= low, "must be finite and >= low")
}

fn draw_normal(rng: &mut SeededRng, mean: f64, std: f64) -> f64 {
    use rand_distr::Distribution;
    let z: f64 = rand_distr::StandardNormal.sample(rng);
    mean + std * z
}

fn draw_uniform(rng: &mut SeededRng, low: f64, high: f64) -> f64 {
    use rand::RngExt;
    let u: f64 = rng.random();
    // `u` is in [0, 1): the result stays below `high` unless rounding lands on it.
    (low + (high - low) * u).min(high).max(low)
}
