//! Gradient reports, flags, the growth monitor and non-finite detection, against norms
//! worked out by hand.

use gradnet_core::diagnostics::{
    check_finite, check_finite_grads, Flags, GradientMonitor, GradientReport, Pass, Thresholds,
};
use gradnet_core::{Error, Gradients, ParamMut, Parameters};

/// A model given as named flat tensors, in order (what a generated network's visitors
/// produce: `0.weight`, `0.bias`, `2.weight`, ...).
#[derive(Clone, Debug)]
struct Model {
    params: Vec<(&'static str, Vec<f64>)>,
}

#[derive(Clone, Debug)]
struct Grads {
    grads: Vec<(&'static str, Vec<f64>)>,
}

impl Parameters<f64> for Model {
    type Grads = Grads;
    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[f64])) {
        for (n, v) in &self.params {
            f(n, v);
        }
    }
    fn visit_params_mut(&mut self, grads: &Grads, f: &mut impl FnMut(ParamMut<'_, f64>)) {
        for ((name, value), (_, grad)) in self.params.iter_mut().zip(&grads.grads) {
            f(ParamMut { name, value, grad });
        }
    }
    fn zero_grads(&self) -> Grads {
        Grads {
            grads: self
                .params
                .iter()
                .map(|(n, v)| (*n, vec![0.0; v.len()]))
                .collect(),
        }
    }
}

impl Gradients<f64> for Grads {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[f64])) {
        for (n, g) in &self.grads {
            f(n, g);
        }
    }
    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [f64])) {
        for (n, g) in &mut self.grads {
            f(n, g);
        }
    }
}

/// Dense(2, 2) -> activation -> Dense(2, 1), numbered as torch.nn.Sequential numbers
/// them. Norms (all exact in binary):
///
/// ```text
///            params          ||w||   grads              ||g||
/// 0.weight   [1, 2, 2, 4]    5       [3/8, 0, 0, 1/2]   sqrt(9/64 + 16/64) = 5/8
/// 0.bias     [2, 0]          2       [-3/4, 1]          sqrt(9/16 + 1)     = 5/4
/// 2.weight   [6, 8]          10      [3/2, 2]           sqrt(9/4 + 4)      = 5/2
/// 2.bias     [-1]            1       [-6]               6
/// ```
fn mlp() -> (Model, Grads) {
    let model = Model {
        params: vec![
            ("0.weight", vec![1.0, 2.0, 2.0, 4.0]),
            ("0.bias", vec![2.0, 0.0]),
            ("2.weight", vec![6.0, 8.0]),
            ("2.bias", vec![-1.0]),
        ],
    };
    let grads = Grads {
        grads: vec![
            ("0.weight", vec![0.375, 0.0, 0.0, 0.5]),
            ("0.bias", vec![-0.75, 1.0]),
            ("2.weight", vec![1.5, 2.0]),
            ("2.bias", vec![-6.0]),
        ],
    };
    (model, grads)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-14 * a.abs().max(b.abs())
}

