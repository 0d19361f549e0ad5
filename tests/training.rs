//! Training steps of generated networks: `train_step` against a hand-applied update,
//! clipping declared in the spec, training and evaluation modes, anomaly detection.

use gradnet::diagnostics::Pass;
use gradnet::prelude::*;

network! {
    struct Small {
        input: 3,
        dense(4),
        tanh,
        dense(2),
        loss: mse,
    }
}

network! {
    struct Clipped {
        input: 3,
        dense(4),
        tanh,
        dense(2),
        loss: mse,
        clip: norm(0.5),
    }
}

network! {
    struct ClippedByValue {
        input: 3,
        dense(4),
        tanh,
        dense(2),
        loss: mse,
        clip: value(0.01),
    }
}

fn data() -> (Batch<f64, 3>, Batch<f64, 2>) {
    let x = Batch::from_rows(&[[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-0.2, 0.8, 0.1]]).unwrap();
    let t = Batch::from_rows(&[[1.0, 0.0], [-1.0, 2.0], [0.5, 0.5]]).unwrap();
    (x, t)
}

fn flat<M: Parameters<f64>>(m: &M) -> Vec<f64> {
    let mut v = Vec::new();
    m.visit_params(&mut |_, p| v.extend_from_slice(p));
    v
}

fn flat_grads<G: Gradients<f64>>(g: &G) -> Vec<f64> {
    let mut v = Vec::new();
    g.visit_grads(&mut |_, p| v.extend_from_slice(p));
    v
}

/// `p -= lr * g` by hand, through the parameter visitor.
fn hand_sgd(net: &mut Small<f64>, grads: &SmallGrads<f64>, lr: f64) {
    net.visit_params_mut(grads, &mut |p| {
        for (v, g) in p.value.iter_mut().zip(p.grad) {
            *v -= lr * g;
        }
    });
}

/// `train_step` with plain SGD is `loss_and_grad` followed by `p -= lr * g`, step
/// after step.
#[test]
fn train_step_matches_hand_applied_sgd() {
    let (x, t) = data();
    let net0 = Small::<f64>::new(&mut seeded(3));
    let (mut a, mut b) = (net0.clone(), net0.clone());
    let mut opt = SgdConfig::new(0.1).build::<f64>().unwrap();
    let (mut ws, mut grads) = (SmallWorkspace::new(), a.zero_grads());
    let (mut ws_b, mut grads_b) = (SmallWorkspace::new(), b.zero_grads());
    for step in 0..3 {
        let loss_a = a.train_step(&x, &t, &mut opt, &mut ws, &mut grads).unwrap();
        let loss_b = b.loss_and_grad(&x, &t, &mut ws_b, &mut grads_b).unwrap();
        assert!(
            flat_grads(&grads_b).iter().any(|g| g.abs() > 1e-3),
            "the step moves something"
        );
        hand_sgd(&mut b, &grads_b, 0.1);
        assert_eq!(loss_a, loss_b, "step {step}");
        assert_eq!(flat(&a), flat(&b), "step {step}");
    }
    assert_ne!(flat(&a), flat(&net0));
}

/// `clip: norm(0.5)` scales the gradients by 0.5 / (norm + 1e-6) before the update,
/// as `torch.nn.utils.clip_grad_norm_` does.
#[test]
fn spec_clipping_by_norm_is_applied_in_train_step() {
    let (x, t) = data();
    let small = Small::<f64>::new(&mut seeded(4));
    // Same parameters in the clipped network.
    let mut clipped = Clipped::<f64> {
        l0: small.l0.clone(),
        l2: small.l2.clone(),
    };
    let mut reference = small.clone();
    let (mut ws, mut g) = (SmallWorkspace::new(), reference.zero_grads());
    reference.loss_and_grad(&x, &t, &mut ws, &mut g).unwrap();
    let raw = flat_grads(&g);
    let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(
        norm > 0.5,
        "the test needs a gradient that gets clipped, norm {norm}"
    );
    let scale = 0.5 / (norm + 1e-6);
    let expected: Vec<f64> = flat(&reference)
        .iter()
        .zip(&raw)
        .map(|(p, g)| p - 0.1 * g * scale)
        .collect();

    let mut opt = SgdConfig::new(0.1).build::<f64>().unwrap();
    let (mut ws, mut gc) = (ClippedWorkspace::new(), clipped.zero_grads());
    clipped
        .train_step(&x, &t, &mut opt, &mut ws, &mut gc)
        .unwrap();
    for (a, e) in flat(&clipped).iter().zip(&expected) {
        assert!((a - e).abs() < 1e-14, "{a} vs {e}");
    }
    assert!((ws.pre_clip_norm().expect("clipped by norm") - norm).abs() < 1e-12);
    let after = flat_grads(&gc).iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((after - 0.5).abs() < 1e-6);
}

