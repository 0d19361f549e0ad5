//! The scalar type of every network: [`Real`], implemented for `f32` and `f64`.
//!
//! `f32` is what networks train in; `f64` exists so gradients can be checked
//! against finite differences to tight tolerances.

use crate::gemm::{Kernel, Scratch};
use core::fmt::{Debug, Display};
use core::iter::Sum;
use num_traits::{Float, FromPrimitive, NumAssign};
use std::cell::Cell;

/// A floating-point scalar: num-traits' [`Float`] plus what it lacks.
///
/// ```
/// use gradnet_core::Real;
/// fn half<T: Real>(x: T) -> T { x * T::of(0.5) }
/// assert_eq!(half(3.0f32), 1.5);
/// assert!((1.0f64.erf() - 0.842_700_792_949_714_9).abs() < 1e-15);
/// // erfc(10) = 2.088e-45: 1 - erf(10) would be 0.
/// assert!((10.0f64.erfc() / 2.088_487_583_762_544_8e-45 - 1.0).abs() < 1e-14);
/// ```
pub trait Real:
    Float + FromPrimitive + NumAssign + Default + Debug + Display + Sum + Send + Sync + 'static
{
    /// Whether this is `f32` (so a setting given as an `f64` is rounded to `f32`).
    /// A const, so that generated code can check in a const assertion that a setting
    /// stays valid in the network's scalar type.
    const IS_F32: bool;

    /// The literal `x` in this type (rounded to nearest for `f32`).
    fn of(x: f64) -> Self;
    /// This value widened (or kept) as `f64`.
    fn as_f64(self) -> f64;
    /// The error function, erf(x) = 2/sqrt(pi) * int_0^x exp(-t^2) dt, from `libm`.
    fn erf(self) -> Self;
    /// The complementary error function, erfc(x) = 1 - erf(x), from `libm`: accurate to
    /// relative precision also in the tail, where `1 - erf(x)` would cancel.
    fn erfc(self) -> Self;
    /// `e^x` in straight-line code (no branch, no call), so a loop over a slice that
    /// uses it vectorizes (a range reduction and a polynomial). Within 2 ulp of
    /// the true value wherever that is a normal number (subnormal results lose the
    /// bits a subnormal cannot hold), 0 below the underflow threshold, infinite above
    /// the overflow threshold, NaN for NaN.
    fn exp_vec(self) -> Self;
    /// `e^x - 1` as [`Real::exp_vec`] computes `e^x`, to the same relative accuracy,
    /// also near 0 where `e^x - 1` would cancel; `-1` below `-25 ln 2` (f32) or `-54 ln
    /// 2` (f64), where `e^x` is below half an ulp of 1.
    fn exp_m1_vec(self) -> Self;

    /// This slice as `f32`s if `Self` is `f32`: for the few kernels written for one
    /// type with the target's vector instructions (`rnn`'s recurrent products).
    #[doc(hidden)]
    fn as_f32s(x: &[Self]) -> Option<&[f32]>;
    /// [`Real::as_f32s`], mutable.
    #[doc(hidden)]
    fn as_f32s_mut(x: &mut [Self]) -> Option<&mut [f32]>;

    /// Offers `take` the GEMM micro-kernels for this type that the running CPU
    /// has, fastest first, until it takes one, and returns that one (or the portable
    /// kernel, always offered last): how [`crate::gemm::gemm`] picks its kernel at
    /// run time. The default offers only the portable kernel.
    #[doc(hidden)]
    fn gemm_kernels(take: &mut dyn FnMut(Kernel<Self>) -> bool) -> Kernel<Self> {
        Kernel::portable(take)
    }

    /// Runs `f` with this thread's packing buffers of [`crate::gemm::gemm`] (grown
    /// to the largest product seen, never shrunk, so that products after the first
    /// allocate nothing). The default makes fresh buffers for each call.
    #[doc(hidden)]
    fn with_gemm_scratch<R>(f: impl FnOnce(&mut Scratch<Self>) -> R) -> R {
        f(&mut Scratch::new())
    }
}

