//! Recurrent layers over a [`Seq`]: `torch.nn.RNN`, `torch.nn.LSTM` and `torch.nn.GRU`
//! (one layer; one direction here, both in [`bidirectional`]), trained by full
//! backpropagation through time.
//!
//! One struct, [`Recurrent<T, C, IN, H>`], holds the weights in PyTorch's layout and
//! runs the recurrence; the cell `C` says what one step computes. The three cells:
//!
//! ```text
//! Rnn  (RnnCell, G = 1)   h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)     (or relu)
//! Lstm (LstmCell, G = 4)  gates i, f, g, o; c_t = f c_{t-1} + i g, h_t = o tanh(c_t)
//! Gru  (GruCell, G = 3)   gates r, z, n; h_t = (1 - z) n + z h_{t-1},
//!                         n = tanh(W_in x_t + b_in + r (W_hn h_{t-1} + b_hn))
//! ```
//!
//! (the gated cells' equations in full, and their backward, are in [`lstm`] and [`gru`]).
//! With `G` gates, the parameters are, as PyTorch names and stores them:
//!
//! ```text
//! weight_ih_l0  [G*H, IN]   the gates' input weights, stacked in PyTorch's gate order
//! weight_hh_l0  [G*H, H]    the gates' recurrent weights, same order
//! bias_ih_l0    [G*H]       (absent with bias = false)
//! bias_hh_l0    [G*H]
//! ```
//!
//! so weights move to and from PyTorch unchanged. PyTorch equivalent of
//! `Rnn::<f32, 8, 16>` with the default output: `nn.RNN(8, 16)` and its `h_n[0]`.
//!
//! # Output
//!
//! As a [`Layer`](crate::Layer), a recurrent layer returns its final hidden state, PyTorch's `h_n`
//! (a `Batch<T, H>`): what a classifier or regressor over a whole sequence reads. Every
//! step's hidden state (PyTorch's `output`, a `Seq<T, H>`) is the output of
//! [`Steps`]`(&layer)`, a view made at the call site as [`crate::Fused`] is. One
//! layer type serves both because the parameters do not depend on what is read: a
//! model saved with one output loads into the other, and a test can check both ways of
//! reading one layer. Both are kept in the [`RecurrentCache`] after a training forward
//! ([`RecurrentCache::outputs`], [`RecurrentCache::final_state`]).
//!
//! # Initial state
//!
//! Zero unless given: [`Recurrent::forward_from`] takes an optional [`State`] (`h0`,
//! and `c0` for LSTM), and [`Recurrent::backward_through_time`] takes gradients
//! with respect to every step's output and to the final state (`h_n`, `c_n`) and
//! leaves the gradient with respect to a given initial state in the cache
//! ([`RecurrentCache::d_initial`]). The final state after a forward is
//! [`RecurrentCache::final_state`]: for truncated backpropagation over a long stream,
//! feed it as the next chunk's initial state (the gradient stops at the chunk
//! boundary because it is a copy).
//!
//! # Cost
//!
//! A forward pass makes one large product for the input projections of all steps
//! (`(steps * rows) x IN` times `IN x G*H`, the sequence read as one matrix, which the
//! time-major layout of [`Seq`] allows), then per step one `rows x H` times
//! `H x G*H` product for the recurrent part, added straight into the step's gates, and
//! one fused pass that adds the biases (summed once per pass), applies every gate's
//! nonlinearity and forms the new state. The backward pass mirrors it: per step one
//! fused pass for the gates' gradients and one product for `dh_{t-1}`; then one large
//! product each for `dW_ih`, `dW_hh` and `dX` over all steps.
//!
//! The per-step products do not go through the GEMM, which would pack `W_hh` again on
//! each of the `2 * steps` calls: `W_hh` is packed once per pass (as `W_hh^T` forward,
//! as itself backward) into the cache, and a register-blocked kernel reads it there
//! (with AVX-512 registers where the build targets them). The gate passes use
//! straight-line sigmoid and tanh ([`Real::exp_vec`], within a few ulp of libm's), so
//! they vectorize.
//!
//! The cache holds every step (the gates after their nonlinearities, the hidden and
//! cell states) in buffers that are reused: after the first call at a given size,
//! nothing in gradnet's code allocates (the products over all steps, when large
//! enough to go to the GEMM crate, allocate its packing buffer per call, as every
//! dense layer's do; small ones take direct loops, as [`crate::dense::DIRECT_MAX_MACS`]
//! sets).
//!
//! [`Layer::forward_eval`](crate::Layer::forward_eval) has no cache to reuse and allocates one per call; the
//! allocation-free evaluation is [`Layer::forward_frozen`](crate::Layer::forward_frozen) (the same function) with
//! a kept cache.
//!
//! # Initialization
//!
//! PyTorch's default: every weight and bias from `U(-1/sqrt(H), 1/sqrt(H))`, drawn in
//! the order `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`, from a [`SeededRng`].
//! [`RecurrentConfig`] can instead make each gate's block of `weight_hh` an orthogonal
//! `H x H` matrix, and set the LSTM's forget-gate bias to 1.
//!
//! ```
//! use gradnet_core::rnn::{Rnn, RecurrentConfig};
//! use gradnet_core::{seq::Seq, Layer, Batch, Parameters, rng::seeded};
//! let rnn = Rnn::<f64, 2, 3>::new(&RecurrentConfig::default(), &mut seeded(0));
//! // 4 steps of 1 sequence, 2 features each, time-major.
//! let x = Seq::<f64, 2>::from_time_major(vec![0.5, -1.0, 0.25, 0.0, 1.0, 1.0, -0.5, 2.0], 4)?;
//! let (mut h_n, mut cache) = (Batch::new(), Default::default());
//! Layer::forward_train(&rnn, &x, &mut h_n, &mut cache, &mut seeded(0))?;
//! assert_eq!(h_n.rows(), 1);
//! assert!(h_n.as_slice().iter().all(|h| h.abs() < 1.0)); // tanh
//! let mut names = Vec::new();
//! rnn.visit_shapes(&mut |name, _, shape| names.push(format!("{name} {shape}")));
//! assert_eq!(names, ["weight_ih_l0 [3, 2]", "weight_hh_l0 [3, 3]", "bias_ih_l0 [3]", "bias_hh_l0 [3]"]);
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use core::fmt::Debug;

