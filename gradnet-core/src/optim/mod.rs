//! Optimizers: [`Sgd`], [`Adam`] (also AdamW) and [`RmsProp`], over any model that
//! implements [`Parameters`].
//!
//! | gradnet                                   | PyTorch                    |
//! |-------------------------------------------|----------------------------|
//! | `SgdConfig::new(lr).momentum(0.9)`        | `torch.optim.SGD`          |
//! | `AdamConfig::default()`                   | `torch.optim.Adam`         |
//! | `AdamConfig::adamw()`                     | `torch.optim.AdamW`        |
//! | `RmsPropConfig::default()`                | `torch.optim.RMSprop`      |
//!
//! Each optimizer follows the pseudo-code of its PyTorch documentation page, with the
//! same defaults. A configuration is plain data with builder methods; `build` checks
//! it and returns the optimizer, or [`Error::InvalidParameter`].
//!
//! State (momentum buffers, moments) lives in flat buffers, one slice per parameter
//! in the model's visit order, created on the first [`Optimizer::step`]. That step
//! also records every parameter's length; later steps check the model and its
//! gradients against that record before touching anything (two cheap read-only
//! walks, no hashing of names) and allocate nothing.
//!
//! Every update loop also ORs together, as it writes them, whether the new values are
//! finite (branch-free, so the loops still vectorize): an update that overflows (a
//! learning rate far too large for the gradients) ends the step with
//! [`Error::ParametersDiverged`] instead of silently leaving infinities and NaNs in
//! the model.
//!
//! Every hyper-parameter is range-checked when a configuration is built and when
//! [`Optimizer::set_learning_rate`] changes the rate; NaN is rejected everywhere. The
//! ranges are PyTorch's, made strict where PyTorch's would give a broken optimizer:
//! momentum lies in `[0, 1)` like Adam's betas, and `eps` must be `> 0` (a zero `eps`
//! turns a zero gradient with zero second moment into `0 / 0 = NaN`).
//!
//! ```
//! use gradnet_core::{Dense, Parameters};
//! use gradnet_core::optim::{Optimizer, SgdConfig};
//! let mut layer = Dense::<f64, 2, 1>::from_parts(vec![1.0, -1.0], Some(vec![0.5]))?;
//! let mut grads = layer.zero_grads();
//! grads.weight_mut().copy_from_slice(&[0.5, 0.25]);
//! grads.bias_mut().unwrap()[0] = 1.0;
//! let mut opt = SgdConfig::new(0.1).momentum(0.9).build()?;
//! opt.track_update_norms(true);
//! opt.step(&mut layer, &grads)?;
//! // first momentum step: buf = g, p = p - lr * buf
//! assert_eq!(layer.weight(), [1.0 - 0.1 * 0.5, -1.0 - 0.1 * 0.25]);
//! assert_eq!(opt.update_norms()[1].0, "bias");
//! # Ok::<(), gradnet_core::Error>(())
//! ```

mod adam;
mod rmsprop;
mod sgd;

pub use adam::{Adam, AdamConfig, WeightDecay};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::error::{Error, Result};
use crate::params::{Gradients, Parameters};
use crate::real::Real;

/// Something that updates a model's parameters from their gradients.
pub trait Optimizer<T: Real> {
    /// One update of every parameter from its gradient.
    ///
    /// The gradients are expected to be finite (the training step checks them); every
    /// new parameter value is checked, without a branch per value, as it is written.
    ///
    /// # Errors
    /// - [`Error::ParameterCountMismatch`] or [`Error::ParameterLengthMismatch`] if the
    ///   model or its gradients do not have the parameters the first step saw (or a
    ///   gradient's length differs from its parameter's). These are found before
    ///   anything is touched: parameters, optimizer state and step count are
    ///   unchanged.
    /// - [`Error::ParametersDiverged`], naming the first parameter (in visit order)
    ///   that holds a NaN or infinity after the update: the update overflowed (a
    ///   learning rate far too large). The update is **not** undone: every parameter
    ///   and the optimizer's state are left as the step wrote them, non-finite values
    ///   included, and the step is counted. The model is no longer usable; restore it
    ///   (and the optimizer) from a copy taken before the step.
    fn step<M: Parameters<T> + ?Sized>(&mut self, model: &mut M, grads: &M::Grads) -> Result<()>;

