//! The learnable scale of a residual block's output (ReZero, Bachlechner et al.
//! 2020): `y = alpha * x`, one scalar `alpha` that starts at 0.
//!
//! ```text
//! forward   y      = alpha x
//! backward  dx     = alpha dy
//!           dalpha = sum of x dy
//! ```
//!
//! A `residual(rezero = true) { ... }` block of `network!` ends in this layer, so that
//! the block computes `x + alpha f(x)` and starts as the identity: a residual
//! network of any depth then starts with the gradient of a shallow one. The block's
//! own parameters get no gradient at the very first step (it is `alpha` times
//! theirs), but `alpha` does, `sum(f(x) dy)`, so after one step they all learn; and
//! unlike a zero-initialized last layer (Fixup, Goyal et al.) it works whatever the
//! block ends in: before a ReLU, a zero pre-activation would get no gradient ever,
//! since relu'(0) = 0. The parameter is named `alpha`, shape `[1]`, as
//! `nn.Parameter(torch.zeros(1))` in the paper's code.
//!
//! ```
//! use gradnet_core::{Batch, Layer, Parameters, Write, rezero::ReZero};
//! let mut s = ReZero::<f64>::new(0.0);
//! let x = Batch::<f64, 2>::from_rows(&[[1.0, 2.0]])?;
//! let mut y = Batch::new();
//! Layer::forward_eval(&s, &x, &mut y);
//! assert_eq!(y.as_slice(), &[0.0, 0.0]); // the block starts switched off
//! let mut dy = Batch::<f64, 2>::from_rows(&[[3.0, 4.0]])?;
//! let (mut g, mut dx) = (s.zero_grads(), Batch::new());
//! Layer::backward(&s, &x, &y, &mut (), &mut dy, &mut g, Write::Overwrite, Some(&mut dx), Write::Overwrite);
//! assert_eq!(g.alpha(), &[11.0]);           // 1*3 + 2*4
//! assert_eq!(dx.as_slice(), &[0.0, 0.0]);   // alpha dy
//! s.alpha_mut()[0] = 0.5;
//! Layer::forward_eval(&s, &x, &mut y);
//! assert_eq!(y.as_slice(), &[0.5, 1.0]);
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use crate::batch::Batch;
use crate::dense::Write;
use crate::error::Result;
use crate::layer::Layer;
use crate::params::{Gradients, ParamMut, Parameters, Shape, TensorKind};
use crate::real::Real;
use crate::rng::SeededRng;

/// `y = alpha x`, with one learnable scalar `alpha`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReZero<T> {
    alpha: [T; 1],
}

/// The gradient of a [`ReZero`]: `dL/dalpha`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReZeroGrads<T> {
    alpha: [T; 1],
}

impl<T: Real> ReZero<T> {
    /// A scale starting at `alpha` (0 for ReZero). The macro checks the value is
    /// finite; a non-finite one would make every output non-finite.
    pub fn new(alpha: f64) -> Self {
        ReZero {
            alpha: [T::of(alpha)],
        }
    }

    /// `alpha`, as a one-element slice.
    pub fn alpha(&self) -> &[T] {
        &self.alpha
    }

    /// `alpha`, mutable.
    pub fn alpha_mut(&mut self) -> &mut [T] {
        &mut self.alpha
    }
}

impl<T: Real> ReZeroGrads<T> {
    /// `dL/dalpha`, as a one-element slice.
    pub fn alpha(&self) -> &[T] {
        &self.alpha
    }

    /// `dL/dalpha`, mutable.
    pub fn alpha_mut(&mut self) -> &mut [T] {
        &mut self.alpha
    }
}

impl<T: Real> Default for ReZeroGrads<T> {
    fn default() -> Self {
        ReZeroGrads { alpha: [T::zero()] }
    }
}

/// `y = a x`, reusing `y`.
fn scale_into<T: Real, const D: usize>(a: T, x: &Batch<T, D>, y: &mut Batch<T, D>) {
    y.set_rows(x.rows());
    for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
        *y = a * x;
    }
}

impl<T: Real, const D: usize> Layer<T, Batch<T, D>> for ReZero<T> {
    type Output = Batch<T, D>;
    type Cache = ();
    type Grads = ReZeroGrads<T>;

    fn forward_eval(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        scale_into(self.alpha[0], x, y);
    }

    fn forward_train(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        _cache: &mut (),
        _rng: &mut SeededRng,
    ) -> Result<()> {
        scale_into(self.alpha[0], x, y);
        Ok(())
    }