use crate::batch::Batch;
use crate::dense::Write;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::real::Real;
use crate::rng::SeededRng;
use crate::seq::Seq;
use products::{col_sums, mul_ab, mul_ab_packed, mul_abt, mul_atb, pack_b};

pub mod bidirectional;
mod cell;
pub mod gru;
pub mod lstm;
mod params;
mod products;
pub mod stateful;

pub use bidirectional::Bidirectional;
pub use cell::{Cell, RnnCell, RnnNonlinearity};
pub use gru::{Gru, GruCell};
pub use lstm::{Lstm, LstmCell};
pub(crate) use params::{Names, NAMES};
pub use stateful::{Start, Stateful};

/// How the recurrent weights start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecurrentInit {
    /// PyTorch's default, `U(-1/sqrt(H), 1/sqrt(H))` like every other parameter.
    #[default]
    Uniform,
    /// Each gate's `H x H` block of `weight_hh` orthogonal (Saxe et al. 2013), so the
    /// recurrence neither grows nor shrinks a state at the start; the other
    /// parameters stay uniform.
    Orthogonal,
}

/// The settings of a recurrent layer; `Default` is PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecurrentConfig {
    /// Whether the layer has `bias_ih` and `bias_hh` (PyTorch's `bias`, default true).
    pub bias: bool,
    /// How `weight_hh` starts.
    pub recurrent_init: RecurrentInit,
    /// LSTM only (ignored by the other cells): the forget gate's `bias_ih` block set
    /// to 1 and its `bias_hh` block to 0, so the forget gate starts mostly open
    /// (Jozefowicz et al. 2015). Needs `bias`.
    pub forget_bias_one: bool,
}

impl Default for RecurrentConfig {
    fn default() -> Self {
        RecurrentConfig {
            bias: true,
            recurrent_init: RecurrentInit::Uniform,
            forget_bias_one: false,
        }
    }
}

/// A recurrent layer of cell `C` from `IN` features to `H` hidden units, with
/// PyTorch's parameters; see the [module documentation](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Recurrent<T, C, const IN: usize, const H: usize> {
    cell: C,
    /// `[G*H, IN]` row-major.
    weight_ih: Vec<T>,
    /// `[G*H, H]` row-major.
    weight_hh: Vec<T>,
    /// `bias_ih` and `bias_hh`, `[G*H]` each, if the layer has biases.
    bias: Option<(Vec<T>, Vec<T>)>,
}