    /// The current learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate for the following steps (what a schedule does).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `lr` is negative or not finite (NaN included;
    /// 0 is accepted, as a schedule may reach it); the rate is left unchanged then.
    fn set_learning_rate(&mut self, lr: f64) -> Result<()>;

    /// Per-parameter L2 norms of the last step's update, `||after - before||`, as
    /// `(name, norm)` in visit order. Empty unless tracking is on.
    fn update_norms(&self) -> &[(&'static str, T)];

    /// Turns tracking of update norms on or off (off by default).
    fn track_update_norms(&mut self, on: bool);
}

/// An optimizer whose state can be saved and restored exactly: what a checkpoint
/// ([`crate::persist::save_checkpoint`]) keeps of it.
///
/// The state is the step count, the learning rate, and per-value buffers named with
/// PyTorch's state keys (`momentum_buffer`; `exp_avg`, `exp_avg_sq`,
/// `max_exp_avg_sq`; `square_avg`, `grad_avg`), one slice per parameter in the
/// model's visit order. The hyper-parameters are not state: a checkpoint records
/// them ([`OptimizerState::settings`]) so that it is restored only into an optimizer
/// built with the same ones.
///
/// ```
/// use gradnet_core::{Dense, Parameters};
/// use gradnet_core::optim::{AdamConfig, Optimizer, OptimizerState};
/// let mut layer = Dense::<f64, 2, 1>::from_parts(vec![1.0, -1.0], Some(vec![0.5]))?;
/// let mut grads = layer.zero_grads();
/// grads.weight_mut().copy_from_slice(&[0.5, 0.25]);
/// let mut opt = AdamConfig::default().build()?;
/// opt.step(&mut layer, &grads)?;
/// let mut saved = Vec::new();
/// opt.visit_state(&mut |state, param, values| saved.push((state, param, values.to_vec())));
/// assert_eq!(saved[0].0, "exp_avg");
/// assert_eq!(saved[0].1, "weight");
///
/// // A new optimizer with the same settings takes the state over.
/// let mut again = AdamConfig::default().build::<f64>()?;
/// let flat = |s: &str| saved.iter().filter(|e| e.0 == s).flat_map(|e| e.2.clone()).collect();
/// again.restore_state(&layer, 1, opt.learning_rate(), vec![flat("exp_avg"), flat("exp_avg_sq")])?;
/// assert_eq!(OptimizerState::steps(&again), 1);
/// # Ok::<(), gradnet_core::Error>(())
/// ```
pub trait OptimizerState<T: Real>: Optimizer<T> {
    /// The algorithm: `"sgd"`, `"adam"` (also AdamW and AMSGrad) or `"rmsprop"`.
    fn kind(&self) -> &'static str;

    /// Every hyper-parameter except the learning rate, as `(name, value)` (booleans
    /// as 0 or 1, AdamW's decoupled decay as `decoupled_weight_decay`).
    fn settings(&self) -> Vec<(&'static str, f64)>;

    /// Steps taken so far.
    fn steps(&self) -> u64;

    /// The names of the per-value buffers this configuration keeps, in the order
    /// [`OptimizerState::visit_state`] and [`OptimizerState::restore_state`] use.
    fn state_names(&self) -> &'static [&'static str];

    /// Visits every buffer of [`OptimizerState::state_names`], in that order, one
    /// parameter's slice at a time: `f(state, parameter, values)`. Visits nothing
    /// before the first step (there is no state yet).
    fn visit_state(&self, f: &mut dyn FnMut(&'static str, &'static str, &[T]));

    /// Replaces the whole state: `steps` taken, learning rate `lr`, and for every
    /// name of [`OptimizerState::state_names`] a flat buffer over `model`'s
    /// parameters in visit order (so of [`Parameters::num_params`] values). With
    /// `steps == 0` the optimizer is as new and `buffers` must be empty.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad `lr`, [`Error::ParameterCountMismatch`]
    /// for a wrong number of buffers, [`Error::ParameterLengthMismatch`] for a
    /// buffer of the wrong length. Nothing is changed then.
    fn restore_state<M: Parameters<T> + ?Sized>(
        &mut self,
        model: &M,
        steps: u64,
        lr: f64,
        buffers: Vec<Vec<T>>,
    ) -> Result<()>;
}

/// Checks what [`OptimizerState::restore_state`] is given against the model and
/// the number of buffers the optimizer keeps (`names`).
fn check_restore<T: Real, M: Parameters<T> + ?Sized>(
    op: &'static str,
    names: &[&'static str],
    model: &M,
    steps: u64,
    lr: f64,
    buffers: &[Vec<T>],
) -> Result<()> {
    non_negative("learning rate", lr)?;
    let expected = if steps == 0 { 0 } else { names.len() };
    if buffers.len() != expected {
        return Err(Error::ParameterCountMismatch {
            op,
            expected,
            found: buffers.len(),
        });
    }
    let total = model.num_params();
    for (i, b) in buffers.iter().enumerate() {
        if b.len() != total {
            return Err(Error::ParameterLengthMismatch {
                op,
                index: i,
                name: names[i],
                expected: total,
                found: b.len(),
            });
        }
    }
    Ok(())
}

/// Visits the buffers `bufs` (named `names`) one parameter's slice at a time.
fn visit_buffers<T>(
    core: &Core<T>,
    names: &[&'static str],
    bufs: &[&Vec<T>],
    f: &mut dyn FnMut(&'static str, &'static str, &[T]),
) {
    if core.offsets.is_empty() {
        return;
    }
    for (state, buf) in names.iter().zip(bufs) {
        for (i, param) in core.names.iter().enumerate() {
            f(state, param, &buf[core.offsets[i]..core.offsets[i + 1]]);
        }
    }
}

/// `Ok` if `ok`, else [`Error::InvalidParameter`] for `name = value`, with `reason`
/// saying what a valid value is. Callers write `ok` so that NaN fails it: as
/// comparisons (`v >= 0.0`, never `!(v < 0.0)`) or `Range::contains`, both false
/// for NaN.
pub(crate) fn in_range(
    name: &'static str,
    value: f64,
    ok: bool,
    reason: &'static str,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value,
            reason,
        })
    }
}

/// `Ok` if `value` is finite and `>= 0`.
pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<()> {
    in_range(
        name,
        value,
        value.is_finite() && value >= 0.0,
        "must be finite and >= 0",
    )
}

/// `Ok` if `value` is finite and `> 0`.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<()> {
    in_range(
        name,
        value,
        value.is_finite() && value > 0.0,
        "must be finite and > 0",
    )
}

