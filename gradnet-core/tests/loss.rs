//! Losses: gradients against central finite differences (f64), known values,
//! f32 stability at large logits, typed errors, and buffer reuse.

use gradnet_core::gradcheck::check_gradient;
use gradnet_core::loss::{
    accuracy, argmax_rows, bce_with_logits, bce_with_logits_and_grad, mse, mse_and_grad,
    softmax_cross_entropy, softmax_cross_entropy_and_grad, softmax_into, BceWithLogits, Loss, Mse,
    SoftmaxCrossEntropy,
};
use gradnet_core::rng::seeded;
use gradnet_core::{Batch, Error, SeededRng};
use rand::RngExt;

const D: usize = 4;
const ROWS: usize = 3;

/// Values uniform in `[-scale, scale]`, at least 1e-3 from zero (BCE's branch point;
/// the function is smooth there, but the rule keeps test points off any switch).
fn random_values(rng: &mut SeededRng, n: usize, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|_| loop {
            let v = rng.random_range(-scale..scale);
            if v.abs() >= 1e-3 {
                break v;
            }
        })
        .collect()
}

fn batch(v: &[f64]) -> Batch<f64, D> {
    Batch::from_slice(v).unwrap()
}

/// Checks `loss_and_grad`'s gradient against central differences of `loss` at `x`,
/// and that both calls return the same value.
fn gradcheck<L: Loss<f64, D>>(l: L, x: &[f64], target: &L::Target) {
    let out = batch(x);
    let mut grad = Batch::new();
    let value = l.loss_and_grad(&out, target, &mut grad).unwrap();
    assert_eq!(value, l.loss(&out, target).unwrap());
    assert_eq!(grad.rows(), out.rows());
    let f = |v: &[f64]| l.loss(&batch(v), target).unwrap();
    if let Err(m) = check_gradient(f, x, grad.as_slice()) {
        panic!("{l:?} at {x:?}: {m}");
    }
}

#[test]
fn mse_gradient_matches_finite_differences() {
    let mut rng = seeded(1);
    for scale in [1.0, 30.0] {
        for _ in 0..10 {
            let x = random_values(&mut rng, ROWS * D, scale);
            let t = batch(&random_values(&mut rng, ROWS * D, scale));
            gradcheck(Mse, &x, &t);
        }
    }
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let mut rng = seeded(2);
    for scale in [1.0, 5.0, 30.0] {
        for _ in 0..10 {
            let x = random_values(&mut rng, ROWS * D, scale);
            let classes: Vec<usize> = (0..ROWS).map(|_| rng.random_range(0..D)).collect();
            gradcheck(SoftmaxCrossEntropy, &x, classes.as_slice());
        }
    }
}

#[test]
fn cross_entropy_gradient_at_confident_rows() {
    // One row confidently right (target = arg-max by a margin of ~40), one confidently
    // wrong, one tied between the target and another class: the branches of the
    // target entry (c == argmax, c != argmax) and ties all get checked.
    let x = [
        30.0, -10.0, 0.5, 2.0, // right, p_c ~ 1 - 1e-13
        -25.0, 31.0, 3.0, -4.0, // wrong: class 0 is far below the max
        7.0, 7.0, -1.0, 0.25, // tie between 0 and 1, target 1
    ];
    gradcheck(SoftmaxCrossEntropy, &x, [0, 0, 1].as_slice());
}

#[test]
fn bce_gradient_matches_finite_differences() {
    let mut rng = seeded(3);
    for scale in [1.0, 5.0, 30.0] {
        for _ in 0..10 {
            let x = random_values(&mut rng, ROWS * D, scale);
            let t: Vec<f64> = (0..ROWS * D).map(|_| rng.random_range(0.0..=1.0)).collect();
            gradcheck(BceWithLogits, &x, &batch(&t));
        }
    }
    // hard 0/1 targets at saturated logits, agreeing and disagreeing with the sign
    let x = [30.0, -30.0, 25.0, -28.0, 0.5, -0.5, 12.0, -12.0];
    let t = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
    gradcheck(BceWithLogits, &x, &batch(&t));
}

