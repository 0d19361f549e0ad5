//! Adam and AdamW, `torch.optim.Adam` and `torch.optim.AdamW`.
//! The update rule is in the documentation of [`Adam`].

use super::{
    check_restore, non_negative, positive, unit_open, update_each, visit_buffers, Core, Optimizer,
    OptimizerState, Updated,
};
use crate::error::Result;
use crate::params::Parameters;
use crate::real::Real;

/// How weight decay enters an Adam step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WeightDecay {
    /// `g = grad + wd * p`, the L2 penalty of `torch.optim.Adam`; `wd` finite and
    /// `>= 0`.
    L2(f64),
    /// `p = p * (1 - lr * wd)` before the update, `torch.optim.AdamW`; `wd` finite
    /// and `>= 0`.
    Decoupled(f64),
}

impl WeightDecay {
    /// The decay factor `wd`.
    pub fn amount(self) -> f64 {
        match self {
            WeightDecay::L2(wd) | WeightDecay::Decoupled(wd) => wd,
        }
    }

    /// The same kind of decay with factor `wd`.
    pub fn with_amount(self, wd: f64) -> Self {
        match self {
            WeightDecay::L2(_) => WeightDecay::L2(wd),
            WeightDecay::Decoupled(_) => WeightDecay::Decoupled(wd),
        }
    }
}

/// Hyper-parameters of [`Adam`] (and AdamW), PyTorch's names and defaults.
///
/// ```
/// use gradnet_core::optim::{AdamConfig, WeightDecay};
/// let adamw = AdamConfig::adamw().lr(3e-4).build::<f32>()?;
/// assert_eq!(adamw.config().weight_decay, WeightDecay::Decoupled(1e-2));
/// assert!(AdamConfig::default().betas(0.9, 1.0).build::<f32>().is_err());
/// # Ok::<(), gradnet_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (default `1e-3`), finite and `>= 0`.
    pub lr: f64,
    /// Decay rates of the first and second moments (default `(0.9, 0.999)`), each
    /// in `[0, 1)`.
    pub betas: (f64, f64),
    /// Added to the denominator (default `1e-8`), finite and `> 0`: stricter than
    /// PyTorch, which accepts 0, because with `eps = 0` a value whose gradients have
    /// all been zero computes `0 / 0` and becomes NaN.
    pub eps: f64,
    /// Weight decay: `L2(0)` for Adam, `Decoupled(1e-2)` for AdamW; the factor is
    /// finite and `>= 0`.
    pub weight_decay: WeightDecay,
    /// The AMSGrad variant (default off).
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    /// `torch.optim.Adam`'s defaults.
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: WeightDecay::L2(0.0),
            amsgrad: false,
        }
    }
}

impl AdamConfig {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f64) -> Self {
        AdamConfig {
            lr,
            ..Self::default()
        }
    }

    /// `torch.optim.AdamW`'s defaults: as Adam, with decoupled weight decay `1e-2`.
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: WeightDecay::Decoupled(1e-2),
            ..Self::default()
        }
    }

    /// Sets the learning rate.
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }

    /// Sets the moment decay rates.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }

    /// Sets the term added to the denominator.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the weight decay factor, keeping its kind (L2 for Adam, decoupled for
    /// AdamW).
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = self.weight_decay.with_amount(wd);
        self
    }

    /// Sets the weight decay, kind and factor.
    pub fn decay(mut self, decay: WeightDecay) -> Self {
        self.weight_decay = decay;
        self
    }

    /// Turns the AMSGrad variant on or off.
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.amsgrad = amsgrad;
        self
    }

    /// Checks the hyper-parameters.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] if `lr` or the weight decay factor (of
    /// either kind) is negative or not finite, `eps` is not both finite and `> 0` (0
    /// is rejected, see [`eps`](Self::eps)), or a beta lies outside `[0, 1)`. NaN
    /// lies outside every range.
    pub fn validate(&self) -> Result<()> {
        non_negative("learning rate", self.lr)?;
        unit_open("beta1", self.betas.0)?;
        unit_open("beta2", self.betas.1)?;
        positive("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay.amount())
    }

    /// The optimizer, after [`validate`](Self::validate).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn build<T: Real>(self) -> Result<Adam<T>> {
        Adam::new(self)
    }
}

