//! Every activation against finite differences, known values, PyTorch's conventions at
//! kinks, and f32 stability far into saturation; and the accuracy bound of the
//! `activation` module doc against high-precision values.
//!
//! Those values are the committed table `tests/data/activation_reference.txt`, computed
//! with mpmath by `scripts/activation_reference.py` (at the workspace root; it also
//! prints the Taylor coefficients in `activation.rs`). To regenerate, from the root:
//! `pip install mpmath && python3 scripts/activation_reference.py >
//! gradnet-core/tests/data/activation_reference.txt`. The tests themselves need no
//! Python.

use gradnet_core::activation::*;
use gradnet_core::gradcheck::{agree, compare, numeric_gradient};
use gradnet_core::Error;

/// One activation, built with the same parameters in f32 and f64.
struct Case<A, B> {
    name: &'static str,
    a32: A,
    a64: B,
    /// Points where `f` or `df` is not smooth (kinks, softplus's switch to `x`).
    kinks: &'static [f64],
    /// Test points beyond the common ones (saturation, both sides of a kink).
    extra: &'static [f64],
    /// `[f(1000), f'(1000), f(-1000), f'(-1000)]`: the limits, from the formulas.
    limits: [f64; 4],
}

trait Visit {
    fn visit<A: Activation<f32>, B: Activation<f64>>(&mut self, case: Case<A, B>);
}

/// Builds the same activation expression in f32 and in f64.
macro_rules! case {
    ($name:expr, |$t:ident| $make:expr, kinks: $kinks:expr, extra: $extra:expr, limits: $lim:expr) => {{
        #[allow(dead_code)]
        type $t = f32;
        let a32 = $make;
        let a64 = {
            #[allow(dead_code)]
            type $t = f64;
            $make
        };
        Case {
            name: $name,
            a32,
            a64,
            kinks: $kinks,
            extra: $extra,
            limits: $lim,
        }
    }};
}

const S: f64 = SELU_SCALE;
const SA: f64 = SELU_SCALE * SELU_ALPHA;