impl Real for f32 {
    const IS_F32: bool = true;

    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn erf(self) -> Self {
        libm::erff(self)
    }
    #[inline]
    fn erfc(self) -> Self {
        libm::erfcf(self)
    }
    #[inline(always)]
    fn exp_vec(self) -> Self {
        exp_parts_f32(self).0
    }
    #[inline(always)]
    fn exp_m1_vec(self) -> Self {
        exp_parts_f32(self).1
    }
    #[inline(always)]
    fn as_f32s(x: &[Self]) -> Option<&[f32]> {
        Some(x)
    }
    #[inline(always)]
    fn as_f32s_mut(x: &mut [Self]) -> Option<&mut [f32]> {
        Some(x)
    }
    fn gemm_kernels(take: &mut dyn FnMut(Kernel<Self>) -> bool) -> Kernel<Self> {
        crate::gemm::kernels::f32_kernels(take)
    }
    fn with_gemm_scratch<R>(f: impl FnOnce(&mut Scratch<Self>) -> R) -> R {
        thread_local! {
            static SCRATCH: Cell<Scratch<f32>> = const { Cell::new(Scratch::new()) };
        }
        Scratch::with_thread_local(&SCRATCH, f)
    }
}

impl Real for f64 {
    const IS_F32: bool = false;

    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
    #[inline]
    fn erf(self) -> Self {
        libm::erf(self)
    }
    #[inline]
    fn erfc(self) -> Self {
        libm::erfc(self)
    }
    #[inline(always)]
    fn exp_vec(self) -> Self {
        exp_parts_f64(self).0
    }
    #[inline(always)]
    fn exp_m1_vec(self) -> Self {
        exp_parts_f64(self).1
    }
    #[inline(always)]
    fn as_f32s(_: &[Self]) -> Option<&[f32]> {
        None
    }
    #[inline(always)]
    fn as_f32s_mut(_: &mut [Self]) -> Option<&mut [f32]> {
        None
    }
    fn gemm_kernels(take: &mut dyn FnMut(Kernel<Self>) -> bool) -> Kernel<Self> {
        crate::gemm::kernels::f64_kernels(take)
    }
    fn with_gemm_scratch<R>(f: impl FnOnce(&mut Scratch<Self>) -> R) -> R {
        thread_local! {
            static SCRATCH: Cell<Scratch<f64>> = const { Cell::new(Scratch::new()) };
        }
        Scratch::with_thread_local(&SCRATCH, f)
    }
}

/// Whether the build's target has a fused multiply-add instruction
/// (`-C target-cpu=native` on x86-64 since Haswell): the `FMA` of [`mul_add_if`] for
/// code compiled for the build's target alone.
pub(crate) const TARGET_FMA: bool = cfg!(target_feature = "fma");

