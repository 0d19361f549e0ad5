//! Activations: each an inlinable scalar `f` and derivative `df` side by side, so
//! generated code can fuse them into the pass that adds the bias (forward) and the
//! pass that forms the pre-activation gradient (backward).
//!
//! | type | `f(x)` | PyTorch |
//! | --- | --- | --- |
//! | [`Identity`] | `x` | `nn.Identity` |
//! | [`Relu`] | `max(0, x)` | `nn.ReLU` |
//! | [`Tanh`] | `tanh x` | `nn.Tanh` |
//! | [`Sigmoid`] | `1 / (1 + e^-x)` | `nn.Sigmoid` |
//! | [`LeakyRelu`] | `x` if `x > 0`, else `slope x` | `nn.LeakyReLU(slope)` |
//! | [`Elu`] | `x` if `x > 0`, else `alpha (e^x - 1)` | `nn.ELU(alpha)` |
//! | [`Selu`] | `scale * elu_alpha(x)`, fixed constants | `nn.SELU` |
//! | [`Gelu`] | `x/2 erfc(-x / sqrt 2)` (`= x/2 (1 + erf(x / sqrt 2))`) | `nn.GELU()` |
//! | [`GeluTanh`] | `x sigmoid(2u)` (`= x/2 (1 + tanh u)`), `u = sqrt(2/pi) (x + 0.044715 x^3)` | `nn.GELU(approximate='tanh')` |
//! | [`Silu`] | `x sigmoid(x)` | `nn.SiLU` |
//! | [`Softplus`] | `ln(1 + e^(beta x)) / beta`, `x` once `beta x > threshold` | `nn.Softplus(beta, threshold)` |
//! | [`HardTanh`] | `clamp(x, min, max)` | `nn.Hardtanh(min, max)` |
//!
//! Derivatives at kinks are PyTorch's: `relu'(0) = 0`, `leaky_relu'(0) = slope`,
//! `elu'(0) = alpha`, and `hard_tanh'` is 0 at both bounds. No intermediate value of
//! `f` or `df` overflows in `f32` (`exp` only ever sees a non-positive argument, the
//! GELUs clamp `x` where their result has reached its limit even in f64), so a
//! saturated unit gives its limit, never inf or NaN: only a result that is itself out
//! of range (selu of a value near `f32::MAX`) can overflow.
//! The learned-slope PReLU is a layer, not an [`Activation`]: see [`crate::prelu`].
//!
//! # Accuracy
//!
//! On `[-20, 20]`, `f` and `df` of [`Sigmoid`], [`Tanh`], [`Gelu`], [`GeluTanh`],
//! [`Silu`], [`Softplus`], [`Elu`] and [`Selu`] have a relative error below `1e-5` in
//! f32 and `1e-12` in f64 wherever the true value is a normal number of the type, and
//! an absolute error of at most its smallest normal (about `1.2e-38` in f32) where it
//! is not: `tests/activations.rs` checks this against a table computed with mpmath by
//! `scripts/activation_reference.py`, and f32 against f64 on a dense grid. The measured
//! worst is `2.5e-6` in f32 (just outside the series windows below, and where an
//! intermediate is subnormal) and `1.1e-13` in f64 (the GELUs' far tails, where the
//! exponent reaches 600). Outside `[-20, 20]` no bound is claimed, but every function
//! reaches its limits (tested at `+-1000` and beyond).
//!
//! To get there no formula subtracts two nearly equal numbers: GELU is `erfc`, not
//! `1 + erf`, which cancels for negative `x`; `1 + tanh u` is `2 sigmoid(2u)`; the
//! sigmoid and tanh derivatives are formed from `e^-|x|` rather than from `1 - y`, which
//! is 0 in f32 once `y` rounds to 1; `e^x - 1` is `exp_m1`. The derivatives of the
//! GELUs and of SiLU have one zero each (near -0.75 and -1.28), where their closed
//! forms are a difference of two near-equal terms: within `1/32` of it they come from
//! their Taylor series there. And `erfc` and `exp` multiply the relative error of a
//! large argument (`2 t^2` for `erfc(t)`, `|z|` for `e^z`, up to 170 and 87 where the
//! f32 result is still normal), so in f32 the GELUs form those arguments in f64 and
//! carry them as `hi + lo`; the transcendental functions themselves run in `T`.
//!
//! ```
//! use gradnet_core::activation::{Activation, Gelu, LeakyRelu, Sigmoid, Softplus};
//! assert!((Activation::<f64>::f(&Gelu, 1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
//! let leaky = LeakyRelu::<f32>::new(0.1);
//! assert_eq!(leaky.f(-2.0), -0.2);
//! assert_eq!(leaky.df(0.0, 0.0), 0.1); // PyTorch: the slope at 0
//! // Saturation gives the limits, not inf or NaN, even in f32.
//! let y = Activation::<f32>::f(&Sigmoid, -1000.0);
//! assert_eq!((y, Sigmoid.df(-1000.0f32, y)), (0.0, 0.0));
//! let sp = Softplus::<f32>::default();
//! let mut v = [-1000.0f32, 0.0, 1000.0];
//! sp.forward_inplace(&mut v);
//! assert_eq!(v, [0.0, core::f32::consts::LN_2, 1000.0]);
//! ```

