//! Learning-rate schedules against the closed forms of PyTorch's
//! lr_scheduler.StepLR, CosineAnnealingLR and LinearLR.

use gradnet_core::optim::{AdamConfig, Optimizer};
use gradnet_core::schedule::{Constant, CosineAnnealingLr, LinearWarmup, LrSchedule, StepLr};
use gradnet_core::Error;

#[test]
fn step_lr_values() {
    // StepLR closed form: base * gamma^(epoch // step_size); base 0.1, step 3, gamma 0.5
    let s = StepLr::new(0.1, 3, 0.5).unwrap();
    let cases = [
        (0, 0.1),
        (2, 0.1),
        (3, 0.05), // 0.1 * 0.5
        (5, 0.05),
        (6, 0.025),   // 0.1 * 0.25
        (10, 0.0125), // 10 // 3 = 3: 0.1 * 0.125
    ];
    for (epoch, want) in cases {
        assert!((s.lr_at(epoch) - want).abs() < 1e-15, "epoch {epoch}");
    }
}

#[test]
fn cosine_annealing_values() {
    // CosineAnnealingLR closed form: eta_min + (base - eta_min)(1 + cos(pi e / T)) / 2;
    // base 0.1, T = 10, eta_min = 0.01.
    let s = CosineAnnealingLr::new(0.1, 10, 0.01).unwrap();
    // cos(pi / 5) = (1 + sqrt 5) / 4
    let cos36 = (1.0 + 5f64.sqrt()) / 4.0;
    let cases = [
        (0, 0.1),                               // cos 0 = 1
        (2, 0.01 + 0.09 * (1.0 + cos36) / 2.0), // ~0.0914058
        (5, 0.055),                             // cos(pi/2) = 0: 0.01 + 0.045
        (8, 0.01 + 0.09 * (1.0 - cos36) / 2.0), // cos(4 pi/5) = -cos(pi/5)
        (10, 0.01),                             // cos pi = -1
        (15, 0.055),                            // past T_max: cos(3 pi/2) = 0
        (20, 0.1),                              // cos 2 pi = 1
    ];
    for (epoch, want) in cases {
        assert!(
            (s.lr_at(epoch) - want).abs() < 1e-15,
            "epoch {epoch}: {}",
            s.lr_at(epoch)
        );
    }
}

#[test]
fn schedules_apply_to_optimizers() {
    let mut opt = AdamConfig::default().build::<f32>().unwrap();
    CosineAnnealingLr::new(0.1, 10, 0.0)
        .unwrap()
        .apply(5, &mut opt)
        .unwrap();
    assert!((opt.learning_rate() - 0.05).abs() < 1e-15);
    Constant::new(0.3).unwrap().apply(7, &mut opt).unwrap();
    assert_eq!(opt.learning_rate(), 0.3);
    // Object safe: schedules can be chosen at run time.
    let boxed: Box<dyn LrSchedule> = Box::new(StepLr::new(1.0, 1, 0.5).unwrap());
    assert_eq!(boxed.lr_at(3), 0.125);
}

