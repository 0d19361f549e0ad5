//! End-to-end gradient checks: for generated networks mixing every activation, the
//! gradients from `loss_and_grad` (every parameter, and the input) agree with central
//! finite differences of the loss in f64, by the project's rule
//! |analytic - numeric| <= 1e-6 * max(|analytic|, |numeric|) + 1e-9.

mod common;

use common::{check_input, check_params, flat_grads};
use gradnet::prelude::*;

/// Runs the full check on a network type: every parameter and every input value.
macro_rules! gradient_check {
    ($net:ident, $ws:ident, $x:expr, $target:expr, $seed:expr) => {{
        let mut rng = seeded($seed);
        let mut net = $net::<f64>::new(&mut rng);
        // ReZero scales start at 0, which would leave their blocks' gradients zero:
        // check them switched on.
        let mut k = 0.0;
        net.visit_values_mut(&mut |name, v| {
            if name.ends_with("alpha") {
                k += 1.0;
                v[0] = 0.9 - 0.35 * k;
            }
        });
        let x: Batch<f64, { $net::INPUT }> = $x;
        let target = $target;
        // Every evaluation gets a workspace with the same dropout seed: the same masks.
        let loss_of = |n: &$net<f64>, x: &Batch<f64, { $net::INPUT }>| {
            let mut n = n.clone();
            let mut g = n.zero_grads();
            n.loss_and_grad(x, &target, &mut $ws::with_seed(9), &mut g)
                .unwrap()
        };
        let mut grads = net.zero_grads().with_input_grad();
        let mut trained = net.clone();
        trained
            .loss_and_grad(&x, &target, &mut $ws::with_seed(9), &mut grads)
            .unwrap();
        let n = check_params(&net, &grads, |n| loss_of(n, &x));
        let gx = grads.input.as_ref().expect("input gradient was asked for");
        check_input(gx.as_slice(), x.as_slice(), |v| {
            loss_of(&net, &Batch::from_slice(v).unwrap())
        });
        n
    }};
}

fn inputs<const D: usize>(rows: usize, seed: u64) -> Batch<f64, D> {
    use gradnet::rand::RngExt;
    let mut rng = seeded(seed);
    Batch::from_vec((0..rows * D).map(|_| rng.random_range(-1.5..1.5)).collect()).unwrap()
}

network! {
    /// Tanh and sigmoid, MSE.
    struct Saturating {
        input: 3,
        dense(5),
        tanh,
        dense(4),
        sigmoid,
        dense(2),
        loss: mse,
    }
}

