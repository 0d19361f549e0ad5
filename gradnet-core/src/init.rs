//! Initializers (being written).
#![allow(missing_docs)]
use crate::{real::Real, rng::SeededRng};
#[derive(Clone, Debug, PartialEq)]
pub enum Init { GlorotUniform { gain: f64 }, Zeros }
impl Init {
    pub fn glorot_uniform() -> Self { Init::GlorotUniform { gain: 1.0 } }
    pub fn fill<T: Real>(&self, values: &mut [T], fan_in: usize, fan_out: usize, rng: &mut SeededRng) {
        use rand::RngExt;
        match self {
            Init::GlorotUniform { gain } => {
                let a = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
                for v in values { *v = T::of(rng.random_range(-a..a)); }
            }
            Init::Zeros => values.fill(T::zero()),
        }
    }
}
