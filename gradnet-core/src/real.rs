//! The scalar type of every network: [`Real`], implemented for `f32` and `f64`.
//!
//! `f32` is what networks train in; `f64` exists so gradients can be checked
//! against finite differences to tight tolerances.

use core::fmt::{Debug, Display};
use core::iter::Sum;
use num_traits::{Float, FromPrimitive, NumAssign};

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

    /// Raw strided matrix product `C = alpha A B + beta C` (A: m x k, B: k x n).
    ///
    /// # Safety
    /// The pointers and strides must describe matrices inside live allocations of the
    /// given sizes; `c` must not alias `a` or `b`. Use [`crate::gemm::gemm`], which
    /// checks all of this, instead of calling this directly.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
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
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
        }
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
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
        }
    }
}