use crate::error::{Error, Result};
use crate::real::Real;

/// An elementwise function with its derivative.
///
/// `df(x, y)` is the derivative at `x`, given `y = f(x)` (tanh and sigmoid are cheaper
/// from `y`; relu-like functions read `x`).
pub trait Activation<T: Real>: Copy + core::fmt::Debug {
    /// The value at `x`.
    fn f(&self, x: T) -> T;

    /// The derivative at `x`, where `y = self.f(x)`.
    fn df(&self, x: T, y: T) -> T;

    /// `y[i] = f(x[i])`.
    #[inline]
    fn forward(&self, x: &[T], y: &mut [T]) {
        assert_eq!(x.len(), y.len());
        for (y, &x) in y.iter_mut().zip(x) {
            *y = self.f(x);
        }
    }

    /// `v[i] = f(v[i])`.
    #[inline]
    fn forward_inplace(&self, v: &mut [T]) {
        for v in v.iter_mut() {
            *v = self.f(*v);
        }
    }

    /// `dx[i] = dy[i] * f'(x[i])`, with `y = f(x)` from the forward pass.
    #[inline]
    fn backward(&self, x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
        assert!(x.len() == y.len() && y.len() == dy.len() && dy.len() == dx.len());
        for i in 0..dx.len() {
            dx[i] = dy[i] * self.df(x[i], y[i]);
        }
    }

    /// `d[i] *= f'(x[i])`: turns the gradient w.r.t. the output into the gradient
    /// w.r.t. the input, in place.
    #[inline]
    fn backward_inplace(&self, x: &[T], y: &[T], d: &mut [T]) {
        assert!(x.len() == y.len() && y.len() == d.len());
        for i in 0..d.len() {
            d[i] *= self.df(x[i], y[i]);
        }
    }
}

/// `f(x) = x`: no activation (`none` in a spec).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Identity;

impl<T: Real> Activation<T> for Identity {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        x
    }
    #[inline(always)]
    fn df(&self, _x: T, _y: T) -> T {
        T::one()
    }
}

/// `f(x) = max(0, x)`; `df(0) = 0` as in PyTorch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Relu;

impl<T: Real> Activation<T> for Relu {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        if x > T::zero() {
            x
        } else {
            T::zero()
        }
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        if x > T::zero() {
            T::one()
        } else {
            T::zero()
        }
    }
}

/// `f(x) = tanh(x)`, `f' = 1 - y^2`. `f` is `tanh_vec` (straight-line code, so
/// that the pass over a layer's outputs vectorizes instead of calling libm's `tanh`
/// per value; within 4e-7 relative of the exact value in f32 and 1e-15 in f64, as
/// `vec_sigmoid_tanh_against_libm` checks over the whole range). `f'` is computed as `(1 - |y|)(1 + |y|)` while `|y| <=
/// 0.9` (there `1 - |y|` is exact and carries at most 10x the relative error of `y`)
/// and as `e^(-2|x|) (1 + |y|)^2` beyond (equal, since `1 + |y| = 2 / (1 +
/// e^(-2|x|))`), which does not cancel when `|y|` is near 1, with
/// [`Real::exp_vec`] (within 2 ulp, no libm call). The branch keeps the `exp` out of
/// the common, unsaturated case.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;

