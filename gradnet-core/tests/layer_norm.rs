//! Layer norm against finite differences (backward) and against PyTorch's formula
//! worked out here with plain loops (forward).

use gradnet_core::gradcheck::check_gradient;
use gradnet_core::layer_norm::{LayerNorm, LayerNormCache, LayerNormConfig, LayerNormGrads};
use gradnet_core::{Batch, Error, Parameters, Write};

const D: usize = 4;

fn data() -> Batch<f64, D> {
    Batch::from_rows(&[
        [0.3, -1.2, 4.0, 0.8],
        [1.7, 0.4, 3.1, -2.2],
        [-0.8, 2.2, 5.3, 0.1],
    ])
    .unwrap()
}

fn affine_layer() -> LayerNorm<f64, D> {
    let mut ln = LayerNorm::default();
    ln.weight_mut()
        .unwrap()
        .copy_from_slice(&[1.3, -0.7, 0.9, 1.1]);
    ln.bias_mut()
        .unwrap()
        .copy_from_slice(&[0.2, -0.4, 0.1, 0.6]);
    ln
}

fn layer(elementwise_affine: bool, bias: bool) -> LayerNorm<f64, D> {
    let mut ln = LayerNorm::new(LayerNormConfig {
        elementwise_affine,
        bias,
        ..Default::default()
    })
    .unwrap();
    let a = affine_layer();
    if let Some(w) = ln.weight_mut() {
        w.copy_from_slice(a.weight().unwrap());
    }
    if let Some(b) = ln.bias_mut() {
        b.copy_from_slice(a.bias().unwrap());
    }
    ln
}

fn c(k: usize) -> f64 {
    0.3 + 0.17 * (k % 5) as f64
}

/// loss = sum_k c_k y_k^2 + sin(y_k): nonlinear in y (the plain sum of a normalized
/// row would have zero gradient).
fn loss(y: &[f64]) -> f64 {
    y.iter()
        .enumerate()
        .map(|(k, &v)| c(k) * v * v + v.sin())
        .sum()
}

/// dL/dy_k = 2 c_k y_k + cos(y_k).
fn dloss(y: &[f64]) -> Batch<f64, D> {
    Batch::from_vec(
        y.iter()
            .enumerate()
            .map(|(k, &v)| 2.0 * c(k) * v + v.cos())
            .collect(),
    )
    .unwrap()
}

fn eval_loss(ln: &LayerNorm<f64, D>, x: &[f64]) -> f64 {
    let x = Batch::<f64, D>::from_slice(x).unwrap();
    let mut y = Batch::new();
    ln.forward_eval(&x, &mut y);
    loss(y.as_slice())
}

fn analytic(ln: &LayerNorm<f64, D>, x: &Batch<f64, D>) -> (LayerNormGrads<f64, D>, Batch<f64, D>) {
    let (mut y, mut cache) = (Batch::new(), LayerNormCache::new());
    ln.forward_train(x, &mut y, &mut cache);
    let dy = dloss(y.as_slice());
    let (mut grads, mut dx) = (ln.zero_grads(), Batch::new());
    ln.backward(
        &cache,
        &dy,
        &mut grads,
        Write::Overwrite,
        Some(&mut dx),
        Write::Overwrite,
    );
    (grads, dx)
}

fn check_all(ln: &LayerNorm<f64, D>) {
    let x = data();
    let (grads, dx) = analytic(ln, &x);
    check_gradient(|v| eval_loss(ln, v), x.as_slice(), dx.as_slice()).unwrap();
    if let Some(w) = ln.weight() {
        let f = |v: &[f64]| {
            let mut l = ln.clone();
            l.weight_mut().unwrap().copy_from_slice(v);
            eval_loss(&l, x.as_slice())
        };
        check_gradient(f, w, grads.weight().unwrap()).unwrap();
    }
    if let Some(b) = ln.bias() {
        let f = |v: &[f64]| {
            let mut l = ln.clone();
            l.bias_mut().unwrap().copy_from_slice(v);
            eval_loss(&l, x.as_slice())
        };
        check_gradient(f, b, grads.bias().unwrap()).unwrap();
    }
}

#[test]
fn backward_matches_finite_differences_affine() {
    check_all(&layer(true, true));
}

#[test]
fn backward_matches_finite_differences_not_affine() {
    let ln = layer(false, true);
    assert!(
        ln.weight().is_none() && ln.bias().is_none(),
        "bias needs elementwise_affine"
    );
    check_all(&ln);
}

#[test]
fn backward_matches_finite_differences_weight_only() {
    let ln = layer(true, false);
    assert!(ln.weight().is_some() && ln.bias().is_none());
    check_all(&ln);
}