fn each(v: &mut impl Visit) {
    v.visit(case!("identity", |T| Identity, kinks: &[], extra: &[], limits: [1000.0, 1.0, -1000.0, 1.0]));
    v.visit(case!("relu", |T| Relu, kinks: &[0.0], extra: &[], limits: [1000.0, 1.0, 0.0, 0.0]));
    v.visit(
        case!("tanh", |T| Tanh, kinks: &[], extra: &[-15.0, 15.0], limits: [1.0, 0.0, -1.0, 0.0]),
    );
    v.visit(
        case!("sigmoid", |T| Sigmoid, kinks: &[], extra: &[-60.0, -15.0, 15.0, 60.0],
        limits: [1.0, 0.0, 0.0, 0.0]),
    );
    v.visit(
        case!("leaky_relu()", |T| LeakyRelu::<T>::default(), kinks: &[0.0], extra: &[],
        limits: [1000.0, 1.0, -10.0, 0.01]),
    );
    v.visit(
        case!("leaky_relu(0.2)", |T| LeakyRelu::<T>::new(0.2), kinks: &[0.0], extra: &[],
        limits: [1000.0, 1.0, -200.0, 0.2]),
    );
    v.visit(
        case!("elu()", |T| Elu::<T>::default(), kinks: &[0.0], extra: &[-60.0],
        limits: [1000.0, 1.0, -1.0, 0.0]),
    );
    v.visit(
        case!("elu(0.5)", |T| Elu::<T>::new(0.5), kinks: &[0.0], extra: &[-60.0],
        limits: [1000.0, 1.0, -0.5, 0.0]),
    );
    v.visit(case!("selu", |T| Selu, kinks: &[0.0], extra: &[-60.0],
        limits: [1000.0 * S, S, -SA, 0.0]));
    // 40 is where gelu clamps x; f is smooth there. -0.7518 is the zero of gelu', inside
    // which (within 1/32) df comes from a series: both sides of its edges.
    v.visit(case!("gelu", |T| Gelu, kinks: &[],
        extra: &[-40.002, -39.998, -12.0, -5.0, -0.7834, -0.7828, -0.7518, -0.7207, -0.7201,
            5.0, 12.0, 39.998, 40.002],
        limits: [1000.0, 1.0, 0.0, 0.0]));
    // 25 is where the inner argument is clamped; the zero of df is at -0.7525.
    v.visit(case!("gelu_tanh", |T| GeluTanh, kinks: &[],
        extra: &[-25.002, -24.998, -12.0, -5.0, -0.7840, -0.7834, -0.7525, -0.7214, -0.7208,
            5.0, 12.0, 24.998, 25.002],
        limits: [1000.0, 1.0, 0.0, 0.0]));
    // The zero of silu' is at -1.2785.
    v.visit(case!("silu", |T| Silu, kinks: &[],
        extra: &[-60.0, -15.0, -1.3100, -1.3094, -1.2785, -1.2476, -1.2470, 15.0, 60.0],
        limits: [1000.0, 1.0, 0.0, 0.0]));
    v.visit(
        case!("softplus()", |T| Softplus::<T>::default(), kinks: &[20.0],
        extra: &[-60.0, 19.998, 20.002, 25.0, 60.0], limits: [1000.0, 1.0, 0.0, 0.0]),
    );
    v.visit(
        case!("softplus(2, 20)", |T| Softplus::<T>::new(2.0, 20.0), kinks: &[10.0],
        extra: &[-60.0, 9.998, 10.002, 15.0], limits: [1000.0, 1.0, 0.0, 0.0]),
    );
    v.visit(
        case!("softplus(0.5, 5)", |T| Softplus::<T>::new(0.5, 5.0), kinks: &[10.0],
        extra: &[-60.0, 9.998, 10.002, 15.0], limits: [1000.0, 1.0, 0.0, 0.0]),
    );
    // A threshold never reached: the log1p path alone must stay finite at 1000 in f32.
    v.visit(
        case!("softplus(1, 1e4)", |T| Softplus::<T>::new(1.0, 1e4), kinks: &[],
        extra: &[-100.0, 60.0, 100.0], limits: [1000.0, 1.0, 0.0, 0.0]),
    );
    v.visit(
        case!("hard_tanh()", |T| HardTanh::<T>::default(), kinks: &[-1.0, 1.0],
        extra: &[-1.002, -0.998, 0.998, 1.002], limits: [1.0, 0.0, -1.0, 0.0]),
    );
    v.visit(
        case!("hard_tanh(-2, 3)", |T| HardTanh::<T>::new(-2.0, 3.0), kinks: &[-2.0, 3.0],
        extra: &[-2.002, -1.998, 2.998, 3.002], limits: [3.0, 0.0, -2.0, 0.0]),
    );
}

/// Points every activation is checked at (minus those within 1e-3 of its kinks).
const COMMON: &[f64] = &[
    -30.0, -8.0, -3.7, -1.5, -1.0, -0.7, -0.1, -0.002, 0.002, 0.05, 0.3, 1.0, 1.9, 2.5, 8.0, 30.0,
];

fn points(kinks: &[f64], extra: &[f64]) -> Vec<f64> {
    COMMON
        .iter()
        .chain(extra)
        .copied()
        .filter(|x| kinks.iter().all(|k| (x - k).abs() >= 1e-3))
        .collect()
}

/// loss = sum_i c_i sin(y_i), with varied c_i, so a backward that ignores dy fails.
fn coeff(i: usize) -> f64 {
    0.3 + 0.17 * i as f64
}

struct FiniteDifferences {
    checked: usize,
}

