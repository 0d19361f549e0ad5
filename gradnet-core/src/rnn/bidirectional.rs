//! Bidirectional recurrent layers, PyTorch's `bidirectional=True`:
//! [`Bidirectional<T, C, IN, H, H2>`] with `H2 = 2 * H`.
//!
//! Two layers of the same cell read the sequence, one forward (`t = 0 .. T-1`) and one
//! backward (`t = T-1 .. 0`); their outputs are concatenated, forward then backward,
//! as PyTorch concatenates them:
//!
//! ```text
//! output_t = [h_t(forward), h_t(backward)]                        Seq<T, 2H>
//! h_n      = [forward's h after step T-1, backward's h after step 0]  Batch<T, 2H>
//! ```
//!
//! The backward direction's parameters carry PyTorch's `_reverse` suffix
//! (`weight_ih_l0_reverse`, ...) and come after the forward direction's, as in its
//! `state_dict`. The backward direction runs as a plain layer over a time-reversed copy
//! of the input, kept in the cache, and its gradients are reversed back. The width
//! `H2` is a parameter of its own because stable Rust cannot write `2 * H` in a type;
//! `H2 != 2 * H` fails to compile where the layer is made.
//!
//! PyTorch equivalent of `Bidirectional::<f32, LstmCell, 8, 16, 32>` read as `h_n`:
//! `nn.LSTM(8, 16, bidirectional=True)` and `torch.cat([h_n[0], h_n[1]], dim=1)`; with
//! [`Steps`](super::Steps), its `output`.
//!
//! ```
//! use gradnet_core::rnn::{Bidirectional, GruCell, RecurrentConfig};
//! use gradnet_core::{seq::Seq, Batch, Layer, Parameters, rng::seeded};
//! let gru = Bidirectional::<f64, GruCell, 2, 3, 6>::new(&RecurrentConfig::default(), &mut seeded(0));
//! let x = Seq::<f64, 2>::from_batch_first(&[0.5, -1.0, 0.25, 0.0, 1.0, 1.0], 3)?;
//! let mut h_n = Batch::new();
//! Layer::forward_eval(&gru, &x, &mut h_n);
//! assert_eq!(h_n.rows(), 1);
//! let mut names = Vec::new();
//! gru.visit_params(&mut |name, _| names.push(name));
//! assert_eq!(names[4], "weight_ih_l0_reverse");
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use super::{
    Cell, Names, Recurrent, RecurrentCache, RecurrentConfig, RecurrentGrads, State, Stateful, NAMES,
};
use crate::batch::Batch;
use crate::dense::Write;
use crate::error::Result;
use crate::params::{Gradients, ParamMut, Parameters, Shape, TensorKind};
use crate::real::Real;
use crate::rng::SeededRng;
use crate::seq::Seq;

/// PyTorch's names of the backward direction's tensors.
const REVERSE: Names = [
    "weight_ih_l0_reverse",
    "weight_hh_l0_reverse",
    "bias_ih_l0_reverse",
    "bias_hh_l0_reverse",
];

/// A recurrent layer of cell `C` in both directions, `H` units each, `H2 = 2 * H`
/// outputs; see the [module documentation](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Bidirectional<T, C, const IN: usize, const H: usize, const H2: usize> {
    forward: Recurrent<T, C, IN, H>,
    reverse: Recurrent<T, C, IN, H>,
}

/// The gradients of a [`Bidirectional`] layer: each direction's.
#[derive(Clone, Debug, PartialEq)]
pub struct BidirectionalGrads<T> {
    /// The forward direction's.
    pub forward: RecurrentGrads<T>,
    /// The backward direction's (`_reverse`).
    pub reverse: RecurrentGrads<T>,
}

/// What a training forward keeps: each direction's cache, the reversed input, and
/// scratch for the backward pass, all reused from call to call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BidirectionalCache<T, const IN: usize, const H: usize> {
    forward: RecurrentCache<T, H>,
    reverse: RecurrentCache<T, H>,
    x_rev: Seq<T, IN>,
    dx_rev: Seq<T, IN>,
    d_fwd: Seq<T, H>,
    d_rev: Seq<T, H>,
    dh_fwd: Batch<T, H>,
    dh_rev: Batch<T, H>,
}

