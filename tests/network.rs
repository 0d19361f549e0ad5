//! The `Network` trait: code written once over `N: Network<T>` works for every
//! generated network; shapes, summaries, evaluation-mode gradients and the
//! training-mode output through it.

use gradnet::gradcheck::check_gradient;
use gradnet::optim::SgdConfig;
use gradnet::params::{Shape, TensorKind};
use gradnet::prelude::*;
use gradnet::Network;

network! {
    struct Regressor {
        input: 3,
        dense(5),
        tanh,
        dense(2),
        loss: mse,
    }
}

network! {
    /// Batch norm, dropout and a residual block: every kind of state.
    struct Classifier {
        input: 3,
        dense(6),
        batch_norm,
        relu,
        dropout(0.25),
        residual {
            dense(6),
            tanh,
        },
        prelu,
        dense(4),
        loss: cross_entropy,
    }
}

/// The mean evaluation-mode loss over batches, written once for every network.
fn evaluate<T: Real, N: Network<T>>(net: &N, batches: &[(&N::Input, &N::Target)]) -> T {
    let mut ws = N::Workspace::default();
    let mut sum = T::zero();
    for (x, t) in batches {
        sum += net.loss(x, t, &mut ws).unwrap();
    }
    sum / T::of(batches.len() as f64)
}

/// A few steps of training, written once for every network.
fn train<T: Real, N: Network<T>>(net: &mut N, x: &N::Input, t: &N::Target, steps: usize) -> T {
    let mut opt = SgdConfig::new(0.05).build::<T>().unwrap();
    let mut ws = N::Workspace::default();
    let mut grads = net.zero_grads();
    let mut last = T::zero();
    for _ in 0..steps {
        last = net.train_step(x, t, &mut opt, &mut ws, &mut grads).unwrap();
    }
    last
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

#[test]
fn generic_code_works_for_two_networks() {
    let x = x4();
    let t_reg =
        Batch::<f64, 2>::from_rows(&[[1.0, 0.0], [-1.0, 2.0], [0.5, 0.5], [0.0, 1.0]]).unwrap();
    let t_cls = [0usize, 3, 1, 2];

    let mut reg = <Regressor<f64> as Network<f64>>::new(&mut seeded(1));
    let mut cls = <Classifier<f64> as Network<f64>>::new(&mut seeded(2));
    let before = (
        evaluate(&reg, &[(&x, &t_reg)]),
        evaluate(&cls, &[(&x, &t_cls[..])]),
    );
    // The generic evaluation is the network's own.
    let mut ws = RegressorWorkspace::new();
    assert_eq!(before.0, reg.loss(&x, &t_reg, &mut ws).unwrap());
    train(&mut reg, &x, &t_reg, 50);
    train(&mut cls, &x, &t_cls[..], 50);
    let after = (
        evaluate(&reg, &[(&x, &t_reg)]),
        evaluate(&cls, &[(&x, &t_cls[..])]),
    );
    assert!(
        after.0 < before.0 && after.1 < before.1,
        "{before:?} -> {after:?}"
    );

    // INPUT and OUTPUT for every scalar type, through the trait.
    assert_eq!(<Regressor<f64> as Network<f64>>::INPUT, 3);
    assert_eq!(<Classifier<f64> as Network<f64>>::OUTPUT, 4);
    assert_eq!(
        <Classifier<f32> as Network<f32>>::OUTPUT,
        Classifier::OUTPUT
    );
}

#[test]
fn shapes_follow_pytorch() {
    let net = Classifier::<f32>::new(&mut seeded(0));
    let mut seen = Vec::new();
    net.visit_shapes(&mut |n, k, s| seen.push((n, k, s.dims().to_vec())));
    use TensorKind::{Buffer, Parameter};
    assert_eq!(
        seen,
        vec![
            ("0.weight", Parameter, vec![6, 3]),
            ("0.bias", Parameter, vec![6]),
            ("1.weight", Parameter, vec![6]),
            ("1.bias", Parameter, vec![6]),
            ("4.0.weight", Parameter, vec![6, 6]),
            ("4.0.bias", Parameter, vec![6]),
            ("5.weight", Parameter, vec![1]),
            ("6.weight", Parameter, vec![4, 6]),
            ("6.bias", Parameter, vec![4]),
            ("1.running_mean", Buffer, vec![6]),
            ("1.running_var", Buffer, vec![6]),
            ("1.num_batches_tracked", Buffer, vec![]),
        ]
    );
    // The same names, in the same order, as the other visitors, and the lengths fit.
    let mut names = Vec::new();
    net.visit_params(&mut |n, v| names.push((n, v.len())));
    net.visit_buffers(&mut |n, v| names.push((n, v.len())));
    let from_shapes: Vec<(&str, usize)> = seen
        .iter()
        .map(|(n, _, d)| (*n, Shape::from_dims(d).unwrap().numel()))
        .collect();
    assert_eq!(names, from_shapes);
}

#[test]
fn values_can_be_written_without_gradients() {
    let mut net = Regressor::<f64>::new(&mut seeded(0));
    let mut k = 0.0;
    net.visit_values_mut(&mut |_, v| {
        for x in v {
            *x = k;
            k += 1.0;
        }
    });
    let mut read = Vec::new();
    net.visit_params(&mut |_, v| read.extend_from_slice(v));
    assert_eq!(read, (0..read.len()).map(|i| i as f64).collect::<Vec<_>>());
    assert_eq!(net.l0.weight()[4], 4.0);
}

#[test]
fn summary_lists_every_layer() {
    let net = Classifier::<f32>::new(&mut seeded(0));
    let s = net.summary();
    let rows: Vec<(&str, &str, usize, usize)> = s
        .rows()
        .iter()
        .map(|r| (r.name.as_str(), r.kind.as_str(), r.output, r.params))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("0", "dense(3 -> 6)", 6, 24),
            ("1", "batch_norm(momentum = 0.1, eps = 0.00001)", 6, 12),
            ("2", "relu", 6, 0),
            ("3", "dropout(0.25)", 6, 0),
            ("4", "residual", 6, 0),
            ("4.0", "dense(6 -> 6)", 6, 42),
            ("4.1", "tanh", 6, 0),
            ("5", "prelu", 6, 1),
            ("6", "dense(6 -> 4)", 4, 28),
        ]
    );
    assert_eq!(s.total_params(), net.num_params());
    assert_eq!(s.total_buffers(), 13);
    let text = s.to_string();
    assert!(text.starts_with("Classifier (3 inputs)"), "{text}");
    assert!(text.contains("weight [6, 3], bias [6]"), "{text}");
    assert!(
        text.ends_with("total: 107 parameters, 13 buffer values"),
        "{text}"
    );
}

