//! Stochastic gradient descent with momentum, `torch.optim.SGD`.
//! The update rule is in the documentation of [`Sgd`].

use super::{
    check_restore, non_negative, unit_closed, unit_open, update_each, visit_buffers, Core,
    Optimizer, OptimizerState, Updated,
};
use crate::error::{Error, Result};
use crate::params::Parameters;
use crate::real::Real;

/// Hyper-parameters of [`Sgd`], PyTorch's names and defaults.
///
/// ```
/// use gradnet_core::optim::SgdConfig;
/// let opt = SgdConfig::new(0.1).momentum(0.9).nesterov(true).weight_decay(1e-4).build::<f32>()?;
/// assert_eq!(opt.config().momentum, 0.9);
/// assert!(SgdConfig::new(0.1).nesterov(true).build::<f32>().is_err()); // no momentum
/// # Ok::<(), gradnet_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (default `1e-3`), finite and `>= 0`.
    pub lr: f64,
    /// Momentum factor (default 0: plain SGD), in `[0, 1)`.
    pub momentum: f64,
    /// Dampening of the momentum (default 0), in `[0, 1]`; not applied on the first
    /// step.
    pub dampening: f64,
    /// Nesterov momentum (default off).
    pub nesterov: bool,
    /// L2 penalty added to the gradient (default 0), finite and `>= 0`.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        SgdConfig {
            lr,
            ..Self::default()
        }
    }

    /// Sets the learning rate.
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }

    /// Sets the momentum factor.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening of the momentum.
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Turns Nesterov momentum on or off.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Sets the L2 penalty.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Checks the hyper-parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `lr` or `weight_decay` is negative or not
    /// finite, `momentum` lies outside `[0, 1)` (PyTorch accepts any momentum `>= 0`,
    /// but from 1 on old gradients never fade from the momentum buffer, and above 1
    /// they grow geometrically), `dampening` lies outside `[0, 1]`, or `nesterov` is
    /// on without a positive momentum and zero dampening. NaN lies outside every
    /// range.
    pub fn validate(&self) -> Result<()> {
        non_negative("learning rate", self.lr)?;
        unit_open("momentum", self.momentum)?;
        unit_closed("dampening", self.dampening)?;
        non_negative("weight_decay", self.weight_decay)?;
        if self.nesterov && self.momentum == 0.0 {
            return Err(Error::InvalidParameter {
                name: "momentum",
                value: self.momentum,
                reason: "Nesterov momentum needs momentum > 0",
            });
        }
        if self.nesterov && self.dampening != 0.0 {
            return Err(Error::InvalidParameter {
                name: "dampening",
                value: self.dampening,
                reason: "Nesterov momentum needs zero dampening",
            });
        }
        Ok(())
    }

    /// The optimizer, after [`validate`](Self::validate).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn build<T: Real>(self) -> Result<Sgd<T>> {
        Sgd::new(self)
    }
}

/// SGD with optional momentum, Nesterov momentum and weight decay.
///
/// From the pseudo-code of PyTorch's documentation (`maximize` off), with learning
/// rate `lr`, weight decay `wd`, momentum `mu`, dampening `tau`, per step `t >= 1`:
///
/// ```text
/// g = grad + wd * p                      (if wd != 0)
/// if mu != 0:
///     b = g                              (t = 1: no dampening on the first step)
///     b = mu * b + (1 - tau) * g         (t > 1)
///     g = g + mu * b  if nesterov, else  g = b
/// p = p - lr * g
/// ```
///
/// Defaults as in PyTorch: `lr = 1e-3`, everything else 0 / off. Nesterov momentum
/// needs `momentum > 0` and `dampening = 0`. The ranges of the settings are in
/// [`SgdConfig`]'s field docs; an update that overflows is reported as
/// [`Error::ParametersDiverged`] (see [`Optimizer::step`]).
#[derive(Clone, Debug)]
pub struct Sgd<T> {
    cfg: SgdConfig,
    core: Core<T>,
    /// Momentum buffers, one slice per parameter; empty without momentum.
    buf: Vec<T>,
}