impl<T: Real> Activation<T> for Tanh {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        tanh_vec(x)
    }
    #[inline(always)]
    fn df(&self, x: T, y: T) -> T {
        let a = y.abs();
        let p = T::one() + a;
        if a <= T::of(0.9) {
            (T::one() - a) * p
        } else {
            (-(x.abs() + x.abs())).exp_vec() * p * p
        }
    }
}

/// `1 / (1 + e^-x)` without overflow: `exp` only ever sees `-|x|`.
#[inline(always)]
pub(crate) fn sigmoid<T: Real>(x: T) -> T {
    sigmoids(x).0
}

/// `(sigmoid(x), sigmoid(-x))`, both to full relative precision (`1 - sigmoid(x)` is
/// not, for large `x`), from one `exp` of `-|x|`.
#[inline(always)]
fn sigmoids<T: Real>(x: T) -> (T, T) {
    let e = (-x.abs()).exp();
    let r = T::one() / (T::one() + e);
    if x >= T::zero() {
        (r, e * r)
    } else {
        (e * r, r)
    }
}

/// `sigmoid(x)` in straight-line code, so a loop of it vectorizes (the recurrent
/// cells' gate passes): the formula of [`Sigmoid`] with [`Real::exp_vec`] (within 2 ulp)
/// for `exp`, and a select for the branch. Saturates to 0 and 1; NaN stays NaN.
#[inline(always)]
pub(crate) fn sigmoid_vec<T: Real>(x: T) -> T {
    let e = (-x.abs()).exp_vec();
    let r = T::one() / (T::one() + e);
    if x >= T::zero() {
        r
    } else {
        e * r
    }
}

/// `tanh(x)` in straight-line code, so a loop of it vectorizes: `sign(x) * -m / (2 +
/// m)` with `m = e^(-2|x|) - 1` from [`Real::exp_m1_vec`], which keeps its relative
/// precision near 0 (where `1 - e^(-2|x|)` would cancel); `m` is in `(-1, 0]`, so
/// nothing cancels and the result is within a few ulp. Saturates to `+-1`; NaN stays NaN.
#[inline(always)]
pub(crate) fn tanh_vec<T: Real>(x: T) -> T {
    let m = (-(x.abs() + x.abs())).exp_m1_vec();
    (-m / (T::one() + T::one() + m)).copysign(x)
}

/// `p` as `hi + lo` in `T`: `hi` is `p` rounded to `T`, `lo` the rounding error (0 in
/// f64, where `hi = p`). For arguments of `erfc` and `exp`, which would amplify `hi`'s
/// rounding error (see the module doc); the caller forms `p` in f64 from an `x` of type
/// `T`, exactly or nearly so.
#[inline(always)]
fn split<T: Real>(p: f64) -> (T, T) {
    let hi = T::of(p);
    (hi, T::of(p - hi.as_f64()))
}

/// `e^-a` for `a = hi + lo` from [`split`]: `e^-hi (1 - lo)`, exact to first order.
#[inline(always)]
fn exp_neg<T: Real>((hi, lo): (T, T)) -> T {
    (-hi).exp() * (T::one() - lo)
}

/// A simple zero `x0 = hi + lo` of a derivative, and the derivative's Taylor
/// coefficients there: `df(x0 + s) = c[0] s + c[1] s^2 + ... + c[7] s^8`.
/// `scripts/activation_reference.py --zeros` computes them; the first omitted term is
/// below `2e-15` of the sum within [`ZERO_RADIUS`].
struct Zero {
    hi: f64,
    lo: f64,
    c: [f64; 8],
}

/// How close to a [`Zero`] the series replaces the closed form: there the closed form's
/// relative error is about `ulp / |x - x0|` (a few `1e-6` in f32 at the edge).
const ZERO_RADIUS: f64 = 1.0 / 32.0;

impl Zero {
    /// The derivative from the series if `x` is within [`ZERO_RADIUS`] of the zero,
    /// else `far` (the closed form).
    #[inline(always)]
    fn or<T: Real>(&self, x: T, far: T) -> T {
        let hi = T::of(self.hi);
        // x - hi is exact near hi (Sterbenz); the rest of x0 is below hi's last bit.
        let s = (x - hi) - T::of((self.hi - hi.as_f64()) + self.lo);
        let mut p = T::of(self.c[7]);
        for &c in self.c[..7].iter().rev() {
            p = p * s + T::of(c);
        }
        if s.abs() < T::of(ZERO_RADIUS) {
            p * s
        } else {
            far
        }
    }
}

