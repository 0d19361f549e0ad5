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
//! | [`Gelu`] | `x/2 (1 + erf(x / sqrt 2))` | `nn.GELU()` |
//! | [`GeluTanh`] | `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` | `nn.GELU(approximate='tanh')` |
//! | [`Silu`] | `x sigmoid(x)` | `nn.SiLU` |
//! | [`Softplus`] | `ln(1 + e^(beta x)) / beta`, `x` once `beta x > threshold` | `nn.Softplus(beta, threshold)` |
//! | [`HardTanh`] | `clamp(x, min, max)` | `nn.Hardtanh(min, max)` |
//!
//! Derivatives at kinks are PyTorch's: `relu'(0) = 0`, `leaky_relu'(0) = slope`,
//! `elu'(0) = alpha`, and `hard_tanh'` is 0 at both bounds. No intermediate value of
//! `f` or `df` overflows in `f32` (`exp` only ever sees a non-positive argument, the
//! cubic of the tanh GELU is clamped where `tanh` has saturated), so a saturated unit
//! gives its limit, never inf or NaN: only a result that is itself out of range (selu
//! of a value near `f32::MAX`) can overflow.
//! The learned-slope PReLU is a layer, not an [`Activation`]: see [`crate::prelu`].
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

/// `f(x) = tanh(x)`, `f' = 1 - y^2`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;

impl<T: Real> Activation<T> for Tanh {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        x.tanh()
    }
    #[inline(always)]
    fn df(&self, _x: T, y: T) -> T {
        T::one() - y * y
    }
}

/// `1 / (1 + e^-x)` without overflow: `exp` only ever sees `-|x|`.
#[inline(always)]
fn sigmoid<T: Real>(x: T) -> T {
    let e = (-x.abs()).exp();
    let r = T::one() / (T::one() + e);
    if x >= T::zero() {
        r
    } else {
        e * r
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
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;

impl<T: Real> Activation<T> for Sigmoid {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        sigmoid(x)
    }
    #[inline(always)]
    fn df(&self, _x: T, y: T) -> T {
        y * (T::one() - y)
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

/// The exact GELU, `f(x) = x Phi(x) = x/2 (1 + erf(x / sqrt 2))`, with
/// `f' = Phi(x) + x phi(x)` (`phi` the standard normal density); `nn.GELU()`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gelu;

impl<T: Real> Activation<T> for Gelu {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        let half = T::of(0.5);
        half * x * (T::one() + (x * T::of(core::f64::consts::FRAC_1_SQRT_2)).erf())
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        let half = T::of(0.5);
        let cdf = half * (T::one() + (x * T::of(core::f64::consts::FRAC_1_SQRT_2)).erf());
        // exp of -x^2/2 is 0 (not NaN) even when x^2 overflows.
        let pdf = T::of(INV_SQRT_2PI) * (-half * x * x).exp();
        cdf + x * pdf
    }
}

/// `sqrt(2 / pi)`.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation of GELU.
const GELU_KAPPA: f64 = 0.044_715;
/// Beyond `|x| = 10` the inner argument exceeds 43, where `tanh` is exactly `+-1` in
/// f32 and f64; clamping there changes no result and keeps `x^3` from overflowing.
const GELU_TANH_CLAMP: f64 = 10.0;

/// The tanh approximation of GELU,
/// `f(x) = x/2 (1 + tanh(u))`, `u = sqrt(2/pi) (x + 0.044715 x^3)`, with
/// `f' = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)`;
/// `nn.GELU(approximate='tanh')`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GeluTanh;

impl GeluTanh {
    /// `(tanh u, du/dx)` with `x` clamped where `tanh` has saturated.
    #[inline(always)]
    fn inner<T: Real>(x: T) -> (T, T) {
        let c = T::of(GELU_TANH_CLAMP);
        let xc = x.max(-c).min(c);
        let x2 = xc * xc;
        let k = T::of(SQRT_2_OVER_PI);
        let u = k * (xc + T::of(GELU_KAPPA) * x2 * xc);
        (u.tanh(), k * (T::one() + T::of(3.0 * GELU_KAPPA) * x2))
    }
}

impl<T: Real> Activation<T> for GeluTanh {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        let (t, _) = Self::inner(x);
        T::of(0.5) * x * (T::one() + t)
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        let (t, du) = Self::inner(x);
        let half = T::of(0.5);
        half * (T::one() + t) + half * x * (T::one() - t * t) * du
    }
}

/// `f(x) = x sigmoid(x)` (swish), `f' = s (1 + x (1 - s))` with `s = sigmoid(x)`;
/// `nn.SiLU`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Silu;

impl<T: Real> Activation<T> for Silu {
    #[inline(always)]
    fn f(&self, x: T) -> T {
        x * sigmoid(x)
    }
    #[inline(always)]
    fn df(&self, x: T, _y: T) -> T {
        let s = sigmoid(x);
        s * (T::one() + x * (T::one() - s))
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
