//! Weight initializers, with the formulas of `torch.nn.init`, drawn from the seeded
//! generator [`SeededRng`] (ChaCha8), so one seed fixes every weight on every machine.
//!
//! A weight is stored as PyTorch stores it, `[out, in]` row-major, so for a matrix
//! `fan_in = in` (its number of columns) and `fan_out = out` (its number of rows).
//!
//! ```text
//! initializer       distribution             scale                                  torch.nn.init
//! he_normal         N(0, std^2)              std   = gain(nl) / sqrt(fan)            kaiming_normal_
//! he_uniform        U(-bound, bound)         bound = sqrt(3) * gain(nl) / sqrt(fan)  kaiming_uniform_
//! glorot_normal     N(0, std^2)              std   = gain * sqrt(2 / (fan_in + fan_out))  xavier_normal_
//! glorot_uniform    U(-bound, bound)         bound = gain * sqrt(6 / (fan_in + fan_out))  xavier_uniform_
//! lecun_normal      N(0, std^2)              std   = 1 / sqrt(fan_in)                (none; jax/keras)
//! orthogonal        Q of the QR of N(0, 1)   gain * Q, rows or columns orthonormal   orthogonal_
//! normal            N(mean, std^2)                                                   normal_
//! uniform           U(low, high)                                                     uniform_
//! zeros/ones/constant                                                                zeros_/ones_/constant_
//! ```
//!
//! `fan` is `fan_in` or `fan_out` as [`FanMode`] chooses, and `gain(nl)` is
//! [`Nonlinearity::gain`], PyTorch's `calculate_gain`. Every number is drawn in `f64`
//! and then rounded to `T`, so an `f32` and an `f64` network made from one seed hold the
//! same weights up to `f32` rounding. Initializers that draw take one value from the
//! generator per weight (orthogonal: one normal per weight), in row-major order; the
//! constant ones take none.
//!
//! ```
//! use gradnet_core::init::{FanMode, Init, Nonlinearity};
//! use gradnet_core::rng::seeded;
//! let init = Init::he_normal_with(FanMode::FanIn, Nonlinearity::Tanh);
//! let (fan_in, fan_out) = (300, 200);
//! let mut w = vec![0.0f64; fan_out * fan_in];
//! init.try_fill(&mut w, fan_in, fan_out, &mut seeded(7))?;
//! let std = (w.iter().map(|x| x * x).sum::<f64>() / w.len() as f64).sqrt();
//! let expected = (5.0 / 3.0) / (fan_in as f64).sqrt(); // gain(tanh) / sqrt(fan_in)
//! assert!((std / expected - 1.0).abs() < 0.02);
//!
//! let mut v = vec![0.0f32; 6];
//! assert!(Init::uniform(1.0, -1.0).try_fill(&mut v, 3, 2, &mut seeded(7)).is_err());
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::real::Real;
use crate::rng::SeededRng;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

/// Which fan the He (Kaiming) initializers scale by, `mode` in `torch.nn.init`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FanMode {
    /// `fan_in`, the number of inputs (columns of `[out, in]`): keeps the variance of
    /// the forward activations. PyTorch's default.
    #[default]
    FanIn,
    /// `fan_out`, the number of outputs (rows of `[out, in]`): keeps the variance of the
    /// gradients in the backward pass.
    FanOut,
}

impl FanMode {
    /// The fan this mode picks from `fan_in` and `fan_out`.
    pub fn fan(self, fan_in: usize, fan_out: usize) -> usize {
        match self {
            FanMode::FanIn => fan_in,
            FanMode::FanOut => fan_out,
        }
    }
}

/// The nonlinearity that follows a layer, which sets the gain of the He (Kaiming)
/// initializers (`nonlinearity` in `torch.nn.init`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Nonlinearity {
    /// No nonlinearity (also PyTorch's `conv*d`): gain 1.
    Linear,
    /// The logistic sigmoid: gain 1.
    Sigmoid,
    /// tanh: gain 5/3.
    Tanh,
    /// ReLU: gain sqrt(2). The default, as in PyTorch (whose default, `leaky_relu` with
    /// slope 0, has the same gain).
    #[default]
    Relu,
    /// Leaky ReLU with the given negative slope: gain sqrt(2 / (1 + slope^2)).
    /// PyTorch's default slope is [`Nonlinearity::DEFAULT_LEAKY_SLOPE`].
    LeakyRelu(f64),
    /// SELU: gain 3/4.
    Selu,
}

