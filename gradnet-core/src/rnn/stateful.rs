//! Recurrent layers started from a given state: the [`Stateful`] trait (what both
//! [`Recurrent`](super::Recurrent) and [`Bidirectional`](super::Bidirectional) are),
//! and the call-site view [`Start`] that runs one through the [`Layer`] protocol from
//! an initial state, as a generated network does.
//!
//! `Start(&lstm, Some(&state))` returns the final hidden state; `Steps(&Start(..))`
//! every step's. The state is read, never written: the gradient stops at it, which
//! is what truncated backpropagation through time wants of the state carried from
//! the previous chunk. After a forward, [`Stateful::final_state_into`] reads the
//! state to carry on from the cache.
//!
//! ```
//! use gradnet_core::rnn::{Gru, RecurrentConfig, Start, Stateful};
//! use gradnet_core::{rng::seeded, seq::Seq, Batch, Layer, State};
//! let gru = Gru::<f64, 1, 2>::new(&RecurrentConfig::default(), &mut seeded(0));
//! let x = Seq::<f64, 1>::from_time_major(vec![0.5, -1.0, 0.25, 1.0], 4)?;
//! let (mut h, mut cache, mut rng) = (Batch::new(), Default::default(), seeded(0));
//! // The whole sequence at once ...
//! Layer::forward_train(&Start(&gru, None), &x, &mut h, &mut cache, &mut rng)?;
//! // ... equals two chunks, the second started from the first's final state.
//! let (a, b) = (Seq::from_time_major(vec![0.5, -1.0], 2)?, Seq::from_time_major(vec![0.25, 1.0], 2)?);
//! let (mut h2, mut state) = (Batch::new(), State::default());
//! Layer::forward_train(&Start(&gru, None), &a, &mut h2, &mut cache, &mut rng)?;
//! Stateful::final_state_into(&gru, &cache, &mut state);
//! Layer::forward_train(&Start(&gru, Some(&state)), &b, &mut h2, &mut cache, &mut rng)?;
//! assert_eq!(h, h2);
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use core::fmt::Debug;

use super::Steps;
use crate::dense::Write;
use crate::error::Result;
use crate::layer::Layer;
use crate::params::Parameters;
use crate::real::Real;
use crate::rng::SeededRng;
use crate::seq::Seq;

/// A recurrent layer over `Seq<T, IN>` that carries a state across steps.
pub trait Stateful<T: Real, const IN: usize>: Parameters<T> {
    /// The state before the first step and after the last ([`super::State`], or a
    /// pair of them for both directions).
    type State: Default + Clone + Debug;
    /// The final hidden state, `h_n` (a `Batch`).
    type Last: Default + Clone + Debug;
    /// Every step's hidden state, PyTorch's `output` (a `Seq`).
    type Every: Default + Clone + Debug;
    /// What the forward keeps for the backward.
    type Cache: Default + Clone + Debug;

    /// Refuses an input or a state the forward cannot take.
    ///
    /// # Errors
    /// [`crate::Error::EmptyBatch`], [`crate::Error::RowMismatch`] for a state whose
    /// rows differ from `x`'s.
    fn check_state(&self, x: &Seq<T, IN>, initial: Option<&Self::State>) -> Result<()>;

    /// The forward over every step from `initial` (zeros if `None`), kept in `cache`.
    ///
    /// # Errors
    /// As [`Stateful::check_state`]; nothing is changed then.
    fn run(
        &self,
        x: &Seq<T, IN>,
        initial: Option<&Self::State>,
        cache: &mut Self::Cache,
    ) -> Result<()>;

    /// `h_n` of the last forward.
    fn last(&self, cache: &Self::Cache, y: &mut Self::Last);

    /// Every step of the last forward.
    fn every(&self, cache: &Self::Cache, y: &mut Self::Every);

    /// Backpropagation through time given dL/d(every step) and dL/dh_n (`None` is
    /// zero), as [`super::Recurrent::backward_through_time`].
    #[allow(clippy::too_many_arguments)]
    fn run_backward(
        &self,
        x: &Seq<T, IN>,
        cache: &mut Self::Cache,
        d_every: Option<&Self::Every>,
        d_last: Option<&Self::Last>,
        grads: &mut Self::Grads,
        grad_write: Write,
        dx: Option<&mut Seq<T, IN>>,
        dx_write: Write,
    );