impl Visit for FiniteDifferences {
    fn visit<A: Activation<f32>, B: Activation<f64>>(&mut self, c: Case<A, B>) {
        let act = c.a64;
        let xs = points(c.kinks, c.extra);
        assert!(xs.len() >= COMMON.len() - 3, "{}: too few points", c.name);
        // Scalar df against the central difference of f.
        for &x in &xs {
            let analytic = act.df(x, act.f(x));
            let numeric = numeric_gradient(|v| act.f(v[0]), &[x])[0];
            assert!(
                agree(analytic, numeric),
                "{} at {x}: df = {analytic:e}, finite difference {numeric:e}",
                c.name
            );
        }
        // The slice helpers against the scalar ones and against finite differences of
        // a nonlinear function of the outputs.
        let mut y = vec![0.0; xs.len()];
        act.forward(&xs, &mut y);
        let mut y2 = xs.clone();
        act.forward_inplace(&mut y2);
        for i in 0..xs.len() {
            assert_eq!(y[i], act.f(xs[i]), "{}: forward", c.name);
            assert_eq!(y2[i], y[i], "{}: forward_inplace", c.name);
        }
        let loss = |x: &[f64]| -> f64 {
            x.iter()
                .enumerate()
                .map(|(i, &x)| coeff(i) * act.f(x).sin())
                .sum()
        };
        let numeric = numeric_gradient(loss, &xs);
        let dy: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, y)| coeff(i) * y.cos())
            .collect();
        let mut dx = vec![f64::NAN; xs.len()];
        act.backward(&xs, &y, &dy, &mut dx);
        if let Err(m) = compare(&dx, &numeric) {
            panic!("{}: backward: {m} (x = {})", c.name, xs[m.index]);
        }
        let mut d = dy.clone();
        act.backward_inplace(&xs, &y, &mut d);
        if let Err(m) = compare(&d, &numeric) {
            panic!("{}: backward_inplace: {m} (x = {})", c.name, xs[m.index]);
        }
        self.checked += 1;
    }
}

#[test]
fn derivatives_match_finite_differences() {
    let mut v = FiniteDifferences { checked: 0 };
    each(&mut v);
    assert_eq!(v.checked, 18);
}

/// `|a - b| <= rel max(|a|, |b|) + abs`.
fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()) + abs
}

struct Stability;

impl Visit for Stability {
    fn visit<A: Activation<f32>, B: Activation<f64>>(&mut self, c: Case<A, B>) {
        // The limits at +-1000, in f32 and f64 (up to 1e-30: e^-500 is not 0 in f64).
        for (i, x) in [1000.0, -1000.0].into_iter().enumerate() {
            let (f, df) = (c.limits[2 * i], c.limits[2 * i + 1]);
            let y32 = c.a32.f(x as f32);
            let d32 = c.a32.df(x as f32, y32);
            let y64 = c.a64.f(x);
            let d64 = c.a64.df(x, y64);
            for (what, got, want) in [("f32 f", y32 as f64, f), ("f32 df", d32 as f64, df)] {
                assert!(
                    close(got, want, 1e-6, 1e-30),
                    "{} {what}({x}) = {got}, want {want}",
                    c.name
                );
            }
            for (what, got, want) in [("f64 f", y64, f), ("f64 df", d64, df)] {
                assert!(
                    close(got, want, 1e-12, 1e-30),
                    "{} {what}({x}) = {got}, want {want}",
                    c.name
                );
            }
        }
        // f32 against f64 at the same (f32) inputs: a dense grid over the interesting
        // range, the edges of f32's exp (e^88 is finite in f32, e^89 is not), and far
        // beyond. f32 results must be finite and close to the f64 ones.
        let grid = (-2400..=2400).map(|i| i as f32 * 0.005);
        let far = [
            30.0, 50.0, 87.5, 88.0, 88.7, 89.0, 100.0, 500.0, 1000.0, 1e4, 1e20, 1e30,
        ];
        let xs = grid.chain(far.iter().flat_map(|&x: &f32| [x, -x]));
        for x in xs {
            let y32 = c.a32.f(x);
            let d32 = c.a32.df(x, y32);
            assert!(
                y32.is_finite() && d32.is_finite(),
                "{} at {x}: f {y32}, df {d32}",
                c.name
            );
            let y64 = c.a64.f(x as f64);
            let d64 = c.a64.df(x as f64, y64);
            assert!(
                close(y32 as f64, y64, 1e-5, 1e-5) && close(d32 as f64, d64, 1e-5, 1e-5),
                "{} at {x}: f32 ({y32}, {d32}) vs f64 ({y64}, {d64})",
                c.name
            );
        }
    }
}

