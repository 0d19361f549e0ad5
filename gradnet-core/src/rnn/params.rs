//! A recurrent layer's parameters as the visitors see them: PyTorch's names and
//! shapes (`weight_ih_l0` `[G*H, IN]`, ...), under given names so that the backward
//! direction of a bidirectional layer visits under `_reverse` ones.

use super::{Cell, Recurrent, RecurrentGrads};
use crate::params::{Gradients, ParamMut, Parameters, Shape, TensorKind};
use crate::real::Real;

/// PyTorch's names of the four tensors.
pub(crate) const NAMES: Names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"];

/// The names of a layer's four tensors, in visiting order.
pub(crate) type Names = [&'static str; 4];

/// The visitors under given names (the backward direction of a bidirectional layer
/// visits under `_reverse` names).
impl<T: Real, C: Cell, const IN: usize, const H: usize> Recurrent<T, C, IN, H> {
    pub(crate) fn visit_named(&self, names: &Names, f: &mut impl FnMut(&'static str, &[T])) {
        f(names[0], &self.weight_ih);
        f(names[1], &self.weight_hh);
        if let Some((bi, bh)) = &self.bias {
            f(names[2], bi);
            f(names[3], bh);
        }
    }

    pub(crate) fn visit_named_mut(
        &mut self,
        names: &Names,
        grads: &RecurrentGrads<T>,
        f: &mut impl FnMut(ParamMut<'_, T>),
    ) {
        f(ParamMut {
            name: names[0],
            value: &mut self.weight_ih,
            grad: &grads.weight_ih,
        });
        f(ParamMut {
            name: names[1],
            value: &mut self.weight_hh,
            grad: &grads.weight_hh,
        });
        if let (Some((bi, bh)), Some((gi, gh))) = (self.bias.as_mut(), grads.bias.as_ref()) {
            f(ParamMut {
                name: names[2],
                value: bi,
                grad: gi,
            });
            f(ParamMut {
                name: names[3],
                value: bh,
                grad: gh,
            });
        }
    }

    pub(crate) fn visit_shapes_named(
        &self,
        names: &Names,
        f: &mut impl FnMut(&'static str, TensorKind, Shape),
    ) {
        let gh = Self::GH;
        f(names[0], TensorKind::Parameter, Shape::matrix(gh, IN));
        f(names[1], TensorKind::Parameter, Shape::matrix(gh, H));
        if self.bias.is_some() {
            f(names[2], TensorKind::Parameter, Shape::vector(gh));
            f(names[3], TensorKind::Parameter, Shape::vector(gh));
        }
    }

    pub(crate) fn visit_values_named(
        &mut self,
        names: &Names,
        f: &mut impl FnMut(&'static str, &mut [T]),
    ) {
        f(names[0], &mut self.weight_ih);
        f(names[1], &mut self.weight_hh);
        if let Some((bi, bh)) = &mut self.bias {
            f(names[2], bi);
            f(names[3], bh);
        }
    }
}

impl<T: Real> RecurrentGrads<T> {
    pub(crate) fn visit_named(&self, names: &Names, f: &mut impl FnMut(&'static str, &[T])) {
        f(names[0], &self.weight_ih);
        f(names[1], &self.weight_hh);
        if let Some((bi, bh)) = &self.bias {
            f(names[2], bi);
            f(names[3], bh);
        }
    }

    pub(crate) fn visit_named_mut(
        &mut self,
        names: &Names,
        f: &mut impl FnMut(&'static str, &mut [T]),
    ) {
        f(names[0], &mut self.weight_ih);
        f(names[1], &mut self.weight_hh);
        if let Some((bi, bh)) = &mut self.bias {
            f(names[2], bi);
            f(names[3], bh);
        }
    }
}

impl<T: Real, C: Cell, const IN: usize, const H: usize> Parameters<T> for Recurrent<T, C, IN, H> {
    type Grads = RecurrentGrads<T>;

    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[T])) {
        self.visit_named(&NAMES, f);
    }

    fn visit_params_mut(&mut self, grads: &Self::Grads, f: &mut impl FnMut(ParamMut<'_, T>)) {
        self.visit_named_mut(&NAMES, grads, f);
    }

    fn zero_grads(&self) -> Self::Grads {
        Recurrent::zero_grads(self)
    }

    /// `weight_ih_l0` `[G*H, IN]`, `weight_hh_l0` `[G*H, H]`, `bias_ih_l0` and
    /// `bias_hh_l0` `[G*H]`, as PyTorch's recurrent layers.
    fn visit_shapes(&self, f: &mut impl FnMut(&'static str, TensorKind, Shape)) {
        self.visit_shapes_named(&NAMES, f);
    }

    fn visit_values_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        self.visit_values_named(&NAMES, f);
    }
}

impl<T: Real> Gradients<T> for RecurrentGrads<T> {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[T])) {
        self.visit_named(&NAMES, f);
    }

    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        self.visit_named_mut(&NAMES, f);
    }
}
