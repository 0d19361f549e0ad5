//! Optimizers against values worked out by hand from PyTorch's documented update
//! rules (the pseudo-code on the pages of torch.optim.SGD, Adam, AdamW and RMSprop).
//! The learning-rate schedules are tested in `tests/schedule.rs`.
//!
//! Every optimizer test takes three steps on the same small model, two parameters
//! `a = [1, -2]` and `b = [0.5]` (elements e0, e1, e2), with these gradients:
//!
//! ```text
//!          e0 = a[0]   e1 = a[1]   e2 = b[0]
//! step 1     0.5        -1.0         2.0
//! step 2    -0.25        0.5         1.0
//! step 3     1.0         0.25       -0.5
//! ```
//!
//! After each step all three values are compared (|got - expected| <= 1e-12), and
//! the tracked update norms with the L2 norm of (after - before) per parameter.

use gradnet_core::optim::{AdamConfig, Optimizer, RmsPropConfig, SgdConfig, WeightDecay};
use gradnet_core::{Dense, Error, Gradients, ParamMut, Parameters};

/// A hand-built model: named vectors.
#[derive(Clone, Debug, PartialEq)]
struct Vecs {
    names: Vec<&'static str>,
    values: Vec<Vec<f64>>,
}

/// Its gradients, same layout.
#[derive(Clone, Debug, PartialEq)]
struct VecGrads {
    names: Vec<&'static str>,
    values: Vec<Vec<f64>>,
}

impl Parameters<f64> for Vecs {
    type Grads = VecGrads;

    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[f64])) {
        for (&n, v) in self.names.iter().zip(&self.values) {
            f(n, v);
        }
    }

    fn visit_params_mut(&mut self, grads: &VecGrads, f: &mut impl FnMut(ParamMut<'_, f64>)) {
        for ((&name, value), grad) in self.names.iter().zip(&mut self.values).zip(&grads.values) {
            f(ParamMut { name, value, grad });
        }
    }

    fn zero_grads(&self) -> VecGrads {
        VecGrads {
            names: self.names.clone(),
            values: self.values.iter().map(|v| vec![0.0; v.len()]).collect(),
        }
    }
}

impl Gradients<f64> for VecGrads {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[f64])) {
        for (&n, v) in self.names.iter().zip(&self.values) {
            f(n, v);
        }
    }

    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [f64])) {
        for (&n, v) in self.names.iter().zip(&mut self.values) {
            f(n, v);
        }
    }
}