#[test]
fn f32_is_stable_and_saturates_to_the_limits() {
    each(&mut Stability);
}

#[test]
fn softplus_log1p_path_survives_where_naive_exp_overflows() {
    // PyTorch's own formula log1p(exp(x)) gives inf in f32 at x = 89 when the threshold
    // is not hit; ours gives x + log1p(e^-x) = x.
    let sp = Softplus::<f32>::new(1.0, 1e4);
    assert!((89f32).exp().is_infinite());
    assert_eq!(sp.f(89.0), 89.0);
    assert_eq!(sp.df(89.0, 89.0), 1.0);
    assert_eq!(sp.f(-89.0), (-89f32).exp()); // ln(1 + e^-89) = e^-89 in f32
}

/// Reference values: each function's PyTorch formula evaluated in mpmath at 40 digits,
/// derivatives by mpmath's `diff`, rounded to f64.
#[test]
fn known_values() {
    let cases: &[(&str, f64, f64, f64)] = &[
        // (name, x, f(x), f'(x))
        (
            "gelu",
            1.0,
            0.841_344_746_068_542_9,
            1.083_315_470_587_686_4,
        ),
        ("gelu", -1.0, -0.158_655_253_931_457_05, f64::NAN),
        (
            "gelu",
            -3.0,
            -0.004_049_694_094_890_283_5,
            -0.011_945_647_204_183_927,
        ),
        (
            "gelu_tanh",
            1.0,
            0.841_191_990_608_276_7,
            1.082_964_083_845_782_6,
        ),
        ("gelu_tanh", -1.0, -0.158_808_009_391_723_3, f64::NAN),
        (
            "gelu_tanh",
            -3.0,
            -0.003_637_392_081_773_019,
            -0.011_584_166_630_969_726,
        ),
        (
            "sigmoid",
            1.0,
            0.731_058_578_630_004_9,
            0.196_611_933_241_481_85,
        ),
        ("sigmoid", -3.0, 0.047_425_873_177_566_78, f64::NAN),
        (
            "silu",
            1.0,
            0.731_058_578_630_004_9,
            0.927_670_511_871_486_7,
        ),
        (
            "silu",
            -3.0,
            -0.142_277_619_532_700_35,
            -0.088_104_106_015_169_62,
        ),
        (
            "softplus",
            1.0,
            1.313_261_687_518_222_8,
            0.731_058_578_630_004_9,
        ),
        (
            "softplus",
            -3.0,
            0.048_587_351_573_742_06,
            0.047_425_873_177_566_78,
        ),
        ("softplus", 20.0, 20.000_000_002_061_153, f64::NAN), // at the threshold: still log
        ("softplus(2)", 1.0, 1.063_464_005_521_486_3, f64::NAN),
        ("selu", -1.0, -1.111_330_737_812_562_8, f64::NAN),
        (
            "selu",
            1.0,
            1.050_700_987_355_480_5,
            1.050_700_987_355_480_5,
        ),
        ("selu", -3.0, -1.670_568_728_767_112, f64::NAN),
        (
            "elu",
            -1.0,
            -0.632_120_558_828_557_7,
            0.367_879_441_171_442_3,
        ),
        ("elu", -3.0, -0.950_212_931_632_136, f64::NAN),
    ];
    for &(name, x, f, df) in cases {
        let (y, d) = match name {
            "gelu" => eval(Gelu, x),
            "gelu_tanh" => eval(GeluTanh, x),
            "sigmoid" => eval(Sigmoid, x),
            "silu" => eval(Silu, x),
            "softplus" => eval(Softplus::default(), x),
            "softplus(2)" => eval(Softplus::new(2.0, 20.0), x),
            "selu" => eval(Selu, x),
            "elu" => eval(Elu::default(), x),
            _ => unreachable!(),
        };
        assert!(close(y, f, 1e-13, 0.0), "{name}({x}) = {y:e}, want {f:e}");
        if !df.is_nan() {
            assert!(
                close(d, df, 1e-13, 0.0),
                "{name}'({x}) = {d:e}, want {df:e}"
            );
        }
    }
    // selu(-1) from its formula: scale alpha (e^-1 - 1).
    let selu = eval(Selu, -1.0).0;
    assert!(close(
        selu,
        SELU_SCALE * SELU_ALPHA * (-1f64).exp_m1(),
        1e-15,
        0.0
    ));
    assert_eq!(eval(Sigmoid, 0.0), (0.5, 0.25));
    assert_eq!(eval(Softplus::default(), 0.0).0, std::f64::consts::LN_2);
}

