//! gradnet: neural networks written declaratively and compiled into typed forward
//! and backward code.

pub use gradnet_core::*;

/// What most programs need, in one import.
pub mod prelude {
    pub use gradnet_core::{
        activation::Activation, rng::seeded, Batch, Dense, Error, Gradients, Parameters, Real,
        SeededRng,
    };
}
