//! Activations: each an inlinable scalar `f` and derivative `df` side by side, so
//! generated code can fuse them into the pass that adds the bias (forward) and the
//! pass that forms the pre-activation gradient (backward).

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