fn eval<A: Activation<f64>>(act: A, x: f64) -> (f64, f64) {
    let y = act.f(x);
    (y, act.df(x, y))
}

#[test]
fn derivatives_at_kinks_follow_pytorch() {
    assert_eq!(eval(Relu, 0.0), (0.0, 0.0));
    assert_eq!(eval(LeakyRelu::new(0.2), 0.0), (0.0, 0.2));
    assert_eq!(eval(Elu::new(0.5), 0.0), (0.0, 0.5));
    assert_eq!(eval(Selu, 0.0), (0.0, SELU_SCALE * SELU_ALPHA));
    let ht = HardTanh::new(-2.0, 3.0);
    assert_eq!(eval(ht, -2.0), (-2.0, 0.0));
    assert_eq!(eval(ht, 3.0), (3.0, 0.0));
    assert_eq!(eval(ht, -5.0), (-2.0, 0.0));
    assert_eq!(eval(ht, 7.0), (3.0, 0.0));
    assert_eq!(eval(ht, 2.999), (2.999, 1.0));
    // Softplus switches to x strictly above the threshold (`beta x > threshold`).
    let sp = Softplus::new(2.0, 20.0);
    assert!(eval(sp, 10.0).0 > 10.0);
    assert_eq!(eval(sp, 10.000_001), (10.000_001, 1.0));
}

#[test]
fn defaults_are_pytorchs() {
    assert_eq!(LeakyRelu::<f64>::default().slope, 0.01);
    assert_eq!(Elu::<f64>::default().alpha, 1.0);
    assert_eq!(
        Softplus::<f64>::default(),
        Softplus {
            beta: 1.0,
            threshold: 20.0
        }
    );
    assert_eq!(
        HardTanh::<f32>::default(),
        HardTanh {
            min: -1.0,
            max: 1.0
        }
    );
}

#[test]
fn checked_constructors_reject_bad_parameters() {
    assert_eq!(LeakyRelu::<f32>::try_new(0.1), Ok(LeakyRelu::new(0.1)));
    assert_eq!(Elu::<f64>::try_new(2.0), Ok(Elu::new(2.0)));
    assert_eq!(
        Softplus::<f64>::try_new(2.0, 10.0),
        Ok(Softplus::new(2.0, 10.0))
    );
    assert_eq!(
        HardTanh::<f64>::try_new(-2.0, 3.0),
        Ok(HardTanh::new(-2.0, 3.0))
    );
    let invalid = |r: Result<(), Error>, which: &str| match r {
        Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, which),
        other => panic!("expected InvalidParameter for {which}, got {other:?}"),
    };
    // 1e300 is finite in f64 but not in f32.
    invalid(
        LeakyRelu::<f32>::try_new(1e300).map(drop),
        "leaky_relu slope",
    );
    invalid(Elu::<f64>::try_new(f64::NAN).map(drop), "elu alpha");
    invalid(
        Softplus::<f64>::try_new(0.0, 20.0).map(drop),
        "softplus beta",
    );
    invalid(
        Softplus::<f64>::try_new(1.0, f64::NAN).map(drop),
        "softplus threshold",
    );
    invalid(
        HardTanh::<f64>::try_new(1.0, -1.0).map(drop),
        "hard_tanh max",
    );
    invalid(
        HardTanh::<f64>::try_new(1.0, 1.0).map(drop),
        "hard_tanh max",
    );
    invalid(
        HardTanh::<f64>::try_new(f64::NEG_INFINITY, 1.0).map(drop),
        "hard_tanh min",
    );
}

