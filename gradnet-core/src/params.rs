//! How optimizers, clipping, reports and save/load see a model: a fixed-order walk
//! over its named parameters (with their gradients) and its buffers.
//!
//! A model implements [`Parameters`]; its gradients type implements [`Gradients`].
//! Generated networks implement both; hand-built models can too. Names follow
//! PyTorch's `state_dict` (`0.weight`, `hidden.bias`, `3.running_mean`), so they are
//! `&'static str`, spelled out at compile time. The order is fixed, so optimizers
//! keep their state by position and never hash a name during a step.
//!
//! Every tensor also has a [`Shape`], PyTorch's (`[out, in]` for a dense weight, `[n]`
//! for a vector, `[]` for a scalar), and a [`TensorKind`], so that a saved file can
//! record what PyTorch would, and a loader can check it:
//!
//! ```
//! use gradnet_core::{Dense, Parameters, init::Init, rng::seeded};
//! let layer = Dense::<f32, 784, 256>::new(&Init::he_uniform(), true, &mut seeded(0));
//! let mut shapes = Vec::new();
//! layer.visit_shapes(&mut |name, kind, shape| shapes.push(format!("{name} {kind:?} {shape}")));
//! assert_eq!(shapes, ["weight Parameter [256, 784]", "bias Parameter [256]"]);
//! ```

use core::fmt;

use crate::real::Real;

/// The shape of a parameter or buffer as PyTorch gives it (`tensor.shape`): up to
/// [`Shape::MAX_RANK`] dimensions, outermost first, over values stored row-major.
/// `[]` is a scalar (one value), such as batch norm's `num_batches_tracked`.
///
/// ```
/// use gradnet_core::Shape;
/// let w = Shape::matrix(256, 784);
/// assert_eq!(w.dims(), &[256, 784]);
/// assert_eq!(w.numel(), 256 * 784);
/// assert_eq!(w.to_string(), "[256, 784]");
/// assert_eq!(Shape::scalar().to_string(), "[]");
/// assert_eq!(Shape::scalar().numel(), 1);
/// assert_eq!(Shape::from_dims(&[2, 3, 4, 5, 6]), None); // rank 5 is too many
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// The dimensions; those past `rank` are always 0, so derived equality holds.
    dims: [usize; Shape::MAX_RANK],
    rank: u8,
}

impl Shape {
    /// The most dimensions a shape can have.
    pub const MAX_RANK: usize = 4;

    /// `[]`: a scalar, one value.
    pub const fn scalar() -> Self {
        Shape {
            dims: [0; Shape::MAX_RANK],
            rank: 0,
        }
    }

    /// `[n]`: a vector of `n` values.
    pub const fn vector(n: usize) -> Self {
        Shape {
            dims: [n, 0, 0, 0],
            rank: 1,
        }
    }

    /// `[rows, cols]`: a row-major matrix (a dense weight is `[out, in]`).
    pub const fn matrix(rows: usize, cols: usize) -> Self {
        Shape {
            dims: [rows, cols, 0, 0],
            rank: 2,
        }
    }

    /// The shape with these dimensions, outermost first; `None` if there are more
    /// than [`Shape::MAX_RANK`].
    pub fn from_dims(dims: &[usize]) -> Option<Self> {
        if dims.len() > Self::MAX_RANK {
            return None;
        }
        let mut s = Self::scalar();
        s.dims[..dims.len()].copy_from_slice(dims);
        s.rank = dims.len() as u8;
        Some(s)
    }

    /// The dimensions, outermost first (empty for a scalar).
    pub fn dims(&self) -> &[usize] {
        &self.dims[..usize::from(self.rank)]
    }

    /// The number of dimensions (0 for a scalar).
    pub fn rank(&self) -> usize {
        usize::from(self.rank)
    }

