//! Batch norm against finite differences (backward) and against PyTorch's formulas
//! worked out here with plain loops (forward, running statistics, evaluation).

use gradnet_core::batch_norm::{BatchNorm, BatchNormCache, BatchNormConfig, BatchNormGrads};
use gradnet_core::gradcheck::{check_gradient, numeric_gradient};
use gradnet_core::{Batch, Error, Gradients, Parameters, Write};

const D: usize = 3;

/// Five rows at varied scales per feature, away from any symmetry.
fn data() -> Batch<f64, D> {
    Batch::from_rows(&[
        [0.3, -1.2, 4.0],
        [1.7, 0.4, 3.1],
        [-0.8, 2.2, 5.3],
        [0.9, -0.5, 2.4],
        [2.5, 1.1, 4.6],
    ])
    .unwrap()
}

fn affine_layer() -> BatchNorm<f64, D> {
    BatchNorm::from_parts(
        BatchNormConfig::default(),
        Some(vec![1.3, -0.7, 0.9]),
        Some(vec![0.2, -0.4, 0.1]),
    )
    .unwrap()
}

fn plain_layer() -> BatchNorm<f64, D> {
    BatchNorm::new(BatchNormConfig {
        affine: false,
        ..Default::default()
    })
    .unwrap()
}

/// A varied weight per output, so that the loss distinguishes outputs.
fn c(k: usize) -> f64 {
    0.3 + 0.17 * (k % 5) as f64
}

/// loss = sum_k c_k y_k^2 + sin(y_k): nonlinear, so dL/dy depends on y (the plain
/// sum of y would have zero gradient through the normalization).
fn loss(y: &[f64]) -> f64 {
    y.iter()
        .enumerate()
        .map(|(k, &v)| c(k) * v * v + v.sin())
        .sum()
}

/// dL/dy_k = 2 c_k y_k + cos(y_k).
fn dloss(y: &[f64]) -> Batch<f64, D> {
    let d: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(k, &v)| 2.0 * c(k) * v + v.cos())
        .collect();
    Batch::from_vec(d).unwrap()
}

/// The loss of a training-mode forward of a copy of `bn` on `x`.
fn train_loss(bn: &BatchNorm<f64, D>, x: &[f64]) -> f64 {
    let mut bn = bn.clone();
    let x = Batch::<f64, D>::from_slice(x).unwrap();
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    bn.forward_train(&x, &mut y, &mut cache).unwrap();
    loss(y.as_slice())
}

fn analytic(bn: &BatchNorm<f64, D>, x: &Batch<f64, D>) -> (BatchNormGrads<f64, D>, Batch<f64, D>) {
    let mut layer = bn.clone();
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    layer.forward_train(x, &mut y, &mut cache).unwrap();
    let dy = dloss(y.as_slice());
    let mut grads = bn.zero_grads();
    let mut dx = Batch::new();
    bn.backward(
        &mut cache,
        &dy,
        &mut grads,
        Write::Overwrite,
        Some(&mut dx),
        Write::Overwrite,
    );
    (grads, dx)
}

fn check_all(bn: &BatchNorm<f64, D>) {
    let x = data();
    let (grads, dx) = analytic(bn, &x);
    check_gradient(|v| train_loss(bn, v), x.as_slice(), dx.as_slice()).unwrap();
    if let Some(w) = bn.weight() {
        let f = |v: &[f64]| {
            let mut b = bn.clone();
            b.weight_mut().unwrap().copy_from_slice(v);
            train_loss(&b, x.as_slice())
        };
        check_gradient(f, w, grads.weight().unwrap()).unwrap();
    }
    if let Some(bias) = bn.bias() {
        let f = |v: &[f64]| {
            let mut b = bn.clone();
            b.bias_mut().unwrap().copy_from_slice(v);
            train_loss(&b, x.as_slice())
        };
        check_gradient(f, bias, grads.bias().unwrap()).unwrap();
    }
}

#[test]
fn backward_matches_finite_differences_affine() {
    check_all(&affine_layer());
}

#[test]
fn backward_matches_finite_differences_not_affine() {
    let bn = plain_layer();
    assert!(bn.weight().is_none() && bn.bias().is_none());
    check_all(&bn);
}