impl Nonlinearity {
    /// The negative slope `torch.nn.init.calculate_gain("leaky_relu")` assumes when
    /// none is given, and `torch.nn.LeakyReLU`'s default: 0.01.
    pub const DEFAULT_LEAKY_SLOPE: f64 = 0.01;

    /// `torch.nn.init.calculate_gain`: the factor by which the nonlinearity's output
    /// variance falls short of its input's, square-rooted and inverted.
    ///
    /// ```text
    /// Linear, Sigmoid   1
    /// Tanh              5/3
    /// Relu              sqrt(2)
    /// LeakyRelu(s)      sqrt(2 / (1 + s^2))
    /// Selu              3/4
    /// ```
    pub fn gain(self) -> f64 {
        match self {
            Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
            Nonlinearity::Tanh => 5.0 / 3.0,
            Nonlinearity::Relu => core::f64::consts::SQRT_2,
            Nonlinearity::LeakyRelu(slope) => (2.0 / (1.0 + slope * slope)).sqrt(),
            Nonlinearity::Selu => 0.75,
        }
    }
}

/// How to fill a parameter tensor: each variant carries its settings. Build one with
/// the associated functions ([`Init::he_normal`], [`Init::glorot_uniform`], ...), which
/// give PyTorch's defaults, and apply it with [`Init::try_fill`] or [`Init::fill`].
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// He (Kaiming) normal, `torch.nn.init.kaiming_normal_`:
    /// `N(0, std^2)` with `std = gain(nonlinearity) / sqrt(fan)`, `fan` chosen by `mode`.
    HeNormal {
        /// Whether `fan` is `fan_in` or `fan_out`.
        mode: FanMode,
        /// The nonlinearity after the layer, which sets the gain.
        nonlinearity: Nonlinearity,
    },
    /// He (Kaiming) uniform, `torch.nn.init.kaiming_uniform_`: `U(-bound, bound)` with
    /// `bound = sqrt(3) * gain(nonlinearity) / sqrt(fan)` (so its std is that of
    /// [`Init::HeNormal`]).
    HeUniform {
        /// Whether `fan` is `fan_in` or `fan_out`.
        mode: FanMode,
        /// The nonlinearity after the layer, which sets the gain.
        nonlinearity: Nonlinearity,
    },
    /// Glorot (Xavier) normal, `torch.nn.init.xavier_normal_`:
    /// `N(0, std^2)` with `std = gain * sqrt(2 / (fan_in + fan_out))`.
    GlorotNormal {
        /// Scale factor, finite and `>= 0` (1 by default).
        gain: f64,
    },
    /// Glorot (Xavier) uniform, `torch.nn.init.xavier_uniform_`: `U(-bound, bound)`
    /// with `bound = gain * sqrt(6 / (fan_in + fan_out))`.
    GlorotUniform {
        /// Scale factor, finite and `>= 0` (1 by default).
        gain: f64,
    },
    /// LeCun normal, `N(0, std^2)` with `std = 1 / sqrt(fan_in)`, the scale SELU
    /// networks assume. PyTorch has none; jax and Keras draw from a normal truncated at
    /// two standard deviations and rescaled to this same std, this is the plain normal
    /// (equal to `HeNormal` with `Nonlinearity::Linear`).
    LecunNormal,
    /// Orthogonal, `torch.nn.init.orthogonal_` (Saxe et al. 2013): the weight is viewed
    /// as `rows x cols` = `fan_out x fan_in`, filled from `N(0, 1)`, transposed if
    /// `rows < cols`, factored `A = QR`; `Q`'s columns are multiplied by the signs of
    /// `diag(R)` (which makes `Q` Haar-distributed), transposed back and scaled by
    /// `gain`. The rows (if `rows <= cols`) or the columns (if `rows >= cols`) come out
    /// orthonormal, times `gain`.
    Orthogonal {
        /// Scale factor, finite (1 by default; negative flips the sign).
        gain: f64,
    },
    /// `torch.nn.init.normal_`: `N(mean, std^2)`.
    Normal {
        /// Mean, finite (PyTorch's default 0).
        mean: f64,
        /// Standard deviation, finite and `>= 0` (PyTorch's default 1).
        std: f64,
    },
    /// `torch.nn.init.uniform_`: `U(low, high)`, values in `[low, high]` (`high` is
    /// reached only through rounding).
    Uniform {
        /// Lower end, finite (PyTorch's default 0).
        low: f64,
        /// Upper end, finite, `>= low`, with `high - low` finite (PyTorch's default 1).
        high: f64,
    },
    /// `torch.nn.init.constant_`: every value `value` (finite).
    Constant {
        /// The value.
        value: f64,
    },
    /// `torch.nn.init.zeros_`: every value 0.
    Zeros,
    /// `torch.nn.init.ones_`: every value 1.
    Ones,
}

