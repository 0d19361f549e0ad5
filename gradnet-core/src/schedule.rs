//! Learning-rate schedules: the learning rate as a function of the epoch.
//!
//! | gradnet               | formula                                               | PyTorch                                        |
//! |-----------------------|-------------------------------------------------------|------------------------------------------------|
//! | [`Constant`]          | `lr`                                                  | (no scheduler)                                 |
//! | [`StepLr`]            | `base * gamma^floor(epoch / step_size)`               | `torch.optim.lr_scheduler.StepLR`              |
//! | [`CosineAnnealingLr`] | `eta_min + (base - eta_min) (1 + cos(pi epoch / t_max)) / 2` | `torch.optim.lr_scheduler.CosineAnnealingLR` |
//! | [`LinearWarmup`]      | `inner(epoch) * (s + (1 - s) min(epoch, warmup) / warmup)` | `LinearLR(start_factor = s, total_iters = warmup)` chained with `inner` |
//!
//! The schedules are closed forms (PyTorch's `_get_closed_form_lr`), so the rate at
//! an epoch does not depend on which epochs were visited before. Like PyTorch's,
//! the cosine continues past `t_max` (the rate rises again towards `base` over the
//! next `t_max` epochs).
//!
//! The constructors check their settings and return [`Error::InvalidParameter`]
//! otherwise (NaN is rejected everywhere): rates finite and `>= 0` (a schedule may
//! reach 0), periods at least 1, `StepLr`'s `gamma` finite and `> 0`, and
//! `CosineAnnealingLr`'s `eta_min` between 0 and `base_lr`, `LinearWarmup`'s start
//! factor in `(0, 1]`.
//!
//! ```
//! use gradnet_core::optim::{Optimizer, SgdConfig};
//! use gradnet_core::schedule::{LrSchedule, StepLr};
//! let schedule = StepLr::new(0.1, 30, 0.1)?;
//! let mut opt = SgdConfig::new(0.1).build::<f32>()?;
//! for epoch in 0..90 {
//!     schedule.apply(epoch, &mut opt)?;
//!     // ... the epoch's steps ...
//! }
//! assert!((opt.learning_rate() - 0.001).abs() < 1e-15); // 0.1 * 0.1^2
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::optim::{in_range, non_negative as check_rate, positive, Optimizer};
use crate::real::Real;

/// A learning rate for every epoch.
pub trait LrSchedule {
    /// The learning rate for `epoch` (counted from 0).
    fn lr_at(&self, epoch: usize) -> f64;

    /// Sets `opt`'s learning rate to [`lr_at(epoch)`](Self::lr_at).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the rate is negative or not finite; `opt`'s
    /// rate is left unchanged then. Of this module's schedules only a [`StepLr`]
    /// with `gamma > 1` produces such a rate, once `gamma^k` overflows.
    fn apply<T: Real, O: Optimizer<T>>(&self, epoch: usize, opt: &mut O) -> Result<()>
    where
        Self: Sized,
    {
        opt.set_learning_rate(self.lr_at(epoch))
    }
}

/// `Ok` if the period `value` is at least 1.
fn check_period(name: &'static str, value: usize) -> Result<()> {
    if value >= 1 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value: value as f64,
            reason: "must be at least 1",
        })
    }
}

/// The same learning rate at every epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant {
    lr: f64,
}

impl Constant {
    /// A constant rate `lr`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `lr` is negative or not finite.
    pub fn new(lr: f64) -> Result<Self> {
        check_rate("learning rate", lr)?;
        Ok(Constant { lr })
    }
}

impl LrSchedule for Constant {
    fn lr_at(&self, _epoch: usize) -> f64 {
        self.lr
    }
}

/// `base_lr * gamma^floor(epoch / step_size)`: the rate drops by `gamma` every
/// `step_size` epochs, `torch.optim.lr_scheduler.StepLR`.
///
/// `gamma` must be finite and `> 0`. PyTorch accepts any `gamma`; here 0 is rejected
/// (the rate would drop to 0 for good after the first period) and so is a negative
/// `gamma` (every other period would have a negative rate). A `gamma > 1` is
/// accepted and makes the rate grow: once it overflows, [`LrSchedule::apply`]
/// returns an error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLr {
    base_lr: f64,
    step_size: usize,
    gamma: f64,
}

