//! gradnet: neural networks written declaratively in [`network!`] and compiled, at
//! compile time, into statically typed forward and backward code.
//!
//! This crate is the facade: it re-exports the runtime (`gradnet-core`) and the
//! macro (`gradnet-macros`). Most programs need only `use gradnet::prelude::*;`.
//!
//! ```
//! use gradnet::prelude::*;
//!
//! network! {
//!     /// 2 inputs -> 8 tanh units -> 1 output, trained on the squared error.
//!     struct Xor {
//!         input: 2,
//!         dense(8),
//!         tanh,
//!         dense(1),
//!         loss: mse,
//!     }
//! }
//!
//! let x = Batch::<f32, 2>::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])?;
//! let y = Batch::<f32, 1>::from_rows(&[[0.0], [1.0], [1.0], [0.0]])?;
//! let mut net = Xor::<f32>::new(&mut seeded(0));
//! let mut opt = AdamConfig::default().lr(0.05).build()?;
//! let (mut ws, mut grads) = (XorWorkspace::new(), net.zero_grads());
//! let first = net.train_step(&x, &y, &mut opt, &mut ws, &mut grads)?;
//! let mut last = first;
//! for _ in 0..300 {
//!     last = net.train_step(&x, &y, &mut opt, &mut ws, &mut grads)?;
//! }
//! assert!(last < first / 100.0);
//! let out = net.forward(&x)?; // evaluation mode
//! assert!((out.row(1)[0] - 1.0).abs() < 0.1 && out.row(0)[0].abs() < 0.1);
//! # Ok::<(), gradnet::Error>(())
//! ```
//!
//! The language is documented on [`network!`], sequences and recurrent layers
//! (`input: seq(N)`, `rnn`, `lstm`, `gru`) included; the runtime's pieces (layers,
//! losses, initializers, optimizers, clipping, diagnostics, [`seq`] and [`rnn`]) in
//! their modules below.

pub use gradnet_core::*;
pub use gradnet_macros::{grad, network};

pub mod data;
#[cfg(feature = "mpi")]
pub mod distributed;
pub mod fit;
pub mod metrics;
#[cfg(feature = "plot")]
pub mod plot;

/// What most programs need, in one import.
pub mod prelude {
    pub use gradnet_core::{
        activation::Activation,
        init::Init,
        loss::Loss,
        optim::{AdamConfig, Optimizer, RmsPropConfig, SgdConfig},
        rng::{seeded, SeededRng},
        Batch, Dense, Error, Gradients, Network, Parameters, Real,
    };
    pub use gradnet_macros::{grad, network};
}

/// The paths generated code uses; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use gradnet_core::*;
}