impl Init {
    /// He normal with PyTorch's defaults: `fan_in`, ReLU, so
    /// `std = sqrt(2) / sqrt(fan_in)`.
    pub fn he_normal() -> Self {
        Self::he_normal_with(FanMode::FanIn, Nonlinearity::Relu)
    }

    /// He normal, `std = gain(nonlinearity) / sqrt(fan)`.
    pub fn he_normal_with(mode: FanMode, nonlinearity: Nonlinearity) -> Self {
        Init::HeNormal { mode, nonlinearity }
    }

    /// He uniform with PyTorch's defaults: `fan_in`, ReLU, so
    /// `bound = sqrt(6 / fan_in)`.
    pub fn he_uniform() -> Self {
        Self::he_uniform_with(FanMode::FanIn, Nonlinearity::Relu)
    }

    /// He uniform, `bound = sqrt(3) * gain(nonlinearity) / sqrt(fan)`.
    pub fn he_uniform_with(mode: FanMode, nonlinearity: Nonlinearity) -> Self {
        Init::HeUniform { mode, nonlinearity }
    }

    /// Alias of [`Init::he_normal_with`], PyTorch's name.
    pub fn kaiming_normal(mode: FanMode, nonlinearity: Nonlinearity) -> Self {
        Self::he_normal_with(mode, nonlinearity)
    }

    /// Alias of [`Init::he_uniform_with`], PyTorch's name.
    pub fn kaiming_uniform(mode: FanMode, nonlinearity: Nonlinearity) -> Self {
        Self::he_uniform_with(mode, nonlinearity)
    }

    /// Glorot normal with gain 1: `std = sqrt(2 / (fan_in + fan_out))`.
    pub fn glorot_normal() -> Self {
        Self::glorot_normal_with_gain(1.0)
    }

    /// Glorot normal, `std = gain * sqrt(2 / (fan_in + fan_out))`.
    pub fn glorot_normal_with_gain(gain: f64) -> Self {
        Init::GlorotNormal { gain }
    }

    /// Glorot uniform with gain 1: `bound = sqrt(6 / (fan_in + fan_out))`.
    pub fn glorot_uniform() -> Self {
        Self::glorot_uniform_with_gain(1.0)
    }

    /// Glorot uniform, `bound = gain * sqrt(6 / (fan_in + fan_out))`.
    pub fn glorot_uniform_with_gain(gain: f64) -> Self {
        Init::GlorotUniform { gain }
    }

    /// Alias of [`Init::glorot_normal_with_gain`], PyTorch's name.
    pub fn xavier_normal(gain: f64) -> Self {
        Self::glorot_normal_with_gain(gain)
    }

    /// Alias of [`Init::glorot_uniform_with_gain`], PyTorch's name.
    pub fn xavier_uniform(gain: f64) -> Self {
        Self::glorot_uniform_with_gain(gain)
    }

    /// LeCun normal: `std = 1 / sqrt(fan_in)`.
    pub fn lecun_normal() -> Self {
        Init::LecunNormal
    }

    /// Orthogonal with gain 1.
    pub fn orthogonal() -> Self {
        Self::orthogonal_with_gain(1.0)
    }

    /// Orthogonal, scaled by `gain`.
    pub fn orthogonal_with_gain(gain: f64) -> Self {
        Init::Orthogonal { gain }
    }

    /// `N(0, std^2)`.
    pub fn normal(std: f64) -> Self {
        Self::normal_with_mean(0.0, std)
    }

    /// `N(mean, std^2)`.
    pub fn normal_with_mean(mean: f64, std: f64) -> Self {
        Init::Normal { mean, std }
    }

    /// `U(low, high)`.
    pub fn uniform(low: f64, high: f64) -> Self {
        Init::Uniform { low, high }
    }

    /// Every value 0.
    pub fn zeros() -> Self {
        Init::Zeros
    }