    /// The number of values: the product of the dimensions (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.dims().iter().product()
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    /// The shape `dims`.
    ///
    /// # Panics
    /// If `N > Shape::MAX_RANK` (a compile-time-known length, so a caller's bug).
    fn from(dims: [usize; N]) -> Self {
        match Shape::from_dims(&dims) {
            Some(s) => s,
            None => panic!(
                "a shape has at most {} dimensions, not {N}",
                Shape::MAX_RANK
            ),
        }
    }
}

impl fmt::Display for Shape {
    /// As PyTorch prints a size's list: `[256, 784]`, `[10]`, `[]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.dims().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shape{self}")
    }
}

/// Whether a tensor is trained (a parameter, `model.parameters()` in PyTorch) or
/// only saved (a buffer, such as batch norm's running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TensorKind {
    /// Trained: visited by [`Parameters::visit_params`], has a gradient.
    Parameter,
    /// Saved but not trained: visited by [`Parameters::visit_buffers`].
    Buffer,
}

/// A parameter as an optimizer sees it: its name, its values, its gradient.
#[derive(Debug)]
pub struct ParamMut<'a, T> {
    /// The parameter's name, as in a PyTorch `state_dict`.
    pub name: &'static str,
    /// The values, updated in place by an optimizer step.
    pub value: &'a mut [T],
    /// The gradient of the loss with respect to `value`, same length.
    pub grad: &'a [T],
}

/// A model whose parameters and buffers can be visited in a fixed order.
pub trait Parameters<T: Real> {
    /// The gradient buffers, one per parameter, of the same shapes.
    type Grads: Gradients<T>;

    /// Visits every parameter, read-only, in the model's order.
    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[T]));

    /// Visits every parameter mutably beside its gradient, in the same order.
    fn visit_params_mut(&mut self, grads: &Self::Grads, f: &mut impl FnMut(ParamMut<'_, T>));

    /// Visits every buffer (state that is saved but not trained, such as batch norm's
    /// running statistics), read-only. Models without buffers keep the default.
    fn visit_buffers(&self, f: &mut impl FnMut(&'static str, &[T])) {
        let _ = f;
    }

    /// Visits every buffer mutably (for loading). Models without buffers keep the
    /// default.
    fn visit_buffers_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        let _ = f;
    }

    /// Zeroed gradients of the right shapes.
    fn zero_grads(&self) -> Self::Grads;

    /// Visits every parameter (in [`Parameters::visit_params`] order) and then every
    /// buffer (in [`Parameters::visit_buffers`] order) with its kind and its PyTorch
    /// shape, whose [`Shape::numel`] is the length the other visitors give it.
    ///
    /// The default knows no shapes and gives each tensor its flat length as a 1-D
    /// shape; layers override it (a dense weight is `[out, in]`).
    fn visit_shapes(&self, f: &mut impl FnMut(&'static str, TensorKind, Shape)) {
        self.visit_params(&mut |name, v| f(name, TensorKind::Parameter, Shape::vector(v.len())));
        self.visit_buffers(&mut |name, v| f(name, TensorKind::Buffer, Shape::vector(v.len())));
    }

    /// Visits every parameter's values mutably, in [`Parameters::visit_params`]
    /// order, without gradients (for loading weights, or setting them by hand).
    ///
    /// The default goes through [`Parameters::visit_params_mut`] with a throwaway
    /// [`Parameters::zero_grads`] (so it allocates); layers override it.
    fn visit_values_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        let grads = self.zero_grads();
        self.visit_params_mut(&grads, &mut |p| f(p.name, p.value));
    }

    /// Number of scalar parameters.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit_params(&mut |_, v| n += v.len());
        n
    }
}

/// Gradient buffers that can be visited in the model's parameter order.
pub trait Gradients<T: Real> {
    /// Visits every gradient, read-only.
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[T]));

    /// Visits every gradient mutably (for clipping, or zeroing).
    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T]));

    /// Sets every gradient to zero.
    fn zero(&mut self) {
        self.visit_grads_mut(&mut |_, g| g.fill(T::zero()));
    }
}