#[test]
fn backward_matches_finite_differences_weight_only() {
    let bn = BatchNorm::from_parts(BatchNormConfig::default(), Some(vec![1.3, -0.7, 0.9]), None)
        .unwrap();
    check_all(&bn);
}

#[test]
fn backward_ignoring_the_batch_statistics_would_fail() {
    // The gradient check can tell the full backward from the naive one that treats
    // mean and variance as constants: dx = weight * invstd * dy.
    let bn = affine_layer();
    let x = data();
    let (_, dx) = analytic(&bn, &x);
    let mut layer = bn.clone();
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    layer.forward_train(&x, &mut y, &mut cache).unwrap();
    let dy = dloss(y.as_slice());
    let w = bn.weight().unwrap();
    let naive: Vec<f64> = dy
        .as_slice()
        .iter()
        .enumerate()
        .map(|(k, &d)| w[k % D] * cache.invstd[k % D] * d)
        .collect();
    let numeric = numeric_gradient(|v| train_loss(&bn, v), x.as_slice());
    assert!(gradnet_core::gradcheck::compare(&naive, &numeric).is_err());
    assert!(gradnet_core::gradcheck::compare(dx.as_slice(), &numeric).is_ok());
}

#[test]
fn backward_accumulates_and_repeats() {
    let bn = affine_layer();
    let x = data();
    let (g, dx) = analytic(&bn, &x);
    let mut layer = bn.clone();
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    layer.forward_train(&x, &mut y, &mut cache).unwrap();
    let dy = dloss(y.as_slice());
    let mut acc = BatchNormGrads::<f64, D>::zeros(true, true);
    acc.weight_mut().unwrap().copy_from_slice(&[1.0, 2.0, 3.0]);
    acc.bias_mut().unwrap().copy_from_slice(&[-1.0, -2.0, -3.0]);
    let mut dx_acc = Batch::<f64, D>::from_vec((0..15).map(|k| k as f64 * 0.1).collect()).unwrap();
    // Twice: the scratch in the cache must not disturb a second backward.
    for _ in 0..2 {
        bn.backward(
            &mut cache,
            &dy,
            &mut acc,
            Write::Accumulate,
            Some(&mut dx_acc),
            Write::Accumulate,
        );
    }
    let gw = g.weight().unwrap();
    let gb = g.bias().unwrap();
    for j in 0..D {
        let w0 = [1.0, 2.0, 3.0][j];
        assert!((acc.weight().unwrap()[j] - (w0 + 2.0 * gw[j])).abs() < 1e-12);
        assert!((acc.bias().unwrap()[j] - (-w0 + 2.0 * gb[j])).abs() < 1e-12);
    }
    for (k, (&a, &d)) in dx_acc.as_slice().iter().zip(dx.as_slice()).enumerate() {
        assert!((a - (k as f64 * 0.1 + 2.0 * d)).abs() < 1e-12);
    }
    // dx = None still gives the parameter gradients.
    let mut g2 = bn.zero_grads();
    bn.backward(
        &mut cache,
        &dy,
        &mut g2,
        Write::Overwrite,
        None,
        Write::Overwrite,
    );
    assert_eq!(g2.weight(), Some(gw));
    assert_eq!(g2.bias(), Some(gb));
}

/// Per-feature mean and biased / unbiased variance of `rows`, by plain loops.
fn column_stats(rows: &[[f64; D]]) -> ([f64; D], [f64; D], [f64; D]) {
    let n = rows.len() as f64;
    let mut mean = [0.0; D];
    let mut biased = [0.0; D];
    let mut unbiased = [0.0; D];
    for j in 0..D {
        mean[j] = rows.iter().map(|r| r[j]).sum::<f64>() / n;
        let ss: f64 = rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum();
        biased[j] = ss / n;
        unbiased[j] = ss / (n - 1.0);
    }
    (mean, biased, unbiased)
}

