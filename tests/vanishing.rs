//! Fast versions of the claims of `examples/vanishing.rs` (small widths and data,
//! a second or so in a debug build): a change that breaks a remedy fails here.
//! "Ratio" is the largest over the smallest per-layer weight-gradient norm.

use gradnet::diagnostics::GradientReport;
use gradnet::params::Shape;
use gradnet::prelude::*;
use gradnet::Seq;

network! {
    struct Sigmoid10 {
        input: 8,
        repeat(9) { dense(16, init = normal(0.01)), sigmoid },
        dense(3, init = normal(0.01)),
        loss: cross_entropy,
    }
}

network! {
    struct Tanh10 {
        input: 8,
        repeat(9) { dense(16), tanh },
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    struct Relu20 {
        input: 8,
        repeat(19) { dense(16), relu },
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    struct Leaky20 {
        input: 8,
        repeat(19) { dense(16), leaky_relu(0.1) },
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    struct PRelu20 {
        input: 8,
        repeat(19) { dense(16), prelu },
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// 49 blocks that end in a ReLU (the trap for a zero-initialized last layer).
    struct Residual50 {
        input: 8,
        dense(16),
        relu,
        repeat(49) { residual { dense(16), relu } },
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// The same with ReZero's scale, from 0.
    struct ReZero50 {
        input: 8,
        dense(16),
        relu,
        repeat(49) { residual(rezero = true) { dense(16), relu } },
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// Batch norm in 49 blocks (each block's dense weights and gamma start at 1/49).
    struct BatchNormResidual50 {
        input: 8,
        dense(16),
        batch_norm,
        relu,
        repeat(49) { residual { dense(16), batch_norm, relu } },
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// The same layers without the skips.
    struct BatchNorm50 {
        input: 8,
        repeat(49) { dense(16), batch_norm, relu },
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// The scaling rule's cases, in 4 blocks (1/B = 0.25): a pre-activation block
    /// (the normalization before the dense layer: only the dense layer is
    /// scaled), a layer norm after the dense layer (both), an explicit gamma
    /// (neither), an explicit init before a batch norm (only gamma).
    struct Rules {
        input: 8,
        residual { batch_norm, relu, dense(8) },
        residual { dense(8), layer_norm, relu },
        residual { dense(8), batch_norm(gamma = 0.5), relu },
        residual { dense(8, init = he_normal), batch_norm },
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    struct Exploding20 {
        input: 8,
        repeat(19) { dense(16, init = normal(0.8)), relu },
        dense(3, init = normal(0.8)),
        loss: cross_entropy,
    }
}

network! {
    struct Clipped20 {
        input: 8,
        repeat(19) { dense(16, init = normal(0.8)), relu },
        dense(3, init = normal(0.8)),
        loss: cross_entropy,
        clip: norm(1.0),
    }
}

network! {
    struct Lstm { input: seq(2), lstm(16), dense(1), loss: mse }
}

network! {
    struct Gru { input: seq(2), gru(16), dense(1), loss: mse }
}

network! {
    struct Rnn { input: seq(2), rnn(16), dense(1), loss: mse }
}

type Classes = (Batch<f64, 8>, Vec<usize>);

fn data(rows: usize, seed: u64) -> Classes {
    let mut x = Batch::<f64, 8>::zeros(rows);
    gradnet::rng::fill_normal(x.as_mut_slice(), 0.0, 1.0, &mut seeded(seed)).unwrap();
    let y = x
        .iter_rows()
        .map(|r| usize::from(r[0] > 0.0) + usize::from(r[1] > 0.5))
        .collect();
    (x, y)
}

trait Net: Network<f64, Input = Batch<f64, 8>, Target = [usize]> {}
impl<N: Network<f64, Input = Batch<f64, 8>, Target = [usize]>> Net for N {}

/// Per-layer dense-weight gradient norms (first first) after one training-mode
/// pass on a copy, and the gradient report of that pass.
fn norms<N: Net>(net: &N, (x, y): &Classes) -> (Vec<f64>, GradientReport<f64>) {
    let mut copy = net.clone();
    let mut grads = copy.zero_grads();
    copy.loss_and_grad(x, y, &mut N::Workspace::default(), &mut grads)
        .unwrap();
    let dense = dense_names(net);
    let mut out = Vec::new();
    grads.visit_grads(&mut |n, g| {
        if dense.contains(&n) {
            out.push(g.iter().map(|v| v * v).sum::<f64>().sqrt());
        }
    });
    (out, GradientReport::collect(net, &grads, None).unwrap())
}

/// The names of the dense weights (the 2-D parameters), first first.
fn dense_names<N: Net>(net: &N) -> Vec<&'static str> {
    let mut dense = Vec::new();
    net.visit_shapes(&mut |n, _, s: Shape| {
        if s.rank() == 2 {
            dense.push(n);
        }
    });
    dense
}

fn spread(n: &[f64]) -> f64 {
    n.iter().cloned().fold(f64::MIN, f64::max) / n.iter().cloned().fold(f64::MAX, f64::min)
}

fn ratio_at_init<N: Net>() -> f64 {
    spread(&norms(&N::new(&mut seeded(0)), &data(64, 1)).0)
}

#[test]
fn sigmoid_with_tiny_weights_vanishes_and_is_flagged() {
    let (n, report) = norms(&Sigmoid10::<f64>::new(&mut seeded(0)), &data(64, 1));
    let first_last = n[0] / n[n.len() - 1];
    assert!(first_last < 1e-3, "first/last {first_last:e}");
    assert!(report.flags().vanishing);
    // Tanh with Glorot: orders of magnitude nearer 1.
    let (t, report) = norms(&Tanh10::<f64>::new(&mut seeded(0)), &data(64, 1));
    let tanh = t[0] / t[t.len() - 1];
    let nearness = |r: f64| r.min(1.0 / r);
    assert!(
        nearness(tanh) >= 1e3 * nearness(first_last),
        "tanh {tanh:e} vs sigmoid {first_last:e}"
    );
    assert!(!report.flags().vanishing);
}

#[test]
fn he_initialized_rectifiers_keep_the_gradient_within_10x() {
    for (name, r) in [
        ("relu", ratio_at_init::<Relu20<f64>>()),
        ("leaky relu", ratio_at_init::<Leaky20<f64>>()),
        ("prelu", ratio_at_init::<PRelu20<f64>>()),
    ] {
        assert!(r <= 10.0, "{name}: ratio {r}");
    }
}

#[test]
fn residual_networks_start_near_the_identity_at_depth_50() {
    let r = ratio_at_init::<Residual50<f64>>();
    assert!(r <= 10.0, "ratio {r}");
    // The forward signal stays of the input's size: the logits of 49 blocks are
    // not blown up.
    let net = Residual50::<f64>::new(&mut seeded(0));
    let (x, _) = data(64, 1);
    let out = net.forward(&x).unwrap();
    let rms =
        (out.as_slice().iter().map(|v| v * v).sum::<f64>() / out.as_slice().len() as f64).sqrt();
    assert!(rms < 10.0, "logits rms {rms}");
}

#[test]
fn batch_norm_in_residual_blocks_stays_within_10x_and_plain_batch_norm_explodes() {
    let r = ratio_at_init::<BatchNormResidual50<f64>>();
    assert!(r <= 10.0, "residual ratio {r}");
    // Yang et al. (2019): about 1.21 per layer on the way down, without skips.
    let plain = ratio_at_init::<BatchNorm50<f64>>();
    assert!(plain > 1e3, "plain ratio {plain}");
}

#[test]
fn residual_scaling_follows_the_rule() {
    let net = Rules::<f64>::new(&mut seeded(0));
    let fresh = Rules::<f64>::new(&mut seeded(0));
    let mut gammas = Vec::new();
    net.visit_params(&mut |name, v| {
        if name.ends_with(".weight") && v.len() == 8 && !name.starts_with("4.") {
            gammas.push((name, v[0]));
        }
    });
    let g = |n: &str| gammas.iter().find(|(m, _)| *m == n).map(|&(_, v)| v);
    // The gammas: pre-activation block untouched, then 1/4, explicit, 1/4.
    assert_eq!(g("0.0.weight"), Some(1.0));
    assert_eq!(g("1.1.weight"), Some(0.25));
    assert_eq!(g("2.1.weight"), Some(0.5));
    assert_eq!(g("3.1.weight"), Some(0.25));
    // The dense weights: the default inits of 8 -> 8 have a standard deviation of
    // at least 0.35 (Glorot's; He's is 0.5), so a scaled one has a root mean square
    // near a quarter of that.
    let rms = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
    let dense = dense_names(&net);
    let mut rmss = Vec::new();
    net.visit_params(&mut |name, v| {
        if dense.contains(&name) {
            rmss.push((name, rms(v)));
        }
    });
    let scaled: Vec<bool> = rmss[..4].iter().map(|&(_, r)| r < 0.3).collect();
    assert_eq!(scaled, [true, true, false, false], "{rmss:?}");
    // The summary says so.
    let summary = fresh.summary().to_string();
    assert!(summary.contains("gamma = 0.250"), "{summary}");
    assert!(summary.contains("gamma = 0.5"), "{summary}");
}

/// Which parameters have had a nonzero gradient in the first `steps` steps.
fn learning_within<N: Net>(steps: usize) -> Vec<&'static str> {
    let mut net = N::new(&mut seeded(2));
    let (x, y) = data(32, 3);
    let mut opt = AdamConfig::new(1e-2).build().unwrap();
    let (mut ws, mut grads) = (N::Workspace::default(), net.zero_grads());
    let mut seen: Vec<&'static str> = Vec::new();
    for _ in 0..steps {
        net.train_step(&x, &y, &mut opt, &mut ws, &mut grads)
            .unwrap();
        grads.visit_grads(&mut |n, g| {
            if g.iter().any(|&v| v != 0.0) && !seen.contains(&n) {
                seen.push(n);
            }
        });
    }
    let mut silent = Vec::new();
    net.visit_params(&mut |n, _| {
        if !seen.contains(&n) {
            silent.push(n);
        }
    });
    silent
}

#[test]
fn every_block_parameter_gets_a_gradient_within_3_steps() {
    assert_eq!(learning_within::<Residual50<f64>>(1), Vec::<&str>::new());
    assert_eq!(
        learning_within::<BatchNormResidual50<f64>>(1),
        Vec::<&str>::new()
    );
    // ReZero: the blocks are switched off at the first step, on at the second.
    assert!(!learning_within::<ReZero50<f64>>(1).is_empty());
    assert_eq!(learning_within::<ReZero50<f64>>(3), Vec::<&str>::new());
}

#[test]
fn clipping_keeps_an_exploding_network_finite() {
    let (x, y) = data(32, 4);
    let mut net = Exploding20::<f64>::new(&mut seeded(5));
    let (report_norm, _) = norms(&net, &(x.clone(), y.clone()));
    assert!(
        report_norm.iter().cloned().fold(0.0, f64::max) > 1e6,
        "the setup explodes"
    );
    let mut opt = SgdConfig::new(0.01).momentum(0.9).build().unwrap();
    let (mut ws, mut grads) = (Exploding20Workspace::new(), net.zero_grads());
    let diverged = (0..20).any(|_| {
        net.train_step(&x, &y, &mut opt, &mut ws, &mut grads)
            .is_err()
    });
    assert!(
        diverged,
        "without clipping a step fails on a non-finite value"
    );

    let mut net = Clipped20::<f64>::new(&mut seeded(5));
    let mut opt = SgdConfig::new(0.01).momentum(0.9).build().unwrap();
    let (mut ws, mut grads) = (Clipped20Workspace::new(), net.zero_grads());
    let first = net
        .train_step(&x, &y, &mut opt, &mut ws, &mut grads)
        .unwrap();
    let mut last = first;
    for _ in 0..50 {
        last = net
            .train_step(&x, &y, &mut opt, &mut ws, &mut grads)
            .unwrap();
    }
    assert!(last.is_finite() && last < first, "{first} -> {last}");
}

/// |dL/dx_1| / |dL/dx_T| at initialization, over 30 steps.
macro_rules! through_time {
    ($net:ident, $ws:ident) => {{
        let (steps, rows) = (30, 16);
        let mut x = Seq::<f64, 2>::zeros(steps, rows);
        gradnet::rng::fill_uniform(x.as_mut_slice(), 0.0, 1.0, &mut seeded(6)).unwrap();
        let y = Batch::<f64, 1>::zeros(rows);
        let net = $net::<f64>::new(&mut seeded(7));
        let mut grads = net.zero_grads().with_input_grad();
        net.eval_loss_and_grad(&x, &y, &mut $ws::new(), &mut grads)
            .unwrap();
        let mut report = GradientReport::<f64>::new();
        report.set_input_steps(grads.input.as_ref().unwrap());
        report.first_last_step_ratio().unwrap()
    }};
}

#[test]
fn gated_cells_carry_the_gradient_further_back_than_the_tanh_rnn() {
    let (lstm, gru, rnn) = (
        through_time!(Lstm, LstmWorkspace),
        through_time!(Gru, GruWorkspace),
        through_time!(Rnn, RnnWorkspace),
    );
    assert!(
        lstm > 100.0 * rnn && gru > 100.0 * rnn,
        "lstm {lstm:e}, gru {gru:e}, rnn {rnn:e}"
    );
}