/// `Ok` if `value` lies in `[0, 1)`.
fn unit_open(name: &'static str, value: f64) -> Result<()> {
    in_range(
        name,
        value,
        (0.0..1.0).contains(&value),
        "must lie in [0, 1)",
    )
}

/// `Ok` if `value` lies in `[0, 1]`.
fn unit_closed(name: &'static str, value: f64) -> Result<()> {
    in_range(
        name,
        value,
        (0.0..=1.0).contains(&value),
        "must lie in [0, 1]",
    )
}

/// `Ok` if `value` lies in `(0, 1]`.
fn unit_left_open(name: &'static str, value: f64) -> Result<()> {
    in_range(
        name,
        value,
        value > 0.0 && value <= 1.0,
        "must lie in (0, 1]",
    )
}

/// What every optimizer keeps besides its own buffers: where each parameter's state
/// lives, the step count, the learning rate and the update norms.
#[derive(Clone, Debug)]
struct Core<T> {
    /// Learning rate, checked.
    lr: f64,
    /// Steps taken so far.
    steps: u64,
    /// Parameter names in visit order, recorded on the first step.
    names: Vec<&'static str>,
    /// `offsets[i]..offsets[i + 1]` is parameter `i`'s slice of the flat state
    /// buffers; empty before the first step.
    offsets: Vec<usize>,
    /// Whether update norms are tracked.
    track: bool,
    /// The last step's update norms, sized once.
    norms: Vec<(&'static str, T)>,
}

impl<T: Real> Core<T> {
    fn new(lr: f64) -> Self {
        Core {
            lr,
            steps: 0,
            names: Vec::new(),
            offsets: Vec::new(),
            track: false,
            norms: Vec::new(),
        }
    }