/// `v` in `T`, or [`Error::InvalidParameter`] unless it is finite there (and `ok`).
fn param<T: Real>(name: &'static str, v: f64, ok: bool, reason: &'static str) -> Result<T> {
    let t = T::of(v);
    if ok && t.is_finite() {
        Ok(t)
    } else {
        Err(Error::InvalidParameter {
            name,
            value: v,
            reason,
        })
    }
}

/// `f(x) = 1 / (1 + e^-x)`, `f' = y (1 - y)`; `nn.Sigmoid`. Saturates: the
/// derivative is below `1e-3` once `|x| > 7`, the vanishing gradient in its plainest form.
///
/// `f'` is computed as `e^-|x| max(y, 1 - y)^2` (equal, since `max(y, 1 - y) =
/// 1 / (1 + e^-|x|)`): `y (1 - y)` is 0 in f32 once `x > 16.6`, where the true `f'` is
/// still `6e-8`, and loses relative precision for positive `x` well before that.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;

impl<T: Real> Activation<T> for Sigmoid {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        sigmoid(x)
    }
    #[inline(always)]
    fn df(&self, x: T, y: T) -> T {
        // 1 - y is exact enough where it is used: for x <= 0, y <= 1/2.
        let r = y.max(T::one() - y);
        (-x.abs()).exp() * r * r
    }
}

/// `f(x) = x` for `x > 0`, else `slope * x`; `f'(0) = slope` as in PyTorch;
/// `nn.LeakyReLU(negative_slope)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu<T> {
    /// The slope for `x <= 0` (PyTorch's `negative_slope`).
    pub slope: T,
}

impl<T: Real> LeakyRelu<T> {
    /// PyTorch's default slope.
    pub const DEFAULT_SLOPE: f64 = 0.01;

    /// A leaky ReLU with the given slope (unchecked, as in PyTorch).
    pub fn new(slope: f64) -> Self {
        LeakyRelu {
            slope: T::of(slope),
        }
    }

    /// [`LeakyRelu::new`], checked.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `slope` is not finite in `T`.
    pub fn try_new(slope: f64) -> Result<Self> {
        Ok(LeakyRelu {
            slope: param("leaky_relu slope", slope, true, "must be finite")?,
        })
    }
}

impl<T: Real> Default for LeakyRelu<T> {
    /// Slope 0.01, as `nn.LeakyReLU()`.
    fn default() -> Self {
        Self::new(Self::DEFAULT_SLOPE)
    }
}

impl<T: Real> Activation<T> for LeakyRelu<T> {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        if x > T::zero() {
            x
        } else {
            self.slope * x
        }
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        if x > T::zero() {
            T::one()
        } else {
            self.slope
        }
    }
}

/// `f(x) = x` for `x > 0`, else `alpha (e^x - 1)`; `f' = alpha e^x` for `x <= 0`
/// (so `f'(0) = alpha`, as in PyTorch); `nn.ELU(alpha)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elu<T> {
    /// The negative saturation value is `-alpha`.
    pub alpha: T,
}

impl<T: Real> Elu<T> {
    /// PyTorch's default alpha.
    pub const DEFAULT_ALPHA: f64 = 1.0;

    /// An ELU with the given alpha (unchecked, as in PyTorch).
    pub fn new(alpha: f64) -> Self {
        Elu {
            alpha: T::of(alpha),
        }
    }

    /// [`Elu::new`], checked.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `alpha` is not finite in `T`.
    pub fn try_new(alpha: f64) -> Result<Self> {
        Ok(Elu {
            alpha: param("elu alpha", alpha, true, "must be finite")?,
        })
    }
}

impl<T: Real> Default for Elu<T> {
    /// Alpha 1, as `nn.ELU()`.
    fn default() -> Self {
        Self::new(Self::DEFAULT_ALPHA)
    }
}

