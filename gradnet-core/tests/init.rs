//! Tests of the initializers against the formulas of `torch.nn.init`.
//!
//! Statistical checks draw a 256 x 512 weight (fan_out = 256, fan_in = 512, so
//! n = 131072 values) and compare with the formula within 4 standard errors of the
//! statistic:
//!
//! - mean: se = sigma / sqrt(n);
//! - standard deviation, normal data: Var(s^2) ~ 2 sigma^4 / n, so se(s) ~ sigma / sqrt(2n);
//! - standard deviation, uniform data: the fourth central moment is 9/5 sigma^4, so
//!   Var(s^2) ~ (4/5) sigma^4 / n and se(s) ~ sigma * sqrt(1 / (5n));
//! - fraction of a normal sample within one sigma of the mean: p = erf(1/sqrt 2)
//!   = 0.682689..., se = sqrt(p (1 - p) / n). This separates a normal from a uniform of
//!   the same std (for which the fraction is 1/sqrt(3) = 0.577).
//!
//! The seeds are fixed, so each test is deterministic; the tolerances say how far a
//! correct implementation could stray for another seed (a 4-se miss has probability
//! about 6e-5).

use gradnet_core::init::{FanMode, Init, Nonlinearity};
use gradnet_core::rng::{seeded, SeededRng};
use gradnet_core::{Dense, Error, Real};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

const FAN_OUT: usize = 256;
const FAN_IN: usize = 512;
const N: usize = FAN_OUT * FAN_IN;

fn draw<T: Real>(init: &Init, fan_in: usize, fan_out: usize, seed: u64) -> Vec<T> {
    let mut w = vec![T::zero(); fan_out * fan_in];
    init.try_fill(&mut w, fan_in, fan_out, &mut seeded(seed))
        .expect("valid init");
    w
}

fn draw_big(init: &Init, seed: u64) -> Vec<f64> {
    draw(init, FAN_IN, FAN_OUT, seed)
}

/// Sample mean and standard deviation (n - 1 in the denominator).
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// The values look like draws from N(mean, std^2).
fn assert_normal(v: &[f64], mean: f64, std: f64, what: &str) {
    let n = v.len() as f64;
    let (m, s) = mean_std(v);
    let se_mean = std / n.sqrt();
    let se_std = std / (2.0 * n).sqrt();
    assert!(
        (m - mean).abs() <= 4.0 * se_mean,
        "{what}: mean {m}, expected {mean} +- {}",
        4.0 * se_mean
    );
    assert!(
        (s - std).abs() <= 4.0 * se_std,
        "{what}: std {s}, expected {std} +- {}",
        4.0 * se_std
    );
    // P(|Z| < 1) for a standard normal, erf(1/sqrt(2)).
    let p = 0.682_689_492_137_085_9;
    let inside = v.iter().filter(|x| (*x - mean).abs() < std).count() as f64 / n;
    let se_p = (p * (1.0 - p) / n).sqrt();
    assert!(
        (inside - p).abs() <= 4.0 * se_p,
        "{what}: {inside} of the values within one std, expected {p} +- {}",
        4.0 * se_p
    );
}

/// The values look like draws from U(low, high).
fn assert_uniform(v: &[f64], low: f64, high: f64, what: &str) {
    let n = v.len() as f64;
    assert!(
        v.iter().all(|x| (low..=high).contains(x)),
        "{what}: a value outside [{low}, {high}]"
    );
    // P(max < high - eps) = (1 - eps / width)^n ~ exp(-20) for eps = 20 width / n.
    let eps = 20.0 * (high - low) / n;
    let max = v.iter().cloned().fold(f64::MIN, f64::max);
    let min = v.iter().cloned().fold(f64::MAX, f64::min);
    assert!(max >= high - eps, "{what}: max {max} too far below {high}");
    assert!(min <= low + eps, "{what}: min {min} too far above {low}");
    let (m, s) = mean_std(v);
    let std = (high - low) / 12f64.sqrt();
    let se_mean = std / n.sqrt();
    let se_std = std * (1.0 / (5.0 * n)).sqrt();
    let mid = 0.5 * (low + high);
    assert!(
        (m - mid).abs() <= 4.0 * se_mean,
        "{what}: mean {m}, expected {mid}"
    );
    assert!(
        (s - std).abs() <= 4.0 * se_std,
        "{what}: std {s}, expected {std} +- {}",
        4.0 * se_std
    );
}

