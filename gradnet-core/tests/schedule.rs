//! Learning-rate schedules against the closed forms of PyTorch's
//! lr_scheduler.StepLR and CosineAnnealingLR.

use gradnet_core::optim::{AdamConfig, Optimizer};
use gradnet_core::schedule::{Constant, CosineAnnealingLr, LrSchedule, StepLr};
use gradnet_core::Error;

/// The name of the rejected hyper-parameter.
fn invalid(r: Result<impl Sized, Error>) -> &'static str {
    match r {
        Err(Error::InvalidParameter { name, .. }) => name,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("accepted an invalid configuration"),
    }
}

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

#[test]
fn invalid_schedules_are_typed_errors() {
    assert_eq!(invalid(StepLr::new(0.1, 0, 0.5)), "step_size");
    assert_eq!(invalid(StepLr::new(-0.1, 1, 0.5)), "base_lr");
    assert_eq!(invalid(StepLr::new(0.1, 1, f64::NAN)), "gamma");
    assert_eq!(invalid(CosineAnnealingLr::new(0.1, 0, 0.0)), "t_max");
    assert_eq!(invalid(CosineAnnealingLr::new(0.1, 5, -1.0)), "eta_min");
    assert_eq!(invalid(Constant::new(f64::INFINITY)), "learning rate");
}