impl<T: Real> Sgd<T> {
    /// An optimizer with the given hyper-parameters and no state yet.
    ///
    /// # Errors
    /// As [`SgdConfig::validate`].
    pub fn new(cfg: SgdConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Sgd {
            cfg,
            core: Core::new(cfg.lr),
            buf: Vec::new(),
        })
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> SgdConfig {
        SgdConfig {
            lr: self.core.lr,
            ..self.cfg
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.core.steps
    }
}

impl<T: Real> Optimizer<T> for Sgd<T> {
    fn step<M: Parameters<T> + ?Sized>(&mut self, model: &mut M, grads: &M::Grads) -> Result<()> {
        let t = self.core.begin("Sgd::step", model, grads)?;
        let use_momentum = self.cfg.momentum != 0.0;
        if use_momentum && self.buf.len() != self.core.total() {
            self.buf.resize(self.core.total(), T::zero());
        }
        let first = t == 1;
        let nesterov = self.cfg.nesterov;
        let lr = T::of(self.core.lr);
        let wd = T::of(self.cfg.weight_decay);
        let decay = self.cfg.weight_decay != 0.0;
        let mu = T::of(self.cfg.momentum);
        let keep = T::of(1.0 - self.cfg.dampening);
        let (offsets, mut tally) = self.core.tally();
        let track = tally.track;
        let buf = &mut self.buf;
        model.visit_params_mut(grads, &mut |p| {
            let i = tally.index;
            let g = p.grad;
            assert_eq!(g.len(), p.value.len(), "a gradient per value");
            let up = if use_momentum {
                let b = &mut buf[offsets[i]..offsets[i + 1]];
                assert_eq!(b.len(), g.len(), "a momentum buffer per value");
                let k = Momentum {
                    lr,
                    wd: decay.then_some(wd),
                    mu,
                    keep,
                    first,
                    nesterov,
                };
                momentum_update(track, p.value, g, b, &k)
            } else if track {
                update_each(
                    track,
                    p.value,
                    #[inline(always)]
                    move |j, x| {
                        if decay {
                            x - lr * (g[j] + wd * x)
                        } else {
                            x - lr * g[j]
                        }
                    },
                )
            } else {
                if decay {
                    plain_update::<T, true>(p.value, g, lr, wd)
                } else {
                    plain_update::<T, false>(p.value, g, lr, wd)
                }
            };
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

impl<T: Real> OptimizerState<T> for Sgd<T> {
    fn kind(&self) -> &'static str {
        "sgd"
    }

    fn settings(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("momentum", self.cfg.momentum),
            ("dampening", self.cfg.dampening),
            ("nesterov", f64::from(u8::from(self.cfg.nesterov))),
            ("weight_decay", self.cfg.weight_decay),
        ]
    }

    fn steps(&self) -> u64 {
        self.core.steps
    }

    fn state_names(&self) -> &'static [&'static str] {
        if self.cfg.momentum != 0.0 {
            &["momentum_buffer"]
        } else {
            &[]
        }
    }

    fn visit_state(&self, f: &mut dyn FnMut(&'static str, &'static str, &[T])) {
        visit_buffers(&self.core, self.state_names(), &[&self.buf], f);
    }

    fn restore_state<M: Parameters<T> + ?Sized>(
        &mut self,
        model: &M,
        steps: u64,
        lr: f64,
        buffers: Vec<Vec<T>>,
    ) -> Result<()> {
        let names = self.state_names();
        check_restore("Sgd::restore_state", names, model, steps, lr, &buffers)?;
        self.core.restore(model, steps, lr);
        self.buf = buffers.into_iter().next().unwrap_or_default();
        Ok(())
    }
}

/// The per-step constants of an update with momentum.
struct Momentum<T> {
    lr: T,
    /// The weight decay, if any.
    wd: Option<T>,
    mu: T,
    /// `1 - dampening`.
    keep: T,
    /// The first step (the buffer starts as the gradient).
    first: bool,
    nesterov: bool,
}

/// One plain update `x -= lr (g + wd x)` of one parameter's values, without
/// tracking (the workloads' step), as a function of the slices (so they are known
/// not to overlap). The values up to the last multiple of 8 are one loop and the
/// rest another: the first loop's count is a known multiple of the vector width,
/// so a small parameter (a bias of 16) is all vector operations instead of
/// falling to the scalar remainder of a loop unrolled four vectors wide.
/// `DECAY` says whether `wd` is used (else the update is `x -= lr g`).
#[inline(never)]
fn plain_update<T: Real, const DECAY: bool>(x: &mut [T], g: &[T], lr: T, wd: T) -> Updated<T> {
    const CHUNK: usize = 8;
    let g = &g[..x.len()];
    let mut bad = false;
    let step = |x: T, g: T| {
        if DECAY {
            x - lr * (g + wd * x)
        } else {
            x - lr * g
        }
    };
    // The whole chunks as one plain loop (which the compiler vectorizes, `split`
    // being a known multiple of the vector width), then the rest.
    let split = x.len() / CHUNK * CHUNK;
    let (head, tail) = x.split_at_mut(split);
    for (x, &g) in head.iter_mut().zip(&g[..split]) {
        *x = step(*x, g);
        bad |= !x.is_finite();
    }
    for (x, &g) in tail.iter_mut().zip(&g[split..]) {
        *x = step(*x, g);
        bad |= !x.is_finite();
    }
    Updated::new(T::zero(), !bad)
}

/// One update with momentum of one parameter's values: a function of its own, so
/// that its slices are arguments the compiler knows do not overlap and the loop
/// vectorizes (as `adam_update`).
#[inline(never)]
fn momentum_update<T: Real>(
    track: bool,
    x: &mut [T],
    g: &[T],
    b: &mut [T],
    k: &Momentum<T>,
) -> Updated<T> {
    let n = x.len();
    let (g, b) = (&g[..n], &mut b[..n]);
    let &Momentum {
        lr,
        wd,
        mu,
        keep,
        first,
        nesterov,
    } = k;
    update_each(
        track,
        x,
        #[inline(always)]
        move |j, x| {
            let g = wd.map_or(g[j], |wd| g[j] + wd * x);
            b[j] = if first { g } else { mu * b[j] + keep * g };
            let d = if nesterov { g + mu * b[j] } else { b[j] };
            x - lr * d
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunked plain update against the formula at every length around the
    /// chunk (whole chunks, a tail, both), with and without decay; a non-finite
    /// result is reported wherever it falls, in a chunk or in the tail.
    #[test]
    fn plain_update_is_the_formula_and_sees_every_non_finite_value() {
        let (lr, wd) = (0.1f32, 0.01f32);
        for n in 0..27 {
            let x0: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let g: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.25).collect();
            let mut x = x0.clone();
            let up = plain_update::<f32, true>(&mut x, &g, lr, wd);
            assert!(up.finite, "n = {n}");
            for i in 0..n {
                assert_eq!(x[i], x0[i] - lr * (g[i] + wd * x0[i]), "n = {n}, i = {i}");
            }
            let mut x = x0.clone();
            assert!(plain_update::<f32, false>(&mut x, &g, lr, wd).finite);
            for i in 0..n {
                assert_eq!(x[i], x0[i] - lr * g[i], "n = {n}, i = {i}");
            }
            for bad in 0..n {
                let mut g = g.clone();
                g[bad] = f32::INFINITY;
                let mut x = x0.clone();
                let up = plain_update::<f32, false>(&mut x, &g, lr, wd);
                assert!(!up.finite, "n = {n}: the infinity at {bad} is seen");
            }
        }
    }
}