#[test]
fn gain_table_is_calculate_gain() {
    // torch.nn.init.calculate_gain: linear/sigmoid 1, tanh 5.0 / 3, relu math.sqrt(2.0),
    // leaky_relu math.sqrt(2.0 / (1 + negative_slope ** 2)), selu 3.0 / 4.
    let cases = [
        (Nonlinearity::Linear, 1.0),
        (Nonlinearity::Sigmoid, 1.0),
        (Nonlinearity::Tanh, 5.0 / 3.0),
        (Nonlinearity::Relu, 2f64.sqrt()),
        (
            Nonlinearity::LeakyRelu(0.01),
            (2.0f64 / (1.0 + 0.01 * 0.01)).sqrt(),
        ),
        (Nonlinearity::LeakyRelu(0.2), (2.0 / 1.04f64).sqrt()),
        (Nonlinearity::LeakyRelu(0.0), 2f64.sqrt()),
        (Nonlinearity::LeakyRelu(-1.0), 1.0),
        (Nonlinearity::Selu, 0.75),
    ];
    for (nl, gain) in cases {
        assert!((nl.gain() - gain).abs() <= 1e-15, "{nl:?}");
    }
    assert_eq!(Nonlinearity::DEFAULT_LEAKY_SLOPE, 0.01);
    assert_eq!(Nonlinearity::default(), Nonlinearity::Relu);
    assert_eq!(FanMode::default(), FanMode::FanIn);
    assert_eq!(FanMode::FanIn.fan(3, 5), 3);
    assert_eq!(FanMode::FanOut.fan(3, 5), 5);
}

#[test]
fn he_normal_std_is_gain_over_sqrt_fan() {
    // kaiming_normal_: std = gain / sqrt(fan).
    let fi = FAN_IN as f64;
    let fo = FAN_OUT as f64;
    let cases = [
        (Init::he_normal(), 2f64.sqrt() / fi.sqrt()),
        (
            Init::he_normal_with(FanMode::FanOut, Nonlinearity::Tanh),
            (5.0 / 3.0) / fo.sqrt(),
        ),
        (
            Init::he_normal_with(FanMode::FanIn, Nonlinearity::LeakyRelu(0.2)),
            (2.0 / 1.04f64).sqrt() / fi.sqrt(),
        ),
        (
            Init::he_normal_with(FanMode::FanOut, Nonlinearity::Selu),
            0.75 / fo.sqrt(),
        ),
    ];
    for (i, (init, std)) in cases.iter().enumerate() {
        assert_normal(
            &draw_big(init, 10 + i as u64),
            0.0,
            *std,
            &format!("{init:?}"),
        );
    }
}

#[test]
fn he_uniform_bound_is_sqrt3_gain_over_sqrt_fan() {
    // kaiming_uniform_: bound = sqrt(3) * gain / sqrt(fan).
    let cases = [
        (Init::he_uniform(), (6.0 / FAN_IN as f64).sqrt()),
        (
            Init::he_uniform_with(FanMode::FanOut, Nonlinearity::LeakyRelu(0.01)),
            3f64.sqrt() * (2.0 / 1.0001f64).sqrt() / (FAN_OUT as f64).sqrt(),
        ),
        (
            Init::he_uniform_with(FanMode::FanIn, Nonlinearity::Sigmoid),
            3f64.sqrt() / (FAN_IN as f64).sqrt(),
        ),
    ];
    for (i, (init, bound)) in cases.iter().enumerate() {
        let w = draw_big(init, 20 + i as u64);
        assert_uniform(&w, -bound, *bound, &format!("{init:?}"));
    }
}

#[test]
fn glorot_follows_xavier_formulas() {
    let sum = (FAN_IN + FAN_OUT) as f64;
    // xavier_normal_: std = gain * sqrt(2 / (fan_in + fan_out)).
    for (i, gain) in [1.0, 2.5].into_iter().enumerate() {
        let init = Init::glorot_normal_with_gain(gain);
        let std = gain * (2.0 / sum).sqrt();
        assert_normal(&draw_big(&init, 30 + i as u64), 0.0, std, "glorot_normal");
    }
    // xavier_uniform_: bound = gain * sqrt(6 / (fan_in + fan_out)).
    for (i, gain) in [1.0, 0.5].into_iter().enumerate() {
        let init = Init::glorot_uniform_with_gain(gain);
        let bound = gain * (6.0 / sum).sqrt();
        assert_uniform(
            &draw_big(&init, 40 + i as u64),
            -bound,
            bound,
            "glorot_uniform",
        );
    }
}