/// Adam or AdamW (by its [`WeightDecay`]), optionally AMSGrad.
///
/// From the pseudo-code of PyTorch's documentation (`maximize` off), with learning
/// rate `lr`, betas `b1, b2`, weight decay `wd`, per step `t >= 1`:
///
/// ```text
/// p = p * (1 - lr * wd)                  (AdamW: decoupled decay)
/// g = grad + wd * p                      (Adam: L2 penalty, if wd != 0)
/// m = b1 * m + (1 - b1) * g
/// v = b2 * v + (1 - b2) * g^2
/// m_hat = m / (1 - b1^t)
/// v_max = max(v_max, v)                  (amsgrad)
/// v_hat = v_max / (1 - b2^t)             (amsgrad; otherwise v / (1 - b2^t))
/// p = p - lr * m_hat / (sqrt(v_hat) + eps)
/// ```
///
/// With amsgrad the maximum is taken over the raw second moments and bias-corrected
/// afterwards, as PyTorch's code does and its documentation says since
/// pytorch/pytorch#142351 (earlier pages took the maximum of `v_hat`).
///
/// Defaults as in PyTorch: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`, no
/// amsgrad; weight decay `L2(0)` for Adam ([`AdamConfig::default`]) and
/// `Decoupled(1e-2)` for AdamW ([`AdamConfig::adamw`]). The ranges of the settings
/// are in [`AdamConfig`]'s field docs; an update that overflows is reported as
/// [`crate::Error::ParametersDiverged`] (see [`Optimizer::step`]).
#[derive(Clone, Debug)]
pub struct Adam<T> {
    cfg: AdamConfig,
    core: Core<T>,
    /// First moments, one slice per parameter.
    m: Vec<T>,
    /// Second moments.
    v: Vec<T>,
    /// Running maxima of the second moments; empty without amsgrad.
    v_max: Vec<T>,
}

impl<T: Real> Adam<T> {
    /// An optimizer with the given hyper-parameters and no state yet.
    ///
    /// # Errors
    /// As [`AdamConfig::validate`].
    pub fn new(cfg: AdamConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Adam {
            cfg,
            core: Core::new(cfg.lr),
            m: Vec::new(),
            v: Vec::new(),
            v_max: Vec::new(),
        })
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> AdamConfig {
        AdamConfig {
            lr: self.core.lr,
            ..self.cfg
        }
    }

    /// Steps taken so far (the `t` of the bias corrections).
    pub fn steps(&self) -> u64 {
        self.core.steps
    }
}