#[test]
fn mse_known_value() {
    // Diffs 1, 0, -2, 3; squares 1 + 0 + 4 + 9 = 14 over 4 elements = 3.5, as
    // torch.nn.MSELoss()(tensor([[1,2],[3,4.]]), tensor([[0,2],[5,1.]])) gives.
    // Gradient 2 d / 4: 0.5, 0, -1, 1.5 (exact in binary).
    let out = Batch::<f64, 2>::from_rows(&[[1.0, 2.0], [3.0, 4.0]]).unwrap();
    let t = Batch::<f64, 2>::from_rows(&[[0.0, 2.0], [5.0, 1.0]]).unwrap();
    let mut g = Batch::new();
    assert_eq!(mse_and_grad(&out, &t, &mut g).unwrap(), 3.5);
    assert_eq!(g.as_slice(), &[0.5, 0.0, -1.0, 1.5]);
    assert_eq!(mse(&out, &t).unwrap(), 3.5);
}

#[test]
fn cross_entropy_known_values() {
    // Uniform logits: softmax = 1/D in every class, so -log(1/D) = ln D whatever the
    // class and the common value; the gradient is (1/D - [j == c]) / n.
    let out = Batch::<f64, 5>::from_rows(&[[7.0; 5], [-3.0; 5]]).unwrap();
    let mut g = Batch::new();
    let l = softmax_cross_entropy_and_grad(&out, &[4, 0], &mut g).unwrap();
    assert!((l - 5f64.ln()).abs() < 1e-15, "{l}");
    for (i, c) in [(0, 4), (1, 0)] {
        for j in 0..5 {
            let want = (0.2 - if j == c { 1.0 } else { 0.0 }) / 2.0;
            assert!((g.row(i)[j] - want).abs() < 1e-16, "{:?}", g.row(i));
        }
    }
    // torch.nn.functional.cross_entropy(tensor([[1., 2., 3.]]), tensor([2])) = 0.4076,
    // i.e. log(1 + e^-1 + e^-2) = 0.40760596444438...
    let out = Batch::<f64, 3>::from_rows(&[[1.0, 2.0, 3.0]]).unwrap();
    let l = softmax_cross_entropy(&out, &[2]).unwrap();
    assert!((l - 0.407_605_964_444_380_1).abs() < 1e-15, "{l}");
    // and for class 0 the same sum plus the margin 3 - 1 = 2
    let l0 = softmax_cross_entropy(&out, &[0]).unwrap();
    assert!((l0 - (2.0 + 0.407_605_964_444_380_1)).abs() < 1e-14, "{l0}");
}

#[test]
fn bce_known_values() {
    // At x = 0, sigmoid = 1/2 and the loss is -log(1/2) = ln 2 for every target in
    // [0, 1]; the gradient is (1/2 - t) / N.
    let out = Batch::<f64, 3>::from_rows(&[[0.0; 3]]).unwrap();
    let t = Batch::<f64, 3>::from_rows(&[[0.0, 0.3, 1.0]]).unwrap();
    let mut g = Batch::new();
    let l = bce_with_logits_and_grad(&out, &t, &mut g).unwrap();
    assert!((l - 2f64.ln()).abs() < 1e-15, "{l}");
    for (g, t) in g.as_slice().iter().zip([0.0, 0.3, 1.0]) {
        assert!((g - (0.5 - t) / 3.0).abs() < 1e-16);
    }
    // x = 2, t = 1: -log sigmoid(2) = log(1 + e^-2) = 0.1269280110429725
    // (torch.nn.BCEWithLogitsLoss()(tensor([2.]), tensor([1.])) = 0.1269);
    // x = -1, t = 0.25: max(x,0) - x t + log(1 + e^-1) = 0.25 + 0.3132616875182228.
    let out = Batch::<f64, 2>::from_rows(&[[2.0, -1.0]]).unwrap();
    let t = Batch::<f64, 2>::from_rows(&[[1.0, 0.25]]).unwrap();
    let l = bce_with_logits(&out, &t).unwrap();
    let want = (0.126_928_011_042_972_5 + 0.25 + 0.313_261_687_518_222_8) / 2.0;
    assert!((l - want).abs() < 1e-15, "{l} vs {want}");
}