/// The committed reference table, generated by `scripts/activation_reference.py`
/// (mpmath at 60 digits): sections `# name`, then lines `x f(x) f'(x)` with `x` an
/// f32.
const REFERENCE: &str = include_str!("data/activation_reference.txt");

/// The module doc's bound in one type: relative error below `rel` where the reference
/// is a normal number of that type, absolute error at most its smallest normal
/// (about 1.2e-38 in f32) where it is not.
#[derive(Clone, Copy)]
struct Bound {
    rel: f64,
    min_normal: f64,
}

const F32: Bound = Bound {
    rel: 1e-5,
    min_normal: f32::MIN_POSITIVE as f64,
};
const F64: Bound = Bound {
    rel: 1e-12,
    min_normal: f64::MIN_POSITIVE,
};

/// The worst error seen by one of `f`/`df` in one type.
#[derive(Default)]
struct Worst {
    /// Largest relative error where the reference is normal, and its `x`.
    rel: (f64, f64),
    /// Largest absolute error where it is not, and its `x`.
    abs: (f64, f64),
    /// Points over the bound: `(x, got, want)`.
    failures: Vec<(f64, f64, f64)>,
}

impl Worst {
    /// Records one point; NaN counts as over the bound.
    fn record(&mut self, b: Bound, x: f64, got: f64, want: f64) {
        let err = (got - want).abs();
        let (worst, err, bound) = if want.abs() >= b.min_normal {
            (&mut self.rel, err / want.abs(), b.rel)
        } else {
            (&mut self.abs, err, b.min_normal)
        };
        if err > worst.0 || err.is_nan() {
            *worst = (err, x);
        }
        if err > bound || err.is_nan() {
            self.failures.push((x, got, want));
        }
    }
}

/// `[f32 f, f32 df, f64 f, f64 df]` over one section of the table.
fn accuracy<A: Activation<f32>, B: Activation<f64>>(
    a32: A,
    a64: B,
    rows: &[[f64; 3]],
) -> [Worst; 4] {
    let mut w: [Worst; 4] = Default::default();
    for &[x, f, df] in rows {
        let y32 = a32.f(x as f32);
        w[0].record(F32, x, y32 as f64, f);
        w[1].record(F32, x, a32.df(x as f32, y32) as f64, df);
        let y64 = a64.f(x);
        w[2].record(F64, x, y64, f);
        w[3].record(F64, x, a64.df(x, y64), df);
    }
    w
}

fn parse_reference() -> Vec<(&'static str, Vec<[f64; 3]>)> {
    let mut sections: Vec<(&str, Vec<[f64; 3]>)> = Vec::new();
    for line in REFERENCE.lines().skip(1) {
        if let Some(name) = line.strip_prefix("# ") {
            sections.push((name, Vec::new()));
            continue;
        }
        let v: Vec<&str> = line.split(' ').collect();
        assert_eq!(v.len(), 3, "bad reference line {line:?}");
        // x is written as the shortest decimal of an f32: parse it as one.
        let x: f32 = v[0].parse().unwrap();
        let row = [x as f64, v[1].parse().unwrap(), v[2].parse().unwrap()];
        sections
            .last_mut()
            .expect("a line before any section")
            .1
            .push(row);
    }
    sections
}