    /// Every value 1.
    pub fn ones() -> Self {
        Init::Ones
    }

    /// Every value `value`.
    pub fn constant(value: f64) -> Self {
        Init::Constant { value }
    }

    /// Checks the settings, independent of any shape.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a negative or non-finite `std`, `low > high`
    /// (or an infinite `high - low`), a negative or non-finite Glorot gain, a
    /// non-finite orthogonal gain, a non-finite leaky-ReLU slope, mean, bound or
    /// constant.
    pub fn validate(&self) -> Result<()> {
        fn finite(name: &'static str, value: f64) -> Result<()> {
            if value.is_finite() {
                Ok(())
            } else {
                Err(invalid(name, value, "must be finite"))
            }
        }
        fn non_negative(name: &'static str, value: f64) -> Result<()> {
            finite(name, value)?;
            if value >= 0.0 {
                Ok(())
            } else {
                Err(invalid(name, value, "must be >= 0"))
            }
        }
        match *self {
            Init::HeNormal { nonlinearity, .. } | Init::HeUniform { nonlinearity, .. } => {
                if let Nonlinearity::LeakyRelu(slope) = nonlinearity {
                    finite("leaky_relu slope", slope)?;
                }
                Ok(())
            }
            Init::GlorotNormal { gain } | Init::GlorotUniform { gain } => {
                non_negative("gain", gain)
            }
            Init::Orthogonal { gain } => finite("gain", gain),
            Init::Normal { mean, std } => {
                finite("mean", mean)?;
                non_negative("std", std)
            }
            Init::Uniform { low, high } => {
                finite("low", low)?;
                finite("high", high)?;
                if low > high {
                    return Err(invalid("high", high, "must be >= low"));
                }
                finite("high - low", high - low)
            }
            Init::Constant { value } => finite("constant", value),
            Init::LecunNormal | Init::Zeros | Init::Ones => Ok(()),
        }
    }

    /// Checks the settings ([`Init::validate`]) and the shape, then fills `values` (see
    /// [`Init::fill`]).
    ///
    /// # Errors
    /// Those of [`Init::validate`]; [`Error::InvalidParameter`] if `values` is not empty
    /// and the fan the formula divides by is 0; [`Error::WidthMismatch`] if an
    /// orthogonal fill is given other than `fan_out * fan_in` values. On error `values`
    /// and `rng` are left untouched.
    pub fn try_fill<T: Real>(
        &self,
        values: &mut [T],
        fan_in: usize,
        fan_out: usize,
        rng: &mut SeededRng,
    ) -> Result<()> {
        self.validate()?;
        self.check_shape(values.len(), fan_in, fan_out)?;
        self.fill_unchecked(values, fan_in, fan_out, rng);
        Ok(())
    }

    /// Fills `values`, a tensor with `fan_in` inputs and `fan_out` outputs (a matrix
    /// `[fan_out, fan_in]`, or anything whose fans are known, like a bias or a
    /// convolution kernel), drawing from `rng` in row-major order.
    ///
    /// # Panics
    /// On anything [`Init::try_fill`] reports as an error (invalid settings, a zero
    /// fan, an orthogonal fill of the wrong length). Settings that come from users at
    /// run time should go through [`Init::try_fill`] or [`Init::validate`] first.
    pub fn fill<T: Real>(
        &self,
        values: &mut [T],
        fan_in: usize,
        fan_out: usize,
        rng: &mut SeededRng,
    ) {
        if let Err(e) = self.try_fill(values, fan_in, fan_out, rng) {
            panic!("Init::fill with {self:?}: {e}");
        }
    }