impl<T: Real, const IN: usize, const H: usize> BidirectionalCache<T, IN, H> {
    /// The forward direction's cache (its final state, the gradient of its initial
    /// state).
    pub fn forward(&self) -> &RecurrentCache<T, H> {
        &self.forward
    }

    /// The backward direction's cache. Its steps are in reversed time: its final
    /// state is the state after reading step 0.
    pub fn reverse(&self) -> &RecurrentCache<T, H> {
        &self.reverse
    }
}

impl<T: Real, C: Cell, const IN: usize, const H: usize, const H2: usize>
    Bidirectional<T, C, IN, H, H2>
{
    /// Compile-time check of the output width.
    const WIDTH_IS_2H: () = assert!(H2 == 2 * H, "a bidirectional layer's H2 must be 2 * H");

    /// Both directions of the default cell, drawn as [`Recurrent::new`] draws: the
    /// forward direction's four tensors, then the backward's (PyTorch's order).
    pub fn new(config: &RecurrentConfig, rng: &mut SeededRng) -> Self
    where
        C: Default,
    {
        Self::with_cell(C::default(), config, rng)
    }

    /// Both directions of the given cell.
    pub fn with_cell(cell: C, config: &RecurrentConfig, rng: &mut SeededRng) -> Self {
        let forward = Recurrent::with_cell(cell, config, rng);
        let reverse = Recurrent::with_cell(cell, config, rng);
        Self::from_directions(forward, reverse)
    }

    /// A layer from its two directions.
    pub fn from_directions(
        forward: Recurrent<T, C, IN, H>,
        reverse: Recurrent<T, C, IN, H>,
    ) -> Self {
        let () = Self::WIDTH_IS_2H;
        Bidirectional { forward, reverse }
    }

    /// The forward direction.
    pub fn forward(&self) -> &Recurrent<T, C, IN, H> {
        &self.forward
    }

    /// The backward direction (`_reverse`).
    pub fn reverse(&self) -> &Recurrent<T, C, IN, H> {
        &self.reverse
    }

    /// Both directions, mutable.
    pub fn directions_mut(&mut self) -> (&mut Recurrent<T, C, IN, H>, &mut Recurrent<T, C, IN, H>) {
        (&mut self.forward, &mut self.reverse)
    }

    /// Zeroed gradients of this layer's shapes.
    pub fn zero_grads(&self) -> BidirectionalGrads<T> {
        BidirectionalGrads {
            forward: self.forward.zero_grads(),
            reverse: self.reverse.zero_grads(),
        }
    }

    /// The forward pass of both directions from their initial states (zeros where
    /// `None`; the backward direction's initial state is its state before reading the
    /// last step, PyTorch's `h_0[1]`).
    ///
    /// # Errors
    /// As [`Recurrent::forward_from`]; nothing is changed then.
    pub fn forward_from(
        &self,
        x: &Seq<T, IN>,
        initial_forward: Option<&State<T, H>>,
        initial_reverse: Option<&State<T, H>>,
        cache: &mut BidirectionalCache<T, IN, H>,
    ) -> Result<()> {
        self.forward.check(x, initial_forward)?;
        self.reverse.check(x, initial_reverse)?;
        reverse_into(x, &mut cache.x_rev);
        self.forward
            .forward_from(x, initial_forward, &mut cache.forward)?;
        self.reverse
            .forward_from(&cache.x_rev, initial_reverse, &mut cache.reverse)
    }

    /// Backpropagation through time of both directions, given dL/d(every step's
    /// output) and dL/dh_n (each `None` is zero), with [`Recurrent::backward_through_time`]'s
    /// conventions; the gradients of given initial states are in each direction's
    /// cache.
    ///
    /// # Panics
    /// If the shapes differ from the forward's (a caller's bug).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_through_time(
        &self,
        x: &Seq<T, IN>,
        cache: &mut BidirectionalCache<T, IN, H>,
        d_outputs: Option<&Seq<T, H2>>,
        d_final_h: Option<&Batch<T, H2>>,
        grads: &mut BidirectionalGrads<T>,
        grad_write: Write,
        mut dx: Option<&mut Seq<T, IN>>,
        dx_write: Write,
    ) {
        let (steps, rows) = (x.steps(), x.rows());
        if let Some(d) = d_outputs {
            assert!(
                d.steps() == steps && d.rows() == rows,
                "bidirectional backward: d_outputs differs from the forward's shape"
            );
            cache.d_fwd.set_shape(steps, rows);
            cache.d_rev.set_shape(steps, rows);
            for t in 0..steps {
                split::<T, H>(
                    d.step(t),
                    cache.d_fwd.step_mut(t),
                    cache.d_rev.step_mut(steps - 1 - t),
                );
            }
        }
        if let Some(d) = d_final_h {
            cache.dh_fwd.set_rows(d.rows());
            cache.dh_rev.set_rows(d.rows());
            split::<T, H>(
                d.as_slice(),
                cache.dh_fwd.as_mut_slice(),
                cache.dh_rev.as_mut_slice(),
            );
        }
        let (d_fwd, d_rev) = match d_outputs {
            Some(_) => (Some(&cache.d_fwd), Some(&cache.d_rev)),
            None => (None, None),
        };
        let (dh_fwd, dh_rev) = match d_final_h {
            Some(_) => (Some(&cache.dh_fwd), Some(&cache.dh_rev)),
            None => (None, None),
        };
        let want_dx = dx.is_some();
        self.forward.backward_through_time(
            x,
            &mut cache.forward,
            d_fwd,
            dh_fwd,
            None,
            &mut grads.forward,
            grad_write,
            dx.as_deref_mut(),
            dx_write,
        );
        self.reverse.backward_through_time(
            &cache.x_rev,
            &mut cache.reverse,
            d_rev,
            dh_rev,
            None,
            &mut grads.reverse,
            grad_write,
            want_dx.then_some(&mut cache.dx_rev),
            Write::Overwrite,
        );
        if let Some(dx) = dx {
            for t in 0..steps {
                for (a, &b) in dx
                    .step_mut(t)
                    .iter_mut()
                    .zip(cache.dx_rev.step(steps - 1 - t))
                {
                    *a += b;
                }
            }
        }
    }
}