#[test]
fn report_numbers_match_hand_computed_norms() {
    let (model, grads) = mlp();
    // Update norms as an optimizer reports them; ratios = update / ||w||:
    // 0.005 / 5 = 1e-3, 0 / 2 = 0, 0.5 / 10 = 0.05, 0.25 / 1 = 0.25.
    let updates = [
        ("0.weight", 0.005),
        ("0.bias", 0.0),
        ("2.weight", 0.5),
        ("2.bias", 0.25),
    ];
    let r = GradientReport::collect(&model, &grads, Some(&updates)).unwrap();
    let names: Vec<_> = r.rows().iter().map(|r| r.name).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    let expect = [
        (0.625, 5.0, 1e-3, 4),
        (1.25, 2.0, 0.0, 2),
        (2.5, 10.0, 0.05, 2),
        (6.0, 1.0, 0.25, 1),
    ];
    for (row, (g, w, u, len)) in r.rows().iter().zip(expect) {
        assert!(
            close(row.grad_norm, g),
            "{}: {} vs {g}",
            row.name,
            row.grad_norm
        );
        assert!(close(row.param_norm, w), "{}", row.name);
        assert!(close(row.update_ratio.unwrap(), u), "{}", row.name);
        assert_eq!(row.len, len);
    }
    // total grad norm = sqrt(25/64 + 25/16 + 25/4 + 36) = sqrt(44.203125)
    assert!(close(r.total_grad_norm(), 44.203125f64.sqrt()));
    // total param norm = sqrt(25 + 4 + 100 + 1) = sqrt(130)
    assert!(close(r.total_param_norm(), 130f64.sqrt()));
    // first / last weight gradient norm = (5/8) / (5/2) = 0.25
    assert!(close(r.first_last_ratio().unwrap(), 0.25));
    assert_eq!(r.get("2.bias").unwrap().param_norm, 1.0);
    assert!(r.get("3.weight").is_none());
    // Healthy under the defaults: 0.25 >= 1e-3, sqrt(44.2) <= 1e3.
    assert_eq!(r.flags(), Flags::default());

    // Without update norms the ratio column is empty.
    let r = GradientReport::collect(&model, &grads, None).unwrap();
    assert!(r.rows().iter().all(|r| r.update_ratio.is_none()));
}

#[test]
fn update_ratio_of_zero_weights() {
    // ||w|| = 0: an update of 0 gives ratio 0 (nothing moved), a nonzero one infinity.
    let model = Model {
        params: vec![("0.weight", vec![0.0, 0.0]), ("0.bias", vec![0.0])],
    };
    let grads = model.zero_grads();
    let r = GradientReport::collect(&model, &grads, Some(&[("0.weight", 0.0), ("0.bias", 0.1)]))
        .unwrap();
    assert_eq!(r.rows()[0].update_ratio, Some(0.0));
    assert_eq!(r.rows()[1].update_ratio, Some(f64::INFINITY));
    // One weight only: no vanishing check.
    assert_eq!(r.first_last_ratio(), None);
    assert!(!r.flags().vanishing);
}

#[test]
fn collect_into_reuses_its_storage() {
    let (model, mut grads) = mlp();
    let mut r = GradientReport::new();
    r.collect_into(&model, &grads, None).unwrap();
    let (ptr, len) = (r.rows().as_ptr(), r.rows().len());
    for step in 1..5 {
        grads.visit_grads_mut(&mut |_, g| g.iter_mut().for_each(|v| *v *= 0.5));
        r.collect_into(&model, &grads, None).unwrap();
        assert_eq!(r.rows().as_ptr(), ptr);
        assert_eq!(r.rows().len(), len);
        // 2.bias gradient: 6 * 0.5^step
        assert_eq!(r.rows()[3].grad_norm, 6.0 * 0.5f64.powi(step));
    }
}

#[test]
fn mismatched_names_are_errors() {
    let (model, grads) = mlp();
    let mut r = GradientReport::collect(&model, &grads, None).unwrap();

    let mut other = grads.clone();
    other.grads[2].0 = "hidden.weight";
    let err = r.collect_into(&model, &other, None).unwrap_err();
    assert_eq!(
        err,
        Error::NameMismatch {
            op: "gradient report",
            index: 2,
            expected: "2.weight",
            found: "hidden.weight"
        }
    );
    assert!(r.rows().is_empty(), "a failed report is left empty");

    let mut short = grads.clone();
    short.grads.pop();
    let err = r.collect_into(&model, &short, None).unwrap_err();
    assert!(matches!(
        err,
        Error::NameMismatch {
            index: 3,
            expected: "2.bias",
            found: "(nothing)",
            ..
        }
    ));

    let mut long = grads.clone();
    long.grads.push(("4.weight", vec![1.0]));
    let err = r.collect_into(&model, &long, None).unwrap_err();
    assert!(matches!(
        err,
        Error::NameMismatch {
            index: 4,
            expected: "(nothing)",
            found: "4.weight",
            ..
        }
    ));

    let mut wrong_len = grads.clone();
    wrong_len.grads[1].1.push(0.0);
    let err = r.collect_into(&model, &wrong_len, None).unwrap_err();
    assert!(matches!(
        err,
        Error::WidthMismatch {
            expected: 2,
            found: 3,
            ..
        }
    ));

    let updates = [("0.weight", 0.1), ("0.bias", 0.1), ("2.weight", 0.1)];
    let err = r.collect_into(&model, &grads, Some(&updates)).unwrap_err();
    assert!(matches!(
        err,
        Error::NameMismatch {
            index: 3,
            expected: "2.bias",
            found: "(nothing)",
            ..
        }
    ));
    let updates = [
        ("0.weight", 0.1),
        ("2.weight", 0.1),
        ("0.bias", 0.1),
        ("2.bias", 0.1),
    ];
    let err = r.collect_into(&model, &grads, Some(&updates)).unwrap_err();
    assert!(matches!(
        err,
        Error::NameMismatch {
            index: 1,
            expected: "0.bias",
            found: "2.weight",
            ..
        }
    ));
}