#[test]
fn lecun_normal_std_is_one_over_sqrt_fan_in() {
    let w = draw_big(&Init::lecun_normal(), 50);
    assert_normal(&w, 0.0, 1.0 / (FAN_IN as f64).sqrt(), "lecun_normal");
    // It does not look at fan_out.
    let w2: Vec<f64> = draw(&Init::lecun_normal(), FAN_IN, FAN_OUT, 50);
    let mut w3 = vec![0.0; N];
    Init::lecun_normal().fill(&mut w3, FAN_IN, 1, &mut seeded(50));
    assert_eq!(w2, w3);
}

#[test]
fn normal_and_uniform_follow_their_parameters() {
    assert_normal(&draw_big(&Init::normal(1.0), 60), 0.0, 1.0, "normal(1)");
    let w = draw_big(&Init::normal_with_mean(0.3, 0.05), 61);
    assert_normal(&w, 0.3, 0.05, "normal(0.3, 0.05)");
    assert_uniform(
        &draw_big(&Init::uniform(-0.2, 0.7), 62),
        -0.2,
        0.7,
        "uniform",
    );
    // Degenerate but valid: std 0 and an empty interval give the constant.
    assert!(draw_big(&Init::normal_with_mean(1.5, 0.0), 63)
        .iter()
        .all(|&x| x == 1.5));
    assert!(draw_big(&Init::uniform(-2.0, -2.0), 64)
        .iter()
        .all(|&x| x == -2.0));
}

#[test]
fn constants_are_exact_and_draw_nothing() {
    for (init, value) in [
        (Init::zeros(), 0.0),
        (Init::ones(), 1.0),
        (Init::constant(-0.125), -0.125),
    ] {
        let mut rng = seeded(70);
        let mut w = vec![f32::NAN; 12];
        init.try_fill(&mut w, 4, 3, &mut rng).unwrap();
        assert!(w.iter().all(|&x| x == value as f32), "{init:?}");
        // The generator is where a fresh one with the same seed is.
        assert_eq!(rng.random::<u64>(), seeded(70).random::<u64>(), "{init:?}");
    }
}

#[test]
fn aliases_are_the_same_initializers() {
    assert_eq!(
        Init::kaiming_normal(FanMode::FanIn, Nonlinearity::Relu),
        Init::he_normal()
    );
    assert_eq!(
        Init::kaiming_uniform(FanMode::FanIn, Nonlinearity::Relu),
        Init::he_uniform()
    );
    assert_eq!(
        Init::kaiming_normal(FanMode::FanOut, Nonlinearity::Tanh),
        Init::HeNormal {
            mode: FanMode::FanOut,
            nonlinearity: Nonlinearity::Tanh
        }
    );
    assert_eq!(Init::xavier_normal(1.0), Init::glorot_normal());
    assert_eq!(Init::xavier_uniform(1.0), Init::glorot_uniform());
    assert_eq!(Init::xavier_uniform(2.0), Init::GlorotUniform { gain: 2.0 });
    assert_eq!(Init::orthogonal(), Init::Orthogonal { gain: 1.0 });
    assert_eq!(
        Init::normal(0.1),
        Init::Normal {
            mean: 0.0,
            std: 0.1
        }
    );
}

/// `W` (rows x cols, row-major) has orthonormal rows if rows <= cols and orthonormal
/// columns if rows >= cols, times `gain`: the Gram matrix of the shorter side is
/// gain^2 I within `tol`.
fn assert_orthogonal(w: &[f64], rows: usize, cols: usize, gain: f64, tol: f64) {
    let g2 = gain * gain;
    if rows <= cols {
        for i in 0..rows {
            for j in 0..rows {
                let d: f64 = (0..cols).map(|c| w[i * cols + c] * w[j * cols + c]).sum();
                let e = if i == j { g2 } else { 0.0 };
                assert!((d - e).abs() <= tol, "W W^T [{i},{j}] = {d}");
            }
        }
    }
    if rows >= cols {
        for i in 0..cols {
            for j in 0..cols {
                let d: f64 = (0..rows).map(|r| w[r * cols + i] * w[r * cols + j]).sum();
                let e = if i == j { g2 } else { 0.0 };
                assert!((d - e).abs() <= tol, "W^T W [{i},{j}] = {d}");
            }
        }
    }
}

