//! Optimizers (being written; this trait is the interface).
#![allow(missing_docs)]
use crate::{params::Parameters, real::Real, error::Result};
pub trait Optimizer<T: Real> {
    fn step<M: Parameters<T> + ?Sized>(&mut self, model: &mut M, grads: &M::Grads) -> Result<()>;
}