impl StepLr {
    /// A step schedule (PyTorch's default `gamma` is `0.1`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `base_lr` is negative or not finite, `gamma`
    /// is not both finite and `> 0`, or `step_size` is 0.
    pub fn new(base_lr: f64, step_size: usize, gamma: f64) -> Result<Self> {
        check_rate("base_lr", base_lr)?;
        check_period("step_size", step_size)?;
        positive("gamma", gamma)?;
        Ok(StepLr {
            base_lr,
            step_size,
            gamma,
        })
    }
}

impl LrSchedule for StepLr {
    fn lr_at(&self, epoch: usize) -> f64 {
        self.base_lr * self.gamma.powf((epoch / self.step_size) as f64)
    }
}

/// `eta_min + (base_lr - eta_min) (1 + cos(pi epoch / t_max)) / 2`: half a cosine
/// from `base_lr` at epoch 0 down to `eta_min` at `t_max`,
/// `torch.optim.lr_scheduler.CosineAnnealingLR` (closed form).
///
/// `eta_min` must lie in `[0, base_lr]`, so every rate lies in `[eta_min, base_lr]`
/// (PyTorch does not check; an `eta_min` above `base_lr` would turn the annealing
/// upside down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineAnnealingLr {
    base_lr: f64,
    t_max: usize,
    eta_min: f64,
}

impl CosineAnnealingLr {
    /// A cosine schedule (PyTorch's default `eta_min` is 0).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `base_lr` is negative or not finite, `t_max`
    /// is 0, or `eta_min` lies outside `[0, base_lr]` (or is NaN).
    pub fn new(base_lr: f64, t_max: usize, eta_min: f64) -> Result<Self> {
        check_rate("base_lr", base_lr)?;
        check_period("t_max", t_max)?;
        // base_lr is finite, so this also rejects an infinite eta_min; NaN fails both
        // comparisons.
        in_range(
            "eta_min",
            eta_min,
            eta_min >= 0.0 && eta_min <= base_lr,
            "must be finite, >= 0 and <= base_lr",
        )?;
        Ok(CosineAnnealingLr {
            base_lr,
            t_max,
            eta_min,
        })
    }
}

impl LrSchedule for CosineAnnealingLr {
    fn lr_at(&self, epoch: usize) -> f64 {
        let phase = core::f64::consts::PI * epoch as f64 / self.t_max as f64;
        self.eta_min + (self.base_lr - self.eta_min) * (1.0 + phase.cos()) / 2.0
    }
}

/// Another schedule's rate, multiplied by a factor that rises linearly from
/// `start_factor` at epoch 0 to 1 at `warmup` and stays 1 after: the gradual warmup
/// of Goyal et al. (2017), which deep residual networks train with at large rates.
/// PyTorch's `LinearLR(opt, start_factor, total_iters = warmup)` chained with the
/// inner scheduler (`ChainedScheduler`). Stepped per batch (as
/// `gradnet::fit::ScheduleStep::Batch` does), `warmup` counts steps.
///
/// ```
/// use gradnet_core::schedule::{Constant, LinearWarmup, LrSchedule};
/// let s = LinearWarmup::new(Constant::new(0.1)?, 10, 0.1)?;
/// assert!((s.lr_at(0) - 0.01).abs() < 1e-15);
/// assert!((s.lr_at(5) - 0.055).abs() < 1e-15);
/// assert_eq!(s.lr_at(10), 0.1);
/// assert_eq!(s.lr_at(1000), 0.1);
/// # Ok::<(), gradnet_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearWarmup<S> {
    inner: S,
    warmup: usize,
    start_factor: f64,
}

impl<S: LrSchedule> LinearWarmup<S> {
    /// `inner`, warmed up over `warmup` epochs (or steps) from `start_factor` times
    /// its rate.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `warmup` is 0 or `start_factor` is outside
    /// `(0, 1]` (or NaN), as PyTorch's `LinearLR` requires.
    pub fn new(inner: S, warmup: usize, start_factor: f64) -> Result<Self> {
        check_period("warmup", warmup)?;
        in_range(
            "start_factor",
            start_factor,
            start_factor > 0.0 && start_factor <= 1.0,
            "must be in (0, 1]",
        )?;
        Ok(LinearWarmup {
            inner,
            warmup,
            start_factor,
        })
    }
}

impl<S: LrSchedule> LrSchedule for LinearWarmup<S> {
    fn lr_at(&self, epoch: usize) -> f64 {
        let done = epoch.min(self.warmup) as f64 / self.warmup as f64;
        self.inner.lr_at(epoch) * (self.start_factor + (1.0 - self.start_factor) * done)
    }
}