fn with(t: Thresholds) -> GradientReport<f64> {
    GradientReport::with_thresholds(t).unwrap()
}

#[test]
fn vanishing_flag_at_its_boundary() {
    let (model, grads) = mlp();
    // first / last = (5/8) / (5/2) = 0.25 exactly. Vanishing means 5/8 < ratio * 5/2.
    let mut r = with(Thresholds {
        vanishing_ratio: 0.25, // 0.625 < 0.625 is false
        ..Thresholds::default()
    });
    r.collect_into(&model, &grads, None).unwrap();
    assert!(!r.flags().vanishing);
    let mut r = with(Thresholds {
        vanishing_ratio: 0.250_001, // 0.625 < 0.6250025
        ..Thresholds::default()
    });
    r.collect_into(&model, &grads, None).unwrap();
    assert!(r.flags().vanishing);
    assert!(!r.flags().exploding && !r.flags().growing && !r.flags().non_finite);

    // Default ratio 1e-3: vanishing below 1e-3 * 5/2 = 2.5e-3.
    let mut g = grads.clone();
    g.grads[0].1 = vec![1.4e-3, 0.0, 0.0, 2e-3]; // sqrt(1.96e-6 + 4e-6) = 2.44e-3 < 2.5e-3
    assert!(
        GradientReport::collect(&model, &g, None)
            .unwrap()
            .flags()
            .vanishing
    );
    g.grads[0].1 = vec![1.6e-3, 0.0, 0.0, 2e-3]; // sqrt(2.56e-6 + 4e-6) = 2.56e-3 > 2.5e-3
    assert!(
        !GradientReport::collect(&model, &g, None)
            .unwrap()
            .flags()
            .vanishing
    );
}

/// Only 2.weight = [3/2, 2] has a gradient: every norm along the way is exact, and the
/// total is 5/2.
fn only_last_weight() -> (Model, Grads) {
    let (model, mut grads) = mlp();
    grads.zero();
    grads.grads[2].1 = vec![1.5, 2.0];
    (model, grads)
}

#[test]
fn exploding_flag_at_its_boundary() {
    let (model, grads) = only_last_weight();
    let mut r = with(Thresholds {
        exploding_norm: 2.5, // 2.5 > 2.5 is false
        ..Thresholds::default()
    });
    r.collect_into(&model, &grads, None).unwrap();
    assert_eq!(r.total_grad_norm(), 2.5);
    assert!(!r.flags().exploding);
    let mut r = with(Thresholds {
        exploding_norm: 2.499_999,
        ..Thresholds::default()
    });
    r.collect_into(&model, &grads, None).unwrap();
    assert!(r.flags().exploding);
    // Vanishing: the first weight's gradient is 0 < 1e-3 * 2.5.
    assert!(r.flags().vanishing);

    // Clipped gradients look tame; the norm before clipping is what is judged.
    let (model, mut grads) = mlp();
    let mut r = GradientReport::collect(&model, &grads, None).unwrap();
    assert!(!r.flags().exploding);
    let before = gradnet_core::clip::clip_grad_norm(&mut grads, 1.0).unwrap();
    r.collect_into(&model, &grads, None).unwrap();
    r.set_pre_clip_norm(before * 1e3); // as if the backward pass had produced 6.6e3
    assert!(r.flags().exploding);
    r.set_pre_clip_norm(1000.0); // 1000 > 1e3 is false
    assert!(!r.flags().exploding);
    r.set_pre_clip_norm(1000.001);
    assert!(r.flags().exploding);
}

