//! The dense layer's backward against central finite differences in f64, on both of
//! its paths (direct loops for small products, GEMM for large ones), with and without
//! bias, fused with an activation or not, overwriting and accumulating.
//!
//! The loss after the layer is L = sum_ij c_ij * sin(y_ij) with varied c, so a
//! backward that ignored its incoming gradient would fail.

use gradnet_core::activation::{Activation, Identity, Tanh};
use gradnet_core::gradcheck::check_gradient;
use gradnet_core::init::Init;
use gradnet_core::rand::RngExt;
use gradnet_core::rng::seeded;
use gradnet_core::{Batch, Dense, DenseGrads, Write};

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = seeded(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// L(W, b, X) for the layer given flat parameters.
fn loss<const IN: usize, const OUT: usize, A: Activation<f64>>(
    w: &[f64],
    b: Option<&[f64]>,
    x: &[f64],
    act: A,
    c: &[f64],
) -> f64 {
    let layer = Dense::<f64, IN, OUT>::from_parts(w.to_vec(), b.map(|b| b.to_vec())).unwrap();
    let x = Batch::<f64, IN>::from_slice(x).unwrap();
    let (mut z, mut y) = (Batch::new(), Batch::new());
    layer.forward_act(&x, act, &mut z, &mut y);
    y.as_slice().iter().zip(c).map(|(y, c)| c * y.sin()).sum()
}

fn check<const IN: usize, const OUT: usize, A: Activation<f64>>(
    rows: usize,
    bias: bool,
    act: A,
    seed: u64,
) {
    let mut rng = seeded(seed);
    let mut layer = Dense::<f64, IN, OUT>::new(&Init::glorot_uniform(), bias, &mut rng);
    if let Some(b) = layer.bias_mut() {
        b.copy_from_slice(&random(OUT, seed + 1));
    }
    let xs = random(rows * IN, seed + 2);
    let c = random(rows * OUT, seed + 3);
    let x = Batch::<f64, IN>::from_slice(&xs).unwrap();
    let (mut z, mut y) = (Batch::new(), Batch::new());
    layer.forward_act(&x, act, &mut z, &mut y);
    let mut dy = Batch::<f64, OUT>::from_vec(
        y.as_slice()
            .iter()
            .zip(&c)
            .map(|(y, c)| c * y.cos())
            .collect(),
    )
    .unwrap();
    // Stale values in the buffers: Overwrite must ignore them.
    let mut grads = DenseGrads::<f64, IN, OUT>::zeros(bias);
    grads.weight_mut().fill(7.0);
    if let Some(b) = grads.bias_mut() {
        b.fill(-3.0);
    }
    let mut dx = Batch::<f64, IN>::zeros(rows + 5);
    dx.as_mut_slice().fill(9.0);
    layer.backward_act(
        act,
        &x,
        &z,
        &y,
        &mut dy,
        &mut grads,
        Write::Overwrite,
        Some(&mut dx),
        Write::Overwrite,
    );

    let w0 = layer.weight().to_owned();
    let b0 = layer.bias().map(<[f64]>::to_vec);
    check_gradient(
        |w| loss::<IN, OUT, A>(w, b0.as_deref(), &xs, act, &c),
        &w0,
        grads.weight(),
    )
    .unwrap_or_else(|e| panic!("dW ({rows} rows): {e}"));
    if let Some(b0) = &b0 {
        check_gradient(
            |b| loss::<IN, OUT, A>(&w0, Some(b), &xs, act, &c),
            b0,
            grads.bias().unwrap(),
        )
        .unwrap_or_else(|e| panic!("db ({rows} rows): {e}"));
    }
    assert_eq!(dx.rows(), rows);
    check_gradient(
        |x| loss::<IN, OUT, A>(&w0, b0.as_deref(), x, act, &c),
        &xs,
        dx.as_slice(),
    )
    .unwrap_or_else(|e| panic!("dX ({rows} rows): {e}"));

    // Accumulate: a second backward over the same dz adds the same gradients again.
    // (`dy` now holds dz, so use the unfused backward.)
    let (gw, gx) = (grads.weight().to_owned(), dx.as_slice().to_vec());
    layer.backward(
        &x,
        &dy,
        &mut grads,
        Write::Accumulate,
        Some(&mut dx),
        Write::Accumulate,
    );
    for (a, b) in grads.weight().iter().zip(&gw) {
        assert!((a - 2.0 * b).abs() <= 1e-12 * b.abs().max(1.0));
    }
    for (a, b) in dx.as_slice().iter().zip(&gx) {
        assert!((a - 2.0 * b).abs() <= 1e-12 * b.abs().max(1.0));
    }
}

#[test]
fn direct_path_gradients() {
    // 3 rows x 5 x 4 = 60 multiply-adds: direct loops.
    assert!(Dense::<f64, 5, 4>::is_direct(3));
    check::<5, 4, _>(3, true, Tanh, 1);
    check::<5, 4, _>(3, false, Identity, 2);
    check::<5, 4, _>(1, true, Identity, 3);
}

#[test]
fn gemm_path_gradients() {
    // 16 rows x 40 x 24 = 15360 multiply-adds, more than DIRECT_MAX_ROWS rows: the GEMM.
    assert!(!Dense::<f64, 40, 24>::is_direct(16));
    check::<40, 24, _>(16, true, Tanh, 4);
    check::<40, 24, _>(16, false, Identity, 5);
}

#[test]
fn small_batches_take_the_direct_path_at_any_size() {
    use gradnet_core::dense::DIRECT_MAX_ROWS;
    assert!(Dense::<f64, 784, 256>::is_direct(1));
    assert!(Dense::<f64, 784, 256>::is_direct(DIRECT_MAX_ROWS));
    assert!(!Dense::<f64, 784, 256>::is_direct(DIRECT_MAX_ROWS + 1));
    assert!(Dense::<f64, 40, 24>::is_direct(DIRECT_MAX_ROWS));
    check::<40, 24, _>(DIRECT_MAX_ROWS, true, Tanh, 6);
}

/// Both paths compute the same forward values.
#[test]
fn paths_agree() {
    let mut rng = seeded(9);
    let layer = Dense::<f64, 40, 24>::new(&Init::he_normal(), true, &mut rng);
    let x = Batch::<f64, 40>::from_vec(random(16 * 40, 10)).unwrap();
    let y_gemm = layer.forward_alloc(&x);
    for r in [0usize, 7, 15] {
        let one = Batch::<f64, 40>::from_slice(x.row(r)).unwrap();
        let y_direct = layer.forward_alloc(&one);
        for (a, b) in y_direct.as_slice().iter().zip(y_gemm.row(r)) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}

#[test]
fn wrong_shapes_are_typed_errors() {
    assert!(Dense::<f32, 3, 2>::from_parts(vec![0.0; 5], None).is_err());
    assert!(Dense::<f32, 3, 2>::from_parts(vec![0.0; 6], Some(vec![0.0; 3])).is_err());
    assert!(Dense::<f32, 3, 2>::from_parts(vec![0.0; 6], Some(vec![0.0; 2])).is_ok());
}
