//! gradnet: neural networks written declaratively in [`network!`] and compiled, at
//! compile time, into statically typed forward and backward code.
//!
//! This crate is the facade: it re-exports the runtime (`gradnet-core`) and the
//! macro (`gradnet-macros`). Most programs need only `use gradnet::prelude::*;`.

pub use gradnet_core::*;
pub use gradnet_macros::network;

/// What most programs need, in one import.
pub mod prelude {
    pub use gradnet_core::{
        activation::Activation,
        init::Init,
        loss::Loss,
        optim::{AdamConfig, Optimizer, RmsPropConfig, SgdConfig},
        rng::{seeded, SeededRng},
        Batch, Dense, Error, Gradients, Parameters, Real,
    };
    pub use gradnet_macros::network;
}

/// The paths generated code uses; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use gradnet_core::*;
}
