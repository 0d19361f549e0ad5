//! RMSprop, `torch.optim.RMSprop`.
//! The update rule is in the documentation of [`RmsProp`].

use super::{
    check_restore, non_negative, positive, unit_left_open, unit_open, update_each, visit_buffers,
    Core, Optimizer, OptimizerState,
};
use crate::error::Result;
use crate::params::Parameters;
use crate::real::Real;

/// Hyper-parameters of [`RmsProp`], PyTorch's names and defaults.
///
/// ```
/// use gradnet_core::optim::RmsPropConfig;
/// let opt = RmsPropConfig::default().momentum(0.9).centered(true).build::<f32>()?;
/// assert_eq!(opt.config().lr, 1e-2);
/// assert!(RmsPropConfig::default().alpha(1.5).build::<f32>().is_err());
/// # Ok::<(), gradnet_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate (default `1e-2`), finite and `>= 0`.
    pub lr: f64,
    /// Smoothing constant of the squared-gradient average (default `0.99`), in
    /// `(0, 1]`.
    pub alpha: f64,
    /// Added to the denominator (default `1e-8`), finite and `> 0`: stricter than
    /// PyTorch, which accepts 0, because with `eps = 0` a zero gradient on a zero
    /// average computes `0 / 0` and the value becomes NaN.
    pub eps: f64,
    /// L2 penalty added to the gradient (default 0), finite and `>= 0`.
    pub weight_decay: f64,
    /// Momentum factor (default 0), in `[0, 1)`.
    pub momentum: f64,
    /// Normalize by an estimate of the gradient's variance instead of its second
    /// moment (default off).
    pub centered: bool,
}

impl Default for RmsPropConfig {
    /// `torch.optim.RMSprop`'s defaults.
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

impl RmsPropConfig {
    /// RMSprop with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f64) -> Self {
        RmsPropConfig {
            lr,
            ..Self::default()
        }
    }

    /// Sets the learning rate.
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }

    /// Sets the smoothing constant.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets the term added to the denominator.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the L2 penalty.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the momentum factor.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Turns the centered variant on or off.
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }

    /// Checks the hyper-parameters.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] if `lr` or `weight_decay` is negative or
    /// not finite, `eps` is not both finite and `> 0` (0 is rejected, see
    /// [`eps`](Self::eps)), `alpha` lies outside `(0, 1]`, or `momentum` outside
    /// `[0, 1)`. NaN lies outside every range.
    pub fn validate(&self) -> Result<()> {
        non_negative("learning rate", self.lr)?;
        unit_left_open("alpha", self.alpha)?;
        positive("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)?;
        unit_open("momentum", self.momentum)
    }

    /// The optimizer, after [`validate`](Self::validate).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn build<T: Real>(self) -> Result<RmsProp<T>> {
        RmsProp::new(self)
    }
}

/// RMSprop, optionally centered and with momentum.
///
/// From the pseudo-code of PyTorch's documentation (`maximize` off), with learning
/// rate `lr`, smoothing constant `alpha`, weight decay `wd`, momentum `mu`:
///
/// ```text
/// g = grad + wd * p                      (if wd != 0)
/// v = alpha * v + (1 - alpha) * g^2
/// v~ = v
/// if centered:
///     g_ave = alpha * g_ave + (1 - alpha) * g
///     v~ = v - g_ave^2
/// if mu > 0:
///     b = mu * b + g / (sqrt(v~) + eps)
///     p = p - lr * b
/// else:
///     p = p - lr * g / (sqrt(v~) + eps)
/// ```
///
/// `eps` is added after the square root (TensorFlow adds it inside). Defaults as in
/// PyTorch: `lr = 1e-2`, `alpha = 0.99`, `eps = 1e-8`, no weight decay, no momentum,
/// not centered. The ranges of the settings are in [`RmsPropConfig`]'s field docs;
/// an update that overflows is reported as [`crate::Error::ParametersDiverged`] (see
/// [`Optimizer::step`]).
#[derive(Clone, Debug)]
pub struct RmsProp<T> {
    cfg: RmsPropConfig,
    core: Core<T>,
    /// Running averages of the squared gradient, one slice per parameter.
    square_avg: Vec<T>,
    /// Running averages of the gradient; empty unless centered.
    grad_avg: Vec<T>,
    /// Momentum buffers; empty without momentum.
    buf: Vec<T>,
}