#[test]
fn non_finite_gradients_are_flagged() {
    let (model, mut grads) = mlp();
    grads.grads[1].1[0] = f64::NAN;
    let r = GradientReport::collect(&model, &grads, None).unwrap();
    assert!(r.flags().non_finite);
    assert!(r.rows()[1].grad_norm.is_nan());
    assert!(r.total_grad_norm().is_nan());
    grads.grads[1].1[0] = f64::INFINITY;
    let r = GradientReport::collect(&model, &grads, None).unwrap();
    assert!(r.flags().non_finite && r.flags().exploding);
}

#[test]
fn thresholds_are_validated() {
    let t = Thresholds::default();
    assert_eq!(
        (
            t.vanishing_ratio,
            t.exploding_norm,
            t.growth_factor,
            t.growth_steps
        ),
        (1e-3, 1e3, 2.0, 3)
    );
    for (bad, name) in [
        (
            Thresholds {
                vanishing_ratio: -1.0,
                ..t
            },
            "vanishing_ratio",
        ),
        (
            Thresholds {
                vanishing_ratio: f64::NAN,
                ..t
            },
            "vanishing_ratio",
        ),
        (
            Thresholds {
                exploding_norm: 0.0,
                ..t
            },
            "exploding_norm",
        ),
        (
            Thresholds {
                exploding_norm: f64::NAN,
                ..t
            },
            "exploding_norm",
        ),
        (
            Thresholds {
                growth_factor: 0.5,
                ..t
            },
            "growth_factor",
        ),
        (
            Thresholds {
                growth_steps: 0,
                ..t
            },
            "growth_steps",
        ),
    ] {
        let err = GradientReport::<f64>::with_thresholds(bad).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: n, .. } if n == name),
            "{name}"
        );
        assert!(GradientMonitor::<f32>::new(bad).is_err());
    }
    assert!(GradientMonitor::<f32>::new(Thresholds {
        exploding_norm: f64::INFINITY,
        growth_factor: f64::INFINITY,
        vanishing_ratio: 0.0,
        growth_steps: 1,
    })
    .is_ok());
}

#[test]
fn growth_history_flags_after_k_consecutive_growths() {
    // Defaults: growth when norm > 2 * previous, flagged after 3 in a row.
    let mut m = GradientMonitor::<f64>::default();
    // 1 -> 2.5 (x2.5) -> 6 (x2.4) -> 13 (x2.17): three growths.
    assert!(!m.record_norm(1.0));
    assert!(!m.record_norm(2.5));
    assert!(!m.record_norm(6.0));
    assert!(m.record_norm(13.0));
    assert_eq!(m.streak(), 3);
    assert!(m.record_norm(30.0)); // still growing: 4
    assert!(!m.record_norm(59.0)); // x1.97: streak broken
    assert_eq!(m.streak(), 0);

    // Exactly x2 is not "more than a factor of 2": 1, 2.5, 5 (x2), 11 (x2.2).
    let mut m = GradientMonitor::<f64>::default();
    for n in [1.0, 2.5, 5.0, 11.0, 23.0] {
        assert!(!m.record_norm(n), "{n}");
    }
    assert_eq!(m.streak(), 2); // 11 and 23
                               // A NaN ends the streak, and the step after it cannot grow from NaN.
    assert!(!m.record_norm(f64::NAN));
    assert!(!m.record_norm(100.0));
    assert_eq!(m.streak(), 0);
    m.record_norm(300.0);
    m.reset();
    assert_eq!(m.streak(), 0);
    m.record_norm(1e9); // no previous step after a reset
    assert_eq!(m.streak(), 0);
}