fn vecs(params: &[(&'static str, &[f64])]) -> Vecs {
    Vecs {
        names: params.iter().map(|p| p.0).collect(),
        values: params.iter().map(|p| p.1.to_vec()).collect(),
    }
}

fn grads(params: &[(&'static str, &[f64])]) -> VecGrads {
    VecGrads {
        names: params.iter().map(|p| p.0).collect(),
        values: params.iter().map(|p| p.1.to_vec()).collect(),
    }
}

/// The gradients of the three steps, per element (e0, e1, e2).
const G: [[f64; 3]; 3] = [[0.5, -1.0, 2.0], [-0.25, 0.5, 1.0], [1.0, 0.25, -0.5]];

fn model() -> Vecs {
    vecs(&[("a", &[1.0, -2.0]), ("b", &[0.5])])
}

fn step_grads(t: usize) -> VecGrads {
    grads(&[("a", &G[t][..2]), ("b", &G[t][2..])])
}

fn flat(m: &Vecs) -> Vec<f64> {
    m.values.concat()
}

/// Three steps of `opt` on [`model`]; after step `t` the values must be
/// `expected[t]` and the update norms those of the actual change.
fn run<O: Optimizer<f64>>(mut opt: O, expected: [[f64; 3]; 3]) {
    let mut m = model();
    assert!(opt.update_norms().is_empty());
    opt.track_update_norms(true);
    for (t, want) in expected.iter().enumerate() {
        let before = flat(&m);
        opt.step(&mut m, &step_grads(t)).unwrap();
        let after = flat(&m);
        for (j, (&got, &want)) in after.iter().zip(want).enumerate() {
            assert!(
                (got - want).abs() <= 1e-12,
                "step {}, element {j}: got {got}, expected {want}",
                t + 1
            );
        }
        let d: Vec<f64> = after.iter().zip(&before).map(|(x, y)| x - y).collect();
        let norm_a = (d[0] * d[0] + d[1] * d[1]).sqrt();
        let norm_b = d[2].abs();
        let norms = opt.update_norms();
        assert_eq!(norms.len(), 2);
        assert_eq!((norms[0].0, norms[1].0), ("a", "b"));
        assert!(
            (norms[0].1 - norm_a).abs() <= 1e-15,
            "{norms:?} vs {norm_a}"
        );
        assert!(
            (norms[1].1 - norm_b).abs() <= 1e-15,
            "{norms:?} vs {norm_b}"
        );
    }
    opt.track_update_norms(false);
    assert!(opt.update_norms().is_empty());
}

// ---------------------------------------------------------------- SGD
//
// torch.optim.SGD pseudo-code: g = grad + wd * p; if mu != 0 { b = g on the first
// step, else b = mu * b + (1 - tau) * g; g = g + mu * b if nesterov, else g = b };
// p = p - lr * g. All with lr = 0.1.

#[test]
fn sgd_plain() {
    // p = p - 0.1 * g
    // e0: 1 - 0.05 = 0.95;   0.95 + 0.025 = 0.975;   0.975 - 0.1 = 0.875
    // e1: -2 + 0.1 = -1.9;   -1.9 - 0.05 = -1.95;    -1.95 - 0.025 = -1.975
    // e2: 0.5 - 0.2 = 0.3;   0.3 - 0.1 = 0.2;        0.2 + 0.05 = 0.25
    let opt = SgdConfig::new(0.1).build::<f64>().unwrap();
    run(
        opt,
        [
            [0.95, -1.9, 0.3],
            [0.975, -1.95, 0.2],
            [0.875, -1.975, 0.25],
        ],
    );
}

#[test]
fn sgd_momentum() {
    // mu = 0.9: b1 = g1, b2 = 0.9 b1 + g2, b3 = 0.9 b2 + g3; p -= 0.1 b
    // e0: b = 0.5, 0.45 - 0.25 = 0.2, 0.18 + 1 = 1.18
    //     p = 0.95, 0.95 - 0.02 = 0.93, 0.93 - 0.118 = 0.812
    // e1: b = -1, -0.9 + 0.5 = -0.4, -0.36 + 0.25 = -0.11
    //     p = -1.9, -1.9 + 0.04 = -1.86, -1.86 + 0.011 = -1.849
    // e2: b = 2, 1.8 + 1 = 2.8, 2.52 - 0.5 = 2.02
    //     p = 0.3, 0.3 - 0.28 = 0.02, 0.02 - 0.202 = -0.182
    let opt = SgdConfig::new(0.1).momentum(0.9).build::<f64>().unwrap();
    run(
        opt,
        [
            [0.95, -1.9, 0.3],
            [0.93, -1.86, 0.02],
            [0.812, -1.849, -0.182],
        ],
    );
}

#[test]
fn sgd_momentum_dampening() {
    // mu = 0.9, tau = 0.5: b1 = g1 (no dampening on the first step),
    // b = 0.9 b + 0.5 g afterwards; p -= 0.1 b
    // e0: b = 0.5, 0.45 - 0.125 = 0.325, 0.2925 + 0.5 = 0.7925
    //     p = 0.95, 0.95 - 0.0325 = 0.9175, 0.9175 - 0.07925 = 0.83825
    // e1: b = -1, -0.9 + 0.25 = -0.65, -0.585 + 0.125 = -0.46
    //     p = -1.9, -1.9 + 0.065 = -1.835, -1.835 + 0.046 = -1.789
    // e2: b = 2, 1.8 + 0.5 = 2.3, 2.07 - 0.25 = 1.82
    //     p = 0.3, 0.3 - 0.23 = 0.07, 0.07 - 0.182 = -0.112
    let opt = SgdConfig::new(0.1)
        .momentum(0.9)
        .dampening(0.5)
        .build::<f64>()
        .unwrap();
    run(
        opt,
        [
            [0.95, -1.9, 0.3],
            [0.9175, -1.835, 0.07],
            [0.83825, -1.789, -0.112],
        ],
    );
}

#[test]
fn sgd_nesterov() {
    // mu = 0.9, b as in sgd_momentum; the step uses d = g + 0.9 b; p -= 0.1 d
    // e0: b = 0.5, 0.2, 1.18;  d = 0.5 + 0.45 = 0.95, -0.25 + 0.18 = -0.07,
    //     1 + 1.062 = 2.062;   p = 1 - 0.095 = 0.905, 0.905 + 0.007 = 0.912,
    //     0.912 - 0.2062 = 0.7058
    // e1: b = -1, -0.4, -0.11; d = -1 - 0.9 = -1.9, 0.5 - 0.36 = 0.14,
    //     0.25 - 0.099 = 0.151; p = -2 + 0.19 = -1.81, -1.81 - 0.014 = -1.824,
    //     -1.824 - 0.0151 = -1.8391
    // e2: b = 2, 2.8, 2.02;    d = 2 + 1.8 = 3.8, 1 + 2.52 = 3.52,
    //     -0.5 + 1.818 = 1.318; p = 0.5 - 0.38 = 0.12, 0.12 - 0.352 = -0.232,
    //     -0.232 - 0.1318 = -0.3638
    let opt = SgdConfig::new(0.1)
        .momentum(0.9)
        .nesterov(true)
        .build::<f64>()
        .unwrap();
    run(
        opt,
        [
            [0.905, -1.81, 0.12],
            [0.912, -1.824, -0.232],
            [0.7058, -1.8391, -0.3638],
        ],
    );
}

#[test]
fn sgd_weight_decay() {
    // wd = 0.1: g' = g + 0.1 p (p before the step); p -= 0.1 g'
    // e0: g' = 0.5 + 0.1 = 0.6 -> p = 0.94; g' = -0.25 + 0.094 = -0.156 -> 0.9556;
    //     g' = 1 + 0.09556 = 1.09556 -> 0.9556 - 0.109556 = 0.846044
    // e1: g' = -1 - 0.2 = -1.2 -> -1.88; g' = 0.5 - 0.188 = 0.312 -> -1.9112;
    //     g' = 0.25 - 0.19112 = 0.05888 -> -1.9112 - 0.005888 = -1.917088
    // e2: g' = 2 + 0.05 = 2.05 -> 0.295; g' = 1 + 0.0295 = 1.0295 -> 0.19205;
    //     g' = -0.5 + 0.019205 = -0.480795 -> 0.19205 + 0.0480795 = 0.2401295
    let opt = SgdConfig::new(0.1)
        .weight_decay(0.1)
        .build::<f64>()
        .unwrap();
    run(
        opt,
        [
            [0.94, -1.88, 0.295],
            [0.9556, -1.9112, 0.19205],
            [0.846044, -1.917088, 0.2401295],
        ],
    );
}

#[test]
fn sgd_momentum_weight_decay() {
    // wd = 0.1, mu = 0.9: g' = g + 0.1 p; b = g' first, then 0.9 b + g'; p -= 0.1 b
    // e0: g' = 0.6, b = 0.6, p = 0.94
    //     g' = -0.25 + 0.094 = -0.156, b = 0.54 - 0.156 = 0.384, p = 0.94 - 0.0384 = 0.9016
    //     g' = 1 + 0.09016 = 1.09016, b = 0.3456 + 1.09016 = 1.43576,
    //     p = 0.9016 - 0.143576 = 0.758024
    // e1: g' = -1.2, b = -1.2, p = -1.88
    //     g' = 0.5 - 0.188 = 0.312, b = -1.08 + 0.312 = -0.768, p = -1.88 + 0.0768 = -1.8032
    //     g' = 0.25 - 0.18032 = 0.06968, b = -0.6912 + 0.06968 = -0.62152,
    //     p = -1.8032 + 0.062152 = -1.741048
    // e2: g' = 2.05, b = 2.05, p = 0.295
    //     g' = 1 + 0.0295 = 1.0295, b = 1.845 + 1.0295 = 2.8745, p = 0.295 - 0.28745 = 0.00755
    //     g' = -0.5 + 0.000755 = -0.499245, b = 2.58705 - 0.499245 = 2.087805,
    //     p = 0.00755 - 0.2087805 = -0.2012305
    let opt = SgdConfig::new(0.1)
        .momentum(0.9)
        .weight_decay(0.1)
        .build::<f64>()
        .unwrap();
    run(
        opt,
        [
            [0.94, -1.88, 0.295],
            [0.9016, -1.8032, 0.00755],
            [0.758024, -1.741048, -0.2012305],
        ],
    );
}

// ---------------------------------------------------------------- Adam / AdamW
//
// torch.optim.Adam pseudo-code: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// m_hat = m / (1 - b1^t); v_hat = v / (1 - b2^t);
// p = p - lr m_hat / (sqrt(v_hat) + eps). lr = 0.1, eps = 1e-8 throughout.

/// The last line of the pseudo-code: lr * m_hat / (sqrt(v_hat) + eps), from the
/// moments `m`, `v` and the bias corrections `bc1 = 1 - b1^t`, `bc2 = 1 - b2^t`.
fn adam_update(m: f64, v: f64, bc1: f64, bc2: f64) -> f64 {
    0.1 * (m / bc1) / ((v / bc2).sqrt() + 1e-8)
}

// Moments with betas (0.9, 0.999) for the common gradients, by hand:
//   bc1 = 1 - 0.9^t:   0.1, 0.19, 0.271
//   bc2 = 1 - 0.999^t: 0.001, 0.001999, 0.002997001
//   e0 (g = 0.5, -0.25, 1):  m = 0.05, 0.045 - 0.025 = 0.02, 0.018 + 0.1 = 0.118
//                            v = 0.00025, 0.00024975 + 0.0000625 = 0.00031225,
//                                0.00031193775 + 0.001 = 0.00131193775
//   e1 (g = -1, 0.5, 0.25):  m = -0.1, -0.09 + 0.05 = -0.04, -0.036 + 0.025 = -0.011
//                            v = 0.001, 0.000999 + 0.00025 = 0.001249,
//                                0.001247751 + 0.0000625 = 0.001310251
//   e2 (g = 2, 1, -0.5):     m = 0.2, 0.18 + 0.1 = 0.28, 0.252 - 0.05 = 0.202
//                            v = 0.004, 0.003996 + 0.001 = 0.004996,
//                                0.004991004 + 0.00025 = 0.005241004
const ADAM_BC: [(f64, f64); 3] = [(0.1, 0.001), (0.19, 0.001999), (0.271, 0.002997001)];
const ADAM_M: [[f64; 3]; 3] = [
    [0.05, -0.1, 0.2],
    [0.02, -0.04, 0.28],
    [0.118, -0.011, 0.202],
];
const ADAM_V: [[f64; 3]; 3] = [
    [0.00025, 0.001, 0.004],
    [0.00031225, 0.001249, 0.004996],
    [0.00131193775, 0.001310251, 0.005241004],
];

/// Plain Adam's update of element `j` at step `t` (0-based) from the moments above.
fn adam_u(t: usize, j: usize) -> f64 {
    adam_update(ADAM_M[t][j], ADAM_V[t][j], ADAM_BC[t].0, ADAM_BC[t].1)
}

#[test]
fn adam_plain() {
    // p_t = p_{t-1} - u_t with u from the moments above; e.g. step 1, e0:
    // 1 - 0.1 * (0.05 / 0.1) / (sqrt(0.00025 / 0.001) + 1e-8) = 1 - 0.05 / 0.50000001
    let x0 = [1.0, -2.0, 0.5];
    let x1 = [0, 1, 2].map(|j| x0[j] - adam_u(0, j));
    let x2 = [0, 1, 2].map(|j| x1[j] - adam_u(1, j));
    let x3 = [0, 1, 2].map(|j| x2[j] - adam_u(2, j));
    assert!((x1[0] - (1.0 - 0.05 / 0.500_000_01)).abs() < 1e-15);
    let opt = AdamConfig::new(0.1).build::<f64>().unwrap();
    run(opt, [x1, x2, x3]);
}

#[test]
fn adamw() {
    // AdamW, wd = 0.1: p = p * (1 - 0.1 * 0.1) = 0.99 p, then the Adam step. The
    // gradient does not see p, so the moments and updates are plain Adam's:
    // p_t = 0.99 p_{t-1} - u_t.
    let x0 = [1.0, -2.0, 0.5];
    let x1 = [0, 1, 2].map(|j| 0.99 * x0[j] - adam_u(0, j));
    let x2 = [0, 1, 2].map(|j| 0.99 * x1[j] - adam_u(1, j));
    let x3 = [0, 1, 2].map(|j| 0.99 * x2[j] - adam_u(2, j));
    let opt = AdamConfig::adamw()
        .lr(0.1)
        .weight_decay(0.1)
        .build::<f64>()
        .unwrap();
    assert_eq!(opt.config().weight_decay, WeightDecay::Decoupled(0.1));
    run(opt, [x1, x2, x3]);
}

#[test]
fn adam_l2_weight_decay() {
    // Adam, wd = 0.1 as L2: g' = g + 0.1 p_{t-1}; moments from g'. The chain per
    // element, written out (b1 = 0.9, b2 = 0.999, bias corrections as above):
    let x0 = [1.0, -2.0, 0.5];
    let mut x = [[0.0; 3]; 3];
    for j in 0..3 {
        // step 1: m = 0.1 g', v = 0.001 g'^2
        let g1 = G[0][j] + 0.1 * x0[j];
        let (m1, v1) = (0.1 * g1, 0.001 * g1 * g1);
        x[0][j] = x0[j] - adam_update(m1, v1, 0.1, 0.001);
        // step 2
        let g2 = G[1][j] + 0.1 * x[0][j];
        let (m2, v2) = (0.9 * m1 + 0.1 * g2, 0.999 * v1 + 0.001 * g2 * g2);
        x[1][j] = x[0][j] - adam_update(m2, v2, 0.19, 0.001999);
        // step 3
        let g3 = G[2][j] + 0.1 * x[1][j];
        let (m3, v3) = (0.9 * m2 + 0.1 * g3, 0.999 * v2 + 0.001 * g3 * g3);
        x[2][j] = x[1][j] - adam_update(m3, v3, 0.271, 0.002997001);
    }
    // Spot check of the first step by hand: e0 g' = 0.6, m_hat = 0.6,
    // v_hat = 0.36, p = 1 - 0.1 * 0.6 / (0.6 + 1e-8).
    assert!((x[0][0] - (1.0 - 0.06 / 0.600_000_01)).abs() < 1e-15);
    let opt = AdamConfig::new(0.1)
        .weight_decay(0.1)
        .build::<f64>()
        .unwrap();
    assert_eq!(opt.config().weight_decay, WeightDecay::L2(0.1));
    run(opt, x);
}

#[test]
fn adam_amsgrad() {
    // amsgrad with betas (0.9, 0.5), so that v falls and the maximum matters.
    // Current docs (since pytorch/pytorch#142351) and code: v_max = max(v_max, v),
    // v_hat = v_max / (1 - b2^t).
    //   bc1 = 0.1, 0.19, 0.271; bc2 = 1 - 0.5^t = 0.5, 0.75, 0.875
    //   m as in plain Adam (same b1)
    //   e0: v = 0.125, 0.0625 + 0.03125 = 0.09375, 0.046875 + 0.5 = 0.546875
    //       v_max = 0.125, 0.125, 0.546875
    //   e1: v = 0.5, 0.25 + 0.125 = 0.375, 0.1875 + 0.03125 = 0.21875
    //       v_max = 0.5, 0.5, 0.5
    //   e2: v = 2, 1 + 0.5 = 1.5, 0.75 + 0.125 = 0.875
    //       v_max = 2, 2, 2
    let v_max = [[0.125, 0.5, 2.0], [0.125, 0.5, 2.0], [0.546875, 0.5, 2.0]];
    let bc2 = [0.5, 0.75, 0.875];
    let u = |t: usize, j: usize| adam_update(ADAM_M[t][j], v_max[t][j], ADAM_BC[t].0, bc2[t]);
    let x0 = [1.0, -2.0, 0.5];
    let x1 = [0, 1, 2].map(|j| x0[j] - u(0, j));
    let x2 = [0, 1, 2].map(|j| x1[j] - u(1, j));
    let x3 = [0, 1, 2].map(|j| x2[j] - u(2, j));
    let opt = AdamConfig::new(0.1)
        .betas(0.9, 0.5)
        .amsgrad(true)
        .build::<f64>()
        .unwrap();
    run(opt, [x1, x2, x3]);
}

// ---------------------------------------------------------------- RMSprop
//
// torch.optim.RMSprop pseudo-code: g = grad + wd * p; v = alpha v + (1 - alpha) g^2;
// v~ = v, or v - g_ave^2 with g_ave = alpha g_ave + (1 - alpha) g if centered;
// with momentum b = mu b + g / (sqrt(v~) + eps), p = p - lr b; otherwise
// p = p - lr g / (sqrt(v~) + eps). lr = 0.01, alpha = 0.99, eps = 1e-8.

/// g / (sqrt(v~) + eps).
fn rms_q(g: f64, v: f64) -> f64 {
    g / (v.sqrt() + 1e-8)
}

// v = 0.99 v + 0.01 g^2 for the common gradients, by hand:
//   e0: 0.0025, 0.002475 + 0.000625 = 0.0031, 0.003069 + 0.01 = 0.013069
//   e1: 0.01, 0.0099 + 0.0025 = 0.0124, 0.012276 + 0.000625 = 0.012901
//   e2: 0.04, 0.0396 + 0.01 = 0.0496, 0.049104 + 0.0025 = 0.051604
const RMS_V: [[f64; 3]; 3] = [
    [0.0025, 0.01, 0.04],
    [0.0031, 0.0124, 0.0496],
    [0.013069, 0.012901, 0.051604],
];

#[test]
fn rmsprop_plain() {
    // p -= 0.01 g / (sqrt(v) + eps); e.g. step 1, e0: 1 - 0.01 * 0.5 / (0.05 + 1e-8)
    let x0 = [1.0, -2.0, 0.5];
    let x1 = [0, 1, 2].map(|j| x0[j] - 0.01 * rms_q(G[0][j], RMS_V[0][j]));
    let x2 = [0, 1, 2].map(|j| x1[j] - 0.01 * rms_q(G[1][j], RMS_V[1][j]));
    let x3 = [0, 1, 2].map(|j| x2[j] - 0.01 * rms_q(G[2][j], RMS_V[2][j]));
    assert!((x1[0] - (1.0 - 0.005 / 0.050_000_01)).abs() < 1e-15);
    let opt = RmsPropConfig::default().build::<f64>().unwrap();
    run(opt, [x1, x2, x3]);
}

#[test]
fn rmsprop_momentum() {
    // mu = 0.9: b1 = q1, b2 = 0.9 b1 + q2, b3 = 0.9 b2 + q3 with q = g / (sqrt(v) + eps)
    // (b starts at 0, so b1 = q1); p -= 0.01 b
    let x0 = [1.0, -2.0, 0.5];
    let b1 = [0, 1, 2].map(|j| rms_q(G[0][j], RMS_V[0][j]));
    let b2 = [0, 1, 2].map(|j| 0.9 * b1[j] + rms_q(G[1][j], RMS_V[1][j]));
    let b3 = [0, 1, 2].map(|j| 0.9 * b2[j] + rms_q(G[2][j], RMS_V[2][j]));
    let x1 = [0, 1, 2].map(|j| x0[j] - 0.01 * b1[j]);
    let x2 = [0, 1, 2].map(|j| x1[j] - 0.01 * b2[j]);
    let x3 = [0, 1, 2].map(|j| x2[j] - 0.01 * b3[j]);
    let opt = RmsPropConfig::default()
        .momentum(0.9)
        .build::<f64>()
        .unwrap();
    run(opt, [x1, x2, x3]);
}

#[test]
fn rmsprop_centered() {
    // g_ave = 0.99 g_ave + 0.01 g, v~ = v - g_ave^2, by hand:
    //   e0: g_ave = 0.005, 0.00495 - 0.0025 = 0.00245, 0.0024255 + 0.01 = 0.0124255
    //       v~ = 0.0025 - 0.000025 = 0.002475, 0.0031 - 0.0000060025 = 0.0030939975,
    //            0.013069 - 0.00015439305025 = 0.01291460694975
    //   e1: g_ave = -0.01, -0.0099 + 0.005 = -0.0049, -0.004851 + 0.0025 = -0.002351
    //       v~ = 0.01 - 0.0001 = 0.0099, 0.0124 - 0.00002401 = 0.01237599,
    //            0.012901 - 0.000005527201 = 0.012895472799
    //   e2: g_ave = 0.02, 0.0198 + 0.01 = 0.0298, 0.029502 - 0.005 = 0.024502
    //       v~ = 0.04 - 0.0004 = 0.0396, 0.0496 - 0.00088804 = 0.04871196,
    //            0.051604 - 0.000600348004 = 0.051003651996
    let v_c = [
        [0.002475, 0.0099, 0.0396],
        [0.0030939975, 0.01237599, 0.04871196],
        [0.01291460694975, 0.012895472799, 0.051003651996],
    ];
    let x0 = [1.0, -2.0, 0.5];
    let x1 = [0, 1, 2].map(|j| x0[j] - 0.01 * rms_q(G[0][j], v_c[0][j]));
    let x2 = [0, 1, 2].map(|j| x1[j] - 0.01 * rms_q(G[1][j], v_c[1][j]));
    let x3 = [0, 1, 2].map(|j| x2[j] - 0.01 * rms_q(G[2][j], v_c[2][j]));
    let opt = RmsPropConfig::default()
        .centered(true)
        .build::<f64>()
        .unwrap();
    run(opt, [x1, x2, x3]);
}

#[test]
fn rmsprop_weight_decay() {
    // wd = 0.1: g' = g + 0.1 p_{t-1}; v from g'. The chain per element:
    let x0 = [1.0, -2.0, 0.5];
    let mut x = [[0.0; 3]; 3];
    for j in 0..3 {
        let g1 = G[0][j] + 0.1 * x0[j];
        let v1 = 0.01 * g1 * g1;
        x[0][j] = x0[j] - 0.01 * rms_q(g1, v1);
        let g2 = G[1][j] + 0.1 * x[0][j];
        let v2 = 0.99 * v1 + 0.01 * g2 * g2;
        x[1][j] = x[0][j] - 0.01 * rms_q(g2, v2);
        let g3 = G[2][j] + 0.1 * x[1][j];
        let v3 = 0.99 * v2 + 0.01 * g3 * g3;
        x[2][j] = x[1][j] - 0.01 * rms_q(g3, v3);
    }
    // Spot check, step 1, e0: g' = 0.6, v = 0.0036, p = 1 - 0.01 * 0.6 / (0.06 + 1e-8)
    assert!((x[0][0] - (1.0 - 0.006 / 0.060_000_01)).abs() < 1e-15);
    let opt = RmsPropConfig::default()
        .weight_decay(0.1)
        .build::<f64>()
        .unwrap();
    run(opt, x);
}

// ---------------------------------------------------------------- shared behaviour

/// The state of one parameter does not depend on the others: `a` stepped beside
/// `b` follows exactly the path of `a` stepped alone, for every optimizer.
#[test]
fn state_is_per_parameter() {
    fn check<O: Optimizer<f64> + Clone>(opt: O) {
        let (mut both, mut alone_a, mut alone_b) = (
            model(),
            vecs(&[("a", &[1.0, -2.0])]),
            vecs(&[("b", &[0.5])]),
        );
        let (mut o_both, mut o_a, mut o_b) = (opt.clone(), opt.clone(), opt);
        for (t, g) in G.iter().enumerate() {
            o_both.step(&mut both, &step_grads(t)).unwrap();
            o_a.step(&mut alone_a, &grads(&[("a", &g[..2])])).unwrap();
            o_b.step(&mut alone_b, &grads(&[("b", &g[2..])])).unwrap();
            assert_eq!(both.values[0], alone_a.values[0]);
            assert_eq!(both.values[1], alone_b.values[0]);
        }
    }
    check(SgdConfig::new(0.1).momentum(0.9).build().unwrap());
    check(AdamConfig::new(0.1).amsgrad(true).build().unwrap());
    check(AdamConfig::adamw().build().unwrap());
    check(
        RmsPropConfig::default()
            .momentum(0.5)
            .centered(true)
            .build()
            .unwrap(),
    );
}

#[test]
fn update_norms_follow_tracking() {
    let mut opt = SgdConfig::new(0.1).build::<f64>().unwrap();
    let mut m = model();
    opt.step(&mut m, &step_grads(0)).unwrap();
    assert!(opt.update_norms().is_empty());
    // Turned on between steps: sized at once, filled by the next step.
    opt.track_update_norms(true);
    assert_eq!(opt.update_norms().len(), 2);
    opt.step(&mut m, &step_grads(1)).unwrap();
    // step 2 of plain SGD: a changes by 0.1 * (0.25, -0.5), b by -0.1
    let norm_a = 0.1 * (0.25f64 * 0.25 + 0.5 * 0.5).sqrt();
    assert!((opt.update_norms()[0].1 - norm_a).abs() < 1e-15);
    assert!((opt.update_norms()[1].1 - 0.1).abs() < 1e-15);
}

#[test]
fn a_different_model_is_an_error_and_changes_nothing() {
    let mut opt = AdamConfig::default().build::<f64>().unwrap();
    let mut m = model();
    opt.step(&mut m, &step_grads(0)).unwrap();

    // One parameter fewer.
    let mut other = vecs(&[("a", &[1.0, -2.0])]);
    let err = opt
        .step(&mut other, &grads(&[("a", &[1.0, 1.0])]))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::ParameterCountMismatch {
            expected: 2,
            found: 1,
            ..
        }
    ));
    assert_eq!(other.values[0], vec![1.0, -2.0]);

    // Same count, another length.
    let mut longer = vecs(&[("a", &[1.0, -2.0, 3.0]), ("b", &[0.5])]);
    let g = grads(&[("a", &[1.0, 1.0, 1.0]), ("b", &[1.0])]);
    let err = opt.step(&mut longer, &g).unwrap_err();
    assert!(matches!(
        err,
        Error::ParameterLengthMismatch {
            index: 0,
            name: "a",
            expected: 2,
            found: 3,
            ..
        }
    ));
    assert_eq!(longer, vecs(&[("a", &[1.0, -2.0, 3.0]), ("b", &[0.5])]));

    // Gradients of the wrong length for the right model.
    let before = m.clone();
    let g = grads(&[("a", &[1.0, 1.0]), ("b", &[1.0, 1.0])]);
    let err = opt.step(&mut m, &g).unwrap_err();
    assert!(matches!(
        err,
        Error::ParameterLengthMismatch {
            index: 1,
            name: "b",
            expected: 1,
            found: 2,
            ..
        }
    ));
    assert_eq!(m, before);
    assert_eq!(opt.steps(), 1);
}

#[test]
fn a_bad_first_step_leaves_no_state() {
    let mut opt = SgdConfig::new(0.1).momentum(0.9).build::<f64>().unwrap();
    let mut m = model();
    let bad = grads(&[("a", &[0.5])]);
    assert!(opt.step(&mut m, &bad).is_err());
    assert_eq!(m, model());
    // The next, correct step is the first one (buf = g, no momentum history).
    opt.step(&mut m, &step_grads(0)).unwrap();
    assert_eq!(flat(&m), vec![0.95, -1.9, 0.3]);
}

#[test]
fn works_on_dense_in_f32() {
    // Adam's first step moves every element with a nonzero gradient by
    // lr * |g| / (|g| + eps) ~ lr against the sign of g (m_hat = g, v_hat = g^2).
    let mut layer =
        Dense::<f32, 2, 2>::from_parts(vec![0.5, -0.5, 1.0, 2.0], Some(vec![0.0, 0.1])).unwrap();
    let mut g = layer.zero_grads();
    g.weight_mut().copy_from_slice(&[0.3, -2.0, 0.0, 1e-3]);
    g.bias_mut().unwrap().copy_from_slice(&[-4.0, 0.5]);
    let mut opt = AdamConfig::new(0.01).build::<f32>().unwrap();
    opt.track_update_norms(true);
    opt.step(&mut layer, &g).unwrap();
    let want_w = [0.5 - 0.01, -0.5 + 0.01, 1.0, 2.0 - 0.01];
    for (got, want) in layer.weight().iter().zip(want_w) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    let bias = layer.bias().unwrap();
    assert!((bias[0] - 0.01).abs() < 1e-6 && (bias[1] - 0.09).abs() < 1e-6);
    let norms = opt.update_norms();
    assert_eq!((norms[0].0, norms[1].0), ("weight", "bias"));
    // weight: three elements moved by 0.01 -> 0.01 sqrt(3); bias: two -> 0.01 sqrt(2)
    assert!((norms[0].1 - 0.01 * 3f32.sqrt()).abs() < 1e-6);
    assert!((norms[1].1 - 0.01 * 2f32.sqrt()).abs() < 1e-6);
}

// ---------------------------------------------------------------- configuration

#[test]
fn defaults_are_pytorchs() {
    let sgd = SgdConfig::default();
    assert_eq!(
        (
            sgd.lr,
            sgd.momentum,
            sgd.dampening,
            sgd.nesterov,
            sgd.weight_decay
        ),
        (1e-3, 0.0, 0.0, false, 0.0)
    );
    let adam = AdamConfig::default();
    assert_eq!(
        (
            adam.lr,
            adam.betas,
            adam.eps,
            adam.weight_decay,
            adam.amsgrad
        ),
        (1e-3, (0.9, 0.999), 1e-8, WeightDecay::L2(0.0), false)
    );
    let adamw = AdamConfig::adamw();
    assert_eq!(
        (
            adamw.lr,
            adamw.betas,
            adamw.eps,
            adamw.weight_decay,
            adamw.amsgrad
        ),
        (
            1e-3,
            (0.9, 0.999),
            1e-8,
            WeightDecay::Decoupled(1e-2),
            false
        )
    );
    let rms = RmsPropConfig::default();
    assert_eq!(
        (
            rms.lr,
            rms.alpha,
            rms.eps,
            rms.weight_decay,
            rms.momentum,
            rms.centered
        ),
        (1e-2, 0.99, 1e-8, 0.0, 0.0, false)
    );
}

// ---------------------------------------------------------------- setting ranges
//
// One test per setting: every value outside its range gives
// InvalidParameter { name, value, reason } with the reason naming the range, and the
// boundary values inside the range are accepted.

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;
/// The largest f64 below 1, the edge of every `[0, 1)` range.
const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;
/// The smallest f64 above 1.
const ABOVE_ONE: f64 = 1.0 + f64::EPSILON;

const NON_NEGATIVE: &str = "must be finite and >= 0";
const POSITIVE: &str = "must be finite and > 0";
const UNIT_OPEN: &str = "must lie in [0, 1)";
const UNIT_CLOSED: &str = "must lie in [0, 1]";
const UNIT_LEFT_OPEN: &str = "must lie in (0, 1]";

/// Every value of `rejected` must give `InvalidParameter { name, value, reason }`
/// from `set` (with `value` the one given, bit for bit), every value of `accepted`
/// must be taken.
fn range<R>(
    name: &str,
    reason: &str,
    rejected: &[f64],
    accepted: &[f64],
    mut set: impl FnMut(f64) -> Result<R, Error>,
) {
    for &v in rejected {
        match set(v) {
            Err(Error::InvalidParameter {
                name: n,
                value,
                reason: r,
            }) => {
                assert_eq!((n, r), (name, reason), "{name} = {v}");
                assert_eq!(value.to_bits(), v.to_bits(), "{name} = {v}: got {value}");
            }
            Err(e) => panic!("{name} = {v}: unexpected error {e}"),
            Ok(_) => panic!("{name} = {v} was accepted"),
        }
    }
    for &v in accepted {
        if let Err(e) = set(v) {
            panic!("{name} = {v} was rejected: {e}");
        }
    }
}

#[test]
fn sgd_learning_rate_range() {
    range(
        "learning rate",
        NON_NEGATIVE,
        &[-0.1, -f64::MIN_POSITIVE, NAN, INF, -INF],
        &[0.0, -0.0, f64::MIN_POSITIVE, 0.1, f64::MAX],
        |v| SgdConfig::new(v).build::<f64>(),
    );
}

#[test]
fn sgd_momentum_range() {
    // 1.5 was accepted before: the buffer then grows as 1.5^t.
    range(
        "momentum",
        UNIT_OPEN,
        &[-0.1, 1.0, 1.5, NAN, INF, -INF],
        &[0.0, 0.9, BELOW_ONE],
        |v| SgdConfig::new(0.1).momentum(v).build::<f64>(),
    );
}

#[test]
fn sgd_dampening_range() {
    range(
        "dampening",
        UNIT_CLOSED,
        &[-0.1, ABOVE_ONE, 1.5, NAN, INF],
        &[0.0, 0.5, 1.0],
        |v| {
            SgdConfig::new(0.1)
                .momentum(0.9)
                .dampening(v)
                .build::<f64>()
        },
    );
}

#[test]
fn sgd_weight_decay_range() {
    range(
        "weight_decay",
        NON_NEGATIVE,
        &[-1.0, NAN, INF, -INF],
        &[0.0, 1e-4, 1e3],
        |v| SgdConfig::new(0.1).weight_decay(v).build::<f64>(),
    );
}

#[test]
fn sgd_nesterov_needs_momentum_and_no_dampening() {
    let sgd = |c: SgdConfig| invalid(c.build::<f64>());
    assert_eq!(sgd(SgdConfig::new(0.1).nesterov(true)), "momentum");
    assert_eq!(
        sgd(SgdConfig::new(0.1)
            .momentum(0.9)
            .dampening(0.1)
            .nesterov(true)),
        "dampening"
    );
    // Edge values PyTorch accepts: a zero rate, Nesterov at the largest momentum.
    assert!(SgdConfig::new(0.0)
        .momentum(BELOW_ONE)
        .nesterov(true)
        .build::<f64>()
        .is_ok());
}

#[test]
fn adam_learning_rate_range() {
    range(
        "learning rate",
        NON_NEGATIVE,
        &[-1e-3, NAN, INF, -INF],
        &[0.0, 1e-3, f64::MAX],
        |v| AdamConfig::new(v).build::<f64>(),
    );
}

#[test]
fn adam_beta1_range() {
    range(
        "beta1",
        UNIT_OPEN,
        &[-0.1, 1.0, 1.5, NAN, INF],
        &[0.0, 0.9, BELOW_ONE],
        |v| AdamConfig::default().betas(v, 0.999).build::<f64>(),
    );
}

#[test]
fn adam_beta2_range() {
    range(
        "beta2",
        UNIT_OPEN,
        &[-0.1, 1.0, 1.5, NAN, INF],
        &[0.0, 0.999, BELOW_ONE],
        |v| AdamConfig::default().betas(0.9, v).build::<f64>(),
    );
}

#[test]
fn adam_eps_range() {
    // Stricter than PyTorch: eps = 0 is rejected, as a zero gradient on zero moments
    // would compute 0 / 0. Checked for every variant (Adam, AdamW, AMSGrad).
    for base in [
        AdamConfig::default(),
        AdamConfig::adamw(),
        AdamConfig::default().amsgrad(true),
    ] {
        range(
            "eps",
            POSITIVE,
            &[0.0, -0.0, -1e-8, NAN, INF, -INF],
            &[f64::MIN_POSITIVE, 1e-8, 1.0],
            |v| base.eps(v).build::<f64>(),
        );
    }
}

#[test]
fn adam_eps_zero_would_give_nan() {
    // Why eps = 0 is rejected: with a zero gradient, m = v = 0 and the update is
    // lr * 0 / (sqrt(0) + eps), which is 0 / 0 = NaN for eps = 0.
    assert!((0.0f64 / (0.0f64.sqrt() + 0.0)).is_nan());
    assert_eq!(
        invalid(
            AdamConfig::default()
                .betas(0.0, 0.0)
                .eps(0.0)
                .build::<f64>()
        ),
        "eps"
    );
    // The betas at 0 alone are fine.
    assert!(AdamConfig::default().betas(0.0, 0.0).build::<f64>().is_ok());
}

#[test]
fn adam_l2_weight_decay_range() {
    range(
        "weight_decay",
        NON_NEGATIVE,
        &[-0.01, NAN, INF, -INF],
        &[0.0, 0.01, 1e3],
        |v| {
            AdamConfig::default()
                .decay(WeightDecay::L2(v))
                .build::<f64>()
        },
    );
}

#[test]
fn adamw_decoupled_weight_decay_range() {
    range(
        "weight_decay",
        NON_NEGATIVE,
        &[-0.01, NAN, INF, -INF],
        &[0.0, 0.01, 1e3],
        |v| AdamConfig::adamw().weight_decay(v).build::<f64>(),
    );
}

#[test]
fn rmsprop_learning_rate_range() {
    range(
        "learning rate",
        NON_NEGATIVE,
        &[-0.01, NAN, INF, -INF],
        &[0.0, 0.01, f64::MAX],
        |v| RmsPropConfig::new(v).build::<f64>(),
    );
}

#[test]
fn rmsprop_alpha_range() {
    range(
        "alpha",
        UNIT_LEFT_OPEN,
        &[0.0, -0.5, ABOVE_ONE, 1.01, NAN, INF],
        &[f64::MIN_POSITIVE, 0.99, 1.0],
        |v| RmsPropConfig::default().alpha(v).build::<f64>(),
    );
}

#[test]
fn rmsprop_eps_range() {
    // Stricter than PyTorch, as for Adam: eps = 0 divides a zero gradient by zero.
    range(
        "eps",
        POSITIVE,
        &[0.0, -0.0, -1.0, NAN, INF, -INF],
        &[f64::MIN_POSITIVE, 1e-8, 1.0],
        |v| RmsPropConfig::default().eps(v).build::<f64>(),
    );
}

#[test]
fn rmsprop_weight_decay_range() {
    range(
        "weight_decay",
        NON_NEGATIVE,
        &[-1.0, NAN, INF, -INF],
        &[0.0, 0.1, 1e3],
        |v| RmsPropConfig::default().weight_decay(v).build::<f64>(),
    );
}

#[test]
fn rmsprop_momentum_range() {
    range(
        "momentum",
        UNIT_OPEN,
        &[-0.1, 1.0, 1.5, NAN, INF],
        &[0.0, 0.9, BELOW_ONE],
        |v| RmsPropConfig::default().momentum(v).build::<f64>(),
    );
}

#[test]
fn set_learning_rate_is_range_checked() {
    /// A failed `set_learning_rate` leaves the rate (and the config) as it was.
    fn check<O: Optimizer<f64>>(mut opt: O) {
        let before = opt.learning_rate();
        range(
            "learning rate",
            NON_NEGATIVE,
            &[-1.0, -f64::MIN_POSITIVE, NAN, INF, -INF],
            &[],
            |v| {
                let r = opt.set_learning_rate(v);
                assert_eq!(opt.learning_rate(), before, "after lr = {v}");
                r
            },
        );
        range("learning rate", NON_NEGATIVE, &[], &[0.0, 0.5], |v| {
            opt.set_learning_rate(v)?;
            assert_eq!(opt.learning_rate(), v);
            Ok(())
        });
    }
    check(SgdConfig::new(0.1).momentum(0.9).build().unwrap());
    check(AdamConfig::default().build().unwrap());
    check(AdamConfig::adamw().amsgrad(true).build().unwrap());
    check(RmsPropConfig::default().build().unwrap());

    let mut opt = RmsPropConfig::default().build::<f64>().unwrap();
    assert!(opt.set_learning_rate(NAN).is_err());
    assert_eq!(opt.config().lr, 1e-2);
    opt.set_learning_rate(0.5).unwrap();
    assert_eq!(opt.config().lr, 0.5);
}

/// The name of the rejected hyper-parameter.
fn invalid(r: Result<impl Sized, Error>) -> &'static str {
    match r {
        Err(Error::InvalidParameter { name, .. }) => name,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("accepted an invalid configuration"),
    }
}

// ---------------------------------------------------------------- diverged updates

/// One case of every update loop: plain, momentum, Nesterov, weight decay, both,
/// Adam, L2, AdamW, AMSGrad, RMSprop plain, centered, momentum, weight decay and all
/// three, each at learning rate `lr`.
macro_rules! for_every_kind {
    ($lr:expr, $check:ident) => {{
        let lr: f64 = $lr;
        $check("sgd", SgdConfig::new(lr).build().unwrap());
        $check(
            "sgd momentum",
            SgdConfig::new(lr).momentum(0.9).build().unwrap(),
        );
        $check(
            "sgd nesterov",
            SgdConfig::new(lr)
                .momentum(0.9)
                .nesterov(true)
                .build()
                .unwrap(),
        );
        $check(
            "sgd wd",
            SgdConfig::new(lr).weight_decay(0.1).build().unwrap(),
        );
        $check(
            "sgd momentum wd",
            SgdConfig::new(lr)
                .momentum(0.9)
                .dampening(0.5)
                .weight_decay(0.1)
                .build()
                .unwrap(),
        );
        $check("adam", AdamConfig::new(lr).build().unwrap());
        $check(
            "adam l2",
            AdamConfig::new(lr).weight_decay(0.1).build().unwrap(),
        );
        $check("adamw", AdamConfig::adamw().lr(lr).build().unwrap());
        $check(
            "amsgrad",
            AdamConfig::new(lr).amsgrad(true).build().unwrap(),
        );
        $check(
            "amsgrad w",
            AdamConfig::adamw().lr(lr).amsgrad(true).build().unwrap(),
        );
        $check("rmsprop", RmsPropConfig::new(lr).build().unwrap());
        $check(
            "rmsprop centered",
            RmsPropConfig::new(lr).centered(true).build().unwrap(),
        );
        $check(
            "rmsprop momentum",
            RmsPropConfig::new(lr).momentum(0.9).build().unwrap(),
        );
        $check(
            "rmsprop wd",
            RmsPropConfig::new(lr).weight_decay(0.1).build().unwrap(),
        );
        $check(
            "rmsprop all",
            RmsPropConfig::new(lr)
                .centered(true)
                .momentum(0.9)
                .weight_decay(0.1)
                .build()
                .unwrap(),
        );
    }};
}

/// The first parameter of `m` holding a non-finite value.
fn first_non_finite(m: &Vecs) -> Option<&'static str> {
    m.names
        .iter()
        .zip(&m.values)
        .find(|(_, v)| v.iter().any(|x| !x.is_finite()))
        .map(|(&name, _)| name)
}