fn batches() -> Vec<Vec<[f64; D]>> {
    vec![
        vec![
            [0.5, 1.0, -2.0],
            [1.5, 3.0, -1.0],
            [2.0, 0.0, 0.5],
            [-0.5, 2.5, -3.0],
        ],
        vec![
            [3.0, -1.0, 0.0],
            [2.2, 0.4, 1.0],
            [4.1, -2.0, 2.5],
            [3.3, 0.9, -0.5],
            [1.9, -0.3, 1.5],
            [2.8, 1.7, 0.2],
        ],
        vec![
            [-1.0, 5.0, 2.0],
            [0.0, 4.0, 2.5],
            [1.2, 6.5, 1.0],
            [-2.1, 3.3, 3.0],
            [0.4, 5.5, 2.2],
        ],
    ]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()) + 1e-14
}

#[test]
fn training_output_uses_the_batch_mean_and_biased_variance() {
    let mut bn = affine_layer();
    let rows = &batches()[1];
    let x = Batch::from_rows(rows).unwrap();
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    bn.forward_train(&x, &mut y, &mut cache).unwrap();
    let (mean, biased, _) = column_stats(rows);
    let (w, b) = ([1.3, -0.7, 0.9], [0.2, -0.4, 0.1]);
    for (i, r) in rows.iter().enumerate() {
        for j in 0..D {
            // PyTorch: y = (x - mean) / sqrt(var_biased + eps) * weight + bias
            let expected = (r[j] - mean[j]) / (biased[j] + 1e-5).sqrt() * w[j] + b[j];
            assert!(close(y.row(i)[j], expected), "row {i} col {j}");
        }
    }
    for j in 0..D {
        assert!(close(cache.mean[j], mean[j]));
        assert!(close(cache.var[j], biased[j]));
    }
}

/// Runs the three batches through `bn` in training mode.
fn train_three(bn: &mut BatchNorm<f64, D>) {
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    for rows in batches() {
        let x = Batch::from_rows(&rows).unwrap();
        bn.forward_train(&x, &mut y, &mut cache).unwrap();
    }
}

#[test]
fn running_statistics_follow_pytorch_after_three_batches() {
    for momentum in [0.1, 0.3] {
        let mut bn = BatchNorm::<f64, D>::new(BatchNormConfig {
            momentum: Some(momentum),
            ..Default::default()
        })
        .unwrap();
        train_three(&mut bn);
        // PyTorch (torch/nn/modules/batchnorm.py, ATen batch_norm_cpu_update_stats):
        //   running_mean = (1 - momentum) * running_mean + momentum * mean
        //   running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)
        // from running_mean = 0, running_var = 1, with n the rows of each batch.
        let (mut rm, mut rv) = ([0.0; D], [1.0; D]);
        for rows in batches() {
            let (mean, _, unbiased) = column_stats(&rows);
            for j in 0..D {
                rm[j] = (1.0 - momentum) * rm[j] + momentum * mean[j];
                rv[j] = (1.0 - momentum) * rv[j] + momentum * unbiased[j];
            }
        }
        for j in 0..D {
            assert!(
                close(bn.running_mean()[j], rm[j]),
                "mean {j}: {} vs {}",
                bn.running_mean()[j],
                rm[j]
            );
            assert!(
                close(bn.running_var()[j], rv[j]),
                "var {j}: {} vs {}",
                bn.running_var()[j],
                rv[j]
            );
        }
        assert_eq!(bn.num_batches_tracked(), 3.0);
    }
}

#[test]
fn momentum_none_keeps_a_cumulative_average() {
    let mut bn = BatchNorm::<f64, D>::new(BatchNormConfig {
        momentum: None,
        ..Default::default()
    })
    .unwrap();
    train_three(&mut bn);
    // PyTorch with momentum=None uses factor 1 / num_batches_tracked, so after k
    // batches the running statistics are the plain averages of the k batch means and
    // unbiased variances (the initial 0 and 1 get weight 0 at the first batch).
    let all = batches();
    for j in 0..D {
        let mean_avg: f64 = all.iter().map(|b| column_stats(b).0[j]).sum::<f64>() / 3.0;
        let var_avg: f64 = all.iter().map(|b| column_stats(b).2[j]).sum::<f64>() / 3.0;
        assert!(close(bn.running_mean()[j], mean_avg));
        assert!(close(bn.running_var()[j], var_avg));
    }
}