    /// The state after the last step of the last forward, into `out` (reusing its
    /// buffers): the next chunk's initial state.
    fn final_state_into(&self, cache: &Self::Cache, out: &mut Self::State);
}

/// A recurrent layer run from an initial state (zeros where `None`); its output is
/// `h_n`, and `Steps(&Start(..))`'s every step. See the [module documentation](self).
#[derive(Debug)]
pub struct Start<'a, S, St>(pub &'a S, pub Option<&'a St>);

impl<S, St> Clone for Start<'_, S, St> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, St> Copy for Start<'_, S, St> {}

impl<T: Real, S: Stateful<T, IN>, const IN: usize> Layer<T, Seq<T, IN>> for Start<'_, S, S::State> {
    type Output = S::Last;
    type Cache = S::Cache;
    type Grads = S::Grads;

    fn check_train(&self, x: &Seq<T, IN>) -> Result<()> {
        self.0.check_state(x, self.1)
    }

    /// Allocates its scratch (there is no cache to reuse); an empty sequence gives
    /// an empty output. [`Layer::forward_frozen`] is the same with a kept cache.
    fn forward_eval(&self, x: &Seq<T, IN>, y: &mut S::Last) {
        let mut cache = S::Cache::default();
        match self.0.run(x, self.1, &mut cache) {
            Ok(()) => self.0.last(&cache, y),
            Err(_) => *y = S::Last::default(),
        }
    }

    fn forward_train(
        &self,
        x: &Seq<T, IN>,
        y: &mut S::Last,
        cache: &mut S::Cache,
        _rng: &mut SeededRng,
    ) -> Result<()> {
        self.0.run(x, self.1, cache)?;
        self.0.last(cache, y);
        Ok(())
    }

    fn backward(
        &self,
        x: &Seq<T, IN>,
        _y: &S::Last,
        cache: &mut S::Cache,
        dy: &mut S::Last,
        grads: &mut S::Grads,
        grad_write: Write,
        dx: Option<&mut Seq<T, IN>>,
        dx_write: Write,
    ) {
        self.0
            .run_backward(x, cache, None, Some(dy), grads, grad_write, dx, dx_write);
    }
}

impl<T: Real, S: Stateful<T, IN>, const IN: usize> Layer<T, Seq<T, IN>>
    for Steps<'_, Start<'_, S, S::State>>
{
    type Output = S::Every;
    type Cache = S::Cache;
    type Grads = S::Grads;

    fn check_train(&self, x: &Seq<T, IN>) -> Result<()> {
        self.0 .0.check_state(x, self.0 .1)
    }

    /// Allocates its scratch, as [`Start`]'s.
    fn forward_eval(&self, x: &Seq<T, IN>, y: &mut S::Every) {
        let mut cache = S::Cache::default();
        match self.0 .0.run(x, self.0 .1, &mut cache) {
            Ok(()) => self.0 .0.every(&cache, y),
            Err(_) => *y = S::Every::default(),
        }
    }

    fn forward_train(
        &self,
        x: &Seq<T, IN>,
        y: &mut S::Every,
        cache: &mut S::Cache,
        _rng: &mut SeededRng,
    ) -> Result<()> {
        self.0 .0.run(x, self.0 .1, cache)?;
        self.0 .0.every(cache, y);
        Ok(())
    }

    fn backward(
        &self,
        x: &Seq<T, IN>,
        _y: &S::Every,
        cache: &mut S::Cache,
        dy: &mut S::Every,
        grads: &mut S::Grads,
        grad_write: Write,
        dx: Option<&mut Seq<T, IN>>,
        dx_write: Write,
    ) {
        self.0
             .0
            .run_backward(x, cache, Some(dy), None, grads, grad_write, dx, dx_write);
    }
}

