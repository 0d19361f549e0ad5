//! The layer protocol: one calling convention for everything a network's passes run.
//!
//! A [`Layer`] takes an input `X` (a [`Batch`] today; a sequence for the
//! recurrent layers) and makes an [`Layer::Output`]. Generated networks drive every
//! step through these five calls and nothing else:
//!
//! ```text
//! check_train(x)                                  refuse a bad input before anything runs
//! forward_eval(x, y)                              evaluation mode (model.eval())
//! forward_train(x, y, cache, rng)                 training mode: keeps what backward reads
//! backward(x, y, cache, dy, grads, w, dx, dx_w)   dy -> parameter gradients (and dx if asked)
//! commit(cache)                                   state a successful training call keeps
//!                                                 (batch norm's running statistics)
//! ```
//!
//! The cache is owned by the caller (a generated workspace) and reused, so a layer
//! whose input and output are sequences can keep every time step there, and a layer
//! that carries a state across steps keeps it there too. `backward` may use `dy` as
//! scratch (the fused dense layer turns it into the pre-activation's gradient in
//! place). `dx` is `None` when the input's gradient is not needed: a layer then
//! computes only its parameter gradients (a layer without parameters, nothing).
//!
//! The layers that implement it: [`Dense`] alone, [`PRelu`](crate::prelu::PRelu),
//! [`BatchNorm`](crate::batch_norm::BatchNorm) (whose `forward_train` leaves the
//! layer unchanged and whose `commit` updates the running statistics),
//! [`LayerNorm`](crate::layer_norm::LayerNorm) and
//! [`Dropout`](crate::dropout::Dropout) (whose cache is the mask), which are struct
//! fields of a network; and three values made at the call site: [`Activate`] (an
//! activation alone), [`Fused`] (a dense or batch norm layer it borrows, with the
//! activation after it) and [`Sum`] (the end of a residual block, borrowing the block's output).
//!
//! Call the protocol by the trait's path, `Layer::forward_train(&layer, ...)`. The
//! layers keep their older inherent methods of the same names (`Dense::forward_eval`
//! takes an activation, `Dropout::forward_train` returns `()`,
//! `BatchNorm::forward_train` takes `&mut self` and updates the running statistics),
//! and method syntax picks the inherent method where its receiver is found first,
//! the trait's elsewhere: a mix-up is a compile error, but an avoidable one.
//!
//! One training step of dense with tanh, then dropout (a network keeps the `y`,
//! cache and `dx` of every step in its workspace, and calls [`Layer::commit`] on
//! every layer once the whole step has succeeded):
//!
//! ```
//! use gradnet_core::{Batch, Dense, Fused, Layer, Write};
//! use gradnet_core::{activation::Tanh, dropout::Dropout, rng::seeded};
//! let dense = Dense::<f64, 2, 1>::from_parts(vec![0.5, -1.0], Some(vec![0.25]))?;
//! let (step, drop) = (Fused(&dense, Tanh), Dropout::new(0.0)?);
//! let x = Batch::<f64, 2>::from_rows(&[[2.0, 1.0]])?;
//! let mut rng = seeded(0);
//!
//! // Forward: check every input first, then run; a failed check changes nothing.
//! Layer::check_train(&step, &x)?;
//! let (mut h, mut z) = (Batch::new(), Batch::new());
//! Layer::forward_train(&step, &x, &mut h, &mut z, &mut rng)?;
//! let (mut y, mut mask) = (Batch::new(), Batch::new());
//! Layer::forward_train(&drop, &h, &mut y, &mut mask, &mut rng)?;
//! assert_eq!(y.as_slice(), &[0.25f64.tanh()]);   // z = 0.5*2 - 1*1 + 0.25
//!
//! // Backward, last step first; the first layer's dx is not needed.
//! let mut dy = Batch::<f64, 1>::from_rows(&[[1.0]])?;
//! let (mut dh, mut g) = (Batch::new(), dense.zero_grads());
//! let w = Write::Overwrite;
//! Layer::backward(&drop, &h, &y, &mut mask, &mut dy, &mut Default::default(), w, Some(&mut dh), w);
//! Layer::backward(&step, &x, &h, &mut z, &mut dh, &mut g, w, None, w);
//! let dz = 1.0 - 0.25f64.tanh().powi(2);
//! assert!((g.weight()[0] - 2.0 * dz).abs() < 1e-15 && (g.bias().unwrap()[0] - dz).abs() < 1e-15);
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use core::fmt::Debug;

use crate::activation::Activation;
use crate::batch::Batch;
use crate::dense::{Dense, DenseGrads, Write};
use crate::error::Result;
use crate::params::Gradients;
use crate::real::Real;
use crate::reduce::{NoReduce, Reducer};
use crate::rng::SeededRng;
use crate::seq::Seq;