#[test]
fn monitor_sets_the_growing_flag_in_its_reports() {
    let (model, grads) = mlp();
    let mut m = GradientMonitor::new(Thresholds {
        growth_steps: 2,
        ..Thresholds::default()
    })
    .unwrap();
    // Gradients tripled each step: growth at steps 2 and 3 -> flagged at step 3.
    let mut g = grads.clone();
    for step in 1..=3 {
        let r = m.observe(&model, &g, None, None).unwrap();
        assert_eq!(r.flags().growing, step == 3, "step {step}");
        assert_eq!(r.growth_streak(), step - 1);
        g.visit_grads_mut(&mut |_, v| v.iter_mut().for_each(|x| *x *= 3.0));
    }
    assert!(m
        .report()
        .to_string()
        .contains("growing (more than x2 per step for 2 steps)"));

    // With clipping the observed gradients stay the same; the pre-clip norms grow.
    let mut m = GradientMonitor::new(Thresholds {
        growth_steps: 2,
        ..Thresholds::default()
    })
    .unwrap();
    for (step, pre) in [(1, 1.0), (2, 3.0), (3, 9.0)] {
        let r = m.observe(&model, &grads, None, Some(pre)).unwrap();
        assert_eq!(r.pre_clip_norm(), Some(pre));
        assert_eq!(r.flags().growing, step == 3);
    }
}

#[test]
fn check_finite_names_layer_and_pass() {
    assert!(check_finite("0", Pass::Forward, &[0.0f32, -1e30, 3.0]).is_ok());
    let err = check_finite(
        "hidden",
        Pass::Forward,
        &[1.0f32, 2.0, f32::INFINITY, f32::NAN],
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::NonFiniteValue {
            layer: "hidden",
            pass: Pass::Forward,
            index: 2,
            value: f64::INFINITY
        }
    );
    assert_eq!(
        err.to_string(),
        "non-finite value inf at index 2 in the forward pass of hidden"
    );
    let err = check_finite("3", Pass::Backward, &[f64::NEG_INFINITY]).unwrap_err();
    assert!(err.to_string().contains("in the backward pass of 3"));

    let (_, mut grads) = mlp();
    assert!(check_finite_grads(&grads).is_ok());
    grads.grads[2].1[1] = f64::NAN;
    let err = check_finite_grads(&grads).unwrap_err();
    assert!(matches!(
        err,
        Error::NonFiniteValue { layer: "2.weight", pass: Pass::Backward, index: 1, value } if value.is_nan()
    ));
}