/// `out` = `x` with its steps in reverse order.
fn reverse_into<T: Real, const D: usize>(x: &Seq<T, D>, out: &mut Seq<T, D>) {
    let steps = x.steps();
    out.set_shape(steps, x.rows());
    for t in 0..steps {
        out.step_mut(t).copy_from_slice(x.step(steps - 1 - t));
    }
}

/// Rows `[a, b]` of width `2H` into `a` and `b`, rows of width `H` each.
fn split<T: Real, const H: usize>(both: &[T], first: &mut [T], second: &mut [T]) {
    for ((row, a), b) in both
        .chunks_exact(2 * H)
        .zip(first.chunks_exact_mut(H))
        .zip(second.chunks_exact_mut(H))
    {
        a.copy_from_slice(&row[..H]);
        b.copy_from_slice(&row[H..]);
    }
}

/// Rows `a` and `b` of width `H` into rows `[a, b]` of width `2H`.
fn concat<T: Real, const H: usize>(first: &[T], second: &[T], both: &mut [T]) {
    for ((row, a), b) in both
        .chunks_exact_mut(2 * H)
        .zip(first.chunks_exact(H))
        .zip(second.chunks_exact(H))
    {
        row[..H].copy_from_slice(a);
        row[H..].copy_from_slice(b);
    }
}

impl<T: Real, C: Cell, const IN: usize, const H: usize, const H2: usize>
    Bidirectional<T, C, IN, H, H2>
{
    /// `h_n`: the forward direction's last state beside the backward's.
    fn final_h(cache: &BidirectionalCache<T, IN, H>, y: &mut Batch<T, H2>) {
        let (f, r) = (&cache.forward, &cache.reverse);
        let n = f.rows() * H;
        let last = f.steps() * n;
        y.set_rows(f.rows());
        concat::<T, H>(
            &f.hidden[last..last + n],
            &r.hidden[last..last + n],
            y.as_mut_slice(),
        );
    }

    /// Every step: step `t` of the forward direction beside step `T-1-t` of the backward's.
    fn all_h(cache: &BidirectionalCache<T, IN, H>, y: &mut Seq<T, H2>) {
        let (f, r) = (&cache.forward, &cache.reverse);
        let (steps, n) = (f.steps(), f.rows() * H);
        y.set_shape(steps, f.rows());
        let (fo, ro) = (f.outputs(), r.outputs());
        for t in 0..steps {
            let rt = steps - 1 - t;
            concat::<T, H>(
                &fo[t * n..(t + 1) * n],
                &ro[rt * n..(rt + 1) * n],
                y.step_mut(t),
            );
        }
    }
}