// ---------------------------------------------------------------- setting ranges
//
// One test per setting: every value outside its range gives
// InvalidParameter { name, value, reason } with the reason naming the range, and the
// boundary values inside it are accepted.

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// Every value of `rejected` must give `InvalidParameter { name, value, reason }`
/// from `make` (with `value` the one given, bit for bit), every value of `accepted`
/// must be taken.
fn range<R>(
    name: &str,
    reason: &str,
    rejected: &[f64],
    accepted: &[f64],
    make: impl Fn(f64) -> Result<R, Error>,
) {
    for &v in rejected {
        match make(v) {
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
        if let Err(e) = make(v) {
            panic!("{name} = {v} was rejected: {e}");
        }
    }
}

#[test]
fn constant_lr_range() {
    range(
        "learning rate",
        "must be finite and >= 0",
        &[-0.1, NAN, INF, -INF],
        &[0.0, 0.1, f64::MAX],
        Constant::new,
    );
}

#[test]
fn step_lr_base_lr_range() {
    range(
        "base_lr",
        "must be finite and >= 0",
        &[-0.1, NAN, INF, -INF],
        &[0.0, 0.1, f64::MAX],
        |v| StepLr::new(v, 1, 0.5),
    );
}

#[test]
fn step_lr_step_size_range() {
    assert_eq!(
        StepLr::new(0.1, 0, 0.5),
        Err(Error::InvalidParameter {
            name: "step_size",
            value: 0.0,
            reason: "must be at least 1",
        })
    );
    assert!(StepLr::new(0.1, 1, 0.5).is_ok());
    assert!(StepLr::new(0.1, usize::MAX, 0.5).is_ok());
}

#[test]
fn step_lr_gamma_range() {
    // Finite and > 0; PyTorch accepts any gamma, including 0 and negative ones.
    range(
        "gamma",
        "must be finite and > 0",
        &[0.0, -0.0, -0.5, NAN, INF, -INF],
        &[f64::MIN_POSITIVE, 0.1, 1.0, 2.0],
        |v| StepLr::new(0.1, 1, v),
    );
}

#[test]
fn step_lr_growing_past_f64_is_an_error_on_apply() {
    // gamma = 10 is valid, but 10^309 overflows: apply rejects the rate and leaves
    // the optimizer's rate as it was.
    let s = StepLr::new(1.0, 1, 10.0).unwrap();
    let mut opt = AdamConfig::default().build::<f32>().unwrap();
    s.apply(300, &mut opt).unwrap();
    assert!((opt.learning_rate() - 1e300).abs() <= 1e286);
    assert!(matches!(
        s.apply(309, &mut opt),
        Err(Error::InvalidParameter {
            name: "learning rate",
            ..
        })
    ));
    assert!((opt.learning_rate() - 1e300).abs() <= 1e286);
}

#[test]
fn cosine_base_lr_range() {
    range(
        "base_lr",
        "must be finite and >= 0",
        &[-0.1, NAN, INF, -INF],
        &[0.0, 0.1, f64::MAX],
        |v| CosineAnnealingLr::new(v, 10, 0.0),
    );
}

#[test]
fn cosine_t_max_range() {
    assert_eq!(
        CosineAnnealingLr::new(0.1, 0, 0.0),
        Err(Error::InvalidParameter {
            name: "t_max",
            value: 0.0,
            reason: "must be at least 1",
        })
    );
    // T_max = 1: base at even epochs, eta_min at odd ones.
    let s = CosineAnnealingLr::new(0.1, 1, 0.01).unwrap();
    assert!((s.lr_at(0) - 0.1).abs() < 1e-15 && (s.lr_at(1) - 0.01).abs() < 1e-15);
}

#[test]
fn cosine_eta_min_range() {
    // In [0, base_lr] (base_lr = 0.1 here).
    let above_base = f64::from_bits(0.1f64.to_bits() + 1);
    range(
        "eta_min",
        "must be finite, >= 0 and <= base_lr",
        &[-1.0, -f64::MIN_POSITIVE, above_base, 0.2, NAN, INF, -INF],
        &[0.0, 0.05, 0.1],
        |v| CosineAnnealingLr::new(0.1, 10, v),
    );
    // eta_min = base_lr is a constant rate.
    let s = CosineAnnealingLr::new(0.1, 10, 0.1).unwrap();
    assert!((0..30).all(|e| s.lr_at(e) == 0.1));
}

#[test]
fn linear_warmup_values() {
    // LinearLR(start_factor = 0.25, total_iters = 4) chained with CosineAnnealingLR(
    // base 0.1, T = 10): the factor goes 0.25, 0.4375, 0.625, 0.8125, then 1.
    let cos = CosineAnnealingLr::new(0.1, 10, 0.0).unwrap();
    let s = LinearWarmup::new(cos, 4, 0.25).unwrap();
    for (epoch, factor) in [
        (0, 0.25),
        (1, 0.4375),
        (2, 0.625),
        (3, 0.8125),
        (4, 1.0),
        (9, 1.0),
    ] {
        let want = cos.lr_at(epoch) * factor;
        assert!(
            (s.lr_at(epoch) - want).abs() < 1e-15,
            "epoch {epoch}: {}",
            s.lr_at(epoch)
        );
    }
    // A start factor of 1 is the inner schedule itself.
    let same = LinearWarmup::new(cos, 3, 1.0).unwrap();
    assert!((0..12).all(|e| same.lr_at(e) == cos.lr_at(e)));
}

#[test]
fn linear_warmup_ranges() {
    let c = Constant::new(0.1).unwrap();
    range(
        "start_factor",
        "must be in (0, 1]",
        &[0.0, -0.5, 1.0 + 1e-12, NAN, INF],
        &[1e-9, 0.5, 1.0],
        |v| LinearWarmup::new(c, 5, v),
    );
    assert_eq!(
        LinearWarmup::new(c, 0, 0.5),
        Err(Error::InvalidParameter {
            name: "warmup",
            value: 0.0,
            reason: "must be at least 1",
        })
    );
}
