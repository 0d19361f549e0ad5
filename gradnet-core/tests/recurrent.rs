//! Sequences and recurrent layers: `Seq` construction and conversion, and every cell's
//! backpropagation through time against central finite differences.
//!
//! Each cell (with and without bias, reading the last state or every step, from zeros
//! or from a given initial state) is checked for the input, every parameter and the
//! initial state against the central difference of
//!
//! ```text
//! L = sum_k c_k sin(y_k)   (+ sum_k c'_k sin(c_n,k) for the LSTM's final cell state)
//! ```
//!
//! where `y` is `h_n` or every `h_t`: a nonlinear op after the layer, so a backward
//! that ignores its incoming gradient fails. The rule is the project's,
//! `|a - n| <= 1e-6 max(|a|, |n|) + 1e-9` (`gradcheck`), on 7 steps of 2 rows, in f64;
//! so are bidirectional layers and a stack of two layers.
//! The gate equations, PyTorch's, are written beside each cell's tests.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell as StdCell;

use gradnet_core::gradcheck::{check_gradient, compare};
use gradnet_core::rng::seeded;
use gradnet_core::rnn::{
    bidirectional::BidirectionalCache, Bidirectional, Cell, GruCell, LstmCell, RecurrentCache,
    RecurrentConfig, RecurrentInit, RnnCell, RnnNonlinearity,
};
use gradnet_core::{
    Batch, Error, Gradients, Gru, Layer, Lstm, Parameters, Recurrent, Rnn, Seq, Shape, State,
    Steps, TensorKind, Write,
};

// ---------------------------------------------------------------------------------
// A counting allocator, per thread (the tests of this binary run on several threads).

struct Counting;

thread_local! {
    static ALLOCATIONS: StdCell<usize> = const { StdCell::new(0) };
}

fn bump() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(StdCell::get);
    f();
    ALLOCATIONS.with(StdCell::get) - before
}

// ---------------------------------------------------------------------------------
// The harness.

const IN: usize = 3;
const H: usize = 4;
const STEPS: usize = 7;
const ROWS: usize = 2;

/// `c_k` of the loss: varied in sign and size, so every output counts differently.
fn c(k: usize) -> f64 {
    [0.7, -1.3, 0.45, 1.9, -0.6, 1.1, -2.2][k % 7] * (1.0 + 0.01 * k as f64)
}

/// `sum_k c_{k + off} sin(y_k)`.
fn loss(y: &[f64], off: usize) -> f64 {
    y.iter()
        .enumerate()
        .map(|(k, &v)| c(k + off) * v.sin())
        .sum()
}

/// `dL/dy_k = c_{k + off} cos(y_k)`.
fn dloss(y: &[f64], off: usize) -> Vec<f64> {
    y.iter()
        .enumerate()
        .map(|(k, &v)| c(k + off) * v.cos())
        .collect()
}

/// `n` varied values in about `[-scale, scale]`, none closer to 0 than `0.1 scale`.
fn data(n: usize, phase: f64, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|k| {
            let v = (k as f64 * 1.618 + phase).sin();
            let v = if v.abs() < 0.1 {
                v + 0.3f64.copysign(v)
            } else {
                v
            };
            scale * v
        })
        .collect()
}

fn values<P: Parameters<f64>>(p: &P) -> Vec<f64> {
    let mut v = Vec::new();
    p.visit_params(&mut |_, p| v.extend_from_slice(p));
    v
}

fn with_values<P: Parameters<f64> + Clone>(p: &P, flat: &[f64]) -> P {
    let mut p = p.clone();
    let mut rest = flat;
    p.visit_values_mut(&mut |_, v| {
        let (head, tail) = rest.split_at(v.len());
        v.copy_from_slice(head);
        rest = tail;
    });
    assert!(rest.is_empty(), "more values than parameters");
    p
}

fn flat_grads<G: Gradients<f64>>(g: &G) -> Vec<f64> {
    let mut v = Vec::new();
    g.visit_grads(&mut |_, g| v.extend_from_slice(g));
    v
}

/// What the loss reads of the layer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Out {
    /// `h_n` (and, for the LSTM, `c_n`).
    Last,
    /// Every `h_t` (and, for the LSTM, `c_n`).
    Steps,
}

/// The loss of `layer` on `x` from `initial` (flat `h0`, then `c0` if the cell has
/// one), through `forward_from`.
fn run<C: Cell>(
    layer: &Recurrent<f64, C, IN, H>,
    x: &[f64],
    initial: Option<&[f64]>,
    out: Out,
) -> f64 {
    let x = Seq::<f64, IN>::from_time_major(x.to_vec(), STEPS).unwrap();
    let s = initial.map(|v| state::<C>(v));
    let mut cache = RecurrentCache::default();
    layer.forward_from(&x, s.as_ref(), &mut cache).unwrap();
    let fin = cache.final_state();
    let mut l = match out {
        Out::Last => loss(fin.h.as_slice(), 0),
        Out::Steps => loss(cache.outputs(), 0),
    };
    if C::HAS_C {
        l += loss(fin.c.as_slice(), 3);
    }
    l
}

fn state<C: Cell>(v: &[f64]) -> State<f64, H> {
    let n = ROWS * H;
    if C::HAS_C {
        State::with_cell(
            Batch::from_slice(&v[..n]).unwrap(),
            Batch::from_slice(&v[n..]).unwrap(),
        )
    } else {
        State::hidden(Batch::from_slice(v).unwrap())
    }
}

/// Checks `dx`, every parameter's gradient and (if `initial`) the initial state's
/// against finite differences, through `forward_from` / `backward_through_time`.
fn check_bptt<C: Cell>(name: &str, layer: &Recurrent<f64, C, IN, H>, initial: bool, out: Out) {
    let xs = data(STEPS * ROWS * IN, 0.2, 1.0);
    let n_state = ROWS * H * if C::HAS_C { 2 } else { 1 };
    let s0 = data(n_state, 1.1, 0.8);
    let init = initial.then_some(&s0[..]);
    let p = values(layer);

    // Analytic.
    let x = Seq::<f64, IN>::from_time_major(xs.clone(), STEPS).unwrap();
    let s = init.map(state::<C>);
    let mut cache = RecurrentCache::default();
    layer.forward_from(&x, s.as_ref(), &mut cache).unwrap();
    let fin = cache.final_state();
    let d_out = Seq::<f64, H>::from_time_major(dloss(cache.outputs(), 0), STEPS).unwrap();
    let d_h = Batch::<f64, H>::from_vec(dloss(fin.h.as_slice(), 0)).unwrap();
    let d_c = C::HAS_C.then(|| Batch::<f64, H>::from_vec(dloss(fin.c.as_slice(), 3)).unwrap());
    let mut g = layer.zero_grads();
    g.visit_grads_mut(&mut |_, g| g.fill(7.0)); // overwritten
    let mut dx = Seq::<f64, IN>::zeros(1, 5); // wrong shape, overwritten
    let (d_outputs, d_final_h) = match out {
        Out::Last => (None, Some(&d_h)),
        Out::Steps => (Some(&d_out), None),
    };
    layer.backward_through_time(
        &x,
        &mut cache,
        d_outputs,
        d_final_h,
        d_c.as_ref(),
        &mut g,
        Write::Overwrite,
        Some(&mut dx),
        Write::Overwrite,
    );
    assert_eq!((dx.steps(), dx.rows()), (STEPS, ROWS), "{name}: dx shape");

    check_gradient(|v| run(layer, v, init, out), &xs, dx.as_slice())
        .unwrap_or_else(|e| panic!("{name}: dx: {e}"));
    let analytic_dp = flat_grads(&g);
    assert_eq!(
        analytic_dp.len(),
        p.len(),
        "{name}: one gradient per parameter"
    );
    check_gradient(
        |v| run(&with_values(layer, v), &xs, init, out),
        &p,
        &analytic_dp,
    )
    .unwrap_or_else(|e| panic!("{name}: dparams: {e}"));
    match cache.d_initial() {
        Some(d) => {
            assert!(initial, "{name}: d_initial without an initial state");
            let mut ds = d.h.as_slice().to_vec();
            ds.extend_from_slice(d.c.as_slice());
            check_gradient(|v| run(layer, &xs, Some(v), out), &s0, &ds)
                .unwrap_or_else(|e| panic!("{name}: d_initial: {e}"));
        }
        None => assert!(!initial, "{name}: no d_initial for a given initial state"),
    }
}