#[test]
fn orthogonal_rows_or_columns_are_orthonormal() {
    // (fan_out, fan_in) = (rows, cols): square, tall, wide, and the vector shapes.
    for (k, (rows, cols)) in [(64, 64), (96, 32), (32, 96), (200, 150), (1, 7), (7, 1)]
        .into_iter()
        .enumerate()
    {
        let w: Vec<f64> = draw(&Init::orthogonal(), cols, rows, 80 + k as u64);
        assert_orthogonal(&w, rows, cols, 1.0, 1e-10);
    }
    for (k, (rows, cols)) in [(40, 40), (50, 20), (20, 50)].into_iter().enumerate() {
        let gain = 2.0;
        let init = Init::orthogonal_with_gain(gain);
        let w: Vec<f64> = draw(&init, cols, rows, 90 + k as u64);
        assert_orthogonal(&w, rows, cols, gain, 1e-9);
        // Gain only scales: the same seed with gain 1 gives w / gain.
        let w1: Vec<f64> = draw(&Init::orthogonal(), cols, rows, 90 + k as u64);
        for (a, b) in w.iter().zip(&w1) {
            assert!((a - gain * b).abs() <= 1e-15);
        }
    }
}

#[test]
fn orthogonal_is_torch_q_of_the_normal_draw() {
    // torch.nn.init.orthogonal_: A = the rows x cols normal draw (row-major, in the
    // generator's order), transposed if wide; A = QR; Q * sign(diag R). So Q^T A (tall)
    // or W A^T (wide) is R with a positive diagonal: upper triangular, diagonal > 0.
    for (k, (rows, cols)) in [(30, 30), (40, 12), (12, 40)].into_iter().enumerate() {
        let seed = 100 + k as u64;
        let w: Vec<f64> = draw(&Init::orthogonal(), cols, rows, seed);
        let mut rng = seeded(seed);
        let a: Vec<f64> = (0..rows * cols)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let n = rows.min(cols);
        for i in 0..n {
            for j in 0..n {
                // tall: (W^T A)[i][j] = sum_r W[r][i] A[r][j];
                // wide: (W A^T)[i][j] = sum_c W[i][c] A[j][c].
                let r: f64 = if rows >= cols {
                    (0..rows).map(|t| w[t * cols + i] * a[t * cols + j]).sum()
                } else {
                    (0..cols).map(|t| w[i * cols + t] * a[j * cols + t]).sum()
                };
                if i > j {
                    assert!(r.abs() < 1e-10, "{rows}x{cols}: R[{i},{j}] = {r}");
                }
                if i == j {
                    assert!(r > 0.0, "{rows}x{cols}: R[{i},{i}] = {r}");
                }
            }
        }
    }
}

/// Every initializer that draws, for the reproducibility tests.
fn drawing_inits() -> Vec<Init> {
    vec![
        Init::he_normal(),
        Init::he_uniform_with(FanMode::FanOut, Nonlinearity::Tanh),
        Init::glorot_normal(),
        Init::glorot_uniform_with_gain(0.7),
        Init::lecun_normal(),
        Init::orthogonal_with_gain(1.3),
        Init::normal_with_mean(0.1, 0.02),
        Init::uniform(-3.0, 1.0),
    ]
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    for init in drawing_inits() {
        let a: Vec<f64> = draw(&init, 24, 40, 5);
        let b: Vec<f64> = draw(&init, 24, 40, 5);
        let c: Vec<f64> = draw(&init, 24, 40, 6);
        assert_eq!(a, b, "{init:?}");
        // Continuous draws: two seeds agreeing anywhere would be a bug (or a miracle).
        let equal = a.iter().zip(&c).filter(|(x, y)| x == y).count();
        assert_eq!(equal, 0, "{init:?}");
    }
}

#[test]
fn f32_is_the_f64_draw_rounded() {
    for init in drawing_inits() {
        let w64: Vec<f64> = draw(&init, 24, 40, 9);
        let w32: Vec<f32> = draw(&init, 24, 40, 9);
        for (a, b) in w32.iter().zip(&w64) {
            // Drawn and computed in f64, rounded once.
            assert_eq!(*a, *b as f32, "{init:?}");
            assert!((*a as f64 - b).abs() <= b.abs() * f32::EPSILON as f64);
        }
    }
}

