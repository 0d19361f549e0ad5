//! Generated networks over sequences (`input: seq(N)`): every cell, single and
//! stacked, one and both directions, last-state and sequence outputs, with and
//! without an initial state, checked end to end against central finite differences
//! in f64 (every parameter and every input value, on sequences of 7 steps) through
//! the generic `Network` trait; then the sequence losses, the names, the state API
//! (truncated backpropagation through time equals the whole sequence) and the
//! evaluation pass.
//!
//! PyTorch's equations, which the runtime follows (`gradnet-core/tests/recurrent.rs`
//! checks each cell against them step by step):
//!
//! ```text
//! RNN   h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
//! LSTM  i = s(W_ii x + b_ii + W_hi h + b_hi)   f = s(W_if x + b_if + W_hf h + b_hf)
//!       g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = s(W_io x + b_io + W_ho h + b_ho)
//!       c_t = f c_{t-1} + i g                  h_t = o tanh(c_t)
//! GRU   r = s(W_ir x + b_ir + W_hr h + b_hr)   z = s(W_iz x + b_iz + W_hz h + b_hz)
//!       n = tanh(W_in x + b_in + r (W_hn h + b_hn))
//!       h_t = (1 - z) n + z h_{t-1}
//! ```

mod common;

use common::{check_input, check_params};
use gradnet::prelude::*;
use gradnet::rand::RngExt;
use gradnet::seq::Seq;
use gradnet::{Network, SeqClasses, State};

const STEPS: usize = 7;
const ROWS: usize = 3;

fn seq<const D: usize>(seed: u64) -> Seq<f64, D> {
    let mut rng = seeded(seed);
    let v = (0..STEPS * ROWS * D)
        .map(|_| rng.random_range(-1.5..1.5))
        .collect();
    Seq::from_time_major(v, STEPS).unwrap()
}

fn batch<const D: usize>(rows: usize, seed: u64) -> Batch<f64, D> {
    let mut rng = seeded(seed);
    Batch::from_vec((0..rows * D).map(|_| rng.random_range(-1.0..1.0)).collect()).unwrap()
}

/// Every parameter's and every input value's gradient of `net` against central
/// differences; `state` is the initial state (or none). Returns the number of
/// parameters checked.
fn check_network<N, const D: usize>(
    net: &N,
    x: &Seq<f64, D>,
    target: &N::Target,
    state: Option<N::State>,
    input_grad: impl Fn(&N::Grads) -> &Seq<f64, D>,
    with_input: impl Fn(N::Grads) -> N::Grads,
) -> usize
where
    N: Network<f64, Input = Seq<f64, D>>,
{
    let loss_of = |n: &N, x: &Seq<f64, D>| {
        let mut n = n.clone();
        let mut ws = N::Workspace::default();
        N::set_initial_state(&mut ws, state.clone());
        let mut g = n.zero_grads();
        n.loss_and_grad(x, target, &mut ws, &mut g).unwrap()
    };
    let mut grads = with_input(net.zero_grads());
    let mut ws = N::Workspace::default();
    N::set_initial_state(&mut ws, state.clone());
    net.clone()
        .loss_and_grad(x, target, &mut ws, &mut grads)
        .unwrap();
    let n = check_params(net, &grads, |n| loss_of(n, x));
    let gx = input_grad(&grads);
    assert_eq!((gx.steps(), gx.rows()), (x.steps(), x.rows()));
    check_input(gx.as_slice(), x.as_slice(), |v| {
        let xv = Seq::from_time_major(v.to_vec(), x.steps()).unwrap();
        loss_of(net, &xv)
    });
    n
}