#[test]
fn a_huge_learning_rate_is_detected_by_every_optimizer() {
    // lr = 1e308 on the finite step-1 gradients: every optimizer's update overflows
    // somewhere (SGD: 1e308 * 2 = inf in b; Adam: lr / (1 - b1) = 1e309 = inf;
    // RMSprop: lr * g / sqrt(0.01 g^2) = 1e309), with update norms tracked or not
    // (the two loops of every update).
    fn check<O: Optimizer<f64> + Clone>(kind: &str, opt: O) {
        for track in [false, true] {
            let mut opt = opt.clone();
            opt.track_update_norms(track);
            let mut m = model();
            let err = opt.step(&mut m, &step_grads(0)).unwrap_err();
            let first = first_non_finite(&m).expect("some value overflowed");
            assert_eq!(
                err,
                Error::ParametersDiverged { name: first },
                "{kind}, track {track}"
            );
        }
    }
    for_every_kind!(1e308, check);
}

#[test]
fn a_normal_step_is_not_divergence() {
    // The same models at lr = 0.1 (and a zero rate): three steps, all Ok.
    fn check<O: Optimizer<f64> + Clone>(kind: &str, opt: O) {
        for track in [false, true] {
            let mut opt = opt.clone();
            opt.track_update_norms(track);
            let mut m = model();
            for t in 0..3 {
                opt.step(&mut m, &step_grads(t))
                    .unwrap_or_else(|e| panic!("{kind}, track {track}, step {t}: {e}"));
            }
            assert_eq!(first_non_finite(&m), None);
        }
    }
    for_every_kind!(0.1, check);
    for_every_kind!(0.0, check);
}