/// The evaluation-mode loss_and_grad is the gradient of the evaluation-mode loss
/// (running statistics, no dropout), checked by finite differences of `loss` over
/// every parameter and the input, and it changes nothing in the network.
#[test]
fn eval_mode_gradients_match_finite_differences() {
    let x = x4();
    let t = [0usize, 3, 1, 2];
    let mut net = Classifier::<f64>::new(&mut seeded(5));
    // Running statistics that are not the defaults.
    let mut ws = ClassifierWorkspace::with_seed(3);
    let mut grads = net.zero_grads();
    for _ in 0..3 {
        net.loss_and_grad(&x, &t, &mut ws, &mut grads).unwrap();
    }
    let frozen = net.clone();
    let mut g = net.zero_grads().with_input_grad();
    let loss = net.eval_loss_and_grad(&x, &t, &mut ws, &mut g).unwrap();
    assert_eq!(loss, net.loss(&x, &t, &mut ws).unwrap());
    let mut bits = Vec::new();
    net.visit_params(&mut |_, v| bits.extend(v.iter().map(|x| x.to_bits())));
    net.visit_buffers(&mut |_, v| bits.extend(v.iter().map(|x| x.to_bits())));
    let mut bits0 = Vec::new();
    frozen.visit_params(&mut |_, v| bits0.extend(v.iter().map(|x| x.to_bits())));
    frozen.visit_buffers(&mut |_, v| bits0.extend(v.iter().map(|x| x.to_bits())));
    assert_eq!(bits, bits0, "eval-mode gradients change nothing");

    // The input.
    let eval_loss = |xs: &[f64]| {
        let xb = Batch::<f64, 3>::from_slice(xs).unwrap();
        net.loss(&xb, &t, &mut ClassifierWorkspace::new()).unwrap()
    };
    check_gradient(
        eval_loss,
        x.as_slice(),
        g.input.as_ref().unwrap().as_slice(),
    )
    .unwrap();
    // Every parameter, one at a time.
    let mut analytic = Vec::new();
    g.visit_grads(&mut |n, v| analytic.push((n, v.to_vec())));
    for (name, grad) in analytic {
        let mut p0 = Vec::new();
        net.visit_params(&mut |n, v| {
            if n == name {
                p0 = v.to_vec();
            }
        });
        let f = |v: &[f64]| {
            let mut m = net.clone();
            m.visit_values_mut(&mut |n, w| {
                if n == name {
                    w.copy_from_slice(v);
                }
            });
            m.loss(&x, &t, &mut ClassifierWorkspace::new()).unwrap()
        };
        check_gradient(f, &p0, &grad).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// `train_output` is what the loss saw in the last gradient pass (dropout applied),
/// and an evaluation-mode forward pass does not overwrite it.
#[test]
fn the_training_output_is_kept() {
    let x = x4();
    let t = Batch::<f64, 2>::from_rows(&[[1.0, 0.0], [-1.0, 2.0], [0.5, 0.5], [0.0, 1.0]]).unwrap();
    let mut net = Regressor::<f64>::new(&mut seeded(1));
    let (mut ws, mut g) = (RegressorWorkspace::new(), net.zero_grads());
    let loss = net.loss_and_grad(&x, &t, &mut ws, &mut g).unwrap();
    let seen = ws.train_output().clone();
    assert_eq!(gradnet::loss::mse(&seen, &t).unwrap(), loss);
    let mut out = Batch::new();
    let x2 = Batch::<f64, 3>::from_rows(&[[3.0, 3.0, 3.0]]).unwrap();
    net.forward_into(&x2, &mut ws, &mut out).unwrap();
    assert_eq!(<Regressor<f64> as Network<f64>>::train_output(&ws), &seen);
}