/// The state of both directions, `(forward, backward)`: PyTorch's `h_0[0]` and
/// `h_0[1]` (and `c_0`) of a bidirectional layer.
impl<T: Real, C: Cell, const IN: usize, const H: usize, const H2: usize> Stateful<T, IN>
    for Bidirectional<T, C, IN, H, H2>
{
    type State = (State<T, H>, State<T, H>);
    type Last = Batch<T, H2>;
    type Every = Seq<T, H2>;
    type Cache = BidirectionalCache<T, IN, H>;

    fn check_state(&self, x: &Seq<T, IN>, initial: Option<&Self::State>) -> Result<()> {
        self.forward.check(x, initial.map(|s| &s.0))?;
        self.reverse.check(x, initial.map(|s| &s.1))
    }

    fn run(
        &self,
        x: &Seq<T, IN>,
        initial: Option<&Self::State>,
        cache: &mut Self::Cache,
    ) -> Result<()> {
        self.forward_from(x, initial.map(|s| &s.0), initial.map(|s| &s.1), cache)
    }

    fn last(&self, cache: &Self::Cache, y: &mut Batch<T, H2>) {
        Self::final_h(cache, y);
    }

    fn every(&self, cache: &Self::Cache, y: &mut Seq<T, H2>) {
        Self::all_h(cache, y);
    }

    fn run_backward(
        &self,
        x: &Seq<T, IN>,
        cache: &mut Self::Cache,
        d_every: Option<&Seq<T, H2>>,
        d_last: Option<&Batch<T, H2>>,
        grads: &mut BidirectionalGrads<T>,
        grad_write: Write,
        dx: Option<&mut Seq<T, IN>>,
        dx_write: Write,
    ) {
        self.backward_through_time(x, cache, d_every, d_last, grads, grad_write, dx, dx_write);
    }

    fn final_state_into(&self, cache: &Self::Cache, out: &mut Self::State) {
        cache.forward.final_state_into(&mut out.0);
        cache.reverse.final_state_into(&mut out.1);
    }
}

super::stateful::from_zeros!(
    [T: Real, C: Cell, const IN: usize, const H: usize, const H2: usize]
    Bidirectional<T, C, IN, H, H2>
);

impl<T: Real, C: Cell, const IN: usize, const H: usize, const H2: usize> Parameters<T>
    for Bidirectional<T, C, IN, H, H2>
{
    type Grads = BidirectionalGrads<T>;

    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[T])) {
        self.forward.visit_named(&NAMES, f);
        self.reverse.visit_named(&REVERSE, f);
    }

    fn visit_params_mut(&mut self, grads: &Self::Grads, f: &mut impl FnMut(ParamMut<'_, T>)) {
        self.forward.visit_named_mut(&NAMES, &grads.forward, f);
        self.reverse.visit_named_mut(&REVERSE, &grads.reverse, f);
    }

    fn zero_grads(&self) -> Self::Grads {
        Bidirectional::zero_grads(self)
    }

    /// The forward direction's four tensors, then the `_reverse` ones, as PyTorch's.
    fn visit_shapes(&self, f: &mut impl FnMut(&'static str, TensorKind, Shape)) {
        self.forward.visit_shapes_named(&NAMES, f);
        self.reverse.visit_shapes_named(&REVERSE, f);
    }

    fn visit_values_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        self.forward.visit_values_named(&NAMES, f);
        self.reverse.visit_values_named(&REVERSE, f);
    }
}

impl<T: Real> Gradients<T> for BidirectionalGrads<T> {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[T])) {
        self.forward.visit_named(&NAMES, f);
        self.reverse.visit_named(&REVERSE, f);
    }

    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        self.forward.visit_named_mut(&NAMES, f);
        self.reverse.visit_named_mut(&REVERSE, f);
    }
}
