//! `map(|x| EXPR)` in `network!`: activations whose backward pass the macro derives.
//! A map of silu's and of leaky relu's formula equals the built-in activation,
//! forward and backward, in whole networks (fused after a dense layer and alone);
//! networks with learnable map parameters, scalar and per feature, agree with
//! central finite differences in f64 (every parameter and the input); the
//! parameters have names and shapes; and `grad!` against differences.

mod common;

use common::{check_input, check_params};
use gradnet::prelude::*;
use gradnet::rand::RngExt;

fn inputs<const D: usize>(rows: usize, seed: u64) -> Batch<f64, D> {
    let mut rng = seeded(seed);
    Batch::from_vec((0..rows * D).map(|_| rng.random_range(-1.5..1.5)).collect()).unwrap()
}

fn classes(rows: usize, seed: u64) -> Vec<usize> {
    let mut rng = seeded(seed);
    (0..rows).map(|_| rng.random_range(0..3)).collect()
}

network! {
    /// silu, built in: fused after a dense layer, and alone after layer norm.
    struct BuiltIn {
        input: 4,
        dense(6, init = he_normal),
        silu,
        layer_norm,
        silu,
        dense(5, init = glorot_uniform),
        leaky_relu(0.01),
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// The same network with the activations written as maps.
    struct Mapped {
        input: 4,
        dense(6, init = he_normal),
        map(|x| x * sigmoid(x)),
        layer_norm,
        map(|x| x * sigmoid(x)),
        dense(5, init = glorot_uniform),
        map(|x| if x > 0.0 { x } else { 0.01 * x }),
        dense(3),
        loss: cross_entropy,
    }
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn maps_equal_the_built_in_activations_they_mirror() {
    let mut a = BuiltIn::<f64>::new(&mut seeded(3));
    let mut b = Mapped::<f64>::new(&mut seeded(3));
    assert_eq!(common::flat_params(&a), common::flat_params(&b));
    let x = inputs::<4>(9, 4);
    let t = classes(9, 5);
    assert!(
        max_diff(
            a.forward(&x).unwrap().as_slice(),
            b.forward(&x).unwrap().as_slice()
        ) < 1e-12
    );
    let (mut ga, mut gb) = (
        a.zero_grads().with_input_grad(),
        b.zero_grads().with_input_grad(),
    );
    let la = a
        .loss_and_grad(&x, &t, &mut BuiltInWorkspace::new(), &mut ga)
        .unwrap();
    let lb = b
        .loss_and_grad(&x, &t, &mut MappedWorkspace::new(), &mut gb)
        .unwrap();
    assert!((la - lb).abs() < 1e-12);
    assert!(max_diff(&common::flat_grads(&ga), &common::flat_grads(&gb)) < 1e-12);
    assert!(
        max_diff(
            ga.input.as_ref().unwrap().as_slice(),
            gb.input.as_ref().unwrap().as_slice()
        ) < 1e-12
    );
    let text = b.summary().to_string();
    assert!(text.contains("map(|x| x * sigmoid(x))"), "{text}");
}

network! {
    /// Learnable maps: Swish with a learned beta (scalar), a PReLU written as a map
    /// (a slope per feature), and a rational function with two scalars; inside a
    /// residual block and after a dense layer.
    struct Learned {
        input: 3,
        dense(4),
        map(|x; beta = 1.0| x * sigmoid(beta * x)),
        residual {
            dense(4),
            map(|x; a[4] = 0.25| if x > 0.0 { x } else { a * x }),
        },
        dense(3),
        map(|x; p = 0.5, q = 2.0| (x + p * x * x) / (1.0 + q * abs(x))),
        loss: mse,
    }
}

#[test]
fn learnable_maps_against_finite_differences() {
    let net = Learned::<f64>::new(&mut seeded(6));
    let x = inputs::<3>(5, 7);
    let target = inputs::<3>(5, 8);
    let loss_of = |n: &Learned<f64>, x: &Batch<f64, 3>| {
        let mut n = n.clone();
        let mut g = n.zero_grads();
        n.loss_and_grad(x, &target, &mut LearnedWorkspace::new(), &mut g)
            .unwrap()
    };
    let mut grads = net.zero_grads().with_input_grad();
    net.clone()
        .loss_and_grad(&x, &target, &mut LearnedWorkspace::new(), &mut grads)
        .unwrap();
    let n = check_params(&net, &grads, |n| loss_of(n, &x));
    assert_eq!(n, 4 * 3 + 4 + 1 + 16 + 4 + 4 + 12 + 3 + 2);
    check_input(
        grads.input.as_ref().unwrap().as_slice(),
        x.as_slice(),
        |v| loss_of(&net, &Batch::from_slice(v).unwrap()),
    );
}

#[test]
fn map_parameters_have_names_shapes_and_train() {
    let mut net = Learned::<f32>::new(&mut seeded(9));
    let mut shapes = Vec::new();
    net.visit_shapes(&mut |name, _, shape| shapes.push(format!("{name} {shape}")));
    assert!(shapes.contains(&"1.beta [1]".to_string()), "{shapes:?}");
    assert!(shapes.contains(&"2.1.a [4]".to_string()), "{shapes:?}");
    assert!(shapes.contains(&"4.p [1]".to_string()) && shapes.contains(&"4.q [1]".to_string()));
    assert_eq!(net.l1.beta, [1.0]);
    assert_eq!(net.l2_1.a, [0.25; 4]);
    // An optimizer moves them.
    let x = Batch::<f32, 3>::from_rows(&[[0.5, -1.0, 2.0], [1.0, 0.25, -0.5]]).unwrap();
    let y = Batch::<f32, 3>::from_rows(&[[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]).unwrap();
    let mut opt = SgdConfig::new(0.1).build().unwrap();
    let (mut ws, mut g) = (LearnedWorkspace::new(), net.zero_grads());
    let first = net.train_step(&x, &y, &mut opt, &mut ws, &mut g).unwrap();
    for _ in 0..50 {
        net.train_step(&x, &y, &mut opt, &mut ws, &mut g).unwrap();
    }
    assert_ne!(net.l1.beta, [1.0]);
    assert!(net.loss(&x, &y, &mut ws).unwrap() < first);
}

/// `grad!` of a few functions against central differences, with its Hessian.
#[test]
fn grad_macro_against_finite_differences() {
    use gradnet::gradcheck::{agree, STEP};
    let f = gradnet::grad!(
        |x, y| x * y.exp() + softplus(x - 2.0 * y) - erf(x * y) / (1.0 + y * y),
        hessian
    );
    let g = |x: f64, y: f64| f(x, y).0;
    for &(x, y) in &[(0.3, -0.7), (1.5, 0.25), (-2.0, 1.0)] {
        let (v, grad, hess) = f(x, y);
        assert_eq!(v, g(x, y));
        let nx = (g(x + STEP, y) - g(x - STEP, y)) / (2.0 * STEP);
        let ny = (g(x, y + STEP) - g(x, y - STEP)) / (2.0 * STEP);
        assert!(
            agree(grad[0], nx) && agree(grad[1], ny),
            "{grad:?} vs {nx} {ny}"
        );
        let gx = |x: f64, y: f64| f(x, y).1;
        let hxy = (gx(x, y + STEP)[0] - gx(x, y - STEP)[0]) / (2.0 * STEP);
        let hxx = (gx(x + STEP, y)[0] - gx(x - STEP, y)[0]) / (2.0 * STEP);
        assert!(
            agree(hess[0][1], hxy) && agree(hess[1][0], hxy),
            "{hess:?} vs {hxy}"
        );
        assert!(agree(hess[0][0], hxx), "{hess:?} vs {hxx}");
    }
    // A named constant goes into the generated code as written.
    const K: f64 = 3.0;
    let k = gradnet::grad!(|x| K * x * x + x.powf(K));
    assert_eq!(k(2.0f64), (20.0, 24.0));
    // f32 from the same kind of expansion.
    let s = gradnet::grad!(|x| x * tanh(softplus(x)));
    let (v, d) = s(0.5f32);
    let mish = |x: f64| x * (1.0 + x.exp()).ln().tanh();
    assert!((v as f64 - mish(0.5)).abs() < 1e-6);
    assert!((d as f64 - (mish(0.5 + 1e-6) - mish(0.5 - 1e-6)) / 2e-6).abs() < 1e-4);
}

/// Weights files see map parameters like any other: saved under their names and
/// loaded into a fresh network, which then computes the same outputs.
#[test]
fn map_parameters_go_through_weights_files() {
    use gradnet::persist::{weights_from_bytes, weights_to_bytes, LoadOptions};
    let mut trained = Learned::<f64>::new(&mut seeded(10));
    trained.l1.beta[0] = 1.75;
    trained.l2_1.a = vec![0.1, 0.2, 0.3, 0.4];
    trained.l4.q[0] = 0.5;
    let bytes = weights_to_bytes(&trained).unwrap();
    let mut fresh = Learned::<f64>::new(&mut seeded(11));
    weights_from_bytes(&mut fresh, &bytes, LoadOptions::default()).unwrap();
    assert_eq!(fresh.l1.beta, [1.75]);
    assert_eq!(fresh.l2_1.a, [0.1, 0.2, 0.3, 0.4]);
    let x = inputs::<3>(4, 12);
    assert_eq!(trained.forward(&x).unwrap(), fresh.forward(&x).unwrap());
}