/// The protocol's backward (from zeros; `h_n` for the layer, every step for
/// `Steps(&layer)`): dx and the parameters against finite differences, then
/// `Write::Accumulate` adds to what was there, and `dx = None` gives the same
/// parameter gradients.
fn check_protocol<C: Cell>(name: &str, layer: &Recurrent<f64, C, IN, H>) {
    fn one<L, O>(
        name: &str,
        l: &L,
        at: impl Fn(&[f64]) -> f64,
        p: &[f64],
        xs: &[f64],
        zero: &L::Grads,
    ) where
        L: Layer<f64, Seq<f64, IN>, Output = O>,
        L::Grads: Clone,
        O: AsFlat,
    {
        let x = Seq::<f64, IN>::from_time_major(xs.to_vec(), STEPS).unwrap();
        let (mut y, mut cache) = (O::default(), L::Cache::default());
        Layer::check_train(l, &x).unwrap();
        Layer::forward_train(l, &x, &mut y, &mut cache, &mut seeded(0)).unwrap();
        let mut y_eval = O::default();
        Layer::forward_eval(l, &x, &mut y_eval);
        assert_eq!(y_eval.flat(), y.flat(), "{name}: eval differs from train");
        let dy0 = O::from_flat(dloss(y.flat(), 0));
        let (mut dy, mut dx) = (dy0.clone(), Seq::new());
        let mut g = zero.clone();
        let w = Write::Overwrite;
        Layer::backward(l, &x, &y, &mut cache, &mut dy, &mut g, w, Some(&mut dx), w);
        let run_x = |v: &[f64]| {
            let x = Seq::<f64, IN>::from_time_major(v.to_vec(), STEPS).unwrap();
            let mut y = O::default();
            Layer::forward_eval(l, &x, &mut y);
            loss(y.flat(), 0)
        };
        check_gradient(run_x, xs, dx.as_slice()).unwrap_or_else(|e| panic!("{name}: dx: {e}"));
        let dp = flat_grads(&g);
        check_gradient(at, p, &dp).unwrap_or_else(|e| panic!("{name}: dparams: {e}"));

        // Accumulate onto given values; dx = None gives the same parameter gradients.
        let mut dy = dy0.clone();
        let mut g2 = zero.clone();
        g2.visit_grads_mut(&mut |_, g| g.fill(0.5));
        let mut dx2 = Seq::<f64, IN>::from_time_major(vec![0.25; xs.len()], STEPS).unwrap();
        let a = Write::Accumulate;
        Layer::backward(
            l,
            &x,
            &y,
            &mut cache,
            &mut dy,
            &mut g2,
            a,
            Some(&mut dx2),
            a,
        );
        let plus = |v: &[f64], d: f64| v.iter().map(|v| v + d).collect::<Vec<_>>();
        compare(dx2.as_slice(), &plus(dx.as_slice(), 0.25)).unwrap();
        compare(&flat_grads(&g2), &plus(&dp, 0.5)).unwrap();
        let mut dy = dy0;
        let mut g3 = zero.clone();
        Layer::backward(l, &x, &y, &mut cache, &mut dy, &mut g3, w, None, w);
        assert_eq!(
            flat_grads(&g3),
            dp,
            "{name}: dx = None changes the gradients"
        );
    }
    let xs = data(STEPS * ROWS * IN, 0.7, 1.0);
    let p = values(layer);
    let last = |v: &[f64]| {
        let l = with_values(layer, v);
        let x = Seq::<f64, IN>::from_time_major(xs.clone(), STEPS).unwrap();
        let mut y = Batch::new();
        Layer::forward_eval(&l, &x, &mut y);
        loss(y.as_slice(), 0)
    };
    let zero = layer.zero_grads();
    one(&format!("{name} last"), layer, last, &p, &xs, &zero);
    let steps = |v: &[f64]| {
        let l = with_values(layer, v);
        let x = Seq::<f64, IN>::from_time_major(xs.clone(), STEPS).unwrap();
        let mut y = Seq::new();
        Layer::forward_eval(&Steps(&l), &x, &mut y);
        loss(y.as_slice(), 0)
    };
    one(
        &format!("{name} steps"),
        &Steps(layer),
        steps,
        &p,
        &xs,
        &zero,
    );
}

/// An output read as a flat slice.
trait AsFlat: Default + Clone {
    fn flat(&self) -> &[f64];
    fn from_flat(v: Vec<f64>) -> Self;
}

impl AsFlat for Batch<f64, H> {
    fn flat(&self) -> &[f64] {
        self.as_slice()
    }
    fn from_flat(v: Vec<f64>) -> Self {
        Batch::from_vec(v).unwrap()
    }
}

impl AsFlat for Seq<f64, H> {
    fn flat(&self) -> &[f64] {
        self.as_slice()
    }
    fn from_flat(v: Vec<f64>) -> Self {
        Seq::from_time_major(v, STEPS).unwrap()
    }
}

/// Every check, for one layer with and without its biases.
fn check_all<C: Cell>(name: &str, cell: C) {
    for bias in [true, false] {
        let config = RecurrentConfig {
            bias,
            ..RecurrentConfig::default()
        };
        // Weights a little larger than PyTorch's default, so every gate does work.
        let base = Recurrent::<f64, C, IN, H>::with_cell(cell, &config, &mut seeded(3));
        let p: Vec<f64> = values(&base).iter().map(|v| 1.6 * v).collect();
        let layer = with_values(&base, &p);
        let name = format!("{name} bias={bias}");
        for out in [Out::Last, Out::Steps] {
            for initial in [false, true] {
                check_bptt(
                    &format!("{name} {out:?} initial={initial}"),
                    &layer,
                    initial,
                    out,
                );
            }
        }
        check_protocol(&name, &layer);
    }
}

