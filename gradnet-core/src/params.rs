//! How optimizers, clipping, reports and save/load see a model: a fixed-order walk
//! over its named parameters (with their gradients) and its buffers.
//!
//! A model implements [`Parameters`]; its gradients type implements [`Gradients`].
//! Generated networks implement both; hand-built models can too. Names follow
//! PyTorch's `state_dict` (`0.weight`, `hidden.bias`, `3.running_mean`), so they are
//! `&'static str`, spelled out at compile time. The order is fixed, so optimizers
//! keep their state by position and never hash a name during a step.

use crate::real::Real;

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