/// `torch.nn.RNN(IN, H)`, one layer, one direction.
pub type Rnn<T, const IN: usize, const H: usize> = Recurrent<T, RnnCell, IN, H>;

/// The gradients of a [`Recurrent`] layer, same names and shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentGrads<T> {
    weight_ih: Vec<T>,
    weight_hh: Vec<T>,
    bias: Option<(Vec<T>, Vec<T>)>,
}

impl<T: Real> RecurrentGrads<T> {
    /// dL/dW_ih, `[G*H, IN]`.
    pub fn weight_ih(&self) -> &[T] {
        &self.weight_ih
    }
    /// dL/dW_hh, `[G*H, H]`.
    pub fn weight_hh(&self) -> &[T] {
        &self.weight_hh
    }
    /// dL/db_ih, if the layer has biases.
    pub fn bias_ih(&self) -> Option<&[T]> {
        self.bias.as_ref().map(|b| &b.0[..])
    }
    /// dL/db_hh, if the layer has biases.
    pub fn bias_hh(&self) -> Option<&[T]> {
        self.bias.as_ref().map(|b| &b.1[..])
    }
}

/// A recurrent state: `h` (and `c` for LSTM), `rows x H` each. An empty `c` (or `h`)
/// stands for zeros.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State<T, const H: usize> {
    /// The hidden state, PyTorch's `h_0` / `h_n` of the layer.
    pub h: Batch<T, H>,
    /// The cell state (LSTM), PyTorch's `c_0` / `c_n`; empty for the other cells.
    pub c: Batch<T, H>,
}

impl<T: Real, const H: usize> State<T, H> {
    /// A hidden state alone (RNN, GRU).
    pub fn hidden(h: Batch<T, H>) -> Self {
        State { h, c: Batch::new() }
    }

    /// A hidden and a cell state (LSTM).
    pub fn with_cell(h: Batch<T, H>, c: Batch<T, H>) -> Self {
        State { h, c }
    }
}

/// What a training forward keeps for backpropagation through time: every step, in
/// buffers reused from call to call (grown, never shrunk).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecurrentCache<T, const H: usize> {
    steps: usize,
    rows: usize,
    /// Whether the forward was given an initial state (then backward forms its gradient).
    given: bool,
    /// `steps x rows x G*H`: the input projections, then the gates after their
    /// nonlinearities (the RNN: its pre-activation).
    gates: Vec<T>,
    /// GRU: `steps x rows x H`, `W_hn h_{t-1} + b_hn`.
    keep: Vec<T>,
    /// `(steps + 1) x rows x H`: `h_0` (zeros unless given), then every step's `h_t`.
    hidden: Vec<T>,
    /// LSTM: `(steps + 1) x rows x H`, `c_0` then every `c_t`.
    cell: Vec<T>,
    /// GRU: `rows x G*H`, one step's recurrent product.
    rec: Vec<T>,
    /// `weight_hh`, packed for the recurrent products (see `products::pack_b`): as
    /// `W_hh^T` after a forward, as `W_hh` during a backward.
    weight_hh_packed: Vec<T>,
    /// The recurrent products' copy of their left factor (see
    /// `products::mul_ab_packed`).
    packed: Vec<T>,
    /// Without [`Cell::SPLIT`], `bias_ih + bias_hh`; with it, `bias_ih` then
    /// `bias_hh` (zeros without biases), `G*H` each.
    bias: Vec<T>,
    /// `steps x rows x G*H`: dL/d(input pre-activations) of every step.
    dgates: Vec<T>,
    /// GRU: `steps x rows x G*H`, dL/d(recurrent pre-activations).
    dgates_rec: Vec<T>,
    /// `rows x H` each: the running dL/dh, its next value, and dL/dc.
    dh: Vec<T>,
    dh_prev: Vec<T>,
    dc: Vec<T>,
    /// dL/dh_0 and dL/dc_0 after a backward, if the forward was given a state.
    d_initial: State<T, H>,
}

impl<T: Real, const H: usize> RecurrentCache<T, H> {
    /// Steps of the last forward.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Rows of the last forward.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Every step's hidden state, `h_1 .. h_T`, time-major (`steps x rows x H`):
    /// PyTorch's `output`.
    pub fn outputs(&self) -> &[T] {
        let n = self.rows * H;
        &self.hidden[n..(self.steps + 1) * n]
    }

