//! Finite-difference checks shared by the end-to-end gradient tests: every parameter
//! of a network, through the generic `Network` trait, against central differences
//! in f64 by the project's rule.

#![allow(dead_code)]

use gradnet::gradcheck::{agree, STEP};
use gradnet::prelude::*;

/// All parameters of a model, flattened in visit order.
pub fn flat_params<M: Parameters<f64>>(m: &M) -> Vec<f64> {
    let mut out = Vec::new();
    m.visit_params(&mut |_, v| out.extend_from_slice(v));
    out
}

/// All gradients, flattened in the same order.
pub fn flat_grads<G: Gradients<f64>>(g: &G) -> Vec<f64> {
    let mut out = Vec::new();
    g.visit_grads(&mut |_, v| out.extend_from_slice(v));
    out
}

/// Sets parameter value `index` (in visit order) of `m` to `value`.
pub fn set_param<M: Parameters<f64>>(m: &mut M, index: usize, value: f64) {
    let mut seen = 0;
    m.visit_values_mut(&mut |_, v| {
        if (seen..seen + v.len()).contains(&index) {
            v[index - seen] = value;
        }
        seen += v.len();
    });
}

/// Compares one analytic derivative with the central difference of `loss_at(v)`
/// around `v0`, naming `what` on failure.
pub fn check_one(what: &str, analytic: f64, v0: f64, mut loss_at: impl FnMut(f64) -> f64) {
    let numeric = (loss_at(v0 + STEP) - loss_at(v0 - STEP)) / (2.0 * STEP);
    assert!(
        agree(analytic, numeric),
        "{what}: analytic {analytic:e}, numeric {numeric:e}"
    );
}

/// Every parameter's gradient in `grads` (from `loss_and_grad` of `net` at `loss_of`'s
/// point) against central differences of `loss_of`. Returns the number checked.
pub fn check_params<N: Network<f64>>(
    net: &N,
    grads: &N::Grads,
    loss_of: impl Fn(&N) -> f64,
) -> usize {
    let analytic = flat_grads(grads);
    let params = flat_params(net);
    assert_eq!(analytic.len(), params.len());
    let mut names = Vec::new();
    net.visit_params(&mut |n, v| names.extend(std::iter::repeat(n).take(v.len())));
    for (i, (&a, &p0)) in analytic.iter().zip(&params).enumerate() {
        check_one(&format!("{} [{i}]", names[i]), a, p0, |v| {
            let mut n = net.clone();
            set_param(&mut n, i, v);
            loss_of(&n)
        });
    }
    analytic.len()
}

/// Every value of an input (`values`) against central differences of `loss_at`, which
/// evaluates the loss with the input's values replaced.
pub fn check_input(gx: &[f64], values: &[f64], loss_at: impl Fn(&[f64]) -> f64) {
    assert_eq!(gx.len(), values.len());
    for i in 0..values.len() {
        check_one(&format!("input [{i}]"), gx[i], values[i], |v| {
            let mut xv = values.to_vec();
            xv[i] = v;
            loss_at(&xv)
        });
    }
}