    /// The shape checks of [`Init::try_fill`].
    fn check_shape(&self, len: usize, fan_in: usize, fan_out: usize) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let zero_fan = |name| Err(invalid(name, 0.0, "must be > 0 to scale by it"));
        match self {
            Init::HeNormal { mode, .. } | Init::HeUniform { mode, .. } => {
                if mode.fan(fan_in, fan_out) == 0 {
                    return zero_fan(match mode {
                        FanMode::FanIn => "fan_in",
                        FanMode::FanOut => "fan_out",
                    });
                }
            }
            Init::GlorotNormal { .. } | Init::GlorotUniform { .. } => {
                if fan_in + fan_out == 0 {
                    return zero_fan("fan_in + fan_out");
                }
            }
            Init::LecunNormal => {
                if fan_in == 0 {
                    return zero_fan("fan_in");
                }
            }
            Init::Orthogonal { .. } => {
                if fan_in.checked_mul(fan_out) != Some(len) {
                    return Err(Error::WidthMismatch {
                        what: "orthogonal init: values of a fan_out x fan_in matrix".into(),
                        expected: fan_in.saturating_mul(fan_out),
                        found: len,
                    });
                }
            }
            Init::Normal { .. }
            | Init::Uniform { .. }
            | Init::Constant { .. }
            | Init::Zeros
            | Init::Ones => {}
        }
        Ok(())
    }

    /// The fill itself, on checked settings and shape.
    fn fill_unchecked<T: Real>(
        &self,
        values: &mut [T],
        fan_in: usize,
        fan_out: usize,
        rng: &mut SeededRng,
    ) {
        if values.is_empty() {
            return;
        }
        match *self {
            Init::HeNormal { mode, nonlinearity } => {
                let std = nonlinearity.gain() / (mode.fan(fan_in, fan_out) as f64).sqrt();
                fill_normal(values, 0.0, std, rng);
            }
            Init::HeUniform { mode, nonlinearity } => {
                let std = nonlinearity.gain() / (mode.fan(fan_in, fan_out) as f64).sqrt();
                let bound = 3f64.sqrt() * std;
                fill_uniform(values, -bound, bound, rng);
            }
            Init::GlorotNormal { gain } => {
                let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
                fill_normal(values, 0.0, std, rng);
            }
            Init::GlorotUniform { gain } => {
                let bound = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
                fill_uniform(values, -bound, bound, rng);
            }
            Init::LecunNormal => {
                let std = 1.0 / (fan_in as f64).sqrt();
                fill_normal(values, 0.0, std, rng);
            }
            Init::Orthogonal { gain } => fill_orthogonal(values, fan_out, fan_in, gain, rng),
            Init::Normal { mean, std } => fill_normal(values, mean, std, rng),
            Init::Uniform { low, high } => fill_uniform(values, low, high, rng),
            Init::Constant { value } => values.fill(T::of(value)),
            Init::Zeros => values.fill(T::zero()),
            Init::Ones => values.fill(T::one()),
        }
    }
}

/// An [`Error::InvalidParameter`].
fn invalid(name: &'static str, value: f64, reason: &'static str) -> Error {
    Error::InvalidParameter {
        name,
        value,
        reason,
    }
}

/// `values[i] = mean + std * z_i`, `z_i ~ N(0, 1)` drawn in f64.
fn fill_normal<T: Real>(values: &mut [T], mean: f64, std: f64, rng: &mut SeededRng) {
    for v in values {
        let z: f64 = StandardNormal.sample(rng);
        *v = T::of(mean + std * z);
    }
}

/// `values[i] ~ U(low, high)` drawn in f64; `low <= high` with a finite width.
fn fill_uniform<T: Real>(values: &mut [T], low: f64, high: f64, rng: &mut SeededRng) {
    for v in values {
        *v = T::of(rng.random_range(low..=high));
    }
}

/// `torch.nn.init.orthogonal_` on a `rows x cols` row-major matrix.
fn fill_orthogonal<T: Real>(
    values: &mut [T],
    rows: usize,
    cols: usize,
    gain: f64,
    rng: &mut SeededRng,
) {
    // Draw the rows x cols matrix row-major, as torch's `flattened.normal_(0, 1)`.
    let draws: Vec<f64> = (0..rows * cols)
        .map(|_| StandardNormal.sample(rng))
        .collect();
    // A is m x n with m >= n: the draw itself if tall, its transpose if wide. Store it
    // column-major, so that column j of A is a[j*m..(j+1)*m].
    let wide = rows < cols;
    let (m, n) = if wide { (cols, rows) } else { (rows, cols) };
    let mut a = vec![0.0; m * n];
    for r in 0..rows {
        for c in 0..cols {
            let (i, j) = if wide { (c, r) } else { (r, c) };
            a[j * m + i] = draws[r * cols + c];
        }
    }
    let q = orthonormal_q(&mut a, m, n);
    // Q is m x n column-major with orthonormal columns. Back to rows x cols: the
    // weight is Q if tall, Q^T if wide.
    for r in 0..rows {
        for c in 0..cols {
            let (i, j) = if wide { (c, r) } else { (r, c) };
            values[r * cols + c] = T::of(gain * q[j * m + i]);
        }
    }
}

