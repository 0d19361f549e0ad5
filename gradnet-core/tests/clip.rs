//! Gradient clipping against PyTorch's formulas, worked out by hand.
//!
//! torch.nn.utils.clip_grad_norm_:
//!   total = sqrt(sum of every gradient value squared)
//!   coef  = max_norm / (total + 1e-6);  if coef < 1, every gradient *= coef
//!   returns total (before clipping)
//! torch.nn.utils.clip_grad_value_: every value clamped to [-c, c].

use gradnet_core::clip::{clip_grad_norm, clip_grad_value, grad_norm, l2_norm, Clip};
use gradnet_core::{Error, Gradients, Real};

/// Two gradient tensors, `a` and `b`, as a model with two parameters would have.
#[derive(Clone, Debug, PartialEq)]
struct Two<T> {
    a: Vec<T>,
    b: Vec<T>,
}

impl<T: Real> Gradients<T> for Two<T> {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[T])) {
        f("0.weight", &self.a);
        f("2.weight", &self.b);
    }
    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        f("0.weight", &mut self.a);
        f("2.weight", &mut self.b);
    }
}

/// a = [3, 4], b = [12]: total = sqrt(9 + 16 + 144) = sqrt(169) = 13.
fn g13() -> Two<f64> {
    Two {
        a: vec![3.0, 4.0],
        b: vec![12.0],
    }
}

#[test]
fn clips_to_max_norm_and_returns_the_norm_before() {
    let mut g = g13();
    assert_eq!(grad_norm(&g), 13.0);
    let before = clip_grad_norm(&mut g, 6.5).unwrap();
    assert_eq!(before, 13.0);
    // coef = 6.5 / (13 + 1e-6) = 0.49999996153846...; every value times coef.
    let coef: f64 = 6.5 / (13.0 + 1e-6);
    assert!((coef - 0.499_999_961_538_464_5).abs() < 1e-16);
    assert_eq!(g.a, vec![3.0 * coef, 4.0 * coef]);
    assert_eq!(g.b, vec![12.0 * coef]);
    // The new norm is 13 coef = 6.5 * 13 / 13.000001 = 6.5 - 6.5e-6 / 13.000001 (about
    // 6.5 - 5e-7): just under max_norm, by the 1e-6 term.
    let after = grad_norm(&g);
    assert!(after < 6.5);
    assert!((6.5 - after - 6.5e-6 / 13.000_001).abs() < 1e-14);
}

#[test]
fn leaves_gradients_below_the_max_alone() {
    let mut g = g13();
    // coef = 20 / 13.000001 > 1: no clipping.
    assert_eq!(clip_grad_norm(&mut g, 20.0).unwrap(), 13.0);
    assert_eq!(g, g13());
    // +inf means never clip.
    assert_eq!(clip_grad_norm(&mut g, f64::INFINITY).unwrap(), 13.0);
    assert_eq!(g, g13());
}

#[test]
fn the_epsilon_term_decides_at_the_boundary() {
    // max_norm = total = 13: coef = 13 / 13.000001 < 1, so PyTorch still scales, by
    // 1 - 1e-6 / 13.000001 = 0.99999992307...
    let mut g = g13();
    assert_eq!(clip_grad_norm(&mut g, 13.0).unwrap(), 13.0);
    let coef: f64 = 13.0 / (13.0 + 1e-6);
    assert!((coef - 0.999_999_923_076_929).abs() < 1e-15);
    assert_eq!(g.a, vec![3.0 * coef, 4.0 * coef]);
    assert_ne!(g, g13());
    // max_norm = total + 1e-6: coef = 1 exactly, not < 1: untouched.
    let mut g = g13();
    clip_grad_norm(&mut g, 13.0 + 1e-6).unwrap();
    assert_eq!(g, g13());
}

#[test]
fn zero_max_norm_zeroes_the_gradients() {
    // coef = 0 / 13.000001 = 0.
    let mut g = g13();
    assert_eq!(clip_grad_norm(&mut g, 0.0).unwrap(), 13.0);
    assert_eq!(g.a, vec![0.0, 0.0]);
    assert_eq!(g.b, vec![0.0]);
}

#[test]
fn zero_gradients_stay_zero() {
    // total = 0, coef = 1 / 1e-6 = 1e6 > 1: nothing happens (no division by zero).
    let mut g = Two {
        a: vec![0.0f32; 3],
        b: vec![0.0],
    };
    assert_eq!(clip_grad_norm(&mut g, 1.0).unwrap(), 0.0);
    assert_eq!(g.a, vec![0.0; 3]);
}

#[test]
fn non_finite_norm_is_an_error_and_leaves_gradients_untouched() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut g = g13();
        g.b.push(bad);
        let keep = g.clone();
        let err = clip_grad_norm(&mut g, 1.0).unwrap_err();
        match err {
            // A NaN makes the norm NaN; an infinity (of either sign) makes it +inf.
            Error::NonFiniteGradNorm { norm } if bad.is_nan() => assert!(norm.is_nan()),
            Error::NonFiniteGradNorm { norm } => assert_eq!(norm, f64::INFINITY),
            e => panic!("unexpected {e:?}"),
        }
        assert_eq!(g.a, keep.a);
        assert_eq!(g.b[0], 12.0);
        assert_eq!(g.b[1].to_bits(), bad.to_bits());
    }
    // NaN and infinity together: NaN wins, as in sqrt(sum of squares).
    let mut g = Two {
        a: vec![f64::INFINITY],
        b: vec![f64::NAN],
    };
    assert!(
        matches!(clip_grad_norm(&mut g, 1.0), Err(Error::NonFiniteGradNorm { norm }) if norm.is_nan())
    );
}