#[test]
fn divergence_names_the_first_non_finite_parameter_and_is_not_undone() {
    // Plain SGD, lr = 1e308: a = [1 - 5e307, -2 + 1e308] stays finite, b = 0.5 - 2e308
    // overflows to -inf. The walk goes on to the end, so a is updated too.
    let mut opt = SgdConfig::new(1e308).build::<f64>().unwrap();
    let mut m = model();
    let err = opt.step(&mut m, &step_grads(0)).unwrap_err();
    assert_eq!(err, Error::ParametersDiverged { name: "b" });
    assert_eq!(m.values[0], vec![1.0 - 5e307, -2.0 + 1e308]);
    assert_eq!(m.values[1], vec![f64::NEG_INFINITY]);
    assert_eq!(opt.steps(), 1);

    // Swap the gradients of a[0] and b: now both overflow, and a comes first.
    let mut m = model();
    let g = grads(&[("a", &[2.0, -1.0]), ("b", &[0.5])]);
    let mut opt = SgdConfig::new(1e308).build::<f64>().unwrap();
    assert_eq!(
        opt.step(&mut m, &g).unwrap_err(),
        Error::ParametersDiverged { name: "a" }
    );

    // A large update that stays finite is not divergence: 1e307 * 2 < f64::MAX.
    let mut opt = SgdConfig::new(1e307).build::<f64>().unwrap();
    let mut m = model();
    opt.step(&mut m, &step_grads(0)).unwrap();
    assert_eq!(m.values[1], vec![0.5 - 2e307]);
}