#[test]
fn cross_entropy_is_stable_in_f32_at_logits_of_1000() {
    let out =
        Batch::<f32, 3>::from_rows(&[[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0]]).unwrap();
    let mut g = Batch::new();
    // Row 0 confidently right: -log softmax -> 0 (true value ~ e^-1000).
    // Row 1 confidently wrong (class 1): logsumexp - x_1 = 1000 - (-1000) = 2000.
    let l = SoftmaxCrossEntropy
        .loss_and_grad(&out, &[0, 1], &mut g)
        .unwrap();
    assert_eq!(l, 1000.0, "mean of 0 and 2000");
    assert!(g.as_slice().iter().all(|v| v.is_finite()));
    // softmax = (1, 0, 0) to f32 precision: grads (p - onehot)/2
    assert_eq!(g.row(0), &[0.0, 0.0, 0.0]);
    assert_eq!(g.row(1), &[0.5, -0.5, 0.0]);
    let right = SoftmaxCrossEntropy.loss(&out, &[0, 0]).unwrap();
    assert!((0.0..1e-30).contains(&right), "{right}");
    let wrong = SoftmaxCrossEntropy.loss(&out, &[1, 1]).unwrap();
    assert_eq!(wrong, 2000.0);
    // Both at +1000 (a tie): ln 2 for either class, as for uniform logits.
    let tie = Batch::<f32, 2>::from_rows(&[[1000.0, 1000.0]]).unwrap();
    let l = SoftmaxCrossEntropy.loss(&tie, &[1]).unwrap();
    assert!((l - 2f32.ln()).abs() < 1e-7);
}

#[test]
fn small_cross_entropy_keeps_its_relative_precision() {
    // A confident right answer with margin 40: the loss is log(1 + e^-40) ~ e^-40,
    // which `logsumexp - x_c` computed naively would round to 0 in both types.
    let want = (-40f64).exp().ln_1p();
    let out = Batch::<f64, 2>::from_rows(&[[40.0, 0.0]]).unwrap();
    let l = softmax_cross_entropy(&out, &[0]).unwrap();
    assert!((l - want).abs() <= 1e-15 * want, "{l} vs {want}");
    let out = Batch::<f32, 2>::from_rows(&[[40.0, 0.0]]).unwrap();
    let l = softmax_cross_entropy(&out, &[0]).unwrap() as f64;
    assert!((l - want).abs() <= 1e-6 * want, "{l} vs {want}");
    let mut g = Batch::new();
    softmax_cross_entropy_and_grad(&out, &[0], &mut g).unwrap();
    // d/dx_0 = p_0 - 1 = -e^-40 / (1 + e^-40), not a rounded-off 0
    assert!(
        (g.row(0)[0] as f64 / -want - 1.0).abs() < 1e-6,
        "{:?}",
        g.row(0)
    );
}

#[test]
fn bce_is_stable_in_f32_at_logits_of_1000() {
    let out = Batch::<f32, 4>::from_rows(&[[1000.0, 1000.0, -1000.0, 1000.0]]).unwrap();
    let t = Batch::<f32, 4>::from_rows(&[[1.0, 0.0, 1.0, 0.5]]).unwrap();
    let mut g = Batch::new();
    let l = BceWithLogits.loss_and_grad(&out, &t, &mut g).unwrap();
    // elements: 0 (right), 1000 (wrong), 1000 (wrong), 1000 * (1 - 0.5) = 500
    assert_eq!(l, 2500.0 / 4.0);
    // (sigmoid(x) - t) / 4 with sigmoid = 1, 1, 0, 1
    assert_eq!(g.as_slice(), &[0.0, 0.25, -0.25, 0.125]);
    // small losses keep their precision: x = 30, t = 1 gives log1p(e^-30)
    let out = Batch::<f32, 1>::from_rows(&[[30.0]]).unwrap();
    let t = Batch::<f32, 1>::from_rows(&[[1.0]]).unwrap();
    let mut g = Batch::new();
    let l = bce_with_logits_and_grad(&out, &t, &mut g).unwrap() as f64;
    let want = (-30f64).exp().ln_1p();
    assert!((l / want - 1.0).abs() < 1e-6, "{l} vs {want}");
    assert!((g.as_slice()[0] as f64 / -want - 1.0).abs() < 1e-6);
}

#[test]
fn mse_in_f32_at_large_values_is_finite() {
    let out = Batch::<f32, 2>::from_rows(&[[1000.0, -1000.0]]).unwrap();
    let t = Batch::<f32, 2>::from_rows(&[[-1000.0, -1000.0]]).unwrap();
    let mut g = Batch::new();
    // (2000^2 + 0) / 2 = 2e6, gradient 2 * 2000 / 2 = 2000 and 0
    assert_eq!(Mse.loss_and_grad(&out, &t, &mut g).unwrap(), 2.0e6);
    assert_eq!(g.as_slice(), &[2000.0, 0.0]);
}