// ---------------------------------------------------------------------------------
// The cells against finite differences.

/// `torch.nn.RNN(nonlinearity='tanh')`:
///
/// ```text
/// h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
/// ```
#[test]
fn rnn_tanh_backpropagates_through_time() {
    check_all("rnn tanh", RnnCell::default());
}

/// `torch.nn.RNN(nonlinearity='relu')`:
///
/// ```text
/// h_t = relu(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
/// ```
#[test]
fn rnn_relu_backpropagates_through_time() {
    check_all(
        "rnn relu",
        RnnCell {
            nonlinearity: RnnNonlinearity::Relu,
        },
    );
}

/// A hand-computed step: one unit, one feature, `h_1 = tanh(w x + b_i + u h_0 + b_h)`.
#[test]
fn rnn_matches_the_equation() {
    let rnn = Rnn::<f64, 1, 1>::from_parts(
        RnnCell::default(),
        vec![0.5],
        vec![-0.75],
        Some((vec![0.1], vec![0.2])),
    )
    .unwrap();
    let x = Seq::<f64, 1>::from_time_major(vec![2.0, -1.0], 2).unwrap();
    let mut cache = RecurrentCache::default();
    let h0 = State::hidden(Batch::from_slice(&[0.4]).unwrap());
    rnn.forward_from(&x, Some(&h0), &mut cache).unwrap();
    let h1 = (0.5 * 2.0 + 0.1 - 0.75 * 0.4 + 0.2f64).tanh();
    let h2 = (-0.5 + 0.1 - 0.75 * h1 + 0.2f64).tanh();
    assert_eq!(cache.outputs(), &[h1, h2]);
    assert_eq!(cache.final_state().h.as_slice(), &[h2]);
    assert!(cache.final_state().c.is_empty());
}

/// `torch.nn.LSTM`, gates in PyTorch's order i, f, g, o:
///
/// ```text
/// i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
/// f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
/// g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
/// o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
/// c_t = f_t * c_{t-1} + i_t * g_t
/// h_t = o_t * tanh(c_t)
/// ```
///
/// The loss also reads `c_n` (`+ sum c'_k sin(c_n,k)`), so dL/dc_n and dL/dc_0 are checked.
#[test]
fn lstm_backpropagates_through_time() {
    check_all("lstm", LstmCell);
}

/// A hand-computed step of one unit: the gate blocks are in the order i, f, g, o.
#[test]
fn lstm_matches_the_equation() {
    let (wi, wh) = (vec![0.5, -0.25, 0.75, 1.0], vec![0.3, 0.6, -0.4, 0.2]);
    let (bi, bh) = (vec![0.1, 0.2, 0.3, 0.4], vec![-0.1, 0.05, 0.0, 0.1]);
    let lstm = Lstm::<f64, 1, 1>::from_parts(
        LstmCell,
        wi.clone(),
        wh.clone(),
        Some((bi.clone(), bh.clone())),
    )
    .unwrap();
    let x = Seq::<f64, 1>::from_time_major(vec![2.0], 1).unwrap();
    let (h0, c0) = (0.4, -0.7);
    let s0 = State::with_cell(
        Batch::from_slice(&[h0]).unwrap(),
        Batch::from_slice(&[c0]).unwrap(),
    );
    let mut cache = RecurrentCache::default();
    lstm.forward_from(&x, Some(&s0), &mut cache).unwrap();
    let z = |k: usize| wi[k] * 2.0 + bi[k] + wh[k] * h0 + bh[k];
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let (i, f, g, o) = (sig(z(0)), sig(z(1)), z(2).tanh(), sig(z(3)));
    let c1 = f * c0 + i * g;
    let h1 = o * c1.tanh();
    let fin = cache.final_state();
    assert!((fin.c.as_slice()[0] - c1).abs() < 1e-15);
    assert!((fin.h.as_slice()[0] - h1).abs() < 1e-15);
}

#[test]
fn lstm_options() {
    let lstm = Lstm::<f64, 3, 5>::new(&RecurrentConfig::default(), &mut seeded(0));
    assert_eq!(
        shapes(&lstm),
        [
            "weight_ih_l0 [20, 3]",
            "weight_hh_l0 [20, 5]",
            "bias_ih_l0 [20]",
            "bias_hh_l0 [20]"
        ]
    );
    let config = RecurrentConfig {
        recurrent_init: RecurrentInit::Orthogonal,
        forget_bias_one: true,
        ..RecurrentConfig::default()
    };
    let lstm = Lstm::<f64, 3, 5>::new(&config, &mut seeded(0));
    assert_orthogonal_blocks(lstm.weight_hh(), 5);
    let (bi, bh) = (lstm.bias_ih().unwrap(), lstm.bias_hh().unwrap());
    assert_eq!(&bi[5..10], &[1.0; 5]);
    assert_eq!(&bh[5..10], &[0.0; 5]);
    assert!(bi[..5]
        .iter()
        .chain(&bi[10..])
        .all(|v| v.abs() <= 1.0 / 5f64.sqrt()));
}

#[test]
fn lstm_allocates_nothing_after_the_first_call() {
    assert_no_allocation_on_reuse("lstm", LstmCell);
}

/// `torch.nn.GRU`, gates in PyTorch's order r, z, n:
///
/// ```text
/// r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
/// z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
/// n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
/// h_t = (1 - z_t) * n_t + z_t * h_{t-1}
/// ```
#[test]
fn gru_backpropagates_through_time() {
    check_all("gru", GruCell);
}

/// A hand-computed step of one unit, gate blocks r, z, n; `b_hn` inside the reset.
#[test]
fn gru_matches_the_equation() {
    let (wi, wh) = (vec![0.5, -0.25, 0.75], vec![0.3, 0.6, -0.4]);
    let (bi, bh) = (vec![0.1, 0.2, 0.3], vec![-0.1, 0.05, 0.7]);
    let gru = Gru::<f64, 1, 1>::from_parts(
        GruCell,
        wi.clone(),
        wh.clone(),
        Some((bi.clone(), bh.clone())),
    )
    .unwrap();
    let x = Seq::<f64, 1>::from_time_major(vec![2.0], 1).unwrap();
    let h0 = 0.4;
    let mut cache = RecurrentCache::default();
    let s0 = State::hidden(Batch::from_slice(&[h0]).unwrap());
    gru.forward_from(&x, Some(&s0), &mut cache).unwrap();
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let r = sig(wi[0] * 2.0 + bi[0] + wh[0] * h0 + bh[0]);
    let z = sig(wi[1] * 2.0 + bi[1] + wh[1] * h0 + bh[1]);
    let n = (wi[2] * 2.0 + bi[2] + r * (wh[2] * h0 + bh[2])).tanh();
    let h1 = (1.0 - z) * n + z * h0;
    assert!((cache.final_state().h.as_slice()[0] - h1).abs() < 1e-15);
}