#[test]
fn divergence_in_f32_from_a_rate_finite_in_f64() {
    // lr = 1e39 is a valid f64 but rounds to inf in f32; even a zero gradient then
    // gives x - inf * 0 = NaN.
    let mut layer = Dense::<f32, 2, 2>::from_parts(vec![0.5, -0.5, 1.0, 2.0], None).unwrap();
    let mut g = layer.zero_grads();
    g.weight_mut().copy_from_slice(&[0.3, -2.0, 0.0, 1e-3]);
    let mut opt = SgdConfig::new(1e39).build::<f32>().unwrap();
    assert_eq!(
        opt.step(&mut layer, &g).unwrap_err(),
        Error::ParametersDiverged { name: "weight" }
    );
    assert!(layer.weight().iter().all(|x| !x.is_finite()));
    // A rate that stays finite in f32 keeps working.
    let mut layer = Dense::<f32, 2, 2>::from_parts(vec![0.5, -0.5, 1.0, 2.0], None).unwrap();
    let mut opt = SgdConfig::new(1e30).build::<f32>().unwrap();
    opt.step(&mut layer, &g).unwrap();
}

#[test]
fn a_new_learning_rate_is_used_by_the_next_step() {
    // Plain SGD, lr 0.1 for step 1 and 0.5 for step 2: e0 = 1 - 0.05 = 0.95, then
    // 0.95 - 0.5 * (-0.25) = 1.075.
    let mut opt = SgdConfig::new(0.1).build::<f64>().unwrap();
    let mut m = model();
    opt.step(&mut m, &step_grads(0)).unwrap();
    opt.set_learning_rate(0.5).unwrap();
    opt.step(&mut m, &step_grads(1)).unwrap();
    assert!((m.values[0][0] - 1.075).abs() < 1e-15);
}