network! {
    /// Relu family, cross-entropy.
    struct ReluFamily {
        input: 4,
        dense(6),
        relu,
        dense(6),
        leaky_relu(0.1),
        dense(5),
        elu(0.7),
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// Smooth modern activations, binary cross-entropy with logits.
    struct Smooth {
        input: 3,
        dense(5),
        gelu,
        dense(5),
        gelu_tanh,
        dense(4),
        silu,
        dense(4),
        selu,
        dense(1),
        loss: bce_with_logits,
    }
}

network! {
    /// Softplus, hard tanh, PReLU (shared and per feature), identity, no-bias layers,
    /// and two activations in a row.
    struct Mixed {
        input: 3,
        dense(4, bias = false),
        softplus(2.0, 5.0),
        dense(4),
        hard_tanh(-0.8, 0.9),
        dense(5),
        prelu,
        dense(5),
        prelu(5),
        tanh,
        dense(2, bias = false),
        identity,
        loss: mse,
    }
}

#[test]
fn saturating_network_gradients() {
    let x = inputs::<3>(4, 1);
    let target =
        Batch::<f64, 2>::from_rows(&[[0.1, -0.2], [0.3, 0.5], [-1.0, 0.0], [0.2, 0.2]]).unwrap();
    let n = gradient_check!(Saturating, SaturatingWorkspace, x, target, 11);
    assert_eq!(n, 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2);
}

#[test]
fn relu_family_gradients() {
    let x = inputs::<4>(5, 2);
    let target: Vec<usize> = vec![0, 2, 1, 1, 0];
    gradient_check!(ReluFamily, ReluFamilyWorkspace, x, target, 12);
}

#[test]
fn smooth_activation_gradients() {
    let x = inputs::<3>(4, 3);
    let target = Batch::<f64, 1>::from_rows(&[[1.0], [0.0], [0.25], [1.0]]).unwrap();
    gradient_check!(Smooth, SmoothWorkspace, x, target, 13);
}

#[test]
fn mixed_network_gradients() {
    let x = inputs::<3>(3, 4);
    let target = Batch::<f64, 2>::from_rows(&[[0.5, -0.5], [0.0, 1.0], [1.0, 1.0]]).unwrap();
    gradient_check!(Mixed, MixedWorkspace, x, target, 14);
}

/// A backward pass that ignored the loss would give zero gradients; make sure the
/// checked gradients are not trivially zero.
#[test]
fn gradients_are_not_trivial() {
    let mut rng = seeded(5);
    let mut net = Saturating::<f64>::new(&mut rng);
    let x = inputs::<3>(4, 1);
    let target = Batch::<f64, 2>::from_rows(&[[1.0, -1.0]; 4]).unwrap();
    let mut g = net.zero_grads();
    net.loss_and_grad(&x, &target, &mut SaturatingWorkspace::new(), &mut g)
        .unwrap();
    assert!(flat_grads(&g).iter().filter(|v| v.abs() > 1e-6).count() > 40);
}

network! {
    /// Batch norm (training mode), layer norm, dropout and nested residual blocks.
    struct Deep {
        input: 4,
        dense(6),
        batch_norm,
        relu,
        residual {
            dense(6),
            tanh,
            residual(rezero = true) {
                dense(6),
                layer_norm,
                gelu,
            },
            dropout(0.3),
        },
        dense(5, bias = false),
        batch_norm(momentum = 0.2, affine = false),
        silu,
        residual {
            layer_norm(elementwise_affine = false),
            dense(5),
        },
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// A residual block right at the input, so the input's gradient has two paths;
    /// a plain sum, without the learnable scale.
    struct SkipAtInput {
        input: 3,
        residual(rezero = false) {
            dense(3),
            tanh,
        },
        batch_norm,
        dense(2),
        loss: mse,
    }
}

#[test]
fn normalization_dropout_and_residual_gradients() {
    let x = inputs::<4>(6, 5);
    let target: Vec<usize> = vec![0, 1, 2, 2, 1, 0];
    gradient_check!(Deep, DeepWorkspace, x, target, 15);
}

#[test]
fn residual_at_input_gradients() {
    let x = inputs::<3>(5, 6);
    let target =
        Batch::<f64, 2>::from_rows(&[[0.5, -0.5], [0.0, 1.0], [1.0, 1.0], [0.3, 0.1], [-1.0, 0.2]])
            .unwrap();
    gradient_check!(SkipAtInput, SkipAtInputWorkspace, x, target, 16);
}

/// Names follow PyTorch's nested `nn.Sequential`.
#[test]
fn parameter_names_follow_pytorch() {
    let net = Deep::<f64>::new(&mut seeded(0));
    let mut names = Vec::new();
    net.visit_params(&mut |n, _| names.push(n));
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "3.0.weight",
            "3.0.bias",
            "3.2.0.weight",
            "3.2.0.bias",
            "3.2.1.weight",
            "3.2.1.bias",
            "3.2.alpha",
            "4.weight",
            "7.1.weight",
            "7.1.bias",
            "8.weight",
            "8.bias",
        ]
    );
    let mut buffers = Vec::new();
    net.visit_buffers(&mut |n, _| buffers.push(n));
    assert_eq!(
        buffers,
        [
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked",
            "5.running_mean",
            "5.running_var",
            "5.num_batches_tracked",
        ]
    );
}