#[test]
fn gru_shapes_and_reuse() {
    let gru = Gru::<f64, 3, 5>::new(&RecurrentConfig::default(), &mut seeded(0));
    assert_eq!(
        shapes(&gru),
        [
            "weight_ih_l0 [15, 3]",
            "weight_hh_l0 [15, 5]",
            "bias_ih_l0 [15]",
            "bias_hh_l0 [15]"
        ]
    );
    assert_no_allocation_on_reuse("gru", GruCell);
}

// ---------------------------------------------------------------------------------
// Bidirectional: PyTorch's bidirectional=True,
//
//     output_t = [h_t(forward), h_t(backward)],  h_n = [forward after T-1, backward after 0]
//
// where the backward direction is the same cell run from t = T-1 down to 0.

const H2: usize = 2 * H;

/// The loss of a bidirectional layer from flat initial states (forward's then
/// backward's, each `h0` then `c0` if the cell has one).
fn run_bi<C: Cell>(
    layer: &Bidirectional<f64, C, IN, H, H2>,
    x: &[f64],
    initial: Option<&[f64]>,
    out: Out,
) -> f64 {
    let x = Seq::<f64, IN>::from_time_major(x.to_vec(), STEPS).unwrap();
    let half = initial.map(|v| v.len() / 2);
    let s = initial.map(|v| {
        (
            state::<C>(&v[..half.unwrap()]),
            state::<C>(&v[half.unwrap()..]),
        )
    });
    let mut cache = BidirectionalCache::default();
    layer
        .forward_from(
            &x,
            s.as_ref().map(|s| &s.0),
            s.as_ref().map(|s| &s.1),
            &mut cache,
        )
        .unwrap();
    match out {
        Out::Last => {
            let mut y = Batch::new();
            Layer::forward_eval(layer, &x, &mut y); // from zeros: only used when initial is None
            if initial.is_none() {
                return loss(y.as_slice(), 0);
            }
            let (f, r) = (cache.forward().final_state(), cache.reverse().final_state());
            let mut both = Vec::new();
            for row in 0..ROWS {
                both.extend_from_slice(f.h.row(row));
                both.extend_from_slice(r.h.row(row));
            }
            loss(&both, 0)
        }
        Out::Steps => {
            let (fo, ro) = (cache.forward().outputs(), cache.reverse().outputs());
            let n = ROWS * H;
            let mut all = Vec::new();
            for t in 0..STEPS {
                let rt = STEPS - 1 - t;
                for row in 0..ROWS {
                    all.extend_from_slice(&fo[t * n + row * H..t * n + (row + 1) * H]);
                    all.extend_from_slice(&ro[rt * n + row * H..rt * n + (row + 1) * H]);
                }
            }
            loss(&all, 0)
        }
    }
}

fn check_bidirectional<C: Cell>(name: &str, cell: C) {
    for bias in [true, false] {
        let config = RecurrentConfig {
            bias,
            ..RecurrentConfig::default()
        };
        let base = Bidirectional::<f64, C, IN, H, H2>::with_cell(cell, &config, &mut seeded(4));
        let p: Vec<f64> = values(&base).iter().map(|v| 1.6 * v).collect();
        let layer = with_values(&base, &p);
        for out in [Out::Last, Out::Steps] {
            for initial in [false, true] {
                let name = format!("{name} bidirectional bias={bias} {out:?} initial={initial}");
                let xs = data(STEPS * ROWS * IN, 0.5, 1.0);
                let n_state = 2 * ROWS * H * if C::HAS_C { 2 } else { 1 };
                let s0 = data(n_state, 1.7, 0.8);
                let init = initial.then_some(&s0[..]);
                let x = Seq::<f64, IN>::from_time_major(xs.clone(), STEPS).unwrap();
                let half = n_state / 2;
                let (sf, sr) = (state::<C>(&s0[..half]), state::<C>(&s0[half..]));
                let mut cache = BidirectionalCache::default();
                let (i0, i1) = if initial {
                    (Some(&sf), Some(&sr))
                } else {
                    (None, None)
                };
                layer.forward_from(&x, i0, i1, &mut cache).unwrap();
                let (mut y_last, mut y_all) = (Batch::<f64, H2>::new(), Seq::<f64, H2>::new());
                // The outputs as the protocol assembles them (from the same forward).
                let mut scratch = BidirectionalCache::default();
                if !initial {
                    Layer::forward_train(&layer, &x, &mut y_last, &mut scratch, &mut seeded(0))
                        .unwrap();
                    Layer::forward_train(
                        &Steps(&layer),
                        &x,
                        &mut y_all,
                        &mut scratch,
                        &mut seeded(0),
                    )
                    .unwrap();
                    assert_eq!(scratch.forward().outputs(), cache.forward().outputs());
                }
                let mut g = layer.zero_grads();
                let mut dx = Seq::new();
                let w = Write::Overwrite;
                match out {
                    Out::Last => {
                        let f = cache.forward().final_state();
                        let r = cache.reverse().final_state();
                        let mut both = Vec::new();
                        for row in 0..ROWS {
                            both.extend_from_slice(f.h.row(row));
                            both.extend_from_slice(r.h.row(row));
                        }
                        if !initial {
                            assert_eq!(both, y_last.as_slice(), "{name}: h_n order");
                        }
                        let d = Batch::<f64, H2>::from_vec(dloss(&both, 0)).unwrap();
                        layer.backward_through_time(
                            &x,
                            &mut cache,
                            None,
                            Some(&d),
                            &mut g,
                            w,
                            Some(&mut dx),
                            w,
                        );
                    }
                    Out::Steps => {
                        let mut all = Seq::<f64, H2>::new();
                        let mut c2 = BidirectionalCache::default();
                        Layer::forward_train(&Steps(&layer), &x, &mut all, &mut c2, &mut seeded(0))
                            .unwrap();
                        // With an initial state, assemble from `cache` instead.
                        let fo = cache.forward().outputs().to_vec();
                        let ro = cache.reverse().outputs().to_vec();
                        let n = ROWS * H;
                        let mut flat = Vec::new();
                        for t in 0..STEPS {
                            let rt = STEPS - 1 - t;
                            for row in 0..ROWS {
                                flat.extend_from_slice(&fo[t * n + row * H..t * n + (row + 1) * H]);
                                flat.extend_from_slice(
                                    &ro[rt * n + row * H..rt * n + (row + 1) * H],
                                );
                            }
                        }
                        if !initial {
                            assert_eq!(flat, all.as_slice(), "{name}: output order");
                        }
                        let d = Seq::<f64, H2>::from_time_major(dloss(&flat, 0), STEPS).unwrap();
                        layer.backward_through_time(
                            &x,
                            &mut cache,
                            Some(&d),
                            None,
                            &mut g,
                            w,
                            Some(&mut dx),
                            w,
                        );
                    }
                }
                check_gradient(|v| run_bi(&layer, v, init, out), &xs, dx.as_slice())
                    .unwrap_or_else(|e| panic!("{name}: dx: {e}"));
                check_gradient(
                    |v| run_bi(&with_values(&layer, v), &xs, init, out),
                    &p,
                    &flat_grads(&g),
                )
                .unwrap_or_else(|e| panic!("{name}: dparams: {e}"));
                if initial {
                    let mut ds = Vec::new();
                    for c in [cache.forward(), cache.reverse()] {
                        let d = c.d_initial().expect("a given initial state has a gradient");
                        ds.extend_from_slice(d.h.as_slice());
                        ds.extend_from_slice(d.c.as_slice());
                    }
                    check_gradient(|v| run_bi(&layer, &xs, Some(v), out), &s0, &ds)
                        .unwrap_or_else(|e| panic!("{name}: d_initial: {e}"));
                }
            }
        }
    }
}

