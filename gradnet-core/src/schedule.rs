//! Learning-rate schedules: the learning rate as a function of the epoch.
//!
//! | gradnet               | formula                                               | PyTorch                                        |
//! |-----------------------|-------------------------------------------------------|------------------------------------------------|
//! | [`Constant`]          | `lr`                                                  | (no scheduler)                                 |
//! | [`StepLr`]            | `base * gamma^floor(epoch / step_size)`               | `torch.optim.lr_scheduler.StepLR`              |
//! | [`CosineAnnealingLr`] | `eta_min + (base - eta_min) (1 + cos(pi epoch / t_max)) / 2` | `torch.optim.lr_scheduler.CosineAnnealingLR` |
//!
//! The schedules are closed forms (PyTorch's `_get_closed_form_lr`), so the rate at
//! an epoch does not depend on which epochs were visited before. Like PyTorch's,
//! the cosine continues past `t_max` (the rate rises again towards `base` over the
//! next `t_max` epochs).
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
use crate::optim::{non_negative as check_rate, Optimizer};
use crate::real::Real;

/// A learning rate for every epoch.
pub trait LrSchedule {
    /// The learning rate for `epoch` (counted from 0).
    fn lr_at(&self, epoch: usize) -> f64;

    /// Sets `opt`'s learning rate to [`lr_at(epoch)`](Self::lr_at).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the rate is negative or not finite (which the
    /// schedules of this module never produce).
    fn apply<T: Real, O: Optimizer<T>>(&self, epoch: usize, opt: &mut O) -> Result<()>
    where
        Self: Sized,
    {
        opt.set_learning_rate(self.lr_at(epoch))
    }
}

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
    /// [`Error::InvalidParameter`] if `base_lr` or `gamma` is negative or not finite,
    /// or `step_size` is 0.
    pub fn new(base_lr: f64, step_size: usize, gamma: f64) -> Result<Self> {
        check_rate("base_lr", base_lr)?;
        check_period("step_size", step_size)?;
        check_rate("gamma", gamma)?;
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
    /// [`Error::InvalidParameter`] if `base_lr` or `eta_min` is negative or not
    /// finite, or `t_max` is 0.
    pub fn new(base_lr: f64, t_max: usize, eta_min: f64) -> Result<Self> {
        check_rate("base_lr", base_lr)?;
        check_period("t_max", t_max)?;
        check_rate("eta_min", eta_min)?;
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