    /// Replaces the step count, the learning rate and the layout (recorded from
    /// `model`, or cleared for `steps == 0`), as [`OptimizerState::restore_state`]
    /// does after its checks.
    fn restore<M: Parameters<T> + ?Sized>(&mut self, model: &M, steps: u64, lr: f64) {
        self.lr = lr;
        self.steps = steps;
        self.names.clear();
        self.offsets.clear();
        if steps > 0 {
            let (names, offsets) = (&mut self.names, &mut self.offsets);
            offsets.push(0);
            model.visit_params(&mut |name, v| {
                names.push(name);
                offsets.push(offsets[offsets.len() - 1] + v.len());
            });
        }
        self.norms.clear();
        self.size_norms();
    }

    /// Total number of scalars over all parameters (0 before the first step).
    fn total(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        non_negative("learning rate", lr)?;
        self.lr = lr;
        Ok(())
    }

    fn set_tracking(&mut self, on: bool) {
        self.track = on;
        if on {
            self.size_norms();
        } else {
            self.norms.clear();
        }
    }

    /// Makes `norms` hold one entry per parameter (allocates at most once).
    fn size_norms(&mut self) {
        if self.track && self.norms.len() != self.names.len() {
            self.norms.clear();
            self.norms
                .extend(self.names.iter().map(|&name| (name, T::zero())));
        }
    }

    /// Records the layout on the first step, or checks the model and its gradients
    /// against it on later steps; then counts the step and returns its number
    /// (1 on the first step), as PyTorch's `state["step"]`.
    fn begin<M: Parameters<T> + ?Sized>(
        &mut self,
        op: &'static str,
        model: &M,
        grads: &M::Grads,
    ) -> Result<u64> {
        if self.offsets.is_empty() {
            let (names, offsets) = (&mut self.names, &mut self.offsets);
            offsets.push(0);
            model.visit_params(&mut |name, v| {
                names.push(name);
                offsets.push(offsets[offsets.len() - 1] + v.len());
            });
            if let Err(e) = self.check(op, model, grads) {
                self.names.clear();
                self.offsets.clear();
                return Err(e);
            }
        } else {
            self.check(op, model, grads)?;
        }
        self.size_norms();
        self.steps += 1;
        Ok(self.steps)
    }

    /// Checks parameters and gradients against the recorded layout.
    fn check<M: Parameters<T> + ?Sized>(
        &self,
        op: &'static str,
        model: &M,
        grads: &M::Grads,
    ) -> Result<()> {
        let n = self.names.len();
        let mut walk = Walk {
            op,
            offsets: &self.offsets,
            seen: 0,
            err: None,
        };
        model.visit_params(&mut |name, v| walk.see(name, v.len()));
        let params = core::mem::take(&mut walk.seen);
        grads.visit_grads(&mut |name, g| walk.see(name, g.len()));
        for found in [params, walk.seen] {
            if found != n {
                return Err(Error::ParameterCountMismatch {
                    op,
                    expected: n,
                    found,
                });
            }
        }
        walk.err.map_or(Ok(()), Err)
    }