impl<T: Real> Activation<T> for Elu<T> {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        // exp_m1 of min(x, 0): exact near 0, and never overflows when both arms are
        // evaluated (as a vectorized select does).
        let neg = self.alpha * x.min(T::zero()).exp_m1();
        if x > T::zero() {
            x
        } else {
            neg
        }
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        // alpha e^x rather than y + alpha, which cancels for very negative x.
        let neg = self.alpha * x.min(T::zero()).exp();
        if x > T::zero() {
            T::one()
        } else {
            neg
        }
    }
}

/// `nn.SELU`'s alpha, from Klambauer et al. (2017), as PyTorch spells it
/// (1.6732632423543772848170429916717, rounded to f64).
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
/// `nn.SELU`'s scale, as PyTorch spells it
/// (1.0507009873554804934193349852946, rounded to f64).
pub const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// `f(x) = scale x` for `x > 0`, else `scale alpha (e^x - 1)`, with
/// [`SELU_ALPHA`] and [`SELU_SCALE`]; `f'(0) = scale alpha` as in PyTorch; `nn.SELU`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Selu;

impl<T: Real> Activation<T> for Selu {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        let scale = T::of(SELU_SCALE);
        let neg = T::of(SELU_SCALE * SELU_ALPHA) * x.min(T::zero()).exp_m1();
        if x > T::zero() {
            scale * x
        } else {
            neg
        }
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        let neg = T::of(SELU_SCALE * SELU_ALPHA) * x.min(T::zero()).exp();
        if x > T::zero() {
            T::of(SELU_SCALE)
        } else {
            neg
        }
    }
}

/// `1 / sqrt(2 pi)`, the peak of the standard normal density.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// Beyond `|x| = 40`, `erfc(-x / sqrt 2)` is exactly 0 or 2 and `x phi(x)` exactly 0 in
/// f32 and f64 (`e^-800` underflows): clamping there changes no result, and keeps the
/// products of [`Gelu`]'s argument correction finite.
const GELU_CLAMP: f64 = 40.0;
/// Where the derivative of [`Gelu`] is 0 (its minimum, `gelu(x0) = -0.17`).
const GELU_ZERO: Zero = Zero {
    hi: -0.751_791_524_693_564_5,
    lo: 1.495_675_917_700_988_3e-17,
    c: [
        0.431_493_992_314_046_9,
        0.388_284_982_990_552,
        -0.018_199_676_398_671_087,
        -0.114_008_233_297_221_7,
        -0.014_771_522_148_244_337,
        0.019_421_679_838_189_067,
        0.004_539_228_379_125_415,
        -0.002_239_538_068_073_497,
    ],
};

/// The exact GELU, `f(x) = x Phi(x) = x/2 erfc(-x / sqrt 2)`, with
/// `f' = Phi(x) + x phi(x)` (`phi` the standard normal density); `nn.GELU()`.
///
/// `erfc(-x / sqrt 2)` equals PyTorch's `1 + erf(x / sqrt 2)` but keeps its relative
/// precision for negative `x`, where the sum cancels (in f32 `gelu(-6)` would be `-0`
/// rather than `-5.9e-9`). Near the zero of `f'` at `x = -0.7518` the derivative comes
/// from its Taylor series there.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gelu;

impl Gelu {
    /// `Phi(x) = erfc(t) / 2` for `t = -x / sqrt 2`, with `x` clamped where it has
    /// saturated. In f32, `t` is formed in f64 and `erfc(hi + lo)` taken as
    /// `erfc(hi) (1 - 2 hi lo)` (`erfc'/erfc` is about `-2t`; for `t < 0` it is small
    /// and `lo` is dropped), since `erfc` turns `t`'s rounding error `d` into `2 t^2 d`.
    #[inline(always)]
    fn cdf<T: Real>(x: T) -> T {
        let c = T::of(GELU_CLAMP);
        let xc = x.max(-c).min(c);
        let (t, lo) = split::<T>(-xc.as_f64() * core::f64::consts::FRAC_1_SQRT_2);
        let two = T::of(2.0);
        T::of(0.5) * t.erfc() * (T::one() - two * t.max(T::zero()) * lo)
    }
}

impl<T: Real> Activation<T> for Gelu {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        x * Self::cdf(x)
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        let c = T::of(GELU_CLAMP);
        let xc = x.max(-c).min(c).as_f64();
        // x^2 / 2 is exact in f64 for an f32 x.
        let pdf = T::of(INV_SQRT_2PI) * exp_neg(split::<T>(0.5 * xc * xc));
        GELU_ZERO.or(x, Self::cdf(x) + x * pdf)
    }
}