#[test]
fn typed_errors_and_grad_left_untouched() {
    let out = Batch::<f64, 3>::from_rows(&[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]).unwrap();
    let mut g = Batch::<f64, 3>::from_rows(&[[9.0; 3]]).unwrap();
    let before = g.clone();

    let e = SoftmaxCrossEntropy.loss_and_grad(&out, &[1, 3], &mut g);
    assert_eq!(
        e,
        Err(Error::ClassOutOfRange {
            row: 1,
            class: 3,
            classes: 3
        })
    );
    assert_eq!(g, before);
    let e = SoftmaxCrossEntropy.loss_and_grad(&out, &[1], &mut g);
    assert!(matches!(
        e,
        Err(Error::RowMismatch {
            expected: 2,
            found: 1,
            ..
        })
    ));
    assert_eq!(g, before);

    let t1 = Batch::<f64, 3>::from_rows(&[[0.0; 3]]).unwrap();
    for l in [
        Mse.loss_and_grad(&out, &t1, &mut g),
        BceWithLogits.loss_and_grad(&out, &t1, &mut g),
        Mse.loss(&out, &t1),
    ] {
        assert!(matches!(
            l,
            Err(Error::RowMismatch {
                expected: 2,
                found: 1,
                ..
            })
        ));
    }
    assert_eq!(g, before);

    let bad = Batch::<f64, 3>::from_rows(&[[0.0, 1.0, 0.5], [0.0, 1.5, 0.0]]).unwrap();
    let e = BceWithLogits.loss_and_grad(&out, &bad, &mut g);
    assert!(matches!(
        e,
        Err(Error::TargetOutOfRange { row: 1, col: 1, value, .. }) if value == 1.5
    ));
    assert_eq!(g, before);
    let mut nan = bad.clone();
    nan.as_mut_slice()[4] = 0.5;
    nan.as_mut_slice()[2] = f64::NAN;
    let e = BceWithLogits.loss(&out, &nan);
    assert!(matches!(
        e,
        Err(Error::TargetOutOfRange { row: 0, col: 2, .. })
    ));
    nan.as_mut_slice()[2] = -0.01;
    assert!(matches!(
        BceWithLogits.loss(&out, &nan),
        Err(Error::TargetOutOfRange { row: 0, col: 2, .. })
    ));

    let empty = Batch::<f64, 3>::new();
    assert_eq!(
        Mse.loss_and_grad(&empty, &empty, &mut g),
        Err(Error::EmptyBatch)
    );
    assert_eq!(
        BceWithLogits.loss_and_grad(&empty, &empty, &mut g),
        Err(Error::EmptyBatch)
    );
    assert_eq!(
        SoftmaxCrossEntropy.loss_and_grad(&empty, &[], &mut g),
        Err(Error::EmptyBatch)
    );
    assert_eq!(accuracy::<f64, 3>(&empty, &[]), Err(Error::EmptyBatch));
    assert_eq!(g, before);
}

#[test]
fn a_large_grad_buffer_serves_a_smaller_batch() {
    let mut rng = seeded(4);
    let x = batch(&random_values(&mut rng, ROWS * D, 3.0));
    let t = batch(
        &random_values(&mut rng, ROWS * D, 1.0)
            .iter()
            .map(|v| v.abs())
            .collect::<Vec<_>>(),
    );
    let classes = [3, 0, 2];
    // A fresh buffer's answer, and one from a 64-row buffer full of stale values.
    fn both<L: Loss<f64, D>>(l: L, x: &Batch<f64, D>, t: &L::Target) {
        let mut fresh = Batch::new();
        let v1 = l.loss_and_grad(x, t, &mut fresh).unwrap();
        let mut big = Batch::<f64, D>::zeros(64);
        big.as_mut_slice().fill(-7.0);
        let (cap, ptr) = (big.capacity_rows(), big.as_slice().as_ptr());
        let v2 = l.loss_and_grad(x, t, &mut big).unwrap();
        assert_eq!(v1, v2);
        assert_eq!(big.rows(), ROWS);
        assert_eq!(big, fresh, "{l:?}");
        assert_eq!(big.capacity_rows(), cap);
        assert_eq!(big.as_slice().as_ptr(), ptr, "{l:?} reallocated");
    }
    both(Mse, &x, &t);
    both(BceWithLogits, &x, &t);
    both(SoftmaxCrossEntropy, &x, classes.as_slice());
}

