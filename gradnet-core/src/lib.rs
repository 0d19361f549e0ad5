//! gradnet-core: everything of gradnet that runs.
//!
//! Batches with the feature width in their type ([`Batch`]), the one safe matrix
//! product ([`gemm`]), layers with hand-derived and finite-difference-tested
//! backward passes ([`Dense`], ...), activations with inlinable `f`/`df`
//! ([`activation`]), losses ([`loss`]), initializers ([`init`]), optimizers and
//! learning-rate schedules ([`optim`]), and the visitor traits through which all of
//! them see a model ([`Parameters`]).
//!
//! The crate knows nothing of the `network!` macro and is usable by hand:
//!
//! ```
//! use gradnet_core::{Batch, Dense, init::Init, rng::seeded};
//! let mut rng = seeded(0);
//! let layer = Dense::<f32, 3, 2>::new(&Init::glorot_uniform(), true, &mut rng);
//! let x = Batch::<f32, 3>::from_rows(&[[1.0, 2.0, 3.0]])?;
//! let y = layer.forward_alloc(&x);
//! assert_eq!(y.rows(), 1);
//! # Ok::<(), gradnet_core::Error>(())
//! ```

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod activation;
pub mod anomaly;
pub mod batch;
pub mod batch_norm;
pub mod clip;
pub mod dense;
pub mod diagnostics;
pub mod dropout;
pub mod error;
pub mod gemm;
pub mod gradcheck;
pub mod init;
pub mod layer;
pub mod layer_norm;
pub mod loss;
pub mod network;
pub mod ops;
pub mod optim;
pub mod params;
pub mod persist;
pub mod prelu;
pub mod real;
pub mod reduce;
pub mod rezero;
pub mod rng;
pub mod rnn;
pub mod schedule;
pub mod seq;
pub mod seq_loss;
pub mod summary;
pub mod symbolic;

pub use activation::Activation;
pub use batch::Batch;
pub use dense::{Dense, DenseGrads, Write};
pub use error::{Error, Result};
pub use layer::{Activate, Fused, Layer, NoGrads, PerStep, Sum};
pub use network::Network;
pub use params::{Gradients, ParamMut, Parameters, Shape, TensorKind};
pub use persist::PersistError;
pub use real::Real;
pub use rng::SeededRng;
pub use rnn::{Bidirectional, Gru, Lstm, Recurrent, RecurrentConfig, Rnn, State, Steps};
pub use seq::Seq;
pub use seq_loss::{SeqClasses, SeqLoss};

/// The `rand` crate gradnet draws with, so users can draw from a [`SeededRng`]
/// without depending on a matching version.
pub use rand;