#[test]
fn spec_clipping_by_value_is_applied_in_train_step() {
    let (x, t) = data();
    let mut net = ClippedByValue::<f64>::new(&mut seeded(4));
    let mut opt = SgdConfig::new(0.1).build::<f64>().unwrap();
    let (mut ws, mut g) = (ClippedByValueWorkspace::new(), net.zero_grads());
    net.train_step(&x, &t, &mut opt, &mut ws, &mut g).unwrap();
    let grads = flat_grads(&g);
    assert!(grads.iter().all(|v| v.abs() <= 0.01));
    assert!(
        grads.iter().any(|v| v.abs() == 0.01),
        "some gradient was clipped"
    );
}

network! {
    struct Modes {
        input: 2,
        dense(3),
        batch_norm,
        dropout(0.5),
        dense(1),
        loss: mse,
    }
}

/// `forward` runs in evaluation mode: batch norm uses its running statistics and
/// dropout is the identity, so it equals a hand computation from the parameters.
#[test]
fn forward_runs_in_evaluation_mode() {
    let mut net = Modes::<f64>::new(&mut seeded(1));
    let x =
        Batch::<f64, 2>::from_rows(&[[0.5, -1.0], [2.0, 0.25], [-1.0, 1.0], [0.1, 0.2]]).unwrap();
    let t = Batch::<f64, 1>::from_rows(&[[1.0], [0.0], [-1.0], [0.5]]).unwrap();
    let (mut ws, mut g) = (ModesWorkspace::new(), net.zero_grads());
    for _ in 0..3 {
        net.loss_and_grad(&x, &t, &mut ws, &mut g).unwrap();
    }
    assert_eq!(net.l1.num_batches_tracked(), 3.0);
    let y = net.forward(&x).unwrap();
    for r in 0..x.rows() {
        let mut expected = net.l3.bias().unwrap()[0];
        for j in 0..3 {
            let z: f64 = (0..2)
                .map(|i| net.l0.weight()[j * 2 + i] * x.row(r)[i])
                .sum::<f64>()
                + net.l0.bias().unwrap()[j];
            let bn = &net.l1;
            let h = (z - bn.running_mean()[j]) / (bn.running_var()[j] + 1e-5).sqrt()
                * bn.weight().unwrap()[j]
                + bn.bias().unwrap()[j];
            expected += net.l3.weight()[j] * h;
        }
        assert!((y.row(r)[0] - expected).abs() < 1e-12);
    }
    // Evaluation changes nothing and repeats exactly.
    assert_eq!(net.forward(&x).unwrap(), y);
    assert_eq!(net.l1.num_batches_tracked(), 3.0);
}

/// Training mode draws dropout masks from the workspace's seeded RNG: the same seed
/// gives the same loss, another seed (almost surely) another.
#[test]
fn dropout_masks_follow_the_workspace_seed() {
    let net = Modes::<f64>::new(&mut seeded(1));
    let x =
        Batch::<f64, 2>::from_rows(&[[0.5, -1.0], [2.0, 0.25], [-1.0, 1.0], [0.1, 0.2]]).unwrap();
    let t = Batch::<f64, 1>::from_rows(&[[1.0], [0.0], [-1.0], [0.5]]).unwrap();
    let run = |seed| {
        let mut n = net.clone();
        let mut g = n.zero_grads();
        n.loss_and_grad(&x, &t, &mut ModesWorkspace::with_seed(seed), &mut g)
            .unwrap()
    };
    assert_eq!(run(7), run(7));
    assert!((1..6).any(|s| run(s) != run(7)));
}