    /// The state after the last step (`h_n`, and `c_n` for LSTM; `c` is empty for
    /// the other cells), as a copy.
    pub fn final_state(&self) -> State<T, H> {
        let mut s = State::default();
        self.final_state_into(&mut s);
        s
    }

    /// The state after the last step into `out`, reusing its buffers.
    pub fn final_state_into(&self, out: &mut State<T, H>) {
        let n = self.rows * H;
        let last = self.steps * n..(self.steps + 1) * n;
        out.h.set_rows(self.rows);
        out.h
            .as_mut_slice()
            .copy_from_slice(&self.hidden[last.clone()]);
        if self.cell.is_empty() {
            out.c.set_rows(0);
        } else {
            out.c.set_rows(self.rows);
            out.c.as_mut_slice().copy_from_slice(&self.cell[last]);
        }
    }

    /// The gradient with respect to the initial state given to the forward (`dL/dh_0`,
    /// and `dL/dc_0` for LSTM), after a backward; `None` if the forward started from
    /// zeros.
    pub fn d_initial(&self) -> Option<&State<T, H>> {
        self.given.then_some(&self.d_initial)
    }

    /// Values the buffers can hold without allocating (for tests of reuse).
    pub fn capacity(&self) -> usize {
        [
            &self.gates,
            &self.keep,
            &self.hidden,
            &self.cell,
            &self.rec,
            &self.weight_hh_packed,
            &self.packed,
            &self.bias,
            &self.dgates,
            &self.dgates_rec,
            &self.dh,
            &self.dh_prev,
            &self.dc,
        ]
        .iter()
        .map(|v| v.capacity())
        .sum::<usize>()
            + self.d_initial.h.capacity_rows() * H
            + self.d_initial.c.capacity_rows() * H
    }
}

impl<T: Real, C: Cell, const IN: usize, const H: usize> Recurrent<T, C, IN, H> {
    /// Rows of the stacked gate matrices, `G * H`.
    pub const GH: usize = C::GATES * H;

    /// A layer of the default cell (`tanh` for [`Rnn`]) drawn with PyTorch's
    /// initialization as `config` adjusts it.
    pub fn new(config: &RecurrentConfig, rng: &mut SeededRng) -> Self
    where
        C: Default,
    {
        Self::with_cell(C::default(), config, rng)
    }

    /// A layer of the given cell (an [`RnnCell`] with relu, say), drawn as
    /// [`Recurrent::new`] draws.
    pub fn with_cell(cell: C, config: &RecurrentConfig, rng: &mut SeededRng) -> Self {
        let gh = Self::GH;
        let k = 1.0 / (H.max(1) as f64).sqrt();
        let uniform = Init::uniform(-k, k);
        let mut weight_ih = vec![T::zero(); gh * IN];
        let mut weight_hh = vec![T::zero(); gh * H];
        uniform.fill(&mut weight_ih, IN, gh, rng);
        match config.recurrent_init {
            RecurrentInit::Uniform => uniform.fill(&mut weight_hh, H, gh, rng),
            RecurrentInit::Orthogonal => {
                for block in weight_hh.chunks_exact_mut(H * H) {
                    Init::orthogonal().fill(block, H, H, rng);
                }
            }
        }
        let bias = config.bias.then(|| {
            let (mut bi, mut bh) = (vec![T::zero(); gh], vec![T::zero(); gh]);
            uniform.fill(&mut bi, H, gh, rng);
            uniform.fill(&mut bh, H, gh, rng);
            if config.forget_bias_one && C::HAS_C {
                bi[H..2 * H].fill(T::one());
                bh[H..2 * H].fill(T::zero());
            }
            (bi, bh)
        });
        Recurrent {
            cell,
            weight_ih,
            weight_hh,
            bias,
        }
    }