#[test]
fn cross_entropy_gradient_is_softmax_minus_one_hot() {
    // Two computations against each other: the loss gradient times n plus the one-hot
    // target must equal `softmax_into`'s probabilities.
    let mut rng = seeded(5);
    for scale in [1.0, 10.0, 100.0] {
        let x = batch(&random_values(&mut rng, ROWS * D, scale));
        let classes: Vec<usize> = (0..ROWS).map(|_| rng.random_range(0..D)).collect();
        let (mut g, mut p) = (Batch::new(), Batch::new());
        softmax_cross_entropy_and_grad(&x, &classes, &mut g).unwrap();
        softmax_into(&x, &mut p);
        for (i, &c) in classes.iter().enumerate() {
            assert!((p.row(i).iter().sum::<f64>() - 1.0).abs() < 1e-15);
            for j in 0..D {
                let onehot = if j == c { 1.0 } else { 0.0 };
                let from_grad = g.row(i)[j] * ROWS as f64 + onehot;
                assert!(
                    (from_grad - p.row(i)[j]).abs() < 1e-15,
                    "{from_grad} vs {}",
                    p.row(i)[j]
                );
            }
        }
    }
    // softmax of [1000, -1000, 0] in f32 is (1, 0, 0), not NaN
    let mut p = Batch::new();
    softmax_into(
        &Batch::<f32, 3>::from_rows(&[[1000.0, -1000.0, 0.0]]).unwrap(),
        &mut p,
    );
    assert_eq!(p.as_slice(), &[1.0, 0.0, 0.0]);
}

#[test]
fn argmax_and_accuracy() {
    let out = Batch::<f32, 3>::from_rows(&[
        [0.1, 0.7, 0.2],
        [2.0, 2.0, -1.0], // tie: the first index, as torch.argmax
        [-1.0, -3.0, -0.5],
        [0.0, 0.0, 0.0],
    ])
    .unwrap();
    let mut idx = Vec::with_capacity(8);
    argmax_rows(&out, &mut idx);
    assert_eq!(idx, [1, 0, 2, 0]);
    assert_eq!(accuracy(&out, &[1, 0, 2, 0]).unwrap(), 1.0f32);
    assert_eq!(accuracy(&out, &[1, 1, 0, 0]).unwrap(), 0.5f32);
    assert_eq!(
        accuracy(&out, &[1, 1, 5, 0]),
        Err(Error::ClassOutOfRange {
            row: 2,
            class: 5,
            classes: 3
        })
    );
    assert!(matches!(
        accuracy(&out, &[1, 1]),
        Err(Error::RowMismatch { .. })
    ));
}

#[test]
fn f32_agrees_with_f64() {
    // The same random inputs through the free functions in f32 and the trait in f64:
    // values and gradients agree to f32 precision.
    fn close(a: f32, b: f64) -> bool {
        (a as f64 - b).abs() <= 1e-5 * b.abs().max(1.0)
    }
    fn close_all(a: &Batch<f32, D>, b: &Batch<f64, D>) -> bool {
        a.rows() == b.rows()
            && a.as_slice()
                .iter()
                .zip(b.as_slice())
                .all(|(&a, &b)| close(a, b))
    }
    let mut rng = seeded(6);
    for scale in [1.0, 10.0] {
        let x64 = batch(&random_values(&mut rng, ROWS * D, scale));
        let y64 = batch(&random_values(&mut rng, ROWS * D, scale));
        let t64 = batch(
            &(0..ROWS * D)
                .map(|_| rng.random_range(0.0..=1.0))
                .collect::<Vec<_>>(),
        );
        let classes: Vec<usize> = (0..ROWS).map(|_| rng.random_range(0..D)).collect();
        let (x32, y32, t32) = (x64.cast::<f32>(), y64.cast::<f32>(), t64.cast::<f32>());
        let (mut g32, mut g64) = (Batch::new(), Batch::new());

        let a = mse_and_grad(&x32, &y32, &mut g32).unwrap();
        let b = Mse.loss_and_grad(&x64, &y64, &mut g64).unwrap();
        assert!(close(a, b) && close_all(&g32, &g64), "mse {a} {b}");
        assert_eq!(mse(&x32, &y32).unwrap(), a);

        let a = softmax_cross_entropy_and_grad(&x32, &classes, &mut g32).unwrap();
        let b = SoftmaxCrossEntropy
            .loss_and_grad(&x64, &classes, &mut g64)
            .unwrap();
        assert!(close(a, b) && close_all(&g32, &g64), "ce {a} {b}");
        assert_eq!(softmax_cross_entropy(&x32, &classes).unwrap(), a);

        let a = bce_with_logits_and_grad(&x32, &t32, &mut g32).unwrap();
        let b = BceWithLogits.loss_and_grad(&x64, &t64, &mut g64).unwrap();
        assert!(close(a, b) && close_all(&g32, &g64), "bce {a} {b}");
        assert_eq!(bce_with_logits(&x32, &t32).unwrap(), a);
    }
}