#[test]
fn backward_accumulates() {
    let ln = affine_layer();
    let x = data();
    let (g, dx) = analytic(&ln, &x);
    let (mut y, mut cache) = (Batch::new(), LayerNormCache::new());
    ln.forward_train(&x, &mut y, &mut cache);
    let dy = dloss(y.as_slice());
    let mut acc = LayerNormGrads::<f64, D>::zeros(true, true);
    acc.weight_mut().unwrap().fill(1.0);
    acc.bias_mut().unwrap().fill(-1.0);
    let mut dx_acc = Batch::<f64, D>::from_vec(vec![0.5; 3 * D]).unwrap();
    ln.backward(
        &cache,
        &dy,
        &mut acc,
        Write::Accumulate,
        Some(&mut dx_acc),
        Write::Accumulate,
    );
    for j in 0..D {
        assert!((acc.weight().unwrap()[j] - (1.0 + g.weight().unwrap()[j])).abs() < 1e-12);
        assert!((acc.bias().unwrap()[j] - (-1.0 + g.bias().unwrap()[j])).abs() < 1e-12);
    }
    for (&a, &d) in dx_acc.as_slice().iter().zip(dx.as_slice()) {
        assert!((a - (0.5 + d)).abs() < 1e-12);
    }
}

#[test]
fn forward_normalizes_each_row_with_its_biased_variance() {
    let ln = affine_layer();
    let x = data();
    let (mut y, mut cache) = (Batch::new(), LayerNormCache::new());
    ln.forward_train(&x, &mut y, &mut cache);
    let (w, b) = (
        ln.weight().to_owned().unwrap(),
        ln.bias().to_owned().unwrap(),
    );
    for (i, r) in x.iter_rows().enumerate() {
        // PyTorch: y = (x - mean(x)) / sqrt(var_biased(x) + eps) * weight + bias, per row
        let mean = r.iter().sum::<f64>() / D as f64;
        let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / D as f64;
        for j in 0..D {
            let expected = (r[j] - mean) / (var + 1e-5).sqrt() * w[j] + b[j];
            assert!((y.row(i)[j] - expected).abs() < 1e-12, "row {i} col {j}");
        }
        assert!((cache.mean[i] - mean).abs() < 1e-14);
        assert!((cache.invstd[i] - 1.0 / (var + 1e-5).sqrt()).abs() < 1e-12);
    }
    // Evaluation computes the same thing without a cache.
    let mut y_eval = Batch::new();
    ln.forward_eval(&x, &mut y_eval);
    assert_eq!(y, y_eval);
}

#[test]
fn buffers_sized_for_a_large_batch_serve_a_smaller_one() {
    let ln = affine_layer();
    let big: Vec<f64> = (0..50 * D)
        .map(|k| ((k * 7 % 11) as f64 - 5.0) * 0.4)
        .collect();
    let big = Batch::<f64, D>::from_vec(big).unwrap();
    let small = data();
    let (mut y, mut cache, mut dx) = (Batch::new(), LayerNormCache::new(), Batch::new());
    let mut grads = ln.zero_grads();
    ln.forward_train(&big, &mut y, &mut cache);
    ln.backward(
        &cache,
        &dloss(y.as_slice()),
        &mut grads,
        Write::Overwrite,
        Some(&mut dx),
        Write::Overwrite,
    );
    let ptrs = (
        y.as_slice().as_ptr(),
        cache.xhat.as_slice().as_ptr(),
        cache.mean.as_ptr(),
        cache.invstd.as_ptr(),
        dx.as_slice().as_ptr(),
    );
    ln.forward_train(&small, &mut y, &mut cache);
    ln.backward(
        &cache,
        &dloss(y.as_slice()),
        &mut grads,
        Write::Overwrite,
        Some(&mut dx),
        Write::Overwrite,
    );
    assert_eq!(
        ptrs,
        (
            y.as_slice().as_ptr(),
            cache.xhat.as_slice().as_ptr(),
            cache.mean.as_ptr(),
            cache.invstd.as_ptr(),
            dx.as_slice().as_ptr(),
        )
    );
    let (g_fresh, dx_fresh) = analytic(&ln, &small);
    assert_eq!(dx, dx_fresh);
    assert_eq!(grads, g_fresh);
}

#[test]
fn parameters_are_visited_by_name_and_eps_is_checked() {
    let ln = affine_layer();
    let mut seen = Vec::new();
    ln.visit_params(&mut |name, v| seen.push((name, v.len())));
    assert_eq!(seen, vec![("weight", D), ("bias", D)]);
    let mut nb = 0;
    ln.visit_buffers(&mut |_, _| nb += 1);
    assert_eq!(nb, 0, "layer norm has no buffers");
    assert_eq!(layer(false, true).num_params(), 0);
    assert_eq!(layer(true, false).num_params(), D);
    for eps in [-1.0, 0.0, 1e-50, f64::NAN, f64::INFINITY] {
        let r = LayerNorm::<f32, D>::new(LayerNormConfig {
            eps,
            ..Default::default()
        });
        assert!(matches!(
            r,
            Err(Error::InvalidParameter {
                name: "layer norm eps",
                ..
            })
        ));
    }
}

#[test]
fn a_constant_row_normalizes_to_the_bias() {
    // var = 0, so xhat = 0 / sqrt(eps) = 0 and y = bias: finite, as in PyTorch.
    let x = Batch::<f32, D>::from_rows(&[[2.5; D]]).unwrap();
    let mut l32 = LayerNorm::<f32, D>::default();
    l32.bias_mut()
        .unwrap()
        .copy_from_slice(&[0.2, -0.4, 0.1, 0.6]);
    let mut y = Batch::new();
    l32.forward_eval(&x, &mut y);
    assert_eq!(y.as_slice(), l32.bias().unwrap());
}