/// `sqrt(2 / pi)`.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation of GELU.
const GELU_KAPPA: f64 = 0.044_715;
/// Beyond `|x| = 25` the exponent `2|u|` exceeds 1150, where `e^-2|u|` is exactly 0 in
/// f32 and f64: clamping there changes no result and keeps `x^3` from overflowing.
const GELU_TANH_CLAMP: f64 = 25.0;
/// Where the derivative of [`GeluTanh`] is 0.
const GELU_TANH_ZERO: Zero = Zero {
    hi: -0.752_461_422_071_016_3,
    lo: 3.635_560_509_207_687e-17,
    c: [
        0.430_400_091_024_858_5,
        0.387_518_446_135_788_95,
        -0.015_782_853_521_848_03,
        -0.113_944_483_080_958_99,
        -0.016_619_328_343_052_56,
        0.019_682_309_459_833_118,
        0.005_261_059_254_921_912,
        -0.002_422_731_845_875_097_4,
    ],
};

/// The tanh approximation of GELU,
/// `f(x) = x/2 (1 + tanh u)`, `u = sqrt(2/pi) (x + 0.044715 x^3)`, with
/// `f' = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)`;
/// `nn.GELU(approximate='tanh')`.
///
/// Computed as `f = x s` and `f' = s (1 + 2 x (1 - s) du/dx)` with `s = sigmoid(2u)`
/// (`1 + tanh u = 2 s`) and `1 - s = sigmoid(-2u)`, which keep their relative precision
/// for negative `x`, where `1 + tanh u` cancels. Near the zero of `f'` at `x = -0.7525`
/// the derivative comes from its Taylor series there. One `exp` and no `erfc`: cheaper
/// than [`Gelu`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GeluTanh;

/// `2^64`: for `x < 0`, [`GeluTanh`] forms `s = sigmoid(2u)` scaled up by it (and scales
/// the result back, exactly), since `f'` is up to 235 times `s`: unscaled, `s` would be
/// subnormal, and short of bits, where `f'` is still a normal f32.
const GELU_TANH_SCALE: f64 = 18_446_744_073_709_551_616.0;

/// What `f` and `f'` of [`GeluTanh`] share.
struct GeluTanhParts<T> {
    /// `sigmoid(2u) / unscale`.
    s: T,
    /// `sigmoid(-2u) = 1 - sigmoid(2u)`.
    s_neg: T,
    /// `du/dx`.
    du: T,
    /// 1, or `2^-64` where `s` is scaled up (`x < 0`).
    unscale: T,
    /// `x` clamped to `[-25, 25]`.
    xc: T,
}

impl GeluTanh {
    /// The parts at `x`, with `x` clamped where `s` has saturated. In f32, `2u` is formed
    /// in f64 and split, as `e^z` turns `z`'s rounding error `d` into `|z| d`.
    #[inline(always)]
    fn parts<T: Real>(x: T) -> GeluTanhParts<T> {
        let c = T::of(GELU_TANH_CLAMP);
        let xc = x.max(-c).min(c);
        let xw = xc.as_f64();
        let two_u = 2.0 * SQRT_2_OVER_PI * xw * (1.0 + GELU_KAPPA * xw * xw);
        // e^-|2u| times 2^64, never above 2^64.
        let big = exp_neg(split::<T>(two_u.abs() - 64.0 * core::f64::consts::LN_2));
        let unscale = T::of(1.0 / GELU_TANH_SCALE);
        let e = big * unscale;
        let r = T::one() / (T::one() + e);
        let du = T::of(SQRT_2_OVER_PI) * (T::one() + T::of(3.0 * GELU_KAPPA) * xc * xc);
        let (s, s_neg, unscale) = if x >= T::zero() {
            (r, e * r, T::one())
        } else {
            (big * r, r, unscale)
        };
        GeluTanhParts {
            s,
            s_neg,
            du,
            unscale,
            xc,
        }
    }
}

