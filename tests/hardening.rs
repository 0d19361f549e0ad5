//! Bad input and failed calls: every error is typed, and a failed call leaves the
//! network's parameters and buffers, the optimizer's state and the workspace's dropout
//! RNG exactly as they were (bit for bit).

use gradnet::diagnostics::GradientReport;
use gradnet::optim::{AdamConfig, SgdConfig};
use gradnet::prelude::*;

network! {
    /// Batch norm (running statistics) and dropout (the RNG): both kinds of state a
    /// training pass touches.
    struct Stateful {
        input: 3,
        dense(6),
        batch_norm,
        relu,
        dropout(0.3),
        dense(4),
        tanh,
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    struct Regression {
        input: 2,
        dense(4),
        dropout(0.5),
        tanh,
        dense(1),
        loss: mse,
    }
}

network! {
    struct ByValue {
        input: 2,
        dense(4),
        relu,
        dense(1),
        loss: mse,
        clip: value(0.5),
    }
}

/// Every parameter and buffer value, as bits, in visit order.
fn state<M: Parameters<f64>>(m: &M) -> Vec<(&'static str, Vec<u64>)> {
    let mut v = Vec::new();
    m.visit_params(&mut |n, p| v.push((n, p.iter().map(|x| x.to_bits()).collect())));
    m.visit_buffers(&mut |n, p| v.push((n, p.iter().map(|x| x.to_bits()).collect())));
    v
}

fn flat_grads<G: Gradients<f64>>(g: &G) -> Vec<u64> {
    let mut v = Vec::new();
    g.visit_grads(&mut |_, p| v.extend(p.iter().map(|x| x.to_bits())));
    v
}

fn x4() -> Batch<f64, 3> {
    Batch::from_rows(&[
        [0.5, -1.0, 2.0],
        [1.5, 0.3, -0.7],
        [-0.2, 0.8, 0.1],
        [0.9, -0.4, 0.6],
    ])
    .unwrap()
}

/// One good step after `fail` (which must fail and change nothing the test can see)
/// gives bit for bit what the same good step gives without it: the parameters, the
/// running statistics and the dropout stream were left as they were.
fn assert_failure_changes_nothing(
    what: &str,
    detect: bool,
    fail: impl Fn(
        &mut Stateful<f64>,
        &mut StatefulWorkspace<f64>,
        &mut StatefulGrads<f64>,
    ) -> Result<f64, Error>,
) {
    let good_x = x4();
    let good_t = [0usize, 2, 1, 1];
    let run = |with_failure: bool| {
        let mut net = Stateful::<f64>::new(&mut seeded(11));
        let mut ws = StatefulWorkspace::with_seed(5);
        ws.set_detect_anomaly(detect);
        let mut grads = net.zero_grads();
        // One good step first, so the buffers hold something.
        net.loss_and_grad(&good_x, &good_t, &mut ws, &mut grads)
            .unwrap();
        if with_failure {
            let before = state(&net);
            let err = fail(&mut net, &mut ws, &mut grads);
            assert!(err.is_err(), "{what}: expected an error, got {err:?}");
            assert_eq!(state(&net), before, "{what}: the network changed");
        }
        let loss = net
            .loss_and_grad(&good_x, &good_t, &mut ws, &mut grads)
            .unwrap();
        (loss.to_bits(), flat_grads(&grads), state(&net))
    };
    assert_eq!(
        run(true),
        run(false),
        "{what}: the dropout RNG or a buffer moved"
    );
}

#[test]
fn a_failed_loss_and_grad_changes_nothing() {
    let x = x4();
    assert_failure_changes_nothing("class out of range", false, |n, ws, g| {
        n.loss_and_grad(&x, &[0, 1, 3, 0], ws, g)
    });
    assert_failure_changes_nothing("too few targets", false, |n, ws, g| {
        n.loss_and_grad(&x, &[0, 1], ws, g)
    });
    let one = Batch::<f64, 3>::from_rows(&[[1.0, 2.0, 3.0]]).unwrap();
    assert_failure_changes_nothing("one row into batch norm", false, |n, ws, g| {
        n.loss_and_grad(&one, &[0], ws, g)
    });
    let mut bad = x4();
    bad.as_mut_slice()[4] = f64::NAN;
    assert_failure_changes_nothing("a NaN in the input", false, |n, ws, g| {
        n.loss_and_grad(&bad, &[0, 1, 2, 0], ws, g)
    });
    assert_failure_changes_nothing("an empty batch", false, |n, ws, g| {
        n.loss_and_grad(&Batch::new(), &[], ws, g)
    });
}

/// Anomaly detection stops a pass after dropout has drawn its mask and batch norm has
/// computed its statistics: the RNG is rewound and the statistics are not committed.
#[test]
fn a_pass_stopped_by_anomaly_detection_changes_nothing() {
    let x = x4();
    assert_failure_changes_nothing("a NaN after dropout", true, |n, ws, g| {
        let saved = n.l4.weight()[0];
        n.l4.weight_mut()[0] = f64::NAN;
        let r = n.loss_and_grad(&x, &[0, 1, 2, 0], ws, g);
        assert!(
            matches!(r, Err(Error::NonFiniteValue { layer: "4", .. })),
            "{r:?}"
        );
        n.l4.weight_mut()[0] = saved;
        r
    });
}

/// A failed `train_step` leaves the optimizer's state as it was too.
#[test]
fn a_failed_train_step_changes_nothing() {
    let x = x4();
    let t = [0usize, 2, 1, 1];
    let run = |with_failure: bool| {
        let mut net = Stateful::<f64>::new(&mut seeded(3));
        let mut ws = StatefulWorkspace::with_seed(9);
        let mut grads = net.zero_grads();
        let mut opt = AdamConfig::adamw().lr(0.01).build::<f64>().unwrap();
        net.train_step(&x, &t, &mut opt, &mut ws, &mut grads)
            .unwrap();
        if with_failure {
            let (before, steps) = (state(&net), opt.steps());
            let opt_before = format!("{opt:?}");
            let r = net.train_step(&x, &[0, 5, 1, 1], &mut opt, &mut ws, &mut grads);
            assert!(matches!(
                r,
                Err(Error::ClassOutOfRange {
                    row: 1,
                    class: 5,
                    ..
                })
            ));
            assert_eq!(state(&net), before);
            assert_eq!((opt.steps(), format!("{opt:?}")), (steps, opt_before));
        }
        let loss = net
            .train_step(&x, &t, &mut opt, &mut ws, &mut grads)
            .unwrap();
        (loss.to_bits(), state(&net), format!("{opt:?}"))
    };
    assert_eq!(run(true), run(false));
}

network! {
    struct Chain {
        input: 2,
        dense(3),
        dense(3),
        tanh,
        dense(1),
        loss: mse,
    }
}

/// Finite forward pass, infinite weight gradient (see tests/training.rs,
/// `detection_names_the_layer_of_a_backward_infinity`): `train_step` refuses it with
/// anomaly detection off as well as on, and nothing is updated.
#[test]
fn train_step_never_applies_a_non_finite_gradient() {
    let x = Batch::<f32, 2>::from_rows(&[[1.0, 1.0], [0.5, -0.5]]).unwrap();
    let t = Batch::<f32, 1>::from_rows(&[[0.0], [1.0]]).unwrap();
    for detect in [false, true] {
        let mut net = Chain::<f32>::new(&mut seeded(0));
        net.l0.weight_mut().fill(1e4);
        net.l1.weight_mut().fill(1e-29);
        net.l3.weight_mut().fill(1e30);
        let before = net.clone();
        let mut ws = ChainWorkspace::new();
        ws.set_detect_anomaly(detect);
        let mut grads = net.zero_grads();
        let mut opt = SgdConfig::new(0.1).momentum(0.9).build::<f32>().unwrap();
        let r = net.train_step(&x, &t, &mut opt, &mut ws, &mut grads);
        match (detect, &r) {
            (
                false,
                Err(Error::NonFiniteGradient {
                    name: "1.weight",
                    value,
                    ..
                }),
            ) => {
                assert!(value.is_infinite())
            }
            (true, Err(Error::NonFiniteValue { layer: "1", .. })) => {}
            _ => panic!("detect {detect}: {r:?}"),
        }
        assert_eq!(net.l0.weight(), before.l0.weight());
        assert_eq!(net.l1.weight(), before.l1.weight());
        assert_eq!(net.l3.weight(), before.l3.weight());
        assert_eq!(opt.steps(), 0, "the optimizer must not have stepped");
    }
}

/// A NaN in an MSE target is refused before the forward pass (it used to turn every
/// weight into NaN).
#[test]
fn a_nan_target_is_refused() {
    let mut net = Regression::<f64>::new(&mut seeded(1));
    let before = state(&net);
    let x = Batch::<f64, 2>::from_rows(&[[1.0, 2.0], [0.5, 0.0]]).unwrap();
    // The checked constructors refuse a NaN; computed data can still hold one.
    let mut t = Batch::<f64, 1>::from_rows(&[[1.0], [2.0]]).unwrap();
    t.as_mut_slice()[1] = f64::NAN;
    let (mut ws, mut g) = (RegressionWorkspace::new(), net.zero_grads());
    let mut opt = SgdConfig::new(0.1).build::<f64>().unwrap();
    let r = net.train_step(&x, &t, &mut opt, &mut ws, &mut g);
    assert!(
        matches!(r, Err(Error::NonFinite { row: 1, col: 0, .. })),
        "{r:?}"
    );
    assert_eq!(state(&net), before);
}

/// A learning rate so large that the update overflows from finite gradients is
/// reported as such.
#[test]
fn an_overflowing_update_is_reported() {
    let mut net = Regression::<f32>::new(&mut seeded(1));
    let x = Batch::<f32, 2>::from_rows(&[[1.0, 2.0], [0.5, 0.0]]).unwrap();
    let t = Batch::<f32, 1>::from_rows(&[[100.0], [-100.0]]).unwrap();
    let (mut ws, mut g) = (RegressionWorkspace::new(), net.zero_grads());
    let mut opt = SgdConfig::new(1e38).build::<f32>().unwrap();
    let r = net.train_step(&x, &t, &mut opt, &mut ws, &mut g);
    assert!(matches!(r, Err(Error::ParametersDiverged { .. })), "{r:?}");
}

#[test]
fn forward_refuses_non_finite_and_empty_input() {
    let net = Regression::<f32>::new(&mut seeded(1));
    let mut x = Batch::<f32, 2>::from_rows(&[[1.0, 2.0], [3.0, 0.0]]).unwrap();
    x.as_mut_slice()[2] = f32::INFINITY;
    assert!(matches!(
        net.forward(&x),
        Err(Error::NonFinite { row: 1, col: 0, .. })
    ));
    let (mut ws, mut out) = (RegressionWorkspace::new(), Batch::new());
    let good = Batch::<f32, 2>::from_rows(&[[1.0, 2.0]]).unwrap();
    net.forward_into(&good, &mut ws, &mut out).unwrap();
    let kept = out.clone();
    assert!(matches!(
        net.forward_into(&Batch::new(), &mut ws, &mut out),
        Err(Error::EmptyBatch)
    ));
    assert!(net.forward_into(&x, &mut ws, &mut out).is_err());
    assert_eq!(out, kept, "a refused call leaves the output as it was");
}

network! {
    struct OnlyIdentity {
        input: 3,
        identity,
        loss: mse,
    }
}

network! {
    struct OnlyRelu {
        input: 3,
        relu,
        loss: mse,
    }
}

network! {
    struct OnlyDropout {
        input: 3,
        dropout(0.5),
        loss: mse,
    }
}

/// Networks without parameters compile and work: forward, the input's gradient, and
/// a train step that has nothing to update.
#[test]
fn parameter_free_networks_work() {
    let x = Batch::<f64, 3>::from_rows(&[[0.5, -1.0, 2.0], [1.0, 0.25, -0.5]]).unwrap();
    let t = Batch::<f64, 3>::zeros(2);
    let mut sgd = SgdConfig::new(0.1).build::<f64>().unwrap();

    let mut id = OnlyIdentity::<f64>::new(&mut seeded(0));
    assert_eq!(id.num_params(), 0);
    assert_eq!(id.forward(&x).unwrap(), x);
    let (mut ws, mut g) = (
        OnlyIdentityWorkspace::new(),
        id.zero_grads().with_input_grad(),
    );
    let loss = id.loss_and_grad(&x, &t, &mut ws, &mut g).unwrap();
    // mse of x against 0: mean of x^2; its gradient 2x / 6.
    let want: f64 = x.as_slice().iter().map(|v| v * v).sum::<f64>() / 6.0;
    assert!((loss - want).abs() < 1e-15);
    let gx = g.input.as_ref().unwrap();
    for (d, v) in gx.as_slice().iter().zip(x.as_slice()) {
        assert!((d - v / 3.0).abs() < 1e-15);
    }
    id.train_step(&x, &t, &mut sgd, &mut ws, &mut g).unwrap();

    let mut relu = OnlyRelu::<f64>::new(&mut seeded(0));
    let y = relu.forward(&x).unwrap();
    assert_eq!(y.as_slice(), &[0.5, 0.0, 2.0, 1.0, 0.25, 0.0]);
    let (mut ws, mut g) = (
        OnlyReluWorkspace::new(),
        relu.zero_grads().with_input_grad(),
    );
    relu.loss_and_grad(&x, &t, &mut ws, &mut g).unwrap();
    assert_eq!(g.input.as_ref().unwrap().as_slice()[1], 0.0);
    relu.train_step(&x, &t, &mut sgd, &mut ws, &mut g).unwrap();

    let mut drop = OnlyDropout::<f64>::new(&mut seeded(0));
    assert_eq!(
        drop.forward(&x).unwrap(),
        x,
        "dropout is the identity in evaluation"
    );
    let (mut ws, mut g) = (
        OnlyDropoutWorkspace::new(),
        drop.zero_grads().with_input_grad(),
    );
    drop.loss_and_grad(&x, &t, &mut ws, &mut g).unwrap();
    for (d, v) in g
        .input
        .as_ref()
        .unwrap()
        .as_slice()
        .iter()
        .zip(x.as_slice())
    {
        // y = mask x with mask 0 or 2; dL/dy = 2y/6; dx = mask dL/dy = 4x/3 or 0.
        assert!(*d == 0.0 || (d - 4.0 * v / 3.0).abs() < 1e-15, "{d} {v}");
    }
    drop.train_step(&x, &t, &mut sgd, &mut ws, &mut g).unwrap();
}

/// With `clip: value(..)` the workspace keeps the norm before clipping, and a report
/// given it flags an explosion the clipped gradients would hide.
#[test]
fn value_clipping_keeps_the_norm_before_clipping() {
    let mut net = ByValue::<f64>::new(&mut seeded(2));
    let x = Batch::<f64, 2>::from_rows(&[[30.0, -20.0], [10.0, 40.0]]).unwrap();
    let t = Batch::<f64, 1>::from_rows(&[[1e5], [-1e5]]).unwrap();
    let (mut ws, mut g) = (ByValueWorkspace::new(), net.zero_grads());
    let mut reference = net.clone();
    let mut g_ref = g.clone();
    reference
        .loss_and_grad(&x, &t, &mut ByValueWorkspace::new(), &mut g_ref)
        .unwrap();
    let raw_norm = gradnet::clip::grad_norm(&g_ref);
    let mut opt = SgdConfig::new(0.0).build::<f64>().unwrap();
    net.train_step(&x, &t, &mut opt, &mut ws, &mut g).unwrap();
    let kept = ws.pre_clip_norm().expect("value clipping keeps the norm");
    assert_eq!(kept, raw_norm);
    let mut report = GradientReport::collect(&net, &g, None).unwrap();
    assert!(!report.flags().exploding, "the clipped gradients look tame");
    report.set_pre_clip_norm(kept);
    assert!(report.flags().exploding, "norm {kept} before clipping");
}
