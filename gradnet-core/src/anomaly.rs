//! NaN/infinity detection, like `torch.autograd.set_detect_anomaly`: the checks that
//! generated training passes run after every layer's output and every gradient when
//! a workspace's `set_detect_anomaly(true)` is on, each turning the first non-finite
//! value into [`Error::NonFiniteValue`] naming the layer and the [`Pass`].
//!
//! Also here, and always on: [`check_update`], which a generated `train_step` runs
//! over the loss and every gradient before the optimizer touches a parameter, and
//! [`all_finite`], the one vectorized pass behind every such check.
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

/// Whether every value is finite, in one pass that vectorizes (no early exit inside a
/// chunk; the chunks end early on the first non-finite one).
///
/// ```
/// use gradnet_core::anomaly::all_finite;
/// assert!(all_finite(&[1.0f32, -2.0, 0.0]));
/// assert!(!all_finite(&[1.0f64, f64::INFINITY]));
/// assert!(all_finite::<f32>(&[]));
/// ```
#[inline]
pub fn all_finite<T: Real>(values: &[T]) -> bool {
    values
        .chunks(512)
        .all(|c| c.iter().fold(true, |ok, v| ok & v.is_finite()))
}

/// The check a generated `train_step` makes before the optimizer runs: the loss and
/// every parameter gradient finite, whatever anomaly detection says. A NaN or
/// infinity anywhere is refused, so no update is ever applied from one.
///
/// # Errors
/// [`Error::NonFiniteLoss`], or [`Error::NonFiniteGradient`] naming the first
/// parameter whose gradient holds a NaN or infinity (with its index and value).
///
/// ```
/// use gradnet_core::{anomaly::check_update, Dense, Error, Parameters};
/// let layer = Dense::<f32, 2, 1>::from_parts(vec![1.0, 2.0], Some(vec![0.0]))?;
/// let mut grads = layer.zero_grads();
/// assert!(check_update(0.5f32, &grads).is_ok());
/// grads.bias_mut().unwrap()[0] = f32::NAN;
/// assert!(matches!(check_update(0.5f32, &grads), Err(Error::NonFiniteGradient { name: "bias", index: 0, .. })));
/// assert!(matches!(check_update(f32::INFINITY, &grads), Err(Error::NonFiniteLoss { .. })));
/// # Ok::<(), Error>(())
/// ```
pub fn check_update<T: Real, G: Gradients<T>>(loss: T, grads: &G) -> Result<()> {
    if !loss.is_finite() {
        return Err(Error::NonFiniteLoss {
            value: loss.as_f64(),
        });
    }
    let mut result = Ok(());
    grads.visit_grads(&mut |name, g| {
        if result.is_ok() && !all_finite(g) {
            if let Some(index) = g.iter().position(|v| !v.is_finite()) {
                result = Err(Error::NonFiniteGradient {
                    name,
                    index,
                    value: g[index].as_f64(),
                });
            }
        }
    });
    result
}

/// Whether every gradient in `grads` is finite: what a generated backward notes for
/// each layer right after it (while its gradients are in cache), so that the check
/// before an update ([`check_update`], for its error) runs only when one is not.
///
/// ```
/// use gradnet_core::{anomaly::grads_finite, Dense};
/// let layer = Dense::<f32, 2, 1>::from_parts(vec![1.0, 2.0], Some(vec![0.0]))?;
/// let mut grads = layer.zero_grads();
/// assert!(grads_finite(&grads));
/// grads.bias_mut().unwrap()[0] = f32::NAN;
/// assert!(!grads_finite(&grads));
/// # Ok::<(), gradnet_core::Error>(())
/// ```
pub fn grads_finite<T: Real, G: Gradients<T>>(grads: &G) -> bool {
    let mut finite = true;
    grads.visit_grads(&mut |_, g| finite &= all_finite(g));
    finite
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