/// The `Q` of the thin QR factorization `A = QR` (`A` m x n, `m >= n`, column-major,
/// overwritten), with the columns multiplied by `sign(R_kk)` (taken as +1 for
/// `R_kk = 0`, where torch's `sign` gives 0 and a zero column). That is, the `Q` of
/// the factorization whose `R` has a non-negative diagonal, unique when `A` has full
/// rank. Householder reflections in f64: orthonormal to about `n * 1e-16`.
fn orthonormal_q(a: &mut [f64], m: usize, n: usize) -> Vec<f64> {
    debug_assert!(m >= n && a.len() == m * n);
    // Reflector k is H_k = I - 2 v_k v_k^T with unit v_k, non-zero in rows k..m only;
    // v_k is kept in vs[k] (length m - k), or empty when column k was already zero.
    let mut vs: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut diag = Vec::with_capacity(n);
    for k in 0..n {
        let x = &a[k * m + k..(k + 1) * m];
        let norm = x.iter().map(|t| t * t).sum::<f64>().sqrt();
        // H_k x = alpha e_1 with alpha = -sign(x_0) ||x||, the choice without
        // cancellation in v = x - alpha e_1.
        let alpha = if x[0] >= 0.0 { -norm } else { norm };
        let mut v = x.to_vec();
        v[0] -= alpha;
        let vnorm = v.iter().map(|t| t * t).sum::<f64>().sqrt();
        diag.push(alpha);
        if vnorm == 0.0 {
            vs.push(Vec::new());
            continue;
        }
        v.iter_mut().for_each(|t| *t /= vnorm);
        for j in k + 1..n {
            let col = &mut a[j * m + k..(j + 1) * m];
            reflect(&v, col);
        }
        vs.push(v);
    }
    // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of I, from the right end;
    // H_k leaves columns j < k of the partial product (still e_j) alone.
    let mut q = vec![0.0; m * n];
    for j in 0..n {
        q[j * m + j] = 1.0;
    }
    for k in (0..n).rev() {
        if vs[k].is_empty() {
            continue;
        }
        for j in k..n {
            reflect(&vs[k], &mut q[j * m + k..(j + 1) * m]);
        }
    }
    for (j, r) in diag.iter().enumerate() {
        if *r < 0.0 {
            q[j * m..(j + 1) * m].iter_mut().for_each(|t| *t = -*t);
        }
    }
    q
}

/// `x <- (I - 2 v v^T) x` for a unit `v`.
fn reflect(v: &[f64], x: &mut [f64]) {
    let s = 2.0 * v.iter().zip(x.iter()).map(|(a, b)| a * b).sum::<f64>();
    for (xi, vi) in x.iter_mut().zip(v) {
        *xi -= s * vi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A known matrix: Q R must give back A, Q^T Q = I, and Q^T A = R upper
    /// triangular with a non-negative diagonal (the sign convention).
    #[test]
    fn householder_q_reconstructs_a_known_matrix() {
        let (m, n) = (4, 3);
        // Column-major; column 1 is a multiple of column 0 plus e_3, column 2 has a
        // negative leading entry so some reflections flip sign.
        let a0 = vec![
            1.0, 2.0, 2.0, 0.0, //
            2.0, 4.0, 4.0, 1.0, //
            -3.0, 0.5, 1.0, 2.0,
        ];
        let mut a = a0.clone();
        let q = orthonormal_q(&mut a, m, n);
        for i in 0..n {
            for j in 0..n {
                let qtq: f64 = (0..m).map(|r| q[i * m + r] * q[j * m + r]).sum();
                let qta: f64 = (0..m).map(|r| q[i * m + r] * a0[j * m + r]).sum();
                assert!((qtq - f64::from(i == j)).abs() < 1e-14, "Q^T Q [{i},{j}]");
                if i > j {
                    assert!(qta.abs() < 1e-14, "R below the diagonal [{i},{j}] = {qta}");
                }
                if i == j {
                    assert!(qta > 0.0, "R diagonal [{i}] = {qta}");
                }
            }
        }
        // Column 0 of A is (1, 2, 2, 0), norm 3, so q_0 = A e_0 / 3 exactly (R_00 > 0).
        for r in 0..m {
            assert!((q[r] - a0[r] / 3.0).abs() < 1e-15);
        }
    }
}