#[test]
fn bidirectional_rnn_backpropagates_through_time() {
    check_bidirectional("rnn", RnnCell::default());
}

#[test]
fn bidirectional_lstm_backpropagates_through_time() {
    check_bidirectional("lstm", LstmCell);
}

#[test]
fn bidirectional_gru_backpropagates_through_time() {
    check_bidirectional("gru", GruCell);
}

#[test]
fn bidirectional_allocates_nothing_after_the_first_call() {
    let gru =
        Bidirectional::<f64, GruCell, IN, H, H2>::new(&RecurrentConfig::default(), &mut seeded(0));
    let big = Seq::<f64, IN>::from_time_major(data(8 * 3 * IN, 0.1, 1.0), 8).unwrap();
    let small = Seq::<f64, IN>::from_time_major(data(6 * 2 * IN, 0.4, 1.0), 6).unwrap();
    let (mut y, mut cache, mut g, mut dx) = (
        Seq::new(),
        BidirectionalCache::default(),
        gru.zero_grads(),
        Seq::new(),
    );
    let mut dy = Seq::<f64, H2>::new();
    let mut step = |x: &Seq<f64, IN>| {
        let layer = Steps(&gru);
        Layer::forward_train(&layer, x, &mut y, &mut cache, &mut seeded(0)).unwrap();
        dy.copy_from(&y);
        let w = Write::Overwrite;
        Layer::backward(
            &layer,
            x,
            &y,
            &mut cache,
            &mut dy,
            &mut g,
            w,
            Some(&mut dx),
            w,
        );
    };
    step(&big);
    assert_eq!(allocations(|| step(&big)), 0, "same size");
    assert_eq!(allocations(|| step(&small)), 0, "smaller");
}

#[test]
fn bidirectional_names_and_protocol_accumulate() {
    let lstm =
        Bidirectional::<f64, LstmCell, 2, 3, 6>::new(&RecurrentConfig::default(), &mut seeded(0));
    assert_eq!(
        shapes(&lstm),
        [
            "weight_ih_l0 [12, 2]",
            "weight_hh_l0 [12, 3]",
            "bias_ih_l0 [12]",
            "bias_hh_l0 [12]",
            "weight_ih_l0_reverse [12, 2]",
            "weight_hh_l0_reverse [12, 3]",
            "bias_ih_l0_reverse [12]",
            "bias_hh_l0_reverse [12]"
        ]
    );
    // The protocol: Accumulate adds to what dx and the gradients held.
    let x = Seq::<f64, 2>::from_time_major(data(6 * 2 * 2, 0.3, 1.0), 6).unwrap();
    let (mut y, mut cache) = (Batch::new(), BidirectionalCache::default());
    Layer::forward_train(&lstm, &x, &mut y, &mut cache, &mut seeded(0)).unwrap();
    let dy0 = Batch::<f64, 6>::from_vec(dloss(y.as_slice(), 0)).unwrap();
    let (mut g, mut dx) = (lstm.zero_grads(), Seq::new());
    let w = Write::Overwrite;
    Layer::backward(
        &lstm,
        &x,
        &y,
        &mut cache,
        &mut dy0.clone(),
        &mut g,
        w,
        Some(&mut dx),
        w,
    );
    let mut g2 = lstm.zero_grads();
    g2.visit_grads_mut(&mut |_, g| g.fill(1.0));
    let mut dx2 = Seq::<f64, 2>::from_time_major(vec![2.0; 24], 6).unwrap();
    let a = Write::Accumulate;
    Layer::backward(
        &lstm,
        &x,
        &y,
        &mut cache,
        &mut dy0.clone(),
        &mut g2,
        a,
        Some(&mut dx2),
        a,
    );
    let plus = |v: &[f64], d: f64| v.iter().map(|v| v + d).collect::<Vec<_>>();
    compare(dx2.as_slice(), &plus(dx.as_slice(), 2.0)).unwrap();
    compare(&flat_grads(&g2), &plus(&flat_grads(&g), 1.0)).unwrap();
}

// ---------------------------------------------------------------------------------
// Parameters, initialization, errors, reuse.

fn shapes<P: Parameters<f64>>(p: &P) -> Vec<String> {
    let mut v = Vec::new();
    p.visit_shapes(&mut |name, kind, shape: Shape| {
        assert_eq!(kind, TensorKind::Parameter);
        v.push(format!("{name} {shape}"));
    });
    v
}

#[test]
fn rnn_parameters_have_pytorch_names_and_shapes() {
    let rnn = Rnn::<f64, 5, 7>::new(&RecurrentConfig::default(), &mut seeded(0));
    assert_eq!(
        shapes(&rnn),
        [
            "weight_ih_l0 [7, 5]",
            "weight_hh_l0 [7, 7]",
            "bias_ih_l0 [7]",
            "bias_hh_l0 [7]"
        ]
    );
    let no_bias = RecurrentConfig {
        bias: false,
        ..RecurrentConfig::default()
    };
    let rnn = Rnn::<f64, 5, 7>::new(&no_bias, &mut seeded(0));
    assert_eq!(shapes(&rnn), ["weight_ih_l0 [7, 5]", "weight_hh_l0 [7, 7]"]);
    assert_eq!(rnn.num_params(), 7 * 5 + 7 * 7);
}

/// PyTorch's default: every value in `[-1/sqrt(H), 1/sqrt(H)]`, spread over it.
#[test]
fn default_init_is_uniform_one_over_sqrt_h() {
    let rnn = Rnn::<f64, 16, 64>::new(&RecurrentConfig::default(), &mut seeded(1));
    let k = 1.0 / 8.0;
    rnn.visit_params(&mut |name, v| {
        assert!(v.iter().all(|x| x.abs() <= k), "{name} out of range");
        let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(max > 0.9 * k, "{name} does not fill the range");
    });
    // The same seed gives the same layer.
    let again = Rnn::<f64, 16, 64>::new(&RecurrentConfig::default(), &mut seeded(1));
    assert_eq!(rnn, again);
}