/// One step of a network's passes; see the [module documentation](self).
pub trait Layer<T: Real, X> {
    /// What the layer makes.
    type Output: Default + Clone + Debug;
    /// What the training forward keeps for the backward (and for [`Layer::commit`]).
    type Cache: Default + Clone + Debug;
    /// The gradients of the layer's parameters ([`NoGrads`] for a layer without).
    type Grads: Gradients<T>;

    /// Refuses an input a training pass cannot take, before anything runs (batch
    /// norm: fewer than 2 rows). The default accepts everything.
    ///
    /// # Errors
    /// The layer's own, such as [`crate::Error::TooFewRows`].
    fn check_train(&self, x: &X) -> Result<()> {
        let _ = x;
        Ok(())
    }

    /// Evaluation-mode forward: `y` from `x`, keeping nothing.
    fn forward_eval(&self, x: &X, y: &mut Self::Output);

    /// Training-mode forward: `y` from `x`, and in `cache` what [`Layer::backward`]
    /// and [`Layer::commit`] read. Draws from `rng` if the layer is random (dropout).
    /// Changes nothing but `y`, `cache` and `rng`.
    ///
    /// # Errors
    /// What [`Layer::check_train`] refuses.
    fn forward_train(
        &self,
        x: &X,
        y: &mut Self::Output,
        cache: &mut Self::Cache,
        rng: &mut SeededRng,
    ) -> Result<()>;

    /// Evaluation-mode forward that keeps what [`Layer::backward`] reads, for
    /// gradients in evaluation mode (`model.eval()` then `backward()` in PyTorch:
    /// batch norm with its running statistics, dropout as the identity). Changes
    /// nothing but `y` and `cache`, and draws nothing. The default is
    /// [`Layer::forward_train`], right for every layer whose two modes agree.
    ///
    /// # Errors
    /// The layer's own.
    fn forward_frozen(&self, x: &X, y: &mut Self::Output, cache: &mut Self::Cache) -> Result<()> {
        self.forward_train(x, y, cache, &mut crate::rng::seeded(0))
    }

    /// Backward of the last [`Layer::forward_train`] (or [`Layer::forward_frozen`]) with this `cache` (whose `x` and
    /// `y` are given again): the parameter gradients into `grads` (per `grad_write`)
    /// and, if `dx` is `Some`, the input's gradient into it (per `dx_write`; an
    /// accumulated `dx` must already hold the batch's shape). `dy` may be used as
    /// scratch and is left unspecified.
    ///
    /// # Panics
    /// If the shapes do not match the forward pass's (a caller's bug, never the data's).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        x: &X,
        y: &Self::Output,
        cache: &mut Self::Cache,
        dy: &mut Self::Output,
        grads: &mut Self::Grads,
        grad_write: Write,
        dx: Option<&mut X>,
        dx_write: Write,
    );

    /// Keeps what a successful training call changes in the layer itself (batch
    /// norm's running statistics), from the `cache` of its training forward. The
    /// default keeps nothing.
    fn commit(&mut self, cache: &Self::Cache) {
        let _ = cache;
    }

    /// [`Layer::forward_train`] in a data-parallel job whose processes `reducer`
    /// sums over: a layer whose training forward reads statistics of the whole
    /// batch (batch norm) computes them over every process's rows when
    /// [`Reducer::SYNCED`]. The default, right for every layer that acts on each
    /// row alone, ignores the reducer.
    ///
    /// # Errors
    /// As [`Layer::forward_train`].
    fn forward_train_with<R: Reducer<T>>(
        &self,
        x: &X,
        y: &mut Self::Output,
        cache: &mut Self::Cache,
        rng: &mut SeededRng,
        reducer: &mut R,
    ) -> Result<()> {
        let _ = reducer;
        self.forward_train(x, y, cache, rng)
    }

    /// [`Layer::backward`] of a [`Layer::forward_train_with`]: batch norm reduces
    /// the backward terms of its batch statistics over the processes when
    /// [`Reducer::SYNCED`] (its parameter gradients stay local, summed later with
    /// every other gradient). The default ignores the reducer.
    ///
    /// # Panics
    /// As [`Layer::backward`].
    #[allow(clippy::too_many_arguments)]
    fn backward_with<R: Reducer<T>>(
        &self,
        x: &X,
        y: &Self::Output,
        cache: &mut Self::Cache,
        dy: &mut Self::Output,
        grads: &mut Self::Grads,
        grad_write: Write,
        dx: Option<&mut X>,
        dx_write: Write,
        reducer: &mut R,
    ) {
        let _ = reducer;
        self.backward(x, y, cache, dy, grads, grad_write, dx, dx_write);
    }
}

/// The gradients of a layer without parameters: nothing to visit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoGrads;

impl<T: Real> Gradients<T> for NoGrads {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[T])) {
        let _ = f;
    }

    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        let _ = f;
    }
}