/// Every activation with a cancellation-prone formula against the mpmath table, in
/// f32 and f64, to the module doc's bound. `cargo test -p gradnet-core --test
/// activations -- --nocapture reference` prints the worst errors.
#[test]
fn matches_high_precision_reference() {
    let sections = parse_reference();
    let names: Vec<&str> = sections.iter().map(|s| s.0).collect();
    assert_eq!(
        names,
        [
            "sigmoid",
            "tanh",
            "gelu",
            "gelu_tanh",
            "silu",
            "softplus",
            "elu",
            "selu"
        ]
    );
    let mut failed = Vec::new();
    for (name, rows) in &sections {
        assert!(rows.len() > 100, "{name}: {} points", rows.len());
        let worst = match *name {
            "sigmoid" => accuracy(Sigmoid, Sigmoid, rows),
            "tanh" => accuracy(Tanh, Tanh, rows),
            "gelu" => accuracy(Gelu, Gelu, rows),
            "gelu_tanh" => accuracy(GeluTanh, GeluTanh, rows),
            "silu" => accuracy(Silu, Silu, rows),
            "softplus" => accuracy(Softplus::default(), Softplus::default(), rows),
            "elu" => accuracy(Elu::default(), Elu::default(), rows),
            "selu" => accuracy(Selu, Selu, rows),
            _ => unreachable!(),
        };
        for (w, what) in worst.iter().zip(["f32 f", "f32 df", "f64 f", "f64 df"]) {
            println!(
                "{name:>9} {what:<6}: max rel {:.2e} (x = {}), max abs below normal {:.1e} (x = {})",
                w.rel.0, w.rel.1, w.abs.0, w.abs.1
            );
            for &(x, got, want) in w.failures.iter().take(3) {
                failed.push(format!("{name} {what}({x}) = {got:e}, want {want:e}"));
            }
        }
    }
    assert!(failed.is_empty(), "over the bound:\n{}", failed.join("\n"));
}

/// f32 against f64 (itself within 1e-12 of the table above) at 100,000 points of
/// `[-20, 20]`, to the f32 bound: the table's few hundred points cannot catch an
/// error confined to a narrow band (say, where an intermediate is subnormal).
#[test]
fn f32_matches_f64_on_a_dense_grid() {
    fn scan<A: Activation<f32>, B: Activation<f64>>(name: &str, a32: A, a64: B) -> Vec<String> {
        let (mut wf, mut wd) = (Worst::default(), Worst::default());
        let n = 100_000;
        for i in 0..=n {
            let x = (-20.0 + 40.0 * i as f64 / n as f64) as f32;
            let y32 = a32.f(x);
            let y64 = a64.f(x as f64);
            wf.record(F32, x as f64, y32 as f64, y64);
            wd.record(F32, x as f64, a32.df(x, y32) as f64, a64.df(x as f64, y64));
        }
        println!(
            "{name:>9} f32 vs f64: f max rel {:.2e} (x = {}), df max rel {:.2e} (x = {})",
            wf.rel.0, wf.rel.1, wd.rel.0, wd.rel.1
        );
        let failures = wf.failures.iter().map(|p| ("f", p));
        let failures = failures.chain(wd.failures.iter().map(|p| ("df", p)));
        failures
            .take(5)
            .map(|(what, (x, got, want))| format!("{name} {what}({x}): f32 {got:e}, f64 {want:e}"))
            .collect()
    }
    let mut failed = scan("sigmoid", Sigmoid, Sigmoid);
    failed.extend(scan("tanh", Tanh, Tanh));
    failed.extend(scan("gelu", Gelu, Gelu));
    failed.extend(scan("gelu_tanh", GeluTanh, GeluTanh));
    failed.extend(scan("silu", Silu, Silu));
    failed.extend(scan("softplus", Softplus::default(), Softplus::default()));
    failed.extend(scan("elu", Elu::default(), Elu::default()));
    failed.extend(scan("selu", Selu, Selu));
    assert!(failed.is_empty(), "over the bound:\n{}", failed.join("\n"));
}