/// The layer itself as a [`Layer`] (its final state `h_n`), and `Steps(&layer)` (every
/// step): both from zeros, as `Start(&layer, None)` and `Steps(&Start(&layer, None))`.
macro_rules! from_zeros {
    ([$($generics:tt)*] $ty:ty) => {
        /// The final hidden state, PyTorch's `h_n`, from zeros (as
        /// `Start(&layer, None)`; see [`Start`](crate::rnn::Start) for a given state).
        impl<$($generics)*> $crate::layer::Layer<T, $crate::seq::Seq<T, IN>> for $ty {
            type Output = <Self as $crate::rnn::Stateful<T, IN>>::Last;
            type Cache = <Self as $crate::rnn::Stateful<T, IN>>::Cache;
            type Grads = <Self as $crate::params::Parameters<T>>::Grads;

            fn check_train(&self, x: &$crate::seq::Seq<T, IN>) -> $crate::error::Result<()> {
                $crate::layer::Layer::check_train(&$crate::rnn::Start(self, None), x)
            }

            /// Allocates its scratch (there is no cache to reuse); an empty sequence
            /// gives an empty output.
            fn forward_eval(&self, x: &$crate::seq::Seq<T, IN>, y: &mut Self::Output) {
                $crate::layer::Layer::forward_eval(&$crate::rnn::Start(self, None), x, y)
            }

            fn forward_train(
                &self,
                x: &$crate::seq::Seq<T, IN>,
                y: &mut Self::Output,
                cache: &mut Self::Cache,
                rng: &mut $crate::rng::SeededRng,
            ) -> $crate::error::Result<()> {
                $crate::layer::Layer::forward_train(&$crate::rnn::Start(self, None), x, y, cache, rng)
            }

            fn backward(
                &self,
                x: &$crate::seq::Seq<T, IN>,
                y: &Self::Output,
                cache: &mut Self::Cache,
                dy: &mut Self::Output,
                grads: &mut Self::Grads,
                grad_write: $crate::dense::Write,
                dx: Option<&mut $crate::seq::Seq<T, IN>>,
                dx_write: $crate::dense::Write,
            ) {
                let start = $crate::rnn::Start(self, None);
                $crate::layer::Layer::backward(&start, x, y, cache, dy, grads, grad_write, dx, dx_write)
            }
        }

        /// Every step's hidden state, PyTorch's `output`, from zeros (as
        /// `Steps(&Start(&layer, None))`).
        impl<$($generics)*> $crate::layer::Layer<T, $crate::seq::Seq<T, IN>>
            for $crate::rnn::Steps<'_, $ty>
        {
            type Output = <$ty as $crate::rnn::Stateful<T, IN>>::Every;
            type Cache = <$ty as $crate::rnn::Stateful<T, IN>>::Cache;
            type Grads = <$ty as $crate::params::Parameters<T>>::Grads;

            fn check_train(&self, x: &$crate::seq::Seq<T, IN>) -> $crate::error::Result<()> {
                let start = $crate::rnn::Start(self.0, None);
                $crate::layer::Layer::check_train(&$crate::rnn::Steps(&start), x)
            }

            /// Allocates its scratch, as the final state's.
            fn forward_eval(&self, x: &$crate::seq::Seq<T, IN>, y: &mut Self::Output) {
                let start = $crate::rnn::Start(self.0, None);
                $crate::layer::Layer::forward_eval(&$crate::rnn::Steps(&start), x, y)
            }

            fn forward_train(
                &self,
                x: &$crate::seq::Seq<T, IN>,
                y: &mut Self::Output,
                cache: &mut Self::Cache,
                rng: &mut $crate::rng::SeededRng,
            ) -> $crate::error::Result<()> {
                let start = $crate::rnn::Start(self.0, None);
                $crate::layer::Layer::forward_train(&$crate::rnn::Steps(&start), x, y, cache, rng)
            }

            fn backward(
                &self,
                x: &$crate::seq::Seq<T, IN>,
                y: &Self::Output,
                cache: &mut Self::Cache,
                dy: &mut Self::Output,
                grads: &mut Self::Grads,
                grad_write: $crate::dense::Write,
                dx: Option<&mut $crate::seq::Seq<T, IN>>,
                dx_write: $crate::dense::Write,
            ) {
                let start = $crate::rnn::Start(self.0, None);
                let steps = $crate::rnn::Steps(&start);
                $crate::layer::Layer::backward(&steps, x, y, cache, dy, grads, grad_write, dx, dx_write)
            }
        }
    };
}

pub(crate) use from_zeros;