/// An activation on its own (one that does not follow a dense layer): `y = act(x)`,
/// `dx = dy * act'(x)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Activate<A>(pub A);

/// A dense layer and the activation after it as one step: `y = act(x W^T + b)`, the
/// bias and the activation applied in the pass over the product, and on the way back
/// the activation's derivative and the bias gradient in one pass over `dy`. The
/// cache holds the pre-activation `z`. With a
/// [`BatchNorm`](crate::batch_norm::BatchNorm), batch norm and its activation as one
/// step (its cache is batch norm's, which keeps the statistics only).
#[derive(Clone, Copy, Debug)]
pub struct Fused<'a, L, A>(pub &'a L, pub A);

/// The end of a residual block: `y = x + block`, where `x` is the block's input and
/// `block` (held here) its output. Backward: `dx = dy`; the block's output gradient
/// is `dy` as well, which a generated network passes on by sharing the buffer.
#[derive(Clone, Copy, Debug)]
pub struct Sum<'a, T, const D: usize>(pub &'a Batch<T, D>);

impl<T: Real, A: Activation<T>, const D: usize> Layer<T, Batch<T, D>> for Activate<A> {
    type Output = Batch<T, D>;
    type Cache = ();
    type Grads = NoGrads;

    fn forward_eval(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        crate::ops::act_forward(self.0, x, y);
    }

    fn forward_train(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        _cache: &mut (),
        _rng: &mut SeededRng,
    ) -> Result<()> {
        crate::ops::act_forward(self.0, x, y);
        Ok(())
    }

    fn backward(
        &self,
        x: &Batch<T, D>,
        y: &Batch<T, D>,
        _cache: &mut (),
        dy: &mut Batch<T, D>,
        _grads: &mut NoGrads,
        _grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        if let Some(dx) = dx {
            crate::ops::act_backward(self.0, x, y, dy, dx, dx_write);
        }
    }
}

impl<T: Real, A: Activation<T>, const IN: usize, const OUT: usize> Layer<T, Batch<T, IN>>
    for Fused<'_, Dense<T, IN, OUT>, A>
{
    type Output = Batch<T, OUT>;
    type Cache = Batch<T, OUT>;
    type Grads = DenseGrads<T, IN, OUT>;

    fn forward_eval(&self, x: &Batch<T, IN>, y: &mut Batch<T, OUT>) {
        Dense::forward_eval(self.0, x, self.1, y);
    }

    fn forward_train(
        &self,
        x: &Batch<T, IN>,
        y: &mut Batch<T, OUT>,
        z: &mut Batch<T, OUT>,
        _rng: &mut SeededRng,
    ) -> Result<()> {
        Dense::forward_act(self.0, x, self.1, z, y);
        Ok(())
    }

    fn backward(
        &self,
        x: &Batch<T, IN>,
        y: &Batch<T, OUT>,
        z: &mut Batch<T, OUT>,
        dy: &mut Batch<T, OUT>,
        grads: &mut DenseGrads<T, IN, OUT>,
        grad_write: Write,
        dx: Option<&mut Batch<T, IN>>,
        dx_write: Write,
    ) {
        Dense::backward_act(self.0, self.1, x, z, y, dy, grads, grad_write, dx, dx_write);
    }
}

/// The block's width `B` is a parameter of its own so that a spec whose residual
/// widths differ (a named const the macro cannot see) fails only at the macro's
/// assertion, with no follow-on type errors here.
///
/// # Panics
/// If `B != D` (a generated network asserts `B == D` at compile time).
impl<T: Real, const D: usize, const B: usize> Layer<T, Batch<T, D>> for Sum<'_, T, B> {
    type Output = Batch<T, D>;
    type Cache = ();
    type Grads = NoGrads;

    fn forward_eval(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        sum_into(x, self.0, y);
    }

    fn forward_train(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        _cache: &mut (),
        _rng: &mut SeededRng,
    ) -> Result<()> {
        sum_into(x, self.0, y);
        Ok(())
    }

    fn backward(
        &self,
        _x: &Batch<T, D>,
        _y: &Batch<T, D>,
        _cache: &mut (),
        dy: &mut Batch<T, D>,
        _grads: &mut NoGrads,
        _grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        match (dx, dx_write) {
            (None, _) => {}
            (Some(dx), Write::Overwrite) => dx.copy_from(dy),
            (Some(dx), Write::Accumulate) => crate::ops::add_assign(dx, dy),
        }
    }
}

/// `y = a + b` for a block output `b` of width `B == D`.
fn sum_into<T: Real, const D: usize, const B: usize>(
    a: &Batch<T, D>,
    b: &Batch<T, B>,
    y: &mut Batch<T, D>,
) {
    assert_eq!(
        D, B,
        "residual sum: the block's width differs from its input's"
    );
    assert_eq!(a.rows(), b.rows(), "residual sum: rows differ");
    y.set_rows(a.rows());
    for ((y, &a), &b) in y
        .as_mut_slice()
        .iter_mut()
        .zip(a.as_slice())
        .zip(b.as_slice())
    {
        *y = a + b;
    }
}