/// Orthogonal recurrent weights: each gate's `H x H` block has `W W^T = I`.
#[test]
fn orthogonal_recurrent_weights() {
    let config = RecurrentConfig {
        recurrent_init: RecurrentInit::Orthogonal,
        ..RecurrentConfig::default()
    };
    let rnn = Rnn::<f64, 3, 6>::new(&config, &mut seeded(2));
    assert_orthogonal_blocks(rnn.weight_hh(), 6);
}

fn assert_orthogonal_blocks(w: &[f64], h: usize) {
    for block in w.chunks_exact(h * h) {
        for i in 0..h {
            for j in 0..h {
                let d: f64 = (0..h).map(|k| block[i * h + k] * block[j * h + k]).sum();
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((d - e).abs() < 1e-12, "W W^T [{i}][{j}] = {d}");
            }
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let rnn = Rnn::<f64, 2, 3>::new(&RecurrentConfig::default(), &mut seeded(0));
    let mut cache = RecurrentCache::default();
    assert_eq!(
        rnn.forward_from(&Seq::new(), None, &mut cache),
        Err(Error::EmptyBatch)
    );
    assert_eq!(
        Layer::check_train(&rnn, &Seq::zeros(3, 0)),
        Err(Error::EmptyBatch)
    );
    let x = Seq::<f64, 2>::zeros(4, 2);
    let h0 = State::hidden(Batch::<f64, 3>::zeros(3));
    assert!(matches!(
        rnn.forward_from(&x, Some(&h0), &mut cache),
        Err(Error::RowMismatch {
            expected: 2,
            found: 3,
            ..
        })
    ));
    assert!(matches!(
        Rnn::<f64, 2, 3>::from_parts(RnnCell::default(), vec![0.0; 5], vec![0.0; 9], None),
        Err(Error::WidthMismatch {
            expected: 6,
            found: 5,
            ..
        })
    ));
}

/// A second call of the same size, and a smaller one after it, allocate nothing:
/// forward, backward (with dx) and reading the final state into a kept buffer.
fn assert_no_allocation_on_reuse<C: Cell>(name: &str, cell: C) {
    let layer =
        Recurrent::<f64, C, IN, H>::with_cell(cell, &RecurrentConfig::default(), &mut seeded(0));
    let big = Seq::<f64, IN>::from_time_major(data(8 * 3 * IN, 0.1, 1.0), 8).unwrap();
    let small = Seq::<f64, IN>::from_time_major(data(6 * 2 * IN, 0.4, 1.0), 6).unwrap();
    let d_big = Seq::<f64, H>::from_time_major(data(8 * 3 * H, 0.9, 1.0), 8).unwrap();
    let d_small = Seq::<f64, H>::from_time_major(data(6 * 2 * H, 0.9, 1.0), 6).unwrap();
    let mut cache = RecurrentCache::default();
    let mut g = layer.zero_grads();
    let (mut dx, mut fin) = (Seq::new(), State::default());
    let h0 = State::with_cell(Batch::<f64, H>::zeros(3), Batch::<f64, H>::zeros(3));
    let mut step = |x: &Seq<f64, IN>, d: &Seq<f64, H>, h0: Option<&State<f64, H>>| {
        layer.forward_from(x, h0, &mut cache).unwrap();
        cache.final_state_into(&mut fin);
        layer.backward_through_time(
            x,
            &mut cache,
            Some(d),
            Some(&fin.h),
            None,
            &mut g,
            Write::Overwrite,
            Some(&mut dx),
            Write::Overwrite,
        );
    };
    step(&big, &d_big, Some(&h0));
    assert_eq!(
        allocations(|| step(&big, &d_big, Some(&h0))),
        0,
        "{name}: same size"
    );
    assert_eq!(
        allocations(|| step(&small, &d_small, None)),
        0,
        "{name}: smaller"
    );
    assert_eq!(
        allocations(|| step(&big, &d_big, None)),
        0,
        "{name}: back to the first"
    );
}

#[test]
fn rnn_allocates_nothing_after_the_first_call() {
    assert_no_allocation_on_reuse("rnn", RnnCell::default());
}

/// At a size where every product goes to the GEMM (more than 8 rows and 8192
/// multiply-adds), a batch gives each row what that row gives alone, where every
/// product takes the direct loops: outputs, dx, and parameter gradients summed over
/// rows. So the GEMM paths agree with the direct loops the finite differences check.
fn assert_gemm_path_matches_direct<C: Cell>(name: &str, cell: C) {
    const BI: usize = 16;
    const BH: usize = 32;
    const T: usize = 6;
    const R: usize = 12;
    let layer =
        Recurrent::<f64, C, BI, BH>::with_cell(cell, &RecurrentConfig::default(), &mut seeded(9));
    let x = Seq::<f64, BI>::from_time_major(data(T * R * BI, 0.3, 1.0), T).unwrap();
    let dy = Seq::<f64, BH>::from_time_major(data(T * R * BH, 1.3, 1.0), T).unwrap();
    let w = Write::Overwrite;
    let mut cache = RecurrentCache::default();
    layer.forward_from(&x, None, &mut cache).unwrap();
    let (mut g, mut dx) = (layer.zero_grads(), Seq::new());
    layer.backward_through_time(
        &x,
        &mut cache,
        Some(&dy),
        None,
        None,
        &mut g,
        w,
        Some(&mut dx),
        w,
    );
    let outputs = cache.outputs().to_vec();
    let mut g_rows = layer.zero_grads();
    for r in 0..R {
        let pick = |s: &[f64], d: usize| -> Vec<f64> {
            (0..T)
                .flat_map(|t| s[(t * R + r) * d..(t * R + r + 1) * d].to_vec())
                .collect()
        };
        let xr = Seq::<f64, BI>::from_time_major(pick(x.as_slice(), BI), T).unwrap();
        let dyr = Seq::<f64, BH>::from_time_major(pick(dy.as_slice(), BH), T).unwrap();
        let mut c1 = RecurrentCache::default();
        layer.forward_from(&xr, None, &mut c1).unwrap();
        let mut dxr = Seq::new();
        let gw = if r == 0 {
            Write::Overwrite
        } else {
            Write::Accumulate
        };
        layer.backward_through_time(
            &xr,
            &mut c1,
            Some(&dyr),
            None,
            None,
            &mut g_rows,
            gw,
            Some(&mut dxr),
            w,
        );
        let close = |a: &[f64], b: &[f64], what: &str| {
            for (k, (a, b)) in a.iter().zip(b).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                    "{name}: {what} row {r} at {k}: {a} vs {b}"
                );
            }
        };
        close(c1.outputs(), &pick(&outputs, BH), "outputs");
        close(dxr.as_slice(), &pick(dx.as_slice(), BI), "dx");
    }
    for (k, (a, b)) in flat_grads(&g_rows).iter().zip(flat_grads(&g)).enumerate() {
        assert!(
            (a - b).abs() <= 1e-11 * (1.0 + b.abs()),
            "{name}: grads at {k}: {a} vs {b}"
        );
    }
}