    /// A layer from given values, in PyTorch's layout: `weight_ih` `[G*H, IN]`,
    /// `weight_hh` `[G*H, H]`, and `(bias_ih, bias_hh)` `[G*H]` each if any.
    ///
    /// # Errors
    /// [`Error::WidthMismatch`] naming the first tensor of the wrong length.
    pub fn from_parts(
        cell: C,
        weight_ih: Vec<T>,
        weight_hh: Vec<T>,
        bias: Option<(Vec<T>, Vec<T>)>,
    ) -> Result<Self> {
        let gh = Self::GH;
        let check = |what: &str, v: &[T], n: usize| {
            if v.len() == n {
                Ok(())
            } else {
                Err(Error::WidthMismatch {
                    what: what.into(),
                    expected: n,
                    found: v.len(),
                })
            }
        };
        check("weight_ih", &weight_ih, gh * IN)?;
        check("weight_hh", &weight_hh, gh * H)?;
        if let Some((bi, bh)) = &bias {
            check("bias_ih", bi, gh)?;
            check("bias_hh", bh, gh)?;
        }
        Ok(Recurrent {
            cell,
            weight_ih,
            weight_hh,
            bias,
        })
    }

    /// The cell (for the RNN, its nonlinearity).
    pub fn cell(&self) -> C {
        self.cell
    }

    /// `weight_ih`, `[G*H, IN]` row-major.
    pub fn weight_ih(&self) -> &[T] {
        &self.weight_ih
    }

    /// `weight_ih`, mutable (its length is fixed).
    pub fn weight_ih_mut(&mut self) -> &mut [T] {
        &mut self.weight_ih
    }

    /// `weight_hh`, `[G*H, H]` row-major.
    pub fn weight_hh(&self) -> &[T] {
        &self.weight_hh
    }

    /// `weight_hh`, mutable (its length is fixed).
    pub fn weight_hh_mut(&mut self) -> &mut [T] {
        &mut self.weight_hh
    }

    /// `bias_ih`, `[G*H]`, if the layer has biases.
    pub fn bias_ih(&self) -> Option<&[T]> {
        self.bias.as_ref().map(|b| &b.0[..])
    }

    /// `bias_hh`, `[G*H]`, if the layer has biases.
    pub fn bias_hh(&self) -> Option<&[T]> {
        self.bias.as_ref().map(|b| &b.1[..])
    }

    /// Both biases, mutable (their lengths are fixed), if the layer has them.
    pub fn biases_mut(&mut self) -> Option<(&mut [T], &mut [T])> {
        self.bias.as_mut().map(|(a, b)| (&mut a[..], &mut b[..]))
    }

    /// Zeroed gradients of this layer's shapes.
    pub fn zero_grads(&self) -> RecurrentGrads<T> {
        let gh = Self::GH;
        RecurrentGrads {
            weight_ih: vec![T::zero(); gh * IN],
            weight_hh: vec![T::zero(); gh * H],
            bias: self
                .bias
                .as_ref()
                .map(|_| (vec![T::zero(); gh], vec![T::zero(); gh])),
        }
    }

