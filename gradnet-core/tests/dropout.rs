//! Dropout: statistics of the mask, scaling, determinism, evaluation, backward.

use gradnet_core::dropout::Dropout;
use gradnet_core::rng::seeded;
use gradnet_core::{Batch, Error, Write};

const D: usize = 50;

/// 2000 x 50 = 100,000 values, none zero, so a zero in `y` means dropped.
fn big() -> Batch<f64, D> {
    let v: Vec<f64> = (0..2000 * D)
        .map(|k| 1.0 + (k % 97) as f64 * 0.25)
        .collect();
    Batch::from_vec(v).unwrap()
}

#[test]
fn drops_the_expected_fraction_and_scales_the_rest() {
    let x = big();
    let n = x.as_slice().len() as f64;
    for p in [0.1, 0.3, 0.5, 0.8] {
        let drop = Dropout::new(p).unwrap();
        let (mut y, mut mask) = (Batch::new(), Batch::new());
        drop.forward_train(&x, &mut y, &mut mask, &mut seeded(11));
        let zeros = y.as_slice().iter().filter(|&&v| v == 0.0).count() as f64;
        // The count of drops is Binomial(n, p): standard deviation sqrt(p (1 - p) / n)
        // as a fraction (<= 0.0016 here); 5 of them is a false alarm once in ~2 million.
        let sd = (p * (1.0 - p) / n).sqrt();
        assert!(
            (zeros / n - p).abs() < 5.0 * sd,
            "p = {p}: dropped {}",
            zeros / n
        );
        // PyTorch (inverted dropout): kept values are x / (1 - p).
        let scale = 1.0 / (1.0 - p);
        for ((&y, &x), &m) in y.as_slice().iter().zip(x.as_slice()).zip(mask.as_slice()) {
            assert!(m == 0.0 || m == scale);
            assert_eq!(y, x * m);
            if y != 0.0 {
                assert!((y - x / (1.0 - p)).abs() <= 1e-15 * y.abs());
            }
        }
        // Scaling keeps the mean: E[y_k] = x_k, Var(y_k) = x_k^2 p / (1 - p), so the
        // mean of y is within 5 standard deviations of the mean of x.
        let mx: f64 = x.as_slice().iter().sum::<f64>() / n;
        let my: f64 = y.as_slice().iter().sum::<f64>() / n;
        let var: f64 = x
            .as_slice()
            .iter()
            .map(|v| v * v * p / (1.0 - p))
            .sum::<f64>()
            / (n * n);
        assert!(
            (my - mx).abs() < 5.0 * var.sqrt(),
            "p = {p}: means {my} vs {mx}"
        );
    }
}

#[test]
fn the_seed_fixes_the_mask() {
    let drop = Dropout::new(0.4).unwrap();
    let x = big();
    let (mut y, mut m1, mut m2, mut m3) = (Batch::new(), Batch::new(), Batch::new(), Batch::new());
    drop.forward_train(&x, &mut y, &mut m1, &mut seeded(3));
    drop.forward_train(&x, &mut y, &mut m2, &mut seeded(3));
    drop.forward_train(&x, &mut y, &mut m3, &mut seeded(4));
    assert_eq!(m1, m2);
    assert_ne!(m1, m3);
    // Successive draws from one generator differ.
    let mut rng = seeded(3);
    drop.forward_train(&x, &mut y, &mut m2, &mut rng);
    drop.forward_train(&x, &mut y, &mut m3, &mut rng);
    assert_eq!(m1, m2);
    assert_ne!(m2, m3);
}

#[test]
fn evaluation_is_the_identity() {
    let drop = Dropout::new(0.7).unwrap();
    let x = big();
    let mut y = Batch::new();
    drop.forward_eval(&x, &mut y);
    assert_eq!(y, x);
}