/// A layer that acts on each step of a sequence alone, run over a whole [`Seq`]:
/// dense (alone or [`Fused`]), [`Activate`], dropout, layer norm and PReLU apply at
/// every step, batch norm normalizes each feature over rows and steps together (as
/// `BatchNorm1d` on `[N, C, L]`), and [`Sum`] adds a block's sequence output.
///
/// The time-major layout makes this free: a `Seq<T, D>` of `steps x rows` is one
/// `(steps * rows) x D` batch ([`Seq::as_batch`]), so the wrapped layer runs once
/// over it, with its own kernels and one matrix product for all steps, and its cache
/// is the wrapped layer's. Its [`Layer::commit`] is the wrapped layer's, called on
/// the layer itself (this view only borrows it).
///
/// ```
/// use gradnet_core::{activation::Tanh, rng::seeded, seq::Seq, Dense, Fused, Layer, PerStep};
/// let dense = Dense::<f64, 2, 1>::from_parts(vec![1.0, -1.0], None)?;
/// // 3 steps of 1 sequence.
/// let x = Seq::<f64, 2>::from_time_major(vec![1.0, 0.0, 0.0, 1.0, 2.0, 2.0], 3)?;
/// let mut y = Seq::new();
/// Layer::forward_eval(&PerStep(&Fused(&dense, Tanh)), &x, &mut y);
/// assert_eq!((y.steps(), y.rows()), (3, 1));
/// assert_eq!(y.as_slice(), &[1f64.tanh(), (-1f64).tanh(), 0.0]);
/// # Ok::<(), gradnet_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PerStep<'a, L>(pub &'a L);

impl<T: Real, L, const D: usize, const E: usize> Layer<T, Seq<T, D>> for PerStep<'_, L>
where
    L: Layer<T, Batch<T, D>, Output = Batch<T, E>>,
{
    type Output = Seq<T, E>;
    type Cache = L::Cache;
    type Grads = L::Grads;

    fn check_train(&self, x: &Seq<T, D>) -> Result<()> {
        self.0.check_train(x.as_batch())
    }

    fn forward_eval(&self, x: &Seq<T, D>, y: &mut Seq<T, E>) {
        self.0
            .forward_eval(x.as_batch(), y.flat_for(x.steps(), x.rows()));
    }

    fn forward_train(
        &self,
        x: &Seq<T, D>,
        y: &mut Seq<T, E>,
        cache: &mut L::Cache,
        rng: &mut SeededRng,
    ) -> Result<()> {
        self.forward_train_with(x, y, cache, rng, &mut NoReduce)
    }

    fn forward_frozen(&self, x: &Seq<T, D>, y: &mut Seq<T, E>, cache: &mut L::Cache) -> Result<()> {
        self.0
            .forward_frozen(x.as_batch(), y.flat_for(x.steps(), x.rows()), cache)
    }

    fn backward(
        &self,
        x: &Seq<T, D>,
        y: &Seq<T, E>,
        cache: &mut L::Cache,
        dy: &mut Seq<T, E>,
        grads: &mut L::Grads,
        grad_write: Write,
        dx: Option<&mut Seq<T, D>>,
        dx_write: Write,
    ) {
        self.backward_with(
            x,
            y,
            cache,
            dy,
            grads,
            grad_write,
            dx,
            dx_write,
            &mut NoReduce,
        );
    }

    fn forward_train_with<R: Reducer<T>>(
        &self,
        x: &Seq<T, D>,
        y: &mut Seq<T, E>,
        cache: &mut L::Cache,
        rng: &mut SeededRng,
        reducer: &mut R,
    ) -> Result<()> {
        self.0.forward_train_with(
            x.as_batch(),
            y.flat_for(x.steps(), x.rows()),
            cache,
            rng,
            reducer,
        )
    }

    fn backward_with<R: Reducer<T>>(
        &self,
        x: &Seq<T, D>,
        y: &Seq<T, E>,
        cache: &mut L::Cache,
        dy: &mut Seq<T, E>,
        grads: &mut L::Grads,
        grad_write: Write,
        dx: Option<&mut Seq<T, D>>,
        dx_write: Write,
        reducer: &mut R,
    ) {
        let (steps, rows) = (x.steps(), x.rows());
        self.0.backward_with(
            x.as_batch(),
            y.as_batch(),
            cache,
            dy.flat_for(steps, rows),
            grads,
            grad_write,
            dx.map(|dx| dx.flat_for(steps, rows)),
            dx_write,
            reducer,
        );
    }
}