#[test]
fn dense_new_uses_fan_in_as_inputs() {
    // Dense<IN = 512, OUT = 256> draws its [256, 512] weight with fan_in = 512.
    let layer = Dense::<f64, FAN_IN, FAN_OUT>::new(&Init::he_normal(), true, &mut seeded(3));
    assert_eq!(layer.weight(), draw_big(&Init::he_normal(), 3));
    assert_eq!(layer.bias(), Some(&[0.0; FAN_OUT][..]));
}

fn invalid_name(r: Result<(), Error>) -> &'static str {
    match r {
        Err(Error::InvalidParameter { name, .. }) => name,
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

#[test]
fn invalid_settings_are_typed_errors() {
    let cases = [
        (Init::normal(-0.1), "std"),
        (Init::normal(f64::INFINITY), "std"),
        (Init::normal_with_mean(f64::NAN, 1.0), "mean"),
        (Init::uniform(1.0, -1.0), "high"),
        (Init::uniform(f64::NEG_INFINITY, 0.0), "low"),
        (Init::uniform(-f64::MAX, f64::MAX), "high - low"),
        (Init::constant(f64::NAN), "constant"),
        (Init::glorot_uniform_with_gain(-1.0), "gain"),
        (Init::glorot_normal_with_gain(f64::INFINITY), "gain"),
        (Init::orthogonal_with_gain(f64::NAN), "gain"),
        (
            Init::he_normal_with(FanMode::FanIn, Nonlinearity::LeakyRelu(f64::NAN)),
            "leaky_relu slope",
        ),
    ];
    for (init, name) in cases {
        assert_eq!(invalid_name(init.validate()), name, "{init:?}");
        // try_fill reports the same and touches neither the values nor the generator.
        let mut rng = seeded(1);
        let mut w = vec![7.0f32; 6];
        assert_eq!(invalid_name(init.try_fill(&mut w, 3, 2, &mut rng)), name);
        assert_eq!(w, vec![7.0; 6]);
        assert_eq!(rng.random::<u64>(), seeded(1).random::<u64>());
    }
    // Valid edge cases.
    assert!(Init::orthogonal_with_gain(-1.0).validate().is_ok());
    assert!(Init::glorot_uniform_with_gain(0.0).validate().is_ok());
    assert!(Init::normal(0.0).validate().is_ok());
}

#[test]
fn bad_shapes_are_typed_errors() {
    let mut rng: SeededRng = seeded(2);
    let mut w = vec![0.0f64; 6];
    // A fan the formula divides by is zero.
    let zero_fan = [
        (Init::he_normal(), 0, 6, "fan_in"),
        (
            Init::he_uniform_with(FanMode::FanOut, Nonlinearity::Relu),
            6,
            0,
            "fan_out",
        ),
        (Init::lecun_normal(), 0, 6, "fan_in"),
        (Init::glorot_normal(), 0, 0, "fan_in + fan_out"),
    ];
    for (init, fi, fo, name) in zero_fan {
        assert_eq!(invalid_name(init.try_fill(&mut w, fi, fo, &mut rng)), name);
    }
    // Orthogonal needs exactly fan_out * fan_in values.
    let r = Init::orthogonal().try_fill(&mut w, 4, 2, &mut rng);
    assert!(
        matches!(
            r,
            Err(Error::WidthMismatch {
                expected: 8,
                found: 6,
                ..
            })
        ),
        "{r:?}"
    );
    // An empty tensor is fine for every initializer, whatever the fans.
    let mut empty: Vec<f64> = Vec::new();
    for init in drawing_inits() {
        init.try_fill(&mut empty, 0, 0, &mut rng).unwrap();
    }
    // Non-orthogonal fills take any length: a bias of fan_out values.
    let mut bias = vec![0.0f64; 5];
    Init::he_uniform()
        .try_fill(&mut bias, 3, 5, &mut rng)
        .unwrap();
    assert!(bias.iter().all(|b| b.abs() <= (6.0f64 / 3.0).sqrt()));
}

#[test]
#[should_panic(expected = "invalid std")]
fn fill_panics_on_invalid_settings() {
    let mut w = vec![0.0f32; 4];
    Init::normal(-1.0).fill(&mut w, 2, 2, &mut seeded(0));
}