network! {
    /// Param-free layers before the first dense one: their backward runs only when
    /// the input's gradient is asked for.
    struct LeadingDropout {
        input: 4,
        dropout(0.25),
        tanh,
        residual {
            relu,
        },
        dense(3),
        batch_norm,
        dense(2),
        loss: mse,
    }
}

#[test]
fn leading_param_free_layers_gradients() {
    let x = inputs::<4>(5, 7);
    let target =
        Batch::<f64, 2>::from_rows(&[[0.5, -0.5], [0.0, 1.0], [1.0, 1.0], [0.3, 0.1], [-1.0, 0.2]])
            .unwrap();
    gradient_check!(LeadingDropout, LeadingDropoutWorkspace, x, target, 17);
}

/// Parameter gradients do not depend on whether the input's gradient is asked for
/// (which only adds work), for networks whose first layer is not dense.
#[test]
fn input_gradient_is_opt_in() {
    let x = inputs::<4>(5, 7);
    let target =
        Batch::<f64, 2>::from_rows(&[[0.5, -0.5], [0.0, 1.0], [1.0, 1.0], [0.3, 0.1], [-1.0, 0.2]])
            .unwrap();
    let net = LeadingDropout::<f64>::new(&mut seeded(3));
    let (mut a, mut b) = (net.clone(), net.clone());
    let mut ga = a.zero_grads();
    let mut gb = b.zero_grads().with_input_grad();
    a.loss_and_grad(
        &x,
        &target,
        &mut LeadingDropoutWorkspace::with_seed(1),
        &mut ga,
    )
    .unwrap();
    b.loss_and_grad(
        &x,
        &target,
        &mut LeadingDropoutWorkspace::with_seed(1),
        &mut gb,
    )
    .unwrap();
    assert_eq!(flat_grads(&ga), flat_grads(&gb));
    assert!(ga.input.is_none());
    assert_eq!(gb.input.as_ref().map(|g| g.rows()), Some(5));

    let x3 = inputs::<3>(5, 6);
    let t3 =
        Batch::<f64, 2>::from_rows(&[[0.5, -0.5], [0.0, 1.0], [1.0, 1.0], [0.3, 0.1], [-1.0, 0.2]])
            .unwrap();
    let net = SkipAtInput::<f64>::new(&mut seeded(3));
    let (mut a, mut b) = (net.clone(), net);
    let (mut ga, mut gb) = (a.zero_grads(), b.zero_grads().with_input_grad());
    a.loss_and_grad(&x3, &t3, &mut SkipAtInputWorkspace::new(), &mut ga)
        .unwrap();
    b.loss_and_grad(&x3, &t3, &mut SkipAtInputWorkspace::new(), &mut gb)
        .unwrap();
    assert_eq!(flat_grads(&ga), flat_grads(&gb));
}

network! {
    /// `repeat` writes its block out; each copy has its own parameters.
    struct Repeated {
        input: 3,
        repeat(2) { dense(4), tanh, repeat(2) { dense(4), gelu } },
        residual { repeat(2) { dense(4), silu } },
        dense(2),
        loss: mse,
    }
}

#[test]
fn repeat_gradients_and_names() {
    let x = inputs::<3>(4, 8);
    let target =
        Batch::<f64, 2>::from_rows(&[[0.5, -0.5], [0.0, 1.0], [1.0, 1.0], [0.3, 0.1]]).unwrap();
    gradient_check!(Repeated, RepeatedWorkspace, x, target, 18);
    let net = Repeated::<f64>::new(&mut seeded(0));
    let mut names = Vec::new();
    net.visit_params(&mut |n, _| names.push(n));
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "2.weight",
            "2.bias",
            "4.weight",
            "4.bias",
            "6.weight",
            "6.bias",
            "8.weight",
            "8.bias",
            "10.weight",
            "10.bias",
            "12.0.weight",
            "12.0.bias",
            "12.2.weight",
            "12.2.bias",
            "13.weight",
            "13.bias",
        ]
    );
    // The copies are initialized independently.
    assert_ne!(net.l0.weight()[..], net.l6.weight()[..12]);
}