    fn backward(
        &self,
        x: &Batch<T, D>,
        _y: &Batch<T, D>,
        _cache: &mut (),
        dy: &mut Batch<T, D>,
        grads: &mut ReZeroGrads<T>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        assert_eq!(x.rows(), dy.rows(), "rezero backward: rows differ");
        let dot = x
            .as_slice()
            .iter()
            .zip(dy.as_slice())
            .fold(T::zero(), |s, (&x, &d)| s + x * d);
        match grad_write {
            Write::Overwrite => grads.alpha[0] = dot,
            Write::Accumulate => grads.alpha[0] += dot,
        }
        let a = self.alpha[0];
        match (dx, dx_write) {
            (None, _) => {}
            (Some(dx), Write::Overwrite) => scale_into(a, dy, dx),
            (Some(dx), Write::Accumulate) => {
                assert_eq!(dx.rows(), dy.rows(), "rezero backward: dx rows differ");
                for (d, &g) in dx.as_mut_slice().iter_mut().zip(dy.as_slice()) {
                    *d += a * g;
                }
            }
        }
    }
}

impl<T: Real> Parameters<T> for ReZero<T> {
    type Grads = ReZeroGrads<T>;

    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[T])) {
        f("alpha", &self.alpha);
    }

    fn visit_params_mut(&mut self, grads: &Self::Grads, f: &mut impl FnMut(ParamMut<'_, T>)) {
        f(ParamMut {
            name: "alpha",
            value: &mut self.alpha,
            grad: &grads.alpha,
        });
    }

    fn zero_grads(&self) -> Self::Grads {
        ReZeroGrads::default()
    }

    /// `alpha` `[1]`.
    fn visit_shapes(&self, f: &mut impl FnMut(&'static str, TensorKind, Shape)) {
        f("alpha", TensorKind::Parameter, Shape::vector(1));
    }

    fn visit_values_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        f("alpha", &mut self.alpha);
    }
}

impl<T: Real> Gradients<T> for ReZeroGrads<T> {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[T])) {
        f("alpha", &self.alpha);
    }

    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        f("alpha", &mut self.alpha);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{agree, STEP};

    /// `L = sum(w * y)` for fixed weights `w`: dL/dy = w.
    fn loss(s: &ReZero<f64>, x: &Batch<f64, 3>, w: &[f64]) -> f64 {
        let mut y = Batch::new();
        Layer::forward_eval(s, x, &mut y);
        y.as_slice().iter().zip(w).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn backward_matches_central_differences() {
        let x = Batch::<f64, 3>::from_rows(&[[0.3, -1.2, 2.0], [1.5, 0.7, -0.4]]).unwrap();
        let w = [0.5, -1.0, 2.0, 0.25, 1.5, -0.75];
        for alpha in [0.0, 0.8, -1.3] {
            let s = ReZero::<f64>::new(alpha);
            let mut dy = Batch::<f64, 3>::from_slice(&w).unwrap();
            let (mut g, mut dx) = (s.zero_grads(), Batch::new());
            let mut y = Batch::new();
            Layer::forward_eval(&s, &x, &mut y);
            Layer::backward(
                &s,
                &x,
                &y,
                &mut (),
                &mut dy,
                &mut g,
                Write::Overwrite,
                Some(&mut dx),
                Write::Overwrite,
            );
            let at = |a: f64| loss(&ReZero::new(a), &x, &w);
            let numeric = (at(alpha + STEP) - at(alpha - STEP)) / (2.0 * STEP);
            assert!(
                agree(g.alpha()[0], numeric),
                "alpha {alpha}: {} vs {numeric}",
                g.alpha()[0]
            );
            for i in 0..6 {
                let at = |v: f64| {
                    let mut x2 = x.clone();
                    x2.as_mut_slice()[i] = v;
                    loss(&s, &x2, &w)
                };
                let v0 = x.as_slice()[i];
                let numeric = (at(v0 + STEP) - at(v0 - STEP)) / (2.0 * STEP);
                assert!(agree(dx.as_slice()[i], numeric), "dx[{i}]");
            }
            // Accumulating adds to what is there.
            let mut dy = Batch::<f64, 3>::from_slice(&w).unwrap();
            let before = (g.alpha()[0], dx.as_slice().to_vec());
            Layer::backward(
                &s,
                &x,
                &y,
                &mut (),
                &mut dy,
                &mut g,
                Write::Accumulate,
                Some(&mut dx),
                Write::Accumulate,
            );
            assert_eq!(g.alpha()[0], 2.0 * before.0);
            for (a, b) in dx.as_slice().iter().zip(&before.1) {
                assert_eq!(*a, 2.0 * b);
            }
        }
    }

    #[test]
    fn names_and_shapes_are_the_papers() {
        let s = ReZero::<f32>::new(0.0);
        let mut seen = Vec::new();
        s.visit_shapes(&mut |n, k, shape| seen.push((n, k, shape)));
        assert_eq!(seen, [("alpha", TensorKind::Parameter, Shape::vector(1))]);
        assert_eq!(s.num_params(), 1);
    }
}