#[test]
fn backward_multiplies_by_the_mask() {
    let drop = Dropout::new(0.25).unwrap();
    let x = Batch::<f64, 4>::from_vec((0..40).map(|k| 0.5 + k as f64).collect()).unwrap();
    let (mut y, mut mask) = (Batch::new(), Batch::new());
    drop.forward_train(&x, &mut y, &mut mask, &mut seeded(5));
    let dy =
        Batch::<f64, 4>::from_vec((0..40).map(|k| (k as f64 * 0.7).sin() + 2.0).collect()).unwrap();
    let mut dx = Batch::new();
    drop.backward(&mask, &dy, Some(&mut dx), Write::Overwrite);
    let mut zeros = 0;
    for ((&g, &d), &m) in dx.as_slice().iter().zip(dy.as_slice()).zip(mask.as_slice()) {
        // y = m x, so dL/dx = m dL/dy.
        assert_eq!(g, m * d);
        zeros += usize::from(m == 0.0);
    }
    assert!(
        zeros > 0 && zeros < 40,
        "the mask should mix drops and keeps"
    );
    let mut acc = Batch::<f64, 4>::from_vec(vec![1.0; 40]).unwrap();
    drop.backward(&mask, &dy, Some(&mut acc), Write::Accumulate);
    for ((&a, &d), &m) in acc
        .as_slice()
        .iter()
        .zip(dy.as_slice())
        .zip(mask.as_slice())
    {
        assert_eq!(a, 1.0 + m * d);
    }
}

#[test]
fn probability_outside_zero_one_is_an_error() {
    for p in [-0.1, 1.0001, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            Dropout::new(p),
            Err(Error::InvalidParameter {
                name: "dropout probability",
                ..
            })
        ));
    }
    assert_eq!(Dropout::default().p(), 0.5);
    assert_eq!(Dropout::default(), Dropout::new(0.5).unwrap());
}

#[test]
fn p_zero_keeps_everything_and_p_one_drops_everything() {
    let x = big();
    let (mut y, mut mask) = (Batch::new(), Batch::new());
    let mut rng = seeded(1);
    Dropout::new(0.0)
        .unwrap()
        .forward_train(&x, &mut y, &mut mask, &mut rng);
    assert_eq!(y, x);
    Dropout::new(1.0)
        .unwrap()
        .forward_train(&x, &mut y, &mut mask, &mut rng);
    assert!(y.as_slice().iter().all(|&v| v == 0.0));
    let mut dx = Batch::new();
    Dropout::new(1.0)
        .unwrap()
        .backward(&mask, &x, Some(&mut dx), Write::Overwrite);
    assert!(dx.as_slice().iter().all(|&v| v == 0.0));
    // Neither drew a number: the generator is where it started.
    use rand::RngExt;
    assert_eq!(rng.random::<u64>(), seeded(1).random::<u64>());
}

#[test]
fn buffers_sized_for_a_large_batch_serve_a_smaller_one() {
    let drop = Dropout::new(0.5).unwrap();
    let x = big();
    let (mut y, mut mask, mut dx) = (Batch::new(), Batch::new(), Batch::new());
    let mut rng = seeded(9);
    drop.forward_train(&x, &mut y, &mut mask, &mut rng);
    drop.backward(&mask, &x, Some(&mut dx), Write::Overwrite);
    let ptrs = (
        y.as_slice().as_ptr(),
        mask.as_slice().as_ptr(),
        dx.as_slice().as_ptr(),
    );
    let mut small = Batch::new();
    small.copy_rows_from(&x, 10, 3).unwrap();
    drop.forward_train(&small, &mut y, &mut mask, &mut rng);
    drop.backward(&mask, &small, Some(&mut dx), Write::Overwrite);
    assert_eq!(
        ptrs,
        (
            y.as_slice().as_ptr(),
            mask.as_slice().as_ptr(),
            dx.as_slice().as_ptr()
        )
    );
    assert_eq!((y.rows(), mask.rows(), dx.rows()), (3, 3, 3));
    for ((&y, &x), &m) in y
        .as_slice()
        .iter()
        .zip(small.as_slice())
        .zip(mask.as_slice())
    {
        assert_eq!(y, x * m);
    }
}

#[test]
fn works_in_f32() {
    let drop = Dropout::new(0.2).unwrap();
    let x = big().cast::<f32>();
    let (mut y, mut mask) = (Batch::new(), Batch::new());
    drop.forward_train(&x, &mut y, &mut mask, &mut seeded(2));
    let scale = drop.scale::<f32>();
    assert_eq!(scale, 1.25);
    assert!(mask.as_slice().iter().all(|&m| m == 0.0 || m == scale));
}