/// `a b + c`: one fused multiply-add if `FMA`, else a product and a sum. Only where
/// the code is compiled with the instruction may `FMA` be true (elsewhere `mul_add`
/// is a library call, far slower than the two operations): [`TARGET_FMA`], or true
/// inside a function built for the FMA feature that this is inlined into.
#[inline(always)]
pub(crate) fn mul_add_if<T: Real, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `(e^x, e^x - 1)` in straight-line code, for [`Real::exp_vec`] and
/// [`Real::exp_m1_vec`]; one per type, from one template:
///
/// - `x` is clamped (by comparisons, which keep a NaN) to `[lo, hi]`, just beyond
///   where `e^x` underflows to 0 and overflows to infinity;
/// - `k = round(x / ln 2)` by adding and subtracting `1.5 * 2^(mantissa bits)`, which
///   also leaves `k` in the low bits of the sum, and `r = x - k ln 2` with `ln 2` in two
///   parts (Cody and Waite: `k ln2_hi` is exact), so `|r| <= ln 2 / 2` to the last bit;
/// - `q = e^r - 1` from its Taylor series to the degree where the first term left out
///   is below a quarter of an ulp at `|r| = ln 2 / 2` (7 in f32, 13 in f64), in Horner
///   form with `r` itself added last, so `q` keeps full relative precision near 0;
/// - `e^x = 2^k (1 + q)`, scaling by `2^(k/2)` and `2^(k - k/2)` so that each factor is
///   a normal number even where `2^k` is not (results near under- or overflow);
///   `e^x - 1 = 2^k (q + (1 - 2^-k))` for `k >= 0` (`q` itself at `k = 0`) and
///   `2^k q + (2^k - 1)` for `k < 0`, where the parts in brackets are exact and the sum
///   does not cancel (`k != 0` only where `|e^x - 1| > 0.29`).
macro_rules! exp_parts {
    ($name:ident, $t:ty, $u:ty, $i:ty, $mant:expr, $bias:expr, $lo:expr, $hi:expr,
     $ln2_hi:expr, $ln2_lo:expr, $coeffs:expr) => {
        #[inline(always)]
        fn $name(x: $t) -> ($t, $t) {
            const MAGIC: $t = 1.5 * (1u64 << $mant) as $t;
            let x = if x < $lo { $lo } else { x };
            let x = if x > $hi { $hi } else { x };
            let z = x * core::f64::consts::LOG2_E as $t + MAGIC;
            let kf = z - MAGIC;
            let k = z.to_bits().wrapping_sub(MAGIC.to_bits()) as $i;
            let r = (x - kf * $ln2_hi) - kf * $ln2_lo;
            let c: &[$t] = &$coeffs;
            let mut p = c[c.len() - 1];
            for &ci in c[..c.len() - 1].iter().rev() {
                p = p * r + ci;
            }
            let q = r * r * p + r;
            let k1 = k >> 1;
            let scale = |e: $i| <$t>::from_bits((e.wrapping_add($bias) as $u) << $mant);
            let (s1, s2) = (scale(k1), scale(k - k1));
            let exp = s1 * (s2 * (1.0 + q));
            // k >= 0: 2^k (q + (1 - 2^-k)), where 1 - 2^-k is exact (or within 2^-(mant
            // + 2) of it, far below q + 1's last bit); k < 0: 2^k q + (2^k - 1).
            let up = s1 * (s2 * (q + (1.0 - scale(-k.min($mant + 2)))));
            let s = s1 * s2;
            let m1 = if k >= 0 { up } else { s * q + (s - 1.0) };
            (exp, m1)
        }
    };
}

// ln 2 as hi + lo (hi with trailing zero bits: fdlibm's in f64, 355/512 in f32), and
// the Taylor coefficients 1/2!, 1/3!, ... of (e^r - 1 - r) / r^2: to 1/7! in f32, 1/13!
// in f64.
exp_parts!(
    exp_parts_f32,
    f32,
    u32,
    i32,
    23,
    127,
    -104.0,
    89.0,
    355.0 / 512.0,
    -2.121_944_4e-4,
    [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0
    ]
);
exp_parts!(
    exp_parts_f64,
    f64,
    u64,
    i64,
    52,
    1023,
    -746.0,
    710.0,
    f64::from_bits(0x3fe6_2e42_fee0_0000),
    f64::from_bits(0x3dea_39ef_3579_3c76),
    [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362880.0,
        1.0 / 3628800.0,
        1.0 / 39916800.0,
        1.0 / 479001600.0,
        1.0 / 6227020800.0
    ]
);

#[cfg(test)]
mod tests {
    use super::Real;

    /// Every f32 bit pattern from `lo` to `hi` in steps of `step` (as integers).
    fn f32_grid(lo: f32, hi: f32, n: u32) -> impl Iterator<Item = f32> {
        let (a, b) = (lo as f64, hi as f64);
        (0..=n).map(move |i| (a + (b - a) * i as f64 / n as f64) as f32)
    }

    /// Error of `y` in ulps of the f32 nearest `truth`; absolute in units of the
    /// smallest subnormal below the normal range.
    fn ulps32(y: f32, truth: f64) -> f64 {
        let t = truth as f32;
        if t.is_infinite() {
            return if y == t { 0.0 } else { f64::INFINITY };
        }
        let ulp = if t.abs() < f32::MIN_POSITIVE {
            f32::from_bits(1) as f64
        } else {
            (f32::from_bits(t.abs().to_bits() + 1) - t.abs()) as f64
        };
        ((y as f64) - truth).abs() / ulp
    }

