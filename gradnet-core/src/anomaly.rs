//! NaN/infinity detection, like `torch.autograd.set_detect_anomaly`: the checks that
//! generated training passes run after every layer's output and every gradient when
//! a workspace's `set_detect_anomaly(true)` is on, each turning the first non-finite
//! value into [`Error::NonFiniteValue`] naming the layer and the [`Pass`].
//!
//! Also re-exported from [`crate::diagnostics`].

use core::fmt;

use crate::error::{Error, Result};
use crate::params::Gradients;
use crate::real::Real;

/// Which pass of a training step produced a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pass {
    /// The forward pass (a layer's output).
    Forward,
    /// The backward pass (a gradient).
    Backward,
}

impl fmt::Display for Pass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pass::Forward => "forward",
            Pass::Backward => "backward",
        })
    }
}

/// Returns an error naming `layer`, `pass`, and the index and value of the first NaN
/// or infinity in `values`.
///
/// Generated code calls this after each layer when non-finite detection is on
/// (`ws.set_detect_anomaly(true)`); when it is off the call is skipped by one
/// predictable branch.
///
/// # Errors
/// [`Error::NonFiniteValue`].
///
/// ```
/// use gradnet_core::{anomaly::{check_finite, Pass}, Error};
/// assert!(check_finite("0", Pass::Forward, &[1.0f32, 2.0]).is_ok());
/// let err = check_finite("hidden", Pass::Backward, &[1.0f32, f32::NAN]).unwrap_err();
/// assert!(matches!(err, Error::NonFiniteValue { layer: "hidden", pass: Pass::Backward, index: 1, .. }));
/// ```
#[inline]
pub fn check_finite<T: Real>(layer: &'static str, pass: Pass, values: &[T]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFiniteValue {
            layer,
            pass,
            index,
            value: values[index].as_f64(),
        }),
    }
}

/// [`check_finite`] over every parameter gradient, each named by its parameter, in
/// the backward pass.
///
/// # Errors
/// [`Error::NonFiniteValue`] for the first gradient holding a NaN or infinity.
pub fn check_finite_grads<T: Real, G: Gradients<T>>(grads: &G) -> Result<()> {
    let mut result = Ok(());
    grads.visit_grads(&mut |name, g| {
        if result.is_ok() {
            result = check_finite(name, Pass::Backward, g);
        }
    });
    result
}

/// Checks every gradient of one layer, reporting the first NaN or infinity as
/// [`Error::NonFiniteValue`] in the backward pass of `layer` (the index counts across
/// the layer's gradients in visit order). Generated training passes call this when
/// anomaly detection is on.
///
/// # Errors
/// [`Error::NonFiniteValue`].
pub fn check_finite_layer_grads<T: Real, G: Gradients<T>>(
    layer: &'static str,
    grads: &G,
) -> Result<()> {
    let mut result = Ok(());
    let mut offset = 0;
    grads.visit_grads(&mut |_, g| {
        if result.is_ok() {
            if let Some(i) = g.iter().position(|v| !v.is_finite()) {
                result = Err(Error::NonFiniteValue {
                    layer,
                    pass: Pass::Backward,
                    index: offset + i,
                    value: g[i].as_f64(),
                });
            }
        }
        offset += g.len();
    });
    result
}