impl<T: Real> Activation<T> for GeluTanh {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        let p = Self::parts(x);
        x * p.s * p.unscale
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        let p = Self::parts(x);
        // The clamped x keeps the product finite; past the clamp s or 1 - s is 0.
        let far = p.s * (T::one() + (p.xc + p.xc) * p.s_neg * p.du) * p.unscale;
        GELU_TANH_ZERO.or(x, far)
    }
}

/// Where the derivative of [`Silu`] is 0 (its minimum, `silu(x0) = -0.28`).
const SILU_ZERO: Zero = Zero {
    hi: -1.278_464_542_761_073_7,
    lo: -1.094_699_418_309_343_7e-16,
    c: [
        0.217_811_705_719_800_1,
        0.146_648_796_996_946_9,
        0.018_874_814_223_782_312,
        -0.015_222_655_223_188_032,
        -0.006_606_589_138_356_696,
        0.000_126_627_410_081_122,
        0.000_798_521_881_839_799_8,
        0.000_185_707_243_611_864_96,
    ],
};

/// `f(x) = x sigmoid(x)` (swish), `f' = s (1 + x (1 - s))` with `s = sigmoid(x)`;
/// `nn.SiLU`.
///
/// `1 - s` is computed as `sigmoid(-x)`, which keeps its precision for large `x`; near
/// the zero of `f'` at `x = -1.2785` the derivative comes from its Taylor series there.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Silu;

impl<T: Real> Activation<T> for Silu {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        x * sigmoid(x)
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        let (s, s_neg) = sigmoids(x);
        SILU_ZERO.or(x, s * (T::one() + x * s_neg))
    }
}

/// `f(x) = ln(1 + e^(beta x)) / beta`, reverting to `f(x) = x` when
/// `beta x > threshold`, exactly as `nn.Softplus(beta, threshold)`;
/// `f' = sigmoid(beta x)` (1 past the threshold).
///
/// Below the threshold it is computed as `(max(bx, 0) + ln_1p(e^-|bx|)) / beta`,
/// which never overflows, so a large threshold is safe too.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softplus<T> {
    /// Sharpness: larger beta is closer to relu.
    pub beta: T,
    /// Above `beta x > threshold` the function is the identity.
    pub threshold: T,
}

impl<T: Real> Softplus<T> {
    /// PyTorch's default beta.
    pub const DEFAULT_BETA: f64 = 1.0;
    /// PyTorch's default threshold.
    pub const DEFAULT_THRESHOLD: f64 = 20.0;

    /// A softplus with the given beta and threshold (unchecked, as in PyTorch; a
    /// zero beta gives NaN).
    pub fn new(beta: f64, threshold: f64) -> Self {
        Softplus {
            beta: T::of(beta),
            threshold: T::of(threshold),
        }
    }

    /// [`Softplus::new`], checked.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `beta` is zero or not finite in `T`, or
    /// `threshold` is NaN.
    pub fn try_new(beta: f64, threshold: f64) -> Result<Self> {
        let beta = param(
            "softplus beta",
            beta,
            beta != 0.0,
            "must be finite and non-zero",
        )?;
        if threshold.is_nan() {
            return Err(Error::InvalidParameter {
                name: "softplus threshold",
                value: threshold,
                reason: "must not be NaN",
            });
        }
        Ok(Softplus {
            beta,
            threshold: T::of(threshold),
        })
    }
}

impl<T: Real> Default for Softplus<T> {
    /// Beta 1, threshold 20, as `nn.Softplus()`.
    fn default() -> Self {
        Self::new(Self::DEFAULT_BETA, Self::DEFAULT_THRESHOLD)
    }
}

impl<T: Real> Activation<T> for Softplus<T> {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        let bx = self.beta * x;
        let soft = (bx.max(T::zero()) + (-bx.abs()).exp().ln_1p()) / self.beta;
        if bx > self.threshold {
            x
        } else {
            soft
        }
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        let bx = self.beta * x;
        let s = sigmoid(bx);
        if bx > self.threshold {
            T::one()
        } else {
            s
        }
    }
}

/// `f(x) = clamp(x, min, max)`; `f' = 1` strictly inside, 0 outside and at both
/// bounds (PyTorch's `hardtanh_backward`); `nn.Hardtanh(min_val, max_val)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HardTanh<T> {
    /// The lower bound.
    pub min: T,
    /// The upper bound.
    pub max: T,
}