#[test]
fn bad_batches_are_typed_errors() {
    let mut net = Modes::<f64>::new(&mut seeded(1));
    let (mut ws, mut g) = (ModesWorkspace::new(), net.zero_grads());
    let empty = Batch::<f64, 2>::new();
    let t = Batch::<f64, 1>::from_rows(&[[1.0]]).unwrap();
    assert_eq!(
        net.loss_and_grad(&empty, &t, &mut ws, &mut g),
        Err(Error::EmptyBatch)
    );
    let one = Batch::<f64, 2>::from_rows(&[[1.0, 2.0]]).unwrap();
    assert!(matches!(
        net.loss_and_grad(&one, &t, &mut ws, &mut g),
        Err(Error::TooFewRows { .. })
    ));
    let mut nan = Batch::<f64, 2>::from_rows(&[[1.0, 2.0], [3.0, 4.0]]).unwrap();
    nan.as_mut_slice()[3] = f64::NAN;
    let t2 = Batch::<f64, 1>::from_rows(&[[1.0], [2.0]]).unwrap();
    assert!(matches!(
        net.loss_and_grad(&nan, &t2, &mut ws, &mut g),
        Err(Error::NonFinite { row: 1, col: 1, .. })
    ));
    let two = Batch::<f64, 2>::from_rows(&[[1.0, 2.0], [3.0, 4.0]]).unwrap();
    assert!(matches!(
        net.loss_and_grad(&two, &t, &mut ws, &mut g),
        Err(Error::RowMismatch { .. })
    ));
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

fn anomaly(net: &mut Chain<f32>, detect: bool) -> Result<f32, Error> {
    let x = Batch::<f32, 2>::from_rows(&[[1.0, 1.0], [0.5, -0.5]]).unwrap();
    let t = Batch::<f32, 1>::from_rows(&[[0.0], [1.0]]).unwrap();
    let mut ws = ChainWorkspace::new();
    ws.set_detect_anomaly(detect);
    let mut g = net.zero_grads();
    net.loss_and_grad(&x, &t, &mut ws, &mut g)
}

/// A NaN in layer 1's weight first shows in layer 1's forward output.
#[test]
fn detection_names_the_layer_of_a_forward_nan() {
    let mut net = Chain::<f32>::new(&mut seeded(0));
    net.l1.weight_mut()[4] = f32::NAN;
    match anomaly(&mut net, true) {
        Err(Error::NonFiniteValue {
            layer: "1",
            pass: Pass::Forward,
            ..
        }) => {}
        other => panic!("expected a forward NaN in layer 1, got {other:?}"),
    }
    // Off: no error, the NaN reaches the loss.
    assert!(anomaly(&mut net.clone(), false).unwrap().is_nan());
}

/// Finite in the forward pass, infinite in the backward (f32, biases 0, first row
/// x = [1, 1]):
/// - layer 0 (weights 1e4): a0 = [2e4; 3];
/// - layer 1 (weights 1e-29) + tanh: z1 = 3 * 2e4 * 1e-29 = 6e-25, tanh(z1) = z1;
/// - layer 3 (weights 1e30): output = 3 * 6e-25 * 1e30 = 1.8e6, loss ~ 1.6e12: finite.
///
/// Backward: dL/d(output) ~ 1.8e6; layer 3's input gradient 1.8e6 * 1e30 = 1.8e36
/// (finite, f32 max 3.4e38); through tanh (derivative 1) dz1 = 1.8e36; layer 1's
/// weight gradient dz1 * a0 = 1.8e36 * 2e4 = 3.6e40: the first infinity, in layer 1.
#[test]
fn detection_names_the_layer_of_a_backward_infinity() {
    let mut net = Chain::<f32>::new(&mut seeded(0));
    net.l0.weight_mut().iter_mut().for_each(|w| *w = 1e4);
    net.l1.weight_mut().iter_mut().for_each(|w| *w = 1e-29);
    net.l3.weight_mut().iter_mut().for_each(|w| *w = 1e30);
    let loss = anomaly(&mut net.clone(), false).unwrap();
    assert!(loss.is_finite(), "forward must stay finite, loss {loss}");
    match anomaly(&mut net, true) {
        Err(Error::NonFiniteValue {
            layer,
            pass: Pass::Backward,
            ..
        }) => {
            assert_eq!(
                layer, "1",
                "first non-finite gradient is layer 1's weight gradient"
            )
        }
        other => panic!("expected a backward infinity, got {other:?}"),
    }
}

const DROP: f64 = 0.25;
const EPS: f64 = 1e-3;

network! {
    /// Settings given as named consts are checked by const assertions and used.
    struct ConstSettings {
        input: 2,
        dense(3),
        batch_norm(momentum = DROP, eps = EPS),
        dropout(DROP),
        dense(1),
        loss: mse,
    }
}

#[test]
fn settings_given_as_consts() {
    let net = ConstSettings::<f64>::new(&mut seeded(0));
    assert_eq!(net.l1.eps(), 1e-3);
    assert_eq!(net.l2.p(), 0.25);
}