    fn ulps64(y: f64, truth: f64) -> f64 {
        if truth.is_infinite() {
            return if y == truth { 0.0 } else { f64::INFINITY };
        }
        let ulp = if truth.abs() < f64::MIN_POSITIVE {
            f64::from_bits(1)
        } else {
            f64::from_bits(truth.abs().to_bits() + 1) - truth.abs()
        };
        (y - truth).abs() / ulp
    }

    /// `exp_vec` and `exp_m1_vec` in f32 against f64's exp over the whole range
    /// (under- and overflow included), densely near 0 and the reduction's boundaries.
    #[test]
    fn exp_vec_f32_against_f64() {
        let (mut worst, mut worst_m1) = (0.0f64, 0.0f64);
        let xs = f32_grid(-110.0, 95.0, 2_000_000)
            .chain(f32_grid(-1.0, 1.0, 200_000))
            .chain((0..2000).map(|i| 1e-30 * 1.05f32.powi(i)))
            .chain((0..2000).map(|i| -1e-30 * 1.05f32.powi(i)));
        for x in xs {
            let truth = (x as f64).exp();
            let e = ulps32(x.exp_vec(), truth);
            let m = ulps32(x.exp_m1_vec(), (x as f64).exp_m1());
            assert!(
                e <= 2.0,
                "exp({x:e}) = {:e}, want {truth:e}: {e} ulp",
                x.exp_vec()
            );
            assert!(m <= 2.0, "exp_m1({x:e}) = {:e}: {m} ulp", x.exp_m1_vec());
            worst = worst.max(e);
            worst_m1 = worst_m1.max(m);
        }
        eprintln!("f32 worst: exp {worst} ulp, exp_m1 {worst_m1} ulp");
    }

    #[test]
    fn exp_vec_f64_against_std() {
        let (mut worst, mut worst_m1) = (0.0f64, 0.0f64);
        let n = 2_000_000;
        let xs = (0..=n)
            .map(|i| -750.0 + 1465.0 * i as f64 / n as f64)
            .chain((0..=n).map(|i| -1.0 + 2.0 * i as f64 / n as f64))
            .chain(
                (0..4000).map(|i| 1e-300 * 1.2f64.powi(i) * if i % 2 == 0 { 1.0 } else { -1.0 }),
            );
        for x in xs {
            let e = ulps64(x.exp_vec(), x.exp());
            let m = ulps64(x.exp_m1_vec(), x.exp_m1());
            assert!(
                e <= 2.0,
                "exp({x:e}) = {:e}, want {:e}: {e} ulp",
                x.exp_vec(),
                x.exp()
            );
            assert!(
                m <= 2.0,
                "exp_m1({x:e}) = {:e}, want {:e}: {m} ulp",
                x.exp_m1_vec(),
                x.exp_m1()
            );
            worst = worst.max(e);
            worst_m1 = worst_m1.max(m);
        }
        eprintln!("f64 worst: exp {worst} ulp, exp_m1 {worst_m1} ulp");
    }

    /// NaN stays NaN; infinities and values beyond the thresholds give the limits.
    #[test]
    fn exp_vec_special_values() {
        fn check<T: Real>(big: T) {
            assert!(T::nan().exp_vec().is_nan() && T::nan().exp_m1_vec().is_nan());
            assert_eq!(T::infinity().exp_vec(), T::infinity());
            assert_eq!(T::infinity().exp_m1_vec(), T::infinity());
            assert_eq!(big.exp_vec(), T::infinity());
            assert_eq!(big.exp_m1_vec(), T::infinity());
            assert_eq!(T::neg_infinity().exp_vec(), T::zero());
            assert_eq!((-big).exp_vec(), T::zero());
            assert_eq!(T::neg_infinity().exp_m1_vec(), -T::one());
            assert_eq!((-big).exp_m1_vec(), -T::one());
            assert_eq!(T::zero().exp_vec(), T::one());
            assert_eq!(T::zero().exp_m1_vec(), T::zero());
            assert_eq!(T::max_value().exp_vec(), T::infinity());
            assert_eq!(T::min_value().exp_vec(), T::zero());
        }
        check(1000.0f32);
        check(1e5f64);
    }
}