impl<T: Real> HardTanh<T> {
    /// A hard tanh clamping to `[min, max]` (unchecked; see [`HardTanh::try_new`]).
    pub fn new(min: f64, max: f64) -> Self {
        HardTanh {
            min: T::of(min),
            max: T::of(max),
        }
    }

    /// [`HardTanh::new`], checked as `nn.Hardtanh` asserts.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if a bound is not finite in `T`, or `min >= max`.
    pub fn try_new(min: f64, max: f64) -> Result<Self> {
        let lo = param("hard_tanh min", min, true, "must be finite")?;
        let hi = param(
            "hard_tanh max",
            max,
            min < max,
            "must be finite and above min",
        )?;
        Ok(HardTanh { min: lo, max: hi })
    }
}

impl<T: Real> Default for HardTanh<T> {
    /// `[-1, 1]`, as `nn.Hardtanh()`.
    fn default() -> Self {
        Self::new(-1.0, 1.0)
    }
}

impl<T: Real> Activation<T> for HardTanh<T> {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        if x < self.min {
            self.min
        } else if x > self.max {
            self.max
        } else {
            x
        }
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        if x > self.min && x < self.max {
            T::one()
        } else {
            T::zero()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{sigmoid_vec, tanh_vec};

    /// `(y - truth) / truth`, or the absolute error where `truth` is below f32's
    /// normal range.
    fn rel(y: f64, truth: f64) -> f64 {
        (y - truth).abs() / truth.abs().max(f32::MIN_POSITIVE as f64)
    }

    /// The straight-line sigmoid and tanh against f64's libm over the whole f32 range
    /// that matters (and far beyond, for saturation), in f32 and f64.
    #[test]
    fn vec_sigmoid_tanh_against_libm() {
        let n = 400_000;
        let xs = (0..=n)
            .map(|i| -120.0 + 240.0 * i as f64 / n as f64)
            .chain((0..3000).map(|i| 1e-30 * 1.05f64.powi(i)))
            .chain((0..3000).map(|i| -1e-30 * 1.05f64.powi(i)));
        let (mut s32, mut t32, mut s64, mut t64) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for x in xs {
            let x32 = x as f32;
            let xd = x32 as f64;
            let sig = 1.0 / (1.0 + (-xd).exp());
            s32 = s32.max(rel(sigmoid_vec(x32) as f64, sig));
            t32 = t32.max(rel(tanh_vec(x32) as f64, xd.tanh()));
            let sig = if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                x.exp() / (1.0 + x.exp())
            };
            s64 = s64.max((sigmoid_vec(x) - sig).abs() / sig.max(f64::MIN_POSITIVE));
            t64 = t64.max((tanh_vec(x) - x.tanh()).abs() / x.tanh().abs().max(f64::MIN_POSITIVE));
        }
        eprintln!("worst relative error: f32 sigmoid {s32:e} tanh {t32:e}, f64 sigmoid {s64:e} tanh {t64:e}");
        assert!(
            s32 < 4e-7 && t32 < 4e-7,
            "f32: sigmoid {s32:e}, tanh {t32:e}"
        );
        assert!(
            s64 < 1e-15 && t64 < 1e-15,
            "f64: sigmoid {s64:e}, tanh {t64:e}"
        );
    }

    #[test]
    fn vec_sigmoid_tanh_limits_and_nan() {
        for big in [110.0f32, 1e3, f32::MAX, f32::INFINITY] {
            assert_eq!((sigmoid_vec(big), sigmoid_vec(-big)), (1.0, 0.0));
            assert_eq!((tanh_vec(big), tanh_vec(-big)), (1.0, -1.0));
        }
        for big in [800.0f64, f64::INFINITY] {
            assert_eq!((sigmoid_vec(big), sigmoid_vec(-big)), (1.0, 0.0));
            assert_eq!((tanh_vec(big), tanh_vec(-big)), (1.0, -1.0));
        }
        assert!(sigmoid_vec(f32::NAN).is_nan() && tanh_vec(f32::NAN).is_nan());
        assert!(sigmoid_vec(f64::NAN).is_nan() && tanh_vec(f64::NAN).is_nan());
        assert_eq!((tanh_vec(0.0f32), sigmoid_vec(0.0f32)), (0.0, 0.5));
        assert!(tanh_vec(-0.0f64).is_sign_negative());
    }
}