network! {
    /// LSTM, last state, then a classifier: W4's shape, small.
    struct LstmLast {
        input: seq(3),
        lstm(4),
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// GRU over every step, a dense layer per step, MSE against a sequence.
    struct GruSteps {
        input: seq(2),
        gru(4, sequence),
        dense(2),
        loss: mse,
    }
}

network! {
    /// Stacked: a relu RNN without biases over every step, then a bidirectional
    /// LSTM's last state.
    struct Stacked {
        input: seq(2),
        rnn(3, relu, bias = false, sequence),
        lstm(3 -> 4, bidirectional),
        dense(1),
        loss: bce_with_logits,
    }
}

network! {
    /// Per-step layers around a bidirectional GRU's sequence: dense and tanh before
    /// it; layer norm, a residual block, batch norm over rows and steps, dropout and a
    /// per-step classifier after; cross-entropy against a class per step.
    struct PerStepStack {
        input: seq(3),
        dense(4),
        tanh,
        gru(3, bidirectional, sequence),
        layer_norm,
        residual { dense(6), tanh },
        batch_norm,
        dropout(0.25),
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// An RNN's and a GRU's state around an LSTM (three recurrent layers, with
    /// initial states), stacked every step, MSE on the last state.
    struct ThreeCells {
        input: seq(2),
        rnn(3, sequence),
        lstm(3, sequence, init = orthogonal, forget_bias_one),
        gru(2),
        loss: mse,
    }
}

fn classes(rows: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = seeded(seed);
    (0..rows).map(|_| rng.random_range(0..n)).collect()
}

#[test]
fn lstm_last_state_against_finite_differences() {
    let net = LstmLast::<f64>::new(&mut seeded(1));
    let n = check_network(
        &net,
        &seq::<3>(2),
        &classes(ROWS, 3, 3)[..],
        None,
        |g: &LstmLastGrads<f64>| g.input.as_ref().unwrap(),
        |g| g.with_input_grad(),
    );
    assert_eq!(n, 4 * 4 * 3 + 4 * 4 * 4 + 2 * 16 + 3 * 4 + 3);
}

#[test]
fn lstm_with_initial_state_against_finite_differences() {
    let net = LstmLast::<f64>::new(&mut seeded(4));
    let state = LstmLastState {
        l0: State::with_cell(batch(ROWS, 5), batch(ROWS, 6)),
    };
    check_network(
        &net,
        &seq::<3>(7),
        &classes(ROWS, 3, 8)[..],
        Some(state),
        |g: &LstmLastGrads<f64>| g.input.as_ref().unwrap(),
        |g| g.with_input_grad(),
    );
}

#[test]
fn gru_sequence_output_against_finite_differences() {
    let net = GruSteps::<f64>::new(&mut seeded(9));
    let target = seq::<2>(10);
    check_network(
        &net,
        &seq::<2>(11),
        &target,
        None,
        |g: &GruStepsGrads<f64>| g.input.as_ref().unwrap(),
        |g| g.with_input_grad(),
    );
    let state = GruStepsState {
        l0: State::hidden(batch(ROWS, 12)),
    };
    check_network(
        &net,
        &seq::<2>(11),
        &target,
        Some(state),
        |g: &GruStepsGrads<f64>| g.input.as_ref().unwrap(),
        |g| g.with_input_grad(),
    );
}

#[test]
fn stacked_rnn_and_bidirectional_lstm_against_finite_differences() {
    let net = Stacked::<f64>::new(&mut seeded(13));
    let mut rng = seeded(14);
    let target = Batch::from_vec((0..ROWS).map(|_| rng.random_range(0.0..1.0)).collect()).unwrap();
    // Relu: the check's points must be away from its kink.
    let x = seq::<2>(15);
    check_network(
        &net,
        &x,
        &target,
        None,
        |g: &StackedGrads<f64>| g.input.as_ref().unwrap(),
        |g| g.with_input_grad(),
    );
    let state = StackedState {
        l0: State::hidden(batch(ROWS, 16)),
        l1: (
            State::with_cell(batch(ROWS, 17), batch(ROWS, 18)),
            State::with_cell(batch(ROWS, 19), batch(ROWS, 20)),
        ),
    };
    check_network(
        &net,
        &x,
        &target,
        Some(state),
        |g: &StackedGrads<f64>| g.input.as_ref().unwrap(),
        |g| g.with_input_grad(),
    );
}

#[test]
fn per_step_layers_and_sequence_cross_entropy_against_finite_differences() {
    let net = PerStepStack::<f64>::new(&mut seeded(21));
    let target = SeqClasses::from_batch_first(&classes(ROWS * STEPS, 3, 22), STEPS).unwrap();
    check_network(
        &net,
        &seq::<3>(23),
        &target,
        None,
        |g: &PerStepStackGrads<f64>| g.input.as_ref().unwrap(),
        |g| g.with_input_grad(),
    );
}

#[test]
fn three_cells_with_initial_states_against_finite_differences() {
    let net = ThreeCells::<f64>::new(&mut seeded(24));
    let state = ThreeCellsState {
        l0: State::hidden(batch(ROWS, 25)),
        l1: State::with_cell(batch(ROWS, 26), batch(ROWS, 27)),
        l2: State::hidden(batch(ROWS, 28)),
    };
    check_network(
        &net,
        &seq::<2>(29),
        &batch(ROWS, 30),
        Some(state),
        |g: &ThreeCellsGrads<f64>| g.input.as_ref().unwrap(),
        |g| g.with_input_grad(),
    );
}

#[test]
fn names_and_shapes_are_pytorchs() {
    let net = Stacked::<f32>::new(&mut seeded(0));
    let mut names = Vec::new();
    net.visit_shapes(&mut |name, _, shape| names.push(format!("{name} {shape}")));
    assert_eq!(
        names,
        [
            "0.weight_ih_l0 [3, 2]",
            "0.weight_hh_l0 [3, 3]",
            "1.weight_ih_l0 [16, 3]",
            "1.weight_hh_l0 [16, 4]",
            "1.bias_ih_l0 [16]",
            "1.bias_hh_l0 [16]",
            "1.weight_ih_l0_reverse [16, 3]",
            "1.weight_hh_l0_reverse [16, 4]",
            "1.bias_ih_l0_reverse [16]",
            "1.bias_hh_l0_reverse [16]",
            "2.weight [1, 8]",
            "2.bias [1]",
        ]
    );
    let mut grads = Vec::new();
    net.zero_grads()
        .visit_grads(&mut |name, v| grads.push((name, v.len())));
    let mut params = Vec::new();
    net.visit_params(&mut |name, v| params.push((name, v.len())));
    assert_eq!(grads, params);
    let text = net.summary().to_string();
    assert!(
        text.contains("rnn(relu)(2 -> 3), sequence, no bias"),
        "{text}"
    );
    assert!(text.contains("lstm(3 -> 4), bidirectional"), "{text}");
}

/// Truncated backpropagation through time: the forward over 7 steps in one call
/// equals a chunk of 4 and a chunk of 3 started from the first's final state
/// (`carry_state`), in evaluation and in training mode.
#[test]
fn carried_state_equals_the_whole_sequence() {
    let net = Stacked::<f64>::new(&mut seeded(31));
    let x = seq::<2>(32);
    let bf = x.to_batch_first();
    // Chunks of the same rows: steps 0..4 and 4..7 of each sequence.
    let chunk = |from: usize, to: usize| {
        let mut v = Vec::new();
        for r in 0..ROWS {
            v.extend_from_slice(&bf[(r * STEPS + from) * 2..(r * STEPS + to) * 2]);
        }
        Seq::<f64, 2>::from_batch_first(&v, to - from).unwrap()
    };
    // Only a unidirectional stack carries: the bidirectional layer's backward
    // direction reads the future. Check the first layer alone through a network of it.
    network! {
        struct Carry {
            input: seq(2),
            lstm(3, sequence),
            gru(4),
            loss: mse,
        }
    }
    let _ = net;
    let net = Carry::<f64>::new(&mut seeded(33));
    let mut ws = CarryWorkspace::new();
    let whole = net.forward(&x).unwrap();
    let mut out = Batch::new();
    net.forward_into(&chunk(0, 4), &mut ws, &mut out).unwrap();
    net.carry_state(&mut ws);
    net.forward_into(&chunk(4, 7), &mut ws, &mut out).unwrap();
    for (a, b) in whole.as_slice().iter().zip(out.as_slice()) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    // The final state read back is the output (the GRU's h_n).
    let s = net.final_state(&ws);
    assert_eq!(s.l1.h.as_slice(), out.as_slice());
    assert_eq!(s.l0.c.rows(), ROWS);
    // Training mode: the same loss either way, and the gradient stops at the state.
    let target = batch::<4>(ROWS, 34);
    let mut g = net.zero_grads();
    let mut ws2 = CarryWorkspace::new();
    let mut n2 = net.clone();
    let whole_loss = n2.loss_and_grad(&x, &target, &mut ws2, &mut g).unwrap();
    let mut ws3 = CarryWorkspace::new();
    n2.loss_and_grad(&chunk(0, 4), &target, &mut ws3, &mut g)
        .unwrap();
    n2.carry_state(&mut ws3);
    let chunk_loss = n2
        .loss_and_grad(&chunk(4, 7), &target, &mut ws3, &mut g)
        .unwrap();
    assert!((whole_loss - chunk_loss).abs() < 1e-12);
    // Through the trait, the same.
    let mut s2 = CarryState::default();
    Network::final_state_into(&net, &ws3, &mut s2);
    <Carry<f64> as Network<f64>>::set_initial_state(&mut ws3, None);
    assert!(ws3.initial_state().is_none());
}

#[test]
fn sequence_targets_are_checked() {
    let mut net = GruSteps::<f64>::new(&mut seeded(35));
    let mut ws = GruStepsWorkspace::new();
    let mut g = net.zero_grads();
    let x = seq::<2>(36);
    let before = format!("{net:?}");
    // 6 steps of target for 7 of output.
    let short = Seq::<f64, 2>::from_time_major(vec![0.0; 6 * ROWS * 2], 6).unwrap();
    assert!(matches!(
        net.loss_and_grad(&x, &short, &mut ws, &mut g),
        Err(Error::StepMismatch {
            expected: 7,
            found: 6,
            ..
        })
    ));
    let rows = Seq::<f64, 2>::from_time_major(vec![0.0; STEPS * 2 * 2], STEPS).unwrap();
    assert!(matches!(
        net.loss_and_grad(&x, &rows, &mut ws, &mut g),
        Err(Error::RowMismatch { .. })
    ));
    assert_eq!(before, format!("{net:?}"));
    // Out-of-range classes per step.
    let mut cls = PerStepStack::<f64>::new(&mut seeded(37));
    let mut ws = PerStepStackWorkspace::new();
    let mut g = cls.zero_grads();
    let mut c = classes(ROWS * STEPS, 3, 38);
    c[5] = 3;
    let target = SeqClasses::from_batch_first(&c, STEPS).unwrap();
    assert!(matches!(
        cls.loss_and_grad(&seq::<3>(39), &target, &mut ws, &mut g),
        Err(Error::ClassOutOfRange { .. })
    ));
    assert!(matches!(
        SeqClasses::from_batch_first(&[0; 5], 2),
        Err(Error::RaggedBuffer { .. })
    ));
}

/// The sequence loss is PyTorch's mean over every step and row: the MSE of a
/// sequence output equals the MSE of its steps flattened into one batch.
#[test]
fn sequence_loss_is_the_mean_over_steps_and_rows() {
    let net = GruSteps::<f64>::new(&mut seeded(40));
    let x = seq::<2>(41);
    let target = seq::<2>(42);
    let out = net.forward(&x).unwrap();
    let mut sum = 0.0;
    for (o, t) in out.as_slice().iter().zip(target.as_slice()) {
        sum += (o - t) * (o - t);
    }
    let mse = sum / (STEPS * ROWS * 2) as f64;
    let loss = net
        .loss(&x, &target, &mut GruStepsWorkspace::new())
        .unwrap();
    assert!((loss - mse).abs() < 1e-14);
}

/// Evaluation mode equals training mode where the two agree (no dropout, no batch
/// norm), and an empty sequence is refused.
#[test]
fn evaluation_forward_matches_training_output() {
    let mut net = ThreeCells::<f64>::new(&mut seeded(43));
    let x = seq::<2>(44);
    let mut ws = ThreeCellsWorkspace::new();
    let mut g = net.zero_grads();
    net.loss_and_grad(&x, &batch(ROWS, 45), &mut ws, &mut g)
        .unwrap();
    let eval = net.forward(&x).unwrap();
    assert_eq!(ws.train_output(), &eval);
    assert!(matches!(net.forward(&Seq::new()), Err(Error::EmptyBatch)));
}