    /// Refuses an empty sequence and an initial state of the wrong rows.
    fn check(&self, x: &Seq<T, IN>, initial: Option<&State<T, H>>) -> Result<()> {
        if x.steps() == 0 || x.rows() == 0 {
            return Err(Error::EmptyBatch);
        }
        if let Some(s) = initial {
            for b in [&s.h, &s.c] {
                if !b.is_empty() && b.rows() != x.rows() {
                    return Err(Error::RowMismatch {
                        op: "recurrent initial state",
                        expected: x.rows(),
                        found: b.rows(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The forward pass over every step of `x`, from `initial` (zeros if `None`; an
    /// empty `h` or `c` in it is zeros too), keeping every step in `cache`.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] for a sequence without steps or rows,
    /// [`Error::RowMismatch`] for an initial state whose rows differ from `x`'s.
    /// Nothing is changed then.
    pub fn forward_from(
        &self,
        x: &Seq<T, IN>,
        initial: Option<&State<T, H>>,
        cache: &mut RecurrentCache<T, H>,
    ) -> Result<()> {
        self.check(x, initial)?;
        let (steps, rows, gh) = (x.steps(), x.rows(), Self::GH);
        let n = rows * H;
        cache.steps = steps;
        cache.rows = rows;
        cache.given = initial.is_some();
        cache.gates.resize(steps * rows * gh, T::zero());
        cache.hidden.resize((steps + 1) * n, T::zero());
        cache
            .rec
            .resize(if C::SPLIT { rows * gh } else { 0 }, T::zero());
        // W_hh^T: k = H, n = G*H, element (p, j) at weight_hh[j * H + p].
        pack_b(&self.weight_hh, H, gh, 1, H, &mut cache.weight_hh_packed);
        cache
            .keep
            .resize(if C::SPLIT { steps * n } else { 0 }, T::zero());
        cache
            .cell
            .resize(if C::HAS_C { (steps + 1) * n } else { 0 }, T::zero());
        cache
            .bias
            .resize(if C::SPLIT { 2 * gh } else { gh }, T::zero());
        match &self.bias {
            Some((bi, bh)) if C::SPLIT => {
                cache.bias[..gh].copy_from_slice(bi);
                cache.bias[gh..].copy_from_slice(bh);
            }
            Some((bi, bh)) => {
                for ((b, &x), &y) in cache.bias.iter_mut().zip(bi).zip(bh) {
                    *b = x + y;
                }
            }
            None => cache.bias.fill(T::zero()),
        }
        let start = |dst: &mut [T], src: Option<&Batch<T, H>>| match src {
            Some(b) if !b.is_empty() => dst.copy_from_slice(b.as_slice()),
            _ => dst.fill(T::zero()),
        };
        start(&mut cache.hidden[..n], initial.map(|s| &s.h));
        if C::HAS_C {
            start(&mut cache.cell[..n], initial.map(|s| &s.c));
        }
        let h0_zero = !initial.is_some_and(|s| !s.h.is_empty());

        // All steps' input projections at once: (steps*rows x IN) (IN x G*H).
        mul_abt(
            x.as_slice(),
            &self.weight_ih,
            &mut cache.gates,
            steps * rows,
            IN,
            gh,
        );
        let (bi, bh) = cache.bias.split_at(gh);
        for t in 0..steps {
            let (past, future) = cache.hidden.split_at_mut((t + 1) * n);
            let h_prev = &past[t * n..];
            let h_next = &mut future[..n];
            let gates = &mut cache.gates[t * rows * gh..(t + 1) * rows * gh];
            // The recurrent product: into the gates (a zero h_0 adds nothing), or
            // apart for a split cell.
            let first = t == 0 && h0_zero;
            if C::SPLIT {
                if first {
                    cache.rec.fill(T::zero());
                } else {
                    mul_ab_packed(
                        h_prev,
                        &cache.weight_hh_packed,
                        &mut cache.rec,
                        rows,
                        H,
                        gh,
                        T::zero(),
                        &mut cache.packed,
                    );
                }
            } else if !first {
                mul_ab_packed(
                    h_prev,
                    &cache.weight_hh_packed,
                    gates,
                    rows,
                    H,
                    gh,
                    T::one(),
                    &mut cache.packed,
                );
            }
            let (c_prev, c_next): (&[T], &mut [T]) = if C::HAS_C {
                let (cp, cf) = cache.cell.split_at_mut((t + 1) * n);
                (&cp[t * n..], &mut cf[..n])
            } else {
                (&[], &mut [])
            };
            let keep: &mut [T] = if C::SPLIT {
                &mut cache.keep[t * n..(t + 1) * n]
            } else {
                &mut []
            };
            for r in 0..rows {
                let hs = r * H..(r + 1) * H;
                let cs = if C::HAS_C { hs.clone() } else { 0..0 };
                let (ks, rs) = if C::SPLIT {
                    (hs.clone(), r * gh..(r + 1) * gh)
                } else {
                    (0..0, 0..0)
                };
                self.cell.forward(
                    &mut gates[r * gh..(r + 1) * gh],
                    &cache.rec[rs],
                    bi,
                    bh,
                    &c_prev[cs.clone()],
                    &h_prev[hs.clone()],
                    &mut h_next[hs],
                    &mut c_next[cs],
                    &mut keep[ks],
                );
            }
        }
        Ok(())
    }

    /// Backpropagation through time of the last [`Recurrent::forward_from`] with this
    /// `cache` over `x`. The upstream gradients are `d_outputs` (dL/dh_t of every
    /// step, `steps x rows x H`, for a layer whose every step is read), `d_final_h`
    /// (dL/dh_n) and `d_final_c` (dL/dc_n, LSTM); each `None` is zero. Writes the
    /// parameter gradients into `grads` (per `grad_write`), the input's gradient into
    /// `dx` if asked (per `dx_write`; an accumulated `dx` must have `x`'s shape), and,
    /// if the forward was given an initial state, its gradient into the cache
    /// ([`RecurrentCache::d_initial`]).
    ///
    /// # Panics
    /// If the shapes differ from the forward's (a caller's bug).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_through_time(
        &self,
        x: &Seq<T, IN>,
        cache: &mut RecurrentCache<T, H>,
        d_outputs: Option<&Seq<T, H>>,
        d_final_h: Option<&Batch<T, H>>,
        d_final_c: Option<&Batch<T, H>>,
        grads: &mut RecurrentGrads<T>,
        grad_write: Write,
        dx: Option<&mut Seq<T, IN>>,
        dx_write: Write,
    ) {
        let (steps, rows, gh) = (cache.steps, cache.rows, Self::GH);
        assert!(
            x.steps() == steps && x.rows() == rows,
            "recurrent backward: x differs from the forward's"
        );
        let n = rows * H;
        if let Some(d) = d_outputs {
            assert!(
                d.steps() == steps && d.rows() == rows,
                "recurrent backward: d_outputs differs from the forward's shape"
            );
        }
        let set = |dst: &mut Vec<T>, src: Option<&Batch<T, H>>, what: &str| {
            dst.resize(n, T::zero());
            match src {
                Some(b) if !b.is_empty() => {
                    assert_eq!(b.rows(), rows, "recurrent backward: {what} has wrong rows");
                    dst.copy_from_slice(b.as_slice());
                }
                _ => dst.fill(T::zero()),
            }
        };
        set(&mut cache.dh, d_final_h, "d_final_h");
        set(
            &mut cache.dc,
            if C::HAS_C { d_final_c } else { None },
            "d_final_c",
        );
        cache.dh_prev.resize(n, T::zero());
        cache.dgates.resize(steps * rows * gh, T::zero());
        // W_hh itself: k = G*H, n = H.
        pack_b(&self.weight_hh, gh, H, H, 1, &mut cache.weight_hh_packed);
        cache
            .dgates_rec
            .resize(if C::SPLIT { steps * rows * gh } else { 0 }, T::zero());

        for t in (0..steps).rev() {
            if let Some(d) = d_outputs {
                for (a, &b) in cache.dh.iter_mut().zip(d.step(t)) {
                    *a += b;
                }
            }
            let g = t * rows * gh..(t + 1) * rows * gh;
            let gates = &cache.gates[g.clone()];
            let dgates = &mut cache.dgates[g.clone()];
            let dgates_rec: &mut [T] = if C::SPLIT {
                &mut cache.dgates_rec[g.clone()]
            } else {
                &mut []
            };
            let h_prev = &cache.hidden[t * n..(t + 1) * n];
            let h = &cache.hidden[(t + 1) * n..(t + 2) * n];
            let (c_prev, c): (&[T], &[T]) = if C::HAS_C {
                (
                    &cache.cell[t * n..(t + 1) * n],
                    &cache.cell[(t + 1) * n..(t + 2) * n],
                )
            } else {
                (&[], &[])
            };
            let keep: &[T] = if C::SPLIT {
                &cache.keep[t * n..(t + 1) * n]
            } else {
                &[]
            };
            for r in 0..rows {
                let hs = r * H..(r + 1) * H;
                let gs = r * gh..(r + 1) * gh;
                let cs = if C::HAS_C { hs.clone() } else { 0..0 };
                let (ks, rs) = if C::SPLIT {
                    (hs.clone(), gs.clone())
                } else {
                    (0..0, 0..0)
                };
                self.cell.backward(
                    &gates[gs.clone()],
                    &keep[ks],
                    &c_prev[cs.clone()],
                    &c[cs.clone()],
                    &h_prev[hs.clone()],
                    &h[hs.clone()],
                    &cache.dh[hs.clone()],
                    &mut cache.dc[cs],
                    &mut dgates[gs],
                    &mut dgates_rec[rs],
                    &mut cache.dh_prev[hs],
                );
            }
            // dL/dh_{t-1} through the recurrent product: dR_t W_hh (+ GRU's direct path).
            // Not needed at t = 0 unless the initial state was given.
            if t > 0 || cache.given {
                let dr = if C::SPLIT {
                    &cache.dgates_rec[g]
                } else {
                    &cache.dgates[g]
                };
                let beta = if C::SPLIT { T::one() } else { T::zero() };
                mul_ab_packed(
                    dr,
                    &cache.weight_hh_packed,
                    &mut cache.dh_prev,
                    rows,
                    gh,
                    H,
                    beta,
                    &mut cache.packed,
                );
                core::mem::swap(&mut cache.dh, &mut cache.dh_prev);
            }
        }
        if cache.given {
            let d = &mut cache.d_initial;
            d.h.set_rows(rows);
            d.h.as_mut_slice().copy_from_slice(&cache.dh);
            if C::HAS_C {
                d.c.set_rows(rows);
                d.c.as_mut_slice().copy_from_slice(&cache.dc);
            } else {
                d.c.set_rows(0);
            }
        }

        // The parameter gradients over all steps at once.
        let tn = steps * rows;
        let beta = grad_write.beta();
        let dr_all = if C::SPLIT {
            &cache.dgates_rec
        } else {
            &cache.dgates
        };
        mul_atb(
            &cache.dgates,
            x.as_slice(),
            &mut grads.weight_ih,
            tn,
            gh,
            IN,
            beta,
        );
        // h_0 .. h_{T-1} are the first `steps` blocks of `hidden`.
        mul_atb(
            dr_all,
            &cache.hidden[..tn * H],
            &mut grads.weight_hh,
            tn,
            gh,
            H,
            beta,
        );
        if let Some((dbi, dbh)) = grads.bias.as_mut() {
            col_sums(&cache.dgates, gh, dbi, grad_write);
            col_sums(dr_all, gh, dbh, grad_write);
        }
        if let Some(dx) = dx {
            match dx_write {
                Write::Overwrite => dx.set_shape(steps, rows),
                Write::Accumulate => assert!(
                    dx.steps() == steps && dx.rows() == rows,
                    "recurrent backward: accumulated dx has the wrong shape"
                ),
            }
            mul_ab(
                &cache.dgates,
                &self.weight_ih,
                dx.as_mut_slice(),
                tn,
                gh,
                IN,
                dx_write.beta(),
            );
        }
    }
}

/// Every step's hidden state (PyTorch's `output`, a [`Seq`]) as a layer's output,
/// instead of the final state alone: `Steps(&lstm)`. See the [module
/// documentation](self).
#[derive(Clone, Copy, Debug)]
pub struct Steps<'a, L>(pub &'a L);

stateful::from_zeros!([T: Real, C: Cell, const IN: usize, const H: usize] Recurrent<T, C, IN, H>);

impl<T: Real, C: Cell, const IN: usize, const H: usize> Stateful<T, IN> for Recurrent<T, C, IN, H> {
    type State = State<T, H>;
    type Last = Batch<T, H>;
    type Every = Seq<T, H>;
    type Cache = RecurrentCache<T, H>;

    fn check_state(&self, x: &Seq<T, IN>, initial: Option<&State<T, H>>) -> Result<()> {
        self.check(x, initial)
    }

    fn run(
        &self,
        x: &Seq<T, IN>,
        initial: Option<&State<T, H>>,
        cache: &mut RecurrentCache<T, H>,
    ) -> Result<()> {
        self.forward_from(x, initial, cache)
    }

    fn last(&self, cache: &RecurrentCache<T, H>, y: &mut Batch<T, H>) {
        final_h(cache, y);
    }

    fn every(&self, cache: &RecurrentCache<T, H>, y: &mut Seq<T, H>) {
        all_h(cache, y);
    }

    fn run_backward(
        &self,
        x: &Seq<T, IN>,
        cache: &mut RecurrentCache<T, H>,
        d_every: Option<&Seq<T, H>>,
        d_last: Option<&Batch<T, H>>,
        grads: &mut RecurrentGrads<T>,
        grad_write: Write,
        dx: Option<&mut Seq<T, IN>>,
        dx_write: Write,
    ) {
        self.backward_through_time(
            x, cache, d_every, d_last, None, grads, grad_write, dx, dx_write,
        );
    }

    fn final_state_into(&self, cache: &RecurrentCache<T, H>, out: &mut State<T, H>) {
        cache.final_state_into(out);
    }
}

fn final_h<T: Real, const H: usize>(cache: &RecurrentCache<T, H>, y: &mut Batch<T, H>) {
    let n = cache.rows * H;
    y.set_rows(cache.rows);
    y.as_mut_slice()
        .copy_from_slice(&cache.hidden[cache.steps * n..(cache.steps + 1) * n]);
}

fn all_h<T: Real, const H: usize>(cache: &RecurrentCache<T, H>, y: &mut Seq<T, H>) {
    y.set_shape(cache.steps, cache.rows);
    y.as_mut_slice().copy_from_slice(cache.outputs());
}