#[test]
fn f32_gradients_whose_squares_overflow_are_clipped() {
    // (3e30)^2 = 9e60 overflows f32 (max 3.4e38), so PyTorch's f32 norm would be inf.
    // In f64: total = sqrt(9e60 + 16e60) = 5e30; coef = 1 / (5e30 + 1e-6) = 2e-31;
    // clipped = [0.6, 0.8].
    let mut g = Two {
        a: vec![3e30f32],
        b: vec![4e30f32],
    };
    let before = clip_grad_norm(&mut g, 1.0).unwrap();
    assert!((before / 5e30 - 1.0).abs() < 1e-6);
    assert!((g.a[0] - 0.6).abs() < 1e-6);
    assert!((g.b[0] - 0.8).abs() < 1e-6);
}

#[test]
fn f64_norm_rescales_when_squares_overflow() {
    // (3e200)^2 overflows f64; rescaled: 4e200 * sqrt(0.75^2 + 1) = 4e200 * 1.25 = 5e200.
    let n = l2_norm(&[3e200f64, -4e200]);
    assert!((n / 5e200 - 1.0).abs() < 1e-15);
    assert_eq!(l2_norm(&[0.0f64; 4]), 0.0);
    assert_eq!(l2_norm::<f64>(&[]), 0.0);
    assert!(l2_norm(&[1.0f64, f64::NAN]).is_nan());
    assert_eq!(l2_norm(&[1.0f32, f32::NEG_INFINITY]), f64::INFINITY);
}

#[test]
fn invalid_max_norm_is_rejected_before_touching_anything() {
    for bad in [-1.0, -1e-300, f64::NAN, f64::NEG_INFINITY] {
        let mut g = g13();
        let err = clip_grad_norm(&mut g, bad).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidParameter {
                name: "max_norm",
                ..
            }
        ));
        assert_eq!(g, g13());
    }
}

#[test]
fn clip_by_value_clamps_each_value() {
    // clamp to [-0.5, 0.5]: -3 -> -0.5, 0.2 stays, 0.5 stays (boundary), 0.7 -> 0.5,
    // -0.5 stays; 12 -> 0.5.
    let mut g = Two {
        a: vec![-3.0, 0.2, 0.5, 0.7, -0.5],
        b: vec![12.0],
    };
    clip_grad_value(&mut g, 0.5).unwrap();
    assert_eq!(g.a, vec![-0.5, 0.2, 0.5, 0.5, -0.5]);
    assert_eq!(g.b, vec![0.5]);
    // NaN stays NaN (torch.clamp propagates it); infinities are clamped.
    let mut g = Two {
        a: vec![f32::NAN, f32::INFINITY],
        b: vec![f32::NEG_INFINITY],
    };
    clip_grad_value(&mut g, 2.0).unwrap();
    assert!(g.a[0].is_nan());
    assert_eq!((g.a[1], g.b[0]), (2.0, -2.0));
    // c = 0 zeroes everything; negative or NaN c is an error and changes nothing.
    let mut g = g13();
    clip_grad_value(&mut g, 0.0).unwrap();
    assert_eq!(g.a, vec![0.0, 0.0]);
    for bad in [-0.5, f64::NAN] {
        let mut g = g13();
        let err = clip_grad_value(&mut g, bad).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidParameter {
                name: "clip_value",
                ..
            }
        ));
        assert_eq!(g, g13());
    }
}

#[test]
fn clip_option_applies_and_validates() {
    let mut g = g13();
    // Norm(1.3): coef = 1.3 / 13.000001, returns Some(13).
    assert_eq!(Clip::Norm(1.3).apply(&mut g).unwrap(), Some(13.0));
    let coef = 1.3 / (13.0 + 1e-6);
    assert_eq!(g.b, vec![12.0 * coef]);
    let mut g = g13();
    assert_eq!(Clip::Value(3.5).apply(&mut g).unwrap(), None);
    assert_eq!((g.a.clone(), g.b.clone()), (vec![3.0, 3.5], vec![3.5]));

    assert!(Clip::Norm(1.0f32).validate().is_ok());
    assert!(Clip::Value(0.0f32).validate().is_ok());
    assert!(matches!(
        Clip::Norm(-1.0f32).validate(),
        Err(Error::InvalidParameter {
            name: "max_norm",
            ..
        })
    ));
    assert!(matches!(
        Clip::Value(f32::NAN).validate(),
        Err(Error::InvalidParameter {
            name: "clip_value",
            ..
        })
    ));
    let mut g = g13();
    assert!(Clip::Value(-1.0).apply(&mut g).is_err());
    assert_eq!(g, g13());

    assert_eq!(Clip::Norm(1.0f32).to_string(), "norm(1)");
    assert_eq!(Clip::Value(0.5f64).to_string(), "value(0.5)");
}