impl<T: Real> Optimizer<T> for Adam<T> {
    fn step<M: Parameters<T> + ?Sized>(&mut self, model: &mut M, grads: &M::Grads) -> Result<()> {
        let t = self.core.begin("Adam::step", model, grads)?;
        let total = self.core.total();
        if self.m.len() != total {
            self.m.resize(total, T::zero());
            self.v.resize(total, T::zero());
            if self.cfg.amsgrad {
                self.v_max.resize(total, T::zero());
            }
        }
        let amsgrad = self.cfg.amsgrad;
        let (beta1, beta2) = self.cfg.betas;
        let lr = self.core.lr;
        // The scalars in f64, as PyTorch computes them in Python floats.
        let bias1 = 1.0 - beta1.powf(t as f64);
        let bias2_sqrt = T::of((1.0 - beta2.powf(t as f64)).sqrt());
        let step_size = T::of(lr / bias1);
        let (b1, b2) = (T::of(beta1), T::of(beta2));
        let (one_b1, one_b2) = (T::of(1.0 - beta1), T::of(1.0 - beta2));
        let eps = T::of(self.cfg.eps);
        let (l2, shrink) = match self.cfg.weight_decay {
            WeightDecay::L2(wd) => (wd, None),
            WeightDecay::Decoupled(wd) => (0.0, (wd != 0.0).then(|| T::of(1.0 - lr * wd))),
        };
        let decay_l2 = l2 != 0.0;
        let l2 = T::of(l2);

        let (offsets, mut tally) = self.core.tally();
        let track = tally.track;
        let (ms, vs, v_maxs) = (&mut self.m, &mut self.v, &mut self.v_max);
        model.visit_params_mut(grads, &mut |p| {
            let i = tally.index;
            let r = offsets[i]..offsets[i + 1];
            let (m, v) = (&mut ms[r.clone()], &mut vs[r.clone()]);
            let v_max = if amsgrad { &mut v_maxs[r] } else { &mut [][..] };
            // Every slice cut to the same length, so the loops carry no bounds checks
            // and vectorize.
            let n = p.value.len();
            let (grad, m, v) = (&p.grad[..n], &mut m[..n], &mut v[..n]);
            // Separate loops with and without AMSGrad, so neither carries the other's
            // branch.
            let up = if amsgrad {
                let v_max = &mut v_max[..n];
                update_each(
                    track,
                    p.value,
                    #[inline(always)]
                    move |j, old| {
                        let g = if decay_l2 {
                            grad[j] + l2 * old
                        } else {
                            grad[j]
                        };
                        m[j] = b1 * m[j] + one_b1 * g;
                        v[j] = b2 * v[j] + one_b2 * g * g;
                        // A NaN propagates, as with torch.maximum.
                        if v[j] > v_max[j] || v[j].is_nan() {
                            v_max[j] = v[j];
                        }
                        let denom = v_max[j].sqrt() / bias2_sqrt + eps;
                        shrink.map_or(old, |s| old * s) - step_size * (m[j] / denom)
                    },
                )
            } else {
                let k = Scalars {
                    b1,
                    b2,
                    one_b1,
                    one_b2,
                    bias2_sqrt,
                    eps,
                    step_size,
                    l2: decay_l2.then_some(l2),
                    shrink,
                };
                adam_update(track, p.value, grad, m, v, &k)
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

impl<T: Real> OptimizerState<T> for Adam<T> {
    fn kind(&self) -> &'static str {
        "adam"
    }

    fn settings(&self) -> Vec<(&'static str, f64)> {
        let (decay, amount) = match self.cfg.weight_decay {
            WeightDecay::L2(wd) => (0.0, wd),
            WeightDecay::Decoupled(wd) => (1.0, wd),
        };
        vec![
            ("beta1", self.cfg.betas.0),
            ("beta2", self.cfg.betas.1),
            ("eps", self.cfg.eps),
            ("weight_decay", amount),
            ("decoupled_weight_decay", decay),
            ("amsgrad", f64::from(u8::from(self.cfg.amsgrad))),
        ]
    }

    fn steps(&self) -> u64 {
        self.core.steps
    }

    fn state_names(&self) -> &'static [&'static str] {
        if self.cfg.amsgrad {
            &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        } else {
            &["exp_avg", "exp_avg_sq"]
        }
    }

    fn visit_state(&self, f: &mut dyn FnMut(&'static str, &'static str, &[T])) {
        let names = self.state_names();
        visit_buffers(&self.core, names, &[&self.m, &self.v, &self.v_max], f);
    }

    fn restore_state<M: Parameters<T> + ?Sized>(
        &mut self,
        model: &M,
        steps: u64,
        lr: f64,
        buffers: Vec<Vec<T>>,
    ) -> Result<()> {
        let names = self.state_names();
        check_restore("Adam::restore_state", names, model, steps, lr, &buffers)?;
        self.core.restore(model, steps, lr);
        let mut it = buffers.into_iter();
        self.m = it.next().unwrap_or_default();
        self.v = it.next().unwrap_or_default();
        self.v_max = it.next().unwrap_or_default();
        Ok(())
    }
}

/// The per-step constants of an Adam update.
struct Scalars<T> {
    b1: T,
    b2: T,
    one_b1: T,
    one_b2: T,
    bias2_sqrt: T,
    eps: T,
    step_size: T,
    /// The L2 penalty, if any.
    l2: Option<T>,
    /// AdamW's `1 - lr * weight_decay`, if any.
    shrink: Option<T>,
}

/// One Adam update (without AMSGrad) of one parameter's values: a function of its
/// own, so that its slices are arguments that the compiler knows do not overlap,
/// and the loop vectorizes (captured by a closure, they were reloaded and
/// updated one value at a time: 13 ns per value in the digits example).
#[inline(never)]
fn adam_update<T: Real>(
    track: bool,
    x: &mut [T],
    grad: &[T],
    m: &mut [T],
    v: &mut [T],
    k: &Scalars<T>,
) -> Updated<T> {
    let n = x.len();
    let (grad, m, v) = (&grad[..n], &mut m[..n], &mut v[..n]);
    let &Scalars {
        b1,
        b2,
        one_b1,
        one_b2,
        bias2_sqrt,
        eps,
        step_size,
        l2,
        shrink,
    } = k;
    update_each(
        track,
        x,
        #[inline(always)]
        move |j, old| {
            let g = l2.map_or(grad[j], |l2| grad[j] + l2 * old);
            m[j] = b1 * m[j] + one_b1 * g;
            v[j] = b2 * v[j] + one_b2 * g * g;
            let denom = v[j].sqrt() / bias2_sqrt + eps;
            shrink.map_or(old, |s| old * s) - step_size * (m[j] / denom)
        },
    )
}