/// Byte offsets (start, end) of the whitespace-separated words of a line.
fn words(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices().chain([(line.len(), ' ')]) {
        match (c == ' ', start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[test]
fn display_is_an_aligned_table() {
    let (mut model, mut grads) = mlp();
    model.params[2].0 = "output.weight";
    grads.grads[2].0 = "output.weight";
    model.params[3].0 = "output.bias";
    grads.grads[3].0 = "output.bias";
    grads.grads[0].1 = vec![0.0, 1e-5, 0.0, 0.0]; // vanishing
    grads.grads[3].1 = vec![f64::INFINITY]; // non-finite, and exploding
    let updates = [
        ("0.weight", 0.005),
        ("0.bias", 0.0),
        ("output.weight", 0.5),
        ("output.bias", 0.25),
    ];
    let r = GradientReport::collect(&model, &grads, Some(&updates)).unwrap();
    let text = r.to_string();
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 4 + 1 + 1); // header, rows, total, summary

    let header = lines[0];
    let end_of = |label: &str| header.find(label).unwrap() + label.len();
    let (grad_end, param_end, ratio_end) = (
        end_of("grad norm"),
        end_of("param norm"),
        end_of("update/weight"),
    );
    let flags_start = header.find("flags").unwrap();
    assert!(header.starts_with("name "));
    for line in &lines[1..6] {
        let w = words(line);
        assert_eq!(w[0].0, 0, "{line}");
        assert_eq!(w[1].1, grad_end, "grad norm column: {line}");
        assert_eq!(w[2].1, param_end, "param norm column: {line}");
        if !line.starts_with("total") {
            assert_eq!(w[3].1, ratio_end, "update/weight column: {line}");
            if let Some(f) = w.get(4) {
                assert_eq!(f.0, flags_start, "flags column: {line}");
            }
        }
        assert!(!line.ends_with(' '), "trailing space: {line:?}");
    }
    // The flags land on the right rows, the numbers in the right cells.
    assert!(lines[1].starts_with("0.weight") && lines[1].ends_with("vanishing"));
    assert!(lines[1].contains(" 1.000e-05 ") && lines[1].contains(" 1.000e-03 "));
    assert!(lines[2].ends_with(" 0.000e+00"));
    assert!(lines[4].starts_with("output.bias") && lines[4].ends_with("non-finite"));
    assert!(lines[5].starts_with("total"));
    let summary = lines[6];
    assert!(
        summary.starts_with("4 parameters, 9 values; flags:"),
        "{summary}"
    );
    assert!(summary
        .contains("flags: vanishing (0.weight / output.weight grad norm 4.000e-06 < 1e-3); "));
    assert!(summary.contains("; exploding (grad norm inf > 1e3); "));
    assert!(summary.ends_with("; non-finite (a gradient holds NaN or infinity)"));

    // A healthy report says so.
    let (model, grads) = mlp();
    let text = GradientReport::collect(&model, &grads, None)
        .unwrap()
        .to_string();
    println!("{text}");
    assert!(text.ends_with("4 parameters, 9 values; flags: none"));
    assert!(text.lines().nth(1).unwrap().ends_with(" -"));
}

/// The input gradient of a sequence, per time step: norms worked out by hand, the
/// vanishing-over-time flag at its boundary, and the report's text.
#[test]
fn input_step_norms_and_the_vanishing_over_time_flag() {
    use gradnet_core::seq::Seq;
    let (model, grads) = mlp();
    // 3 steps of 1 row, width 2: norms 5e-4 (3e-4, 4e-4), 0 then 0.5 (0.3, 0.4).
    let dx = Seq::<f64, 2>::from_time_major(vec![3e-4, 4e-4, 0.0, 0.0, 0.3, 0.4], 3).unwrap();
    let mut r = GradientReport::<f64>::new();
    r.collect_into(&model, &grads, None).unwrap();
    assert!(r.input_step_norms().is_empty() && r.first_last_step_ratio().is_none());
    r.set_input_steps(&dx);
    let n = r.input_step_norms();
    assert!(close(n[0], 5e-4) && n[1] == 0.0 && close(n[2], 0.5));
    assert!(close(r.first_last_step_ratio().unwrap(), 1e-3));
    // first / last = 1e-3 exactly in real numbers; with the default ratio 1e-3 the
    // flag needs first < 1e-3 * last: judged on the rounded norms, so test clear cases.
    let mut r = with(Thresholds {
        vanishing_ratio: 2e-3,
        ..Thresholds::default()
    });
    r.collect_into(&model, &grads, None).unwrap();
    r.set_input_steps(&dx);
    assert!(r.flags().vanishing_over_time && r.flags().any());
    let text = r.to_string();
    assert!(text.contains("input grad norm over 3 steps"), "{text}");
    assert!(text.contains("vanishing over time"), "{text}");
    let mut r = with(Thresholds {
        vanishing_ratio: 5e-4,
        ..Thresholds::default()
    });
    r.collect_into(&model, &grads, None).unwrap();
    r.set_input_steps(&dx);
    assert!(!r.flags().vanishing_over_time);
    // A new collect forgets the steps.
    r.collect_into(&model, &grads, None).unwrap();
    assert!(r.input_step_norms().is_empty() && !r.flags().vanishing_over_time);
}