    /// The recorded layout and a fresh [`Tally`] for one step's update loops.
    fn tally(&mut self) -> (&[usize], Tally<'_, T>) {
        let tally = Tally {
            track: self.track,
            norms: &mut self.norms,
            index: 0,
            diverged: None,
        };
        (&self.offsets, tally)
    }
}

/// What a step's update loops report, collected parameter by parameter in visit
/// order: the update norms (if tracked) and the first parameter made non-finite.
struct Tally<'a, T> {
    /// Whether update norms are tracked.
    track: bool,
    /// Where the norms go, one entry per parameter when tracking.
    norms: &'a mut [(&'static str, T)],
    /// Index of the next parameter, in visit order.
    index: usize,
    /// The first parameter whose new values were not all finite.
    diverged: Option<&'static str>,
}

impl<T: Real> Tally<'_, T> {
    /// Records parameter `name`'s update (one branch per parameter, none per value)
    /// and moves on to the next parameter.
    #[inline]
    fn see(&mut self, name: &'static str, up: Updated<T>) {
        if self.track {
            self.norms[self.index].1 = up.sum_sq.sqrt();
        }
        if !up.finite && self.diverged.is_none() {
            self.diverged = Some(name);
        }
        self.index += 1;
    }

    /// `Err(ParametersDiverged)` naming the first non-finite parameter, if any.
    fn finish(self) -> Result<()> {
        match self.diverged {
            Some(name) => Err(Error::ParametersDiverged { name }),
            None => Ok(()),
        }
    }
}

/// One read-only walk over parameters (or gradients), comparing lengths with the
/// recorded layout and keeping the first mismatch.
struct Walk<'a> {
    op: &'static str,
    offsets: &'a [usize],
    seen: usize,
    err: Option<Error>,
}

impl Walk<'_> {
    fn see(&mut self, name: &'static str, len: usize) {
        let i = self.seen;
        self.seen += 1;
        if self.err.is_some() || i + 1 >= self.offsets.len() {
            return;
        }
        let expected = self.offsets[i + 1] - self.offsets[i];
        if len != expected {
            self.err = Some(Error::ParameterLengthMismatch {
                op: self.op,
                index: i,
                name,
                expected,
                found: len,
            });
        }
    }
}

/// What [`update_each`] reports about one parameter's update.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Updated<T> {
    /// Squared L2 norm of the change; zero unless tracking.
    sum_sq: T,
    /// Whether every new value is finite.
    finite: bool,
}

impl<T> Updated<T> {
    /// A report from an update loop of an optimizer's own.
    pub(crate) fn new(sum_sq: T, finite: bool) -> Self {
        Updated { sum_sq, finite }
    }
}

/// Replaces every `x[i]` by `new(i, x[i])`; reports whether every new value is
/// finite, and the squared norm of the change when `track` is on (zero otherwise).
///
/// The two cases are separate loops: a running sum is a chain of dependent additions
/// that keeps the loop from vectorizing, so it is only paid for when asked for. The
/// finiteness flag is an OR of comparisons, which is associative, so it vectorizes
/// (a mask OR per vector of values) and adds no branch per value.
#[inline(always)]
fn update_each<T: Real>(
    track: bool,
    x: &mut [T],
    mut new: impl FnMut(usize, T) -> T,
) -> Updated<T> {
    let mut sum_sq = T::zero();
    let mut bad = false;
    if track {
        for (i, x) in x.iter_mut().enumerate() {
            let n = new(i, *x);
            bad |= !n.is_finite();
            sum_sq += (n - *x) * (n - *x);
            *x = n;
        }
    } else {
        for (i, x) in x.iter_mut().enumerate() {
            let n = new(i, *x);
            bad |= !n.is_finite();
            *x = n;
        }
    }
    Updated {
        sum_sq,
        finite: !bad,
    }
}