#[test]
fn evaluation_uses_the_running_statistics() {
    let mut bn = affine_layer();
    train_three(&mut bn);
    let before = bn.clone();
    // 70 rows: more than two of forward_eval's 32-row blocks, and a partial one.
    let rows: Vec<[f64; D]> = (0..70)
        .map(|i| {
            let t = i as f64;
            [
                (0.37 * t).sin() * 3.0,
                (0.11 * t).cos() + 1.0,
                t * 0.05 - 1.0,
            ]
        })
        .collect();
    let x = Batch::from_rows(&rows).unwrap();
    let mut y = Batch::new();
    bn.forward_eval(&x, &mut y);
    assert_eq!(bn, before, "evaluation must change nothing");
    let (w, b) = (
        bn.weight().to_owned().unwrap(),
        bn.bias().to_owned().unwrap(),
    );
    for (i, r) in rows.iter().enumerate() {
        for j in 0..D {
            // PyTorch eval: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias
            let expected =
                (r[j] - bn.running_mean()[j]) / (bn.running_var()[j] + 1e-5).sqrt() * w[j] + b[j];
            assert!((y.row(i)[j] - expected).abs() < 1e-12, "row {i} col {j}");
        }
    }
    // Without affine parameters too.
    let mut plain = plain_layer();
    train_three(&mut plain);
    plain.forward_eval(&x, &mut y);
    for (i, r) in rows.iter().enumerate() {
        for (j, (&v, &out)) in r.iter().zip(y.row(i)).enumerate() {
            let expected = (v - plain.running_mean()[j]) / (plain.running_var()[j] + 1e-5).sqrt();
            assert!((out - expected).abs() < 1e-12);
        }
    }
}

#[test]
fn a_training_batch_of_one_row_is_an_error() {
    let mut bn = affine_layer();
    let before = bn.clone();
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    let one = Batch::<f64, D>::from_rows(&[[1.0, 2.0, 3.0]]).unwrap();
    assert_eq!(
        bn.forward_train(&one, &mut y, &mut cache),
        Err(Error::TooFewRows {
            op: "batch norm in training mode",
            min: 2,
            found: 1
        })
    );
    let empty = Batch::<f64, D>::new();
    assert!(matches!(
        bn.forward_train(&empty, &mut y, &mut cache),
        Err(Error::TooFewRows { found: 0, .. })
    ));
    assert_eq!(
        bn, before,
        "a refused batch must not touch the running statistics"
    );
    // Evaluation of one row is fine.
    bn.forward_eval(&one, &mut y);
    assert_eq!(y.rows(), 1);
}

#[test]
fn bad_hyper_parameters_are_errors() {
    for momentum in [-0.1, 1.5, f64::NAN] {
        let r = BatchNorm::<f32, 2>::new(BatchNormConfig {
            momentum: Some(momentum),
            ..Default::default()
        });
        assert!(matches!(
            r,
            Err(Error::InvalidParameter {
                name: "batch norm momentum",
                ..
            })
        ));
    }
    // eps = 0 is refused (a constant feature would normalize to 0/0), and so is an eps
    // that rounds to 0 in f32.
    for eps in [-1e-5, 0.0, 1e-50, f64::INFINITY, f64::NAN] {
        let r = BatchNorm::<f32, 2>::new(BatchNormConfig {
            eps,
            ..Default::default()
        });
        assert!(matches!(
            r,
            Err(Error::InvalidParameter {
                name: "batch norm eps",
                ..
            })
        ));
    }
    assert!(BatchNorm::<f32, 2>::new(BatchNormConfig {
        momentum: Some(1.0),
        eps: 1e-12,
        affine: true
    })
    .is_ok());
    // 1e-50 is a valid eps in f64.
    assert!(BatchNorm::<f64, 2>::new(BatchNormConfig {
        eps: 1e-50,
        ..Default::default()
    })
    .is_ok());
}