#[test]
fn gemm_paths_match_the_direct_loops() {
    assert_gemm_path_matches_direct("rnn", RnnCell::default());
    assert_gemm_path_matches_direct("lstm", LstmCell);
    assert_gemm_path_matches_direct("gru", GruCell);
}

/// f32 computes what f64 does, to f32's precision (the layers are generic over `Real`).
#[test]
fn f32_agrees_with_f64() {
    let l64 = Recurrent::<f64, LstmCell, IN, H>::new(&RecurrentConfig::default(), &mut seeded(6));
    let l32 = Recurrent::<f32, LstmCell, IN, H>::new(&RecurrentConfig::default(), &mut seeded(6));
    let xs = data(STEPS * ROWS * IN, 0.2, 1.0);
    let x64 = Seq::<f64, IN>::from_time_major(xs.clone(), STEPS).unwrap();
    let x32 =
        Seq::<f32, IN>::from_time_major(xs.iter().map(|&v| v as f32).collect(), STEPS).unwrap();
    let (mut y64, mut y32) = (Batch::new(), Batch::new());
    Layer::forward_eval(&l64, &x64, &mut y64);
    Layer::forward_eval(&l32, &x32, &mut y32);
    for (a, b) in y32.as_slice().iter().zip(y64.as_slice()) {
        assert!((f64::from(*a) - b).abs() < 1e-5, "{a} vs {b}");
    }
}

/// Stacking: an LSTM returning every step, then a bidirectional GRU over them
/// returning `h_n` (PyTorch: `nn.LSTM(3, 4)` then `nn.GRU(4, 4, bidirectional=True)`
/// on its `output`), chained through the protocol: `dx` of the second layer is `dy` of
/// the first. The input and every parameter of both against finite differences.
#[test]
fn stacked_layers_backpropagate_through_both() {
    let l1 = Recurrent::<f64, LstmCell, IN, H>::new(&RecurrentConfig::default(), &mut seeded(7));
    let l2 =
        Bidirectional::<f64, GruCell, H, H, H2>::new(&RecurrentConfig::default(), &mut seeded(8));
    let xs = data(STEPS * ROWS * IN, 0.9, 1.0);
    let x = Seq::<f64, IN>::from_time_major(xs.clone(), STEPS).unwrap();
    let n1 = values(&l1).len();
    let forward = |l1: &Recurrent<f64, LstmCell, IN, H>,
                   l2: &Bidirectional<f64, GruCell, H, H, H2>,
                   x: &Seq<f64, IN>| {
        let (mut h1, mut y) = (Seq::new(), Batch::new());
        Layer::forward_eval(&Steps(l1), x, &mut h1);
        Layer::forward_eval(l2, &h1, &mut y);
        loss(y.as_slice(), 0)
    };
    let (mut h1, mut y, mut c1, mut c2) = (
        Seq::new(),
        Batch::new(),
        RecurrentCache::default(),
        BidirectionalCache::default(),
    );
    Layer::forward_train(&Steps(&l1), &x, &mut h1, &mut c1, &mut seeded(0)).unwrap();
    Layer::forward_train(&l2, &h1, &mut y, &mut c2, &mut seeded(0)).unwrap();
    let mut dy = Batch::<f64, H2>::from_vec(dloss(y.as_slice(), 0)).unwrap();
    let (mut g1, mut g2, mut dh1, mut dx) =
        (l1.zero_grads(), l2.zero_grads(), Seq::new(), Seq::new());
    let w = Write::Overwrite;
    Layer::backward(
        &l2,
        &h1,
        &y,
        &mut c2,
        &mut dy,
        &mut g2,
        w,
        Some(&mut dh1),
        w,
    );
    Layer::backward(
        &Steps(&l1),
        &x,
        &h1,
        &mut c1,
        &mut dh1,
        &mut g1,
        w,
        Some(&mut dx),
        w,
    );
    check_gradient(
        |v| forward(&l1, &l2, &Seq::from_time_major(v.to_vec(), STEPS).unwrap()),
        &xs,
        dx.as_slice(),
    )
    .unwrap_or_else(|e| panic!("stacked: dx: {e}"));
    let mut p = values(&l1);
    p.extend(values(&l2));
    let mut dp = flat_grads(&g1);
    dp.extend(flat_grads(&g2));
    check_gradient(
        |v| forward(&with_values(&l1, &v[..n1]), &with_values(&l2, &v[n1..]), &x),
        &p,
        &dp,
    )
    .unwrap_or_else(|e| panic!("stacked: dparams: {e}"));
}

/// The parts compose: an LSTM and a GRU trained with Adam and gradient clipping (over
/// `Parameters` / `Gradients`) learn to remember the first of 6 steps, which their
/// final state must carry across 5 distracting inputs: `h_n[0] ~ x_0 / 2` (the mean
/// squared error falls below 1% of where it starts).
#[test]
fn gated_cells_learn_to_remember_the_first_step() {
    fn train<C: Cell + Default>() -> (f64, f64) {
        use gradnet_core::clip::clip_grad_norm;
        use gradnet_core::optim::{AdamConfig, Optimizer};
        use rand::RngExt;
        const T: usize = 6;
        const R: usize = 16;
        let mut layer = Recurrent::<f64, C, 1, 8>::new(&RecurrentConfig::default(), &mut seeded(0));
        let mut opt = AdamConfig::new(0.02).build::<f64>().unwrap();
        let mut rng = seeded(1);
        let (mut y, mut cache, mut g, mut dy) = (
            Batch::new(),
            RecurrentCache::default(),
            layer.zero_grads(),
            Batch::new(),
        );
        let (mut first, mut last) = (0.0, 0.0);
        for step in 0..800 {
            let xs: Vec<f64> = (0..T * R).map(|_| rng.random_range(-1.0..1.0)).collect();
            let x = Seq::<f64, 1>::from_time_major(xs, T).unwrap();
            Layer::forward_train(&layer, &x, &mut y, &mut cache, &mut rng).unwrap();
            dy.set_rows(R);
            dy.as_mut_slice().fill(0.0);
            let mut l = 0.0;
            for r in 0..R {
                let e = y.row(r)[0] - 0.5 * x.step(0)[r];
                l += e * e / R as f64;
                dy.row_mut(r)[0] = 2.0 * e / R as f64;
            }
            let w = Write::Overwrite;
            Layer::backward(&layer, &x, &y, &mut cache, &mut dy, &mut g, w, None, w);
            clip_grad_norm(&mut g, 1.0).unwrap();
            opt.step(&mut layer, &g).unwrap();
            if step < 20 {
                first += l / 20.0;
            } else if step >= 780 {
                last += l / 20.0;
            }
        }
        (first, last)
    }
    for (name, (first, last)) in [("lstm", train::<LstmCell>()), ("gru", train::<GruCell>())] {
        assert!(last < 0.01 * first, "{name}: mean loss {first} -> {last}");
    }
}

// ---------------------------------------------------------------------------------
// Seq.