impl<T: Real> RmsProp<T> {
    /// An optimizer with the given hyper-parameters and no state yet.
    ///
    /// # Errors
    /// As [`RmsPropConfig::validate`].
    pub fn new(cfg: RmsPropConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(RmsProp {
            cfg,
            core: Core::new(cfg.lr),
            square_avg: Vec::new(),
            grad_avg: Vec::new(),
            buf: Vec::new(),
        })
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> RmsPropConfig {
        RmsPropConfig {
            lr: self.core.lr,
            ..self.cfg
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.core.steps
    }
}

impl<T: Real> Optimizer<T> for RmsProp<T> {
    fn step<M: Parameters<T> + ?Sized>(&mut self, model: &mut M, grads: &M::Grads) -> Result<()> {
        self.core.begin("RmsProp::step", model, grads)?;
        let total = self.core.total();
        let centered = self.cfg.centered;
        let use_momentum = self.cfg.momentum > 0.0;
        if self.square_avg.len() != total {
            self.square_avg.resize(total, T::zero());
            if centered {
                self.grad_avg.resize(total, T::zero());
            }
            if use_momentum {
                self.buf.resize(total, T::zero());
            }
        }
        let lr = T::of(self.core.lr);
        let alpha = T::of(self.cfg.alpha);
        let one_alpha = T::of(1.0 - self.cfg.alpha);
        let eps = T::of(self.cfg.eps);
        let decay = self.cfg.weight_decay != 0.0;
        let wd = T::of(self.cfg.weight_decay);
        let mu = T::of(self.cfg.momentum);

        let (offsets, mut tally) = self.core.tally();
        let track = tally.track;
        let (sq_avgs, g_avgs, bufs) = (&mut self.square_avg, &mut self.grad_avg, &mut self.buf);
        model.visit_params_mut(grads, &mut |p| {
            let i = tally.index;
            let r = offsets[i]..offsets[i + 1];
            let sq_avg = &mut sq_avgs[r.clone()];
            let g_avg = if centered {
                &mut g_avgs[r.clone()]
            } else {
                &mut [][..]
            };
            let buf = if use_momentum {
                &mut bufs[r]
            } else {
                &mut [][..]
            };
            let grad = p.grad;
            assert_eq!(grad.len(), p.value.len(), "a gradient per value");
            let up = update_each(
                track,
                p.value,
                #[inline(always)]
                move |j, old| {
                    let g = grad[j];
                    let g = if decay { g + wd * old } else { g };
                    sq_avg[j] = alpha * sq_avg[j] + one_alpha * g * g;
                    let var = if centered {
                        g_avg[j] = alpha * g_avg[j] + one_alpha * g;
                        sq_avg[j] - g_avg[j] * g_avg[j]
                    } else {
                        sq_avg[j]
                    };
                    let denom = var.sqrt() + eps;
                    if use_momentum {
                        buf[j] = mu * buf[j] + g / denom;
                        old - lr * buf[j]
                    } else {
                        old - lr * (g / denom)
                    }
                },
            );
            tally.see(p.name, up);
        });
        tally.finish()
    }

    fn learning_rate(&self) -> f64 {
        self.core.lr
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.core.set_lr(lr)
    }

    fn update_norms(&self) -> &[(&'static str, T)] {
        &self.core.norms
    }

    fn track_update_norms(&mut self, on: bool) {
        self.core.set_tracking(on);
    }
}

impl<T: Real> OptimizerState<T> for RmsProp<T> {
    fn kind(&self) -> &'static str {
        "rmsprop"
    }

    fn settings(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("alpha", self.cfg.alpha),
            ("eps", self.cfg.eps),
            ("weight_decay", self.cfg.weight_decay),
            ("momentum", self.cfg.momentum),
            ("centered", f64::from(u8::from(self.cfg.centered))),
        ]
    }

    fn steps(&self) -> u64 {
        self.core.steps
    }

    fn state_names(&self) -> &'static [&'static str] {
        match (self.cfg.centered, self.cfg.momentum > 0.0) {
            (false, false) => &["square_avg"],
            (true, false) => &["square_avg", "grad_avg"],
            (false, true) => &["square_avg", "momentum_buffer"],
            (true, true) => &["square_avg", "grad_avg", "momentum_buffer"],
        }
    }

    fn visit_state(&self, f: &mut dyn FnMut(&'static str, &'static str, &[T])) {
        let mut bufs = vec![&self.square_avg];
        if self.cfg.centered {
            bufs.push(&self.grad_avg);
        }
        if self.cfg.momentum > 0.0 {
            bufs.push(&self.buf);
        }
        visit_buffers(&self.core, self.state_names(), &bufs, f);
    }

    fn restore_state<M: Parameters<T> + ?Sized>(
        &mut self,
        model: &M,
        steps: u64,
        lr: f64,
        buffers: Vec<Vec<T>>,
    ) -> Result<()> {
        let names = self.state_names();
        check_restore("RmsProp::restore_state", names, model, steps, lr, &buffers)?;
        self.core.restore(model, steps, lr);
        let mut it = buffers.into_iter();
        self.square_avg = it.next().unwrap_or_default();
        self.grad_avg = if self.cfg.centered {
            it.next().unwrap_or_default()
        } else {
            Vec::new()
        };
        self.buf = if self.cfg.momentum > 0.0 {
            it.next().unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(())
    }
}