#[test]
fn parameters_and_buffers_are_visited_by_name() {
    let mut bn = affine_layer();
    let mut seen = Vec::new();
    bn.visit_params(&mut |name, v| seen.push((name, v.len())));
    assert_eq!(seen, vec![("weight", D), ("bias", D)]);
    assert_eq!(bn.num_params(), 2 * D);
    let mut buffers = Vec::new();
    bn.visit_buffers(&mut |name, v| buffers.push((name, v.to_vec())));
    assert_eq!(
        buffers,
        vec![
            ("running_mean", vec![0.0; D]),
            ("running_var", vec![1.0; D]),
            ("num_batches_tracked", vec![0.0]),
        ]
    );
    // Loading through the mutable visitor reaches the real fields.
    bn.visit_buffers_mut(&mut |name, v| {
        if name == "num_batches_tracked" {
            v[0] = 7.0;
        } else if name == "running_var" {
            v.fill(2.0);
        }
    });
    assert_eq!(bn.num_batches_tracked(), 7.0);
    assert_eq!(bn.running_var(), &[2.0; D]);

    // An optimizer-like step through visit_params_mut.
    let mut grads = bn.zero_grads();
    grads.visit_grads_mut(&mut |_, g| g.fill(1.0));
    bn.visit_params_mut(&grads, &mut |p| {
        for (v, g) in p.value.iter_mut().zip(p.grad) {
            *v -= 0.5 * g;
        }
    });
    assert_eq!(bn.weight(), Some(&[0.8, -1.2, 0.4][..]));
    grads.zero();
    let mut names = Vec::new();
    grads.visit_grads(&mut |name, g| names.push((name, g.iter().sum::<f64>())));
    assert_eq!(names, vec![("weight", 0.0), ("bias", 0.0)]);

    let plain = plain_layer();
    assert_eq!(plain.num_params(), 0);
    let mut nb = 0;
    plain.visit_buffers(&mut |_, _| nb += 1);
    assert_eq!(nb, 3);
}

#[test]
fn buffers_sized_for_a_large_batch_serve_a_smaller_one() {
    let bn = affine_layer();
    let big: Vec<f64> = (0..64 * D)
        .map(|k| ((k * 7 % 13) as f64 - 6.0) * 0.3)
        .collect();
    let big = Batch::<f64, D>::from_vec(big).unwrap();
    let small = data();

    let mut layer = bn.clone();
    let (mut y, mut cache, mut dx) = (Batch::new(), BatchNormCache::new(), Batch::new());
    let mut grads = bn.zero_grads();
    layer.forward_train(&big, &mut y, &mut cache).unwrap();
    let dy_big = dloss(y.as_slice());
    bn.backward(
        &mut cache,
        &dy_big,
        &mut grads,
        Write::Overwrite,
        Some(&mut dx),
        Write::Overwrite,
    );
    let ptrs = (
        y.as_slice().as_ptr(),
        cache.xhat.as_slice().as_ptr(),
        cache.invstd.as_ptr(),
        dx.as_slice().as_ptr(),
    );

    let mut layer = bn.clone();
    layer.forward_train(&small, &mut y, &mut cache).unwrap();
    let dy = dloss(y.as_slice());
    bn.backward(
        &mut cache,
        &dy,
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
            cache.invstd.as_ptr(),
            dx.as_slice().as_ptr(),
        ),
        "no buffer may be reallocated for a smaller batch"
    );
    // And the results are those of fresh buffers.
    let (g_fresh, dx_fresh) = analytic(&bn, &small);
    assert_eq!(dx, dx_fresh);
    assert_eq!(grads, g_fresh);
}

#[test]
fn f32_agrees_with_f64() {
    let mut b64 = affine_layer();
    let mut b32 = BatchNorm::<f32, D>::from_parts(
        BatchNormConfig::default(),
        Some(vec![1.3, -0.7, 0.9]),
        Some(vec![0.2, -0.4, 0.1]),
    )
    .unwrap();
    let x = data();
    let (mut y64, mut c64) = (Batch::new(), BatchNormCache::new());
    let (mut y32, mut c32) = (Batch::new(), BatchNormCache::new());
    b64.forward_train(&x, &mut y64, &mut c64).unwrap();
    b32.forward_train(&x.cast::<f32>(), &mut y32, &mut c32)
        .unwrap();
    for (a, b) in y64.as_slice().iter().zip(y32.as_slice()) {
        assert!((a - f64::from(*b)).abs() < 1e-5);
    }
    for (a, b) in b64.running_var().iter().zip(b32.running_var()) {
        assert!((a - f64::from(*b)).abs() < 1e-5);
    }
}