#[test]
fn seq_from_time_major_and_batch_first() {
    // 3 steps, 2 rows, 2 features. Batch-first [batch, time, features]:
    let bf: Vec<f64> = (0..12).map(f64::from).collect();
    let s = Seq::<f64, 2>::from_batch_first(&bf, 3).unwrap();
    assert_eq!((s.steps(), s.rows()), (3, 2));
    // Step t holds row 0's step t, then row 1's.
    assert_eq!(s.step(0), &[0.0, 1.0, 6.0, 7.0]);
    assert_eq!(s.step(2), &[4.0, 5.0, 10.0, 11.0]);
    assert_eq!(s.to_batch_first(), bf);
    let tm = Seq::<f64, 2>::from_time_major(s.as_slice().to_vec(), 3).unwrap();
    assert_eq!(tm, s);
    assert_eq!(tm.clone().into_vec(), s.as_slice());
    let b = s.step_batch(1);
    assert_eq!(b.rows(), 2);
    assert_eq!(b.as_slice(), &[2.0, 3.0, 8.0, 9.0]);
    let steps: Vec<_> = (0..3).map(|t| s.step_batch(t)).collect();
    assert_eq!(Seq::from_steps(&steps).unwrap(), s);
    let mut out = Vec::with_capacity(64);
    let ptr = out.as_ptr();
    s.write_batch_first(&mut out);
    assert_eq!((out, ptr), (bf, ptr));
}

#[test]
fn seq_errors() {
    type S = Seq<f64, 2>;
    assert_eq!(
        S::from_time_major(vec![1.0; 5], 1),
        Err(Error::RaggedBuffer { len: 5, width: 2 })
    );
    assert_eq!(
        S::from_time_major(vec![1.0; 8], 3),
        Err(Error::RaggedBuffer { len: 8, width: 6 })
    );
    assert_eq!(
        S::from_batch_first(&[1.0; 7], 2),
        Err(Error::RaggedBuffer { len: 7, width: 4 })
    );
    assert_eq!(S::from_time_major(vec![1.0; 4], 0), Err(Error::EmptyBatch));
    assert_eq!(S::from_time_major(vec![], 2), Err(Error::EmptyBatch));
    assert_eq!(S::from_batch_first(&[], 2), Err(Error::EmptyBatch));
    assert_eq!(S::from_steps(&[]), Err(Error::EmptyBatch));
    let (a, b) = (Batch::<f64, 2>::zeros(2), Batch::<f64, 2>::zeros(3));
    assert!(matches!(
        S::from_steps(&[a, b]),
        Err(Error::RowMismatch {
            expected: 2,
            found: 3,
            ..
        })
    ));
    // Non-finite values: the row counts over all steps (t * rows + r).
    let mut v = vec![0.0; 12];
    v[9] = f64::NAN;
    assert!(matches!(
        S::from_time_major(v.clone(), 3),
        Err(Error::NonFinite { row: 4, col: 1, .. })
    ));
    // Batch-first index 9 is row 1, step 1, feature 1: time-major row 1 * 2 + 1.
    assert!(matches!(
        S::from_batch_first(&v, 3),
        Err(Error::NonFinite { row: 3, col: 1, .. })
    ));
    let mut s = S::zeros(2, 2);
    assert_eq!(s.check_finite(), Ok(()));
    s.step_mut(1)[0] = f64::INFINITY;
    assert!(matches!(
        s.check_finite(),
        Err(Error::NonFinite { row: 2, col: 0, .. })
    ));
}

#[test]
fn seq_step_norms() {
    let s =
        Seq::<f64, 2>::from_time_major(vec![3.0, 4.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], 2).unwrap();
    let mut n = Vec::new();
    s.step_norms(&mut n);
    assert_eq!(n, [5.0, 1.0]);
    // The tanh RNN's input gradient over 40 steps: the first steps matter least.
    let rnn = Rnn::<f64, 2, 8>::new(&RecurrentConfig::default(), &mut seeded(1));
    let x = Seq::<f64, 2>::from_time_major(data(40 * 2, 0.1, 1.0), 40).unwrap();
    let (mut y, mut cache) = (Batch::new(), RecurrentCache::default());
    Layer::forward_train(&rnn, &x, &mut y, &mut cache, &mut seeded(0)).unwrap();
    let (mut dy, mut g, mut dx) = (
        Batch::from_vec(vec![1.0; 8]).unwrap(),
        rnn.zero_grads(),
        Seq::new(),
    );
    let w = Write::Overwrite;
    Layer::backward(
        &rnn,
        &x,
        &y,
        &mut cache,
        &mut dy,
        &mut g,
        w,
        Some(&mut dx),
        w,
    );
    dx.step_norms(&mut n);
    assert!(n[0] < 1e-3 * n[39], "first {} vs last {}", n[0], n[39]);
}

#[test]
fn seq_set_shape_reuses_capacity() {
    let mut s = Seq::<f32, 3>::zeros(10, 4);
    let (cap, ptr) = (s.capacity(), s.as_slice().as_ptr());
    s.set_shape(2, 5);
    assert_eq!((s.steps(), s.rows(), s.as_slice().len()), (2, 5, 30));
    s.set_shape(4, 10);
    assert_eq!(s.as_slice().len(), 120);
    assert_eq!((s.capacity(), s.as_slice().as_ptr()), (cap, ptr));
    assert_eq!(allocations(|| s.set_shape(3, 3)), 0);
    assert!(Seq::<f32, 3>::new().is_empty());
}

#[test]
fn final_state_reads_the_last_step() {
    let rnn = Rnn::<f64, 2, 3>::new(&RecurrentConfig::default(), &mut seeded(5));
    let x = Seq::<f64, 2>::from_time_major(data(5 * 2 * 2, 0.3, 1.0), 5).unwrap();
    let (mut y, mut cache) = (Batch::new(), RecurrentCache::default());
    Layer::forward_train(&rnn, &x, &mut y, &mut cache, &mut seeded(0)).unwrap();
    assert_eq!(cache.final_state().h, y);
    assert_eq!(&cache.outputs()[4 * 6..], y.as_slice());
    let mut all = Seq::new();
    Layer::forward_train(&Steps(&rnn), &x, &mut all, &mut cache, &mut seeded(0)).unwrap();
    assert_eq!(all.step(4), y.as_slice());
    assert!(cache.d_initial().is_none());
    // Truncated backpropagation: two chunks from the carried state equal one run.
    let (first, second) = (
        Seq::<f64, 2>::from_time_major(x.as_slice()[..3 * 4].to_vec(), 3).unwrap(),
        Seq::<f64, 2>::from_time_major(x.as_slice()[3 * 4..].to_vec(), 2).unwrap(),
    );
    rnn.forward_from(&first, None, &mut cache).unwrap();
    let carried = cache.final_state();
    rnn.forward_from(&second, Some(&carried), &mut cache)
        .unwrap();
    let h = cache.final_state().h;
    for (a, b) in h.as_slice().iter().zip(y.as_slice()) {
        assert!((a - b).abs() < 1e-15);
    }
}
