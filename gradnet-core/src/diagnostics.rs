//! Gradient diagnostics: per-parameter norms after a step, vanishing and exploding
//! flags, and NaN/infinity detection.
//!
//! For every parameter `w` (in the model's order, by its `state_dict` name), with
//! gradient `g` and last optimizer update `dw`:
//!
//! ```text
//! grad norm      ||g||_2
//! param norm     ||w||_2
//! update/weight  ||dw||_2 / ||w||_2          (0 when dw = 0)
//! total          sqrt(sum over parameters of ||g||_2^2)
//! vanishing      ||g_first weight|| < vanishing_ratio * ||g_last weight||
//! exploding      total > exploding_norm
//! growing        total_t > growth_factor * total_(t-1) for growth_steps steps in a row
//! ```
//!
//! In PyTorch one writes `{n: p.grad.norm() for n, p in model.named_parameters()}` and
//! `torch.autograd.set_detect_anomaly(True)`; here a [`GradientReport`] holds the
//! table (reusing its storage step after step), a [`GradientMonitor`] adds the
//! step-over-step history, and [`check_finite`] is what generated code calls after
//! each layer when non-finite detection is switched on. The update/weight ratio is
//! the quantity of the usual rule of thumb (around `1e-3` is healthy; much smaller
//! means a layer barely learns, much larger that it is being thrown around).
//!
//! ```
//! use gradnet_core::{diagnostics::GradientReport, Dense, DenseGrads};
//! let layer = Dense::<f64, 2, 1>::from_parts(vec![3.0, 4.0], Some(vec![0.0]))?;
//! let mut grads = DenseGrads::zeros(true);
//! grads.weight_mut().copy_from_slice(&[0.6, 0.8]);
//! grads.bias_mut().unwrap()[0] = -2.0;
//! let report = GradientReport::collect(&layer, &grads, Some(&[("weight", 0.05), ("bias", 0.0)]))?;
//! let w = &report.rows()[0];
//! assert_eq!((w.name, w.param_norm, w.update_ratio), ("weight", 5.0, Some(0.01)));
//! assert!((w.grad_norm - 1.0).abs() < 1e-15);
//! assert!((report.total_grad_norm() - 5f64.sqrt()).abs() < 1e-15); // sqrt(1 + 4)
//! println!("{report}");
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use core::fmt;

use crate::clip::{hypot, l2_norm};
use crate::error::{Error, Result};
use crate::params::{Gradients, Parameters};
use crate::real::Real;
use crate::seq::Seq;

pub use crate::anomaly::{check_finite, check_finite_grads, check_finite_layer_grads, Pass};

/// The thresholds of the flags of a [`GradientReport`] and [`GradientMonitor`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Vanishing when the first weight's gradient norm is below this fraction of the
    /// last weight's. Default `1e-3`; `0` turns the check off.
    pub vanishing_ratio: f64,
    /// Exploding when the total gradient norm is above this. Default `1e3`; infinity
    /// turns the check off (a non-finite norm is flagged apart).
    pub exploding_norm: f64,
    /// A step "grows" when its total norm is above this factor times the previous
    /// step's. Default `2`; infinity turns the check off.
    pub growth_factor: f64,
    /// Growing when this many steps in a row grow. Default `3`.
    pub growth_steps: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            vanishing_ratio: 1e-3,
            exploding_norm: 1e3,
            growth_factor: 2.0,
            growth_steps: 3,
        }
    }
}

impl Thresholds {
    /// Checks every threshold.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad one: `vanishing_ratio` must be
    /// finite and `>= 0`, `exploding_norm` `> 0`, `growth_factor` `>= 1`,
    /// `growth_steps` `>= 1`.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, value: f64, reason| {
            Err(Error::InvalidParameter {
                name,
                value,
                reason,
            })
        };
        let r = self.vanishing_ratio;
        if !(r.is_finite() && r >= 0.0) {
            return bad("vanishing_ratio", r, "must be a finite number >= 0");
        }
        if self.exploding_norm.is_nan() || self.exploding_norm <= 0.0 {
            return bad("exploding_norm", self.exploding_norm, "must be > 0");
        }
        if self.growth_factor.is_nan() || self.growth_factor < 1.0 {
            return bad("growth_factor", self.growth_factor, "must be >= 1");
        }
        if self.growth_steps == 0 {
            return bad("growth_steps", 0.0, "must be at least 1");
        }
        Ok(())
    }
}

/// What a report found wrong; all `false` is healthy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// The first weight's gradient norm is below `vanishing_ratio` times the last's.
    pub vanishing: bool,
    /// The total gradient norm (before clipping, if known) is above `exploding_norm`.
    pub exploding: bool,
    /// The total norm grew by more than `growth_factor` for `growth_steps` steps in a
    /// row (set by a [`GradientMonitor`] only).
    pub growing: bool,
    /// Some gradient holds a NaN or infinity.
    pub non_finite: bool,
    /// The input gradient's norm at the first time step is below `vanishing_ratio`
    /// times its norm at the last (set only when the input gradient of a sequence
    /// was given, [`GradientReport::set_input_steps`]): the vanishing gradient over
    /// time.
    pub vanishing_over_time: bool,
}

impl Flags {
    /// Whether any flag is set.
    pub fn any(&self) -> bool {
        self.vanishing
            || self.exploding
            || self.growing
            || self.non_finite
            || self.vanishing_over_time
    }
}

/// One parameter's line in a [`GradientReport`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradientRow<T> {
    /// The parameter's name (`0.weight`).
    pub name: &'static str,
    /// Number of scalars in the parameter.
    pub len: usize,
    /// `||g||_2` of its gradient.
    pub grad_norm: T,
    /// `||w||_2` of its values.
    pub param_norm: T,
    /// `||dw||_2 / ||w||_2` of the last update, if update norms were given.
    pub update_ratio: Option<T>,
}

/// Placeholder name for "past the end" in [`Error::NameMismatch`].
const NOTHING: &str = "(nothing)";
const OP: &str = "gradient report";

/// Per-parameter gradient norms, parameter norms and update/weight ratios after a
/// step, with flags; printed as an aligned table by `Display`.
///
/// Collect it once with [`GradientReport::collect`], or keep one and refill it with
/// [`GradientReport::collect_into`], which reuses its storage so a report per step
/// allocates nothing after the first. Norms are accumulated in f64 and rounded to `T`.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientReport<T> {
    rows: Vec<GradientRow<T>>,
    total_grad_norm: T,
    total_param_norm: T,
    pre_clip_norm: Option<T>,
    /// Rows of the first and last weights, when there are two different ones.
    weights: Option<(usize, usize)>,
    growth_streak: usize,
    flags: Flags,
    thresholds: Thresholds,
    /// The input gradient's L2 norm at each time step, if given.
    input_steps: Vec<f64>,
}

impl<T: Real> Default for GradientReport<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real> GradientReport<T> {
    /// An empty report with the default [`Thresholds`].
    pub fn new() -> Self {
        GradientReport {
            rows: Vec::new(),
            total_grad_norm: T::zero(),
            total_param_norm: T::zero(),
            pre_clip_norm: None,
            weights: None,
            growth_streak: 0,
            flags: Flags::default(),
            thresholds: Thresholds::default(),
            input_steps: Vec::new(),
        }
    }

    /// An empty report with the given thresholds.
    ///
    /// # Errors
    /// Those of [`Thresholds::validate`].
    pub fn with_thresholds(thresholds: Thresholds) -> Result<Self> {
        thresholds.validate()?;
        Ok(GradientReport {
            thresholds,
            ..Self::new()
        })
    }

    /// A new report on `model` and its gradients `grads` (default thresholds); see
    /// [`GradientReport::collect_into`].
    ///
    /// # Errors
    /// Those of [`GradientReport::collect_into`].
    pub fn collect<M: Parameters<T>>(
        model: &M,
        grads: &M::Grads,
        update_norms: Option<&[(&'static str, T)]>,
    ) -> Result<Self> {
        let mut report = Self::new();
        report.collect_into(model, grads, update_norms)?;
        Ok(report)
    }

    /// Refills this report from `model`, its gradients `grads` and, if given, the norms
    /// of the last update of each parameter in the model's order (as an optimizer
    /// exposes them), reusing the report's storage. Clears any pre-clipping norm and
    /// growth history set before; the flags are evaluated with this report's thresholds.
    ///
    /// # Errors
    /// [`Error::NameMismatch`] if `grads` or `update_norms` do not name the model's
    /// parameters in the model's order, [`Error::WidthMismatch`] if a gradient's length
    /// differs from its parameter's. The report is then left empty.
    pub fn collect_into<M: Parameters<T>>(
        &mut self,
        model: &M,
        grads: &M::Grads,
        update_norms: Option<&[(&'static str, T)]>,
    ) -> Result<()> {
        let result = self.fill(model, grads, update_norms);
        if result.is_err() {
            self.rows.clear();
            self.total_grad_norm = T::zero();
            self.total_param_norm = T::zero();
            self.weights = None;
            self.flags = Flags::default();
        }
        result
    }

    fn fill<M: Parameters<T>>(
        &mut self,
        model: &M,
        grads: &M::Grads,
        update_norms: Option<&[(&'static str, T)]>,
    ) -> Result<()> {
        let rows = &mut self.rows;
        rows.clear();
        let mut param_total = 0.0f64;
        model.visit_params(&mut |name, w| {
            let n = l2_norm(w);
            param_total = hypot(param_total, n);
            rows.push(GradientRow {
                name,
                len: w.len(),
                grad_norm: T::zero(),
                param_norm: T::of(n),
                update_ratio: None,
            });
        });

        let (mut i, mut grad_total, mut non_finite) = (0, 0.0f64, false);
        let mut result = Ok(());
        grads.visit_grads(&mut |name, g| {
            if result.is_err() {
                return;
            }
            result = match rows.get_mut(i) {
                None => Err(mismatch(i, NOTHING, name)),
                Some(r) if r.name != name => Err(mismatch(i, r.name, name)),
                Some(r) if r.len != g.len() => Err(Error::WidthMismatch {
                    what: format!("{OP}: gradient of {name}"),
                    expected: r.len,
                    found: g.len(),
                }),
                Some(r) => {
                    let n = l2_norm(g);
                    non_finite |= !n.is_finite();
                    grad_total = hypot(grad_total, n);
                    r.grad_norm = T::of(n);
                    Ok(())
                }
            };
            i += 1;
        });
        result?;
        if i < rows.len() {
            return Err(mismatch(i, rows[i].name, NOTHING));
        }

        if let Some(updates) = update_norms {
            for (i, (r, &(name, u))) in rows.iter_mut().zip(updates).enumerate() {
                if r.name != name {
                    return Err(mismatch(i, r.name, name));
                }
                let (u, w) = (u.as_f64(), r.param_norm.as_f64());
                r.update_ratio = Some(T::of(if u == 0.0 { 0.0 } else { u / w }));
            }
            let n = rows.len();
            if updates.len() != n {
                let i = n.min(updates.len());
                let expected = rows.get(i).map_or(NOTHING, |r| r.name);
                let found = updates.get(i).map_or(NOTHING, |u| u.0);
                return Err(mismatch(i, expected, found));
            }
        }

        let first = rows.iter().position(|r| is_weight(r.name));
        let last = rows.iter().rposition(|r| is_weight(r.name));
        self.weights = match (first, last) {
            (Some(f), Some(l)) if f < l => Some((f, l)),
            _ => None,
        };
        self.total_grad_norm = T::of(grad_total);
        self.total_param_norm = T::of(param_total);
        self.pre_clip_norm = None;
        self.input_steps.clear();
        self.growth_streak = 0;
        self.flags = Flags {
            non_finite,
            ..Flags::default()
        };
        self.evaluate();
        Ok(())
    }

    /// Records the total gradient norm before clipping (what
    /// [`crate::clip::clip_grad_norm`] returns), so the exploding flag judges the
    /// gradients the backward pass produced rather than the clipped ones.
    pub fn set_pre_clip_norm(&mut self, norm: T) {
        self.pre_clip_norm = Some(norm);
        self.flags.non_finite |= !norm.is_finite();
        self.evaluate();
    }

    /// Records the gradient of the loss with respect to a sequence input (a
    /// network's `grads.input` after `loss_and_grad` with `with_input_grad`), as its
    /// L2 norm at each time step: how much each step's input matters to the loss.
    /// Norms that fall towards the first step are the vanishing gradient over time,
    /// which [`Flags::vanishing_over_time`] flags (first step below
    /// `vanishing_ratio` times the last). Reuses the report's storage.
    pub fn set_input_steps<const D: usize>(&mut self, input_grad: &Seq<T, D>) {
        input_grad.step_norms(&mut self.input_steps);
        self.evaluate();
    }

    /// The input gradient's norm at each time step, if
    /// [`GradientReport::set_input_steps`] was called since the last collect.
    pub fn input_step_norms(&self) -> &[f64] {
        &self.input_steps
    }

    /// The input gradient's norm at the first step over that at the last; `None`
    /// without a sequence input gradient (or with one step).
    pub fn first_last_step_ratio(&self) -> Option<f64> {
        match self.input_steps[..] {
            [first, .., last] => Some(first / last),
            _ => None,
        }
    }

    /// Sets the vanishing and exploding (and growing) flags from the numbers.
    fn evaluate(&mut self) {
        let t = self.thresholds;
        self.flags.vanishing = match self.weights {
            Some((f, l)) => {
                let (first, last) = (self.rows[f].grad_norm, self.rows[l].grad_norm);
                first.as_f64() < t.vanishing_ratio * last.as_f64()
            }
            None => false,
        };
        self.flags.exploding = self.judged_norm().as_f64() > t.exploding_norm;
        self.flags.vanishing_over_time = match self.input_steps[..] {
            [first, .., last] => first < t.vanishing_ratio * last,
            _ => false,
        };
        self.flags.growing = self.growth_streak >= t.growth_steps;
    }

    /// The norm the exploding and growing flags judge: before clipping if known.
    fn judged_norm(&self) -> T {
        self.pre_clip_norm.unwrap_or(self.total_grad_norm)
    }

    /// One row per parameter, in the model's order.
    pub fn rows(&self) -> &[GradientRow<T>] {
        &self.rows
    }

    /// The row of the parameter named `name`.
    pub fn get(&self, name: &str) -> Option<&GradientRow<T>> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// The L2 norm of all gradients as one vector.
    pub fn total_grad_norm(&self) -> T {
        self.total_grad_norm
    }

    /// The L2 norm of all parameters as one vector.
    pub fn total_param_norm(&self) -> T {
        self.total_param_norm
    }

    /// The total gradient norm before clipping, if it was recorded.
    pub fn pre_clip_norm(&self) -> Option<T> {
        self.pre_clip_norm
    }

    /// The first weight's gradient norm over the last weight's, the number the
    /// vanishing flag judges; `None` with fewer than two weights. Weights are the
    /// parameters whose name's last `.`-separated part starts with `weight`.
    pub fn first_last_ratio(&self) -> Option<T> {
        self.weights
            .map(|(f, l)| self.rows[f].grad_norm / self.rows[l].grad_norm)
    }

    /// The flags, as evaluated with [`GradientReport::thresholds`].
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// The thresholds of the flags.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Steps in a row whose norm grew by more than the growth factor (0 unless the
    /// report belongs to a [`GradientMonitor`]).
    pub fn growth_streak(&self) -> usize {
        self.growth_streak
    }

    fn set_growth_streak(&mut self, streak: usize) {
        self.growth_streak = streak;
        self.evaluate();
    }

    /// Flags of one row: `vanishing` on the first weight, `non-finite` on a
    /// gradient holding a NaN or infinity.
    fn row_flags(&self, i: usize) -> (&'static str, &'static str) {
        let vanishing = self.flags.vanishing && self.weights.is_some_and(|(f, _)| f == i);
        let non_finite = !self.rows[i].grad_norm.is_finite();
        (
            if vanishing { "vanishing" } else { "" },
            if non_finite { "non-finite" } else { "" },
        )
    }
}

fn mismatch(index: usize, expected: &'static str, found: &'static str) -> Error {
    Error::NameMismatch {
        op: OP,
        index,
        expected,
        found,
    }
}

/// Whether a parameter is a weight: its name's last part starts with `weight`
/// (`0.weight`, `hidden.weight`, `weight_ih_l0`).
fn is_weight(name: &str) -> bool {
    name.rsplit('.')
        .next()
        .is_some_and(|s| s.starts_with("weight"))
}

/// A number in scientific notation with a signed exponent of at least two digits
/// (`6.250e-01`, `1.000e+01`), so the mantissas of a right-aligned column line up.
/// Honours width and alignment as a string does; allocates nothing.
struct Sci(f64);

impl fmt::Display for Sci {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        let mut raw = Buf::default();
        write!(raw, "{:.3e}", self.0)?;
        let Some((mantissa, exp)) = raw.as_str().split_once('e') else {
            return f.pad(raw.as_str()); // inf, NaN
        };
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        let mut out = Buf::default();
        write!(out, "{mantissa}e{sign}{digits:0>2}")?;
        f.pad(out.as_str())
    }
}

/// A small stack buffer to format one number into.
#[derive(Default)]
struct Buf {
    bytes: [u8; 32],
    len: usize,
}

impl Buf {
    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so this cannot fail.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("?")
    }
}

impl fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Widths of the numeric columns of the table.
const NUM_W: usize = 10;
const RATIO_W: usize = 13;

/// An aligned table (name, grad norm, param norm, update/weight, flags), a total
/// row, and a summary line naming the flags.
impl<T: Real> fmt::Display for GradientReport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_w = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .chain(["total".len()])
            .max()
            .unwrap_or(0);
        writeln!(
            f,
            "{:<name_w$}  {:>NUM_W$}  {:>NUM_W$}  {:>RATIO_W$}  flags",
            "name", "grad norm", "param norm", "update/weight"
        )?;
        for (i, r) in self.rows.iter().enumerate() {
            write!(
                f,
                "{:<name_w$}  {:>NUM_W$}  {:>NUM_W$}  ",
                r.name,
                Sci(r.grad_norm.as_f64()),
                Sci(r.param_norm.as_f64())
            )?;
            match r.update_ratio {
                Some(u) => write!(f, "{:>RATIO_W$}", Sci(u.as_f64()))?,
                None => write!(f, "{:>RATIO_W$}", "-")?,
            }
            match self.row_flags(i) {
                ("", "") => {}
                (a, "") | ("", a) => write!(f, "  {a}")?,
                (a, b) => write!(f, "  {a} {b}")?,
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "{:<name_w$}  {:>NUM_W$}  {:>NUM_W$}",
            "total",
            Sci(self.total_grad_norm.as_f64()),
            Sci(self.total_param_norm.as_f64())
        )?;
        let values: usize = self.rows.iter().map(|r| r.len).sum();
        write!(f, "{} parameters, {values} values", self.rows.len())?;
        if let Some(p) = self.pre_clip_norm {
            write!(f, "; grad norm before clipping {}", Sci(p.as_f64()))?;
        }
        if let (Some(r), [first, .., last]) = (self.first_last_step_ratio(), &self.input_steps[..])
        {
            write!(
                f,
                "; input grad norm over {} steps: first {}, last {} (ratio {})",
                self.input_steps.len(),
                Sci(*first),
                Sci(*last),
                Sci(r)
            )?;
        }
        let (fl, t) = (self.flags, &self.thresholds);
        if !fl.any() {
            return write!(f, "; flags: none");
        }
        write!(f, "; flags: ")?;
        let mut sep = "";
        if fl.vanishing {
            if let (Some((a, b)), Some(r)) = (self.weights, self.first_last_ratio()) {
                let (a, b, r) = (self.rows[a].name, self.rows[b].name, Sci(r.as_f64()));
                let limit = t.vanishing_ratio;
                write!(f, "vanishing ({a} / {b} grad norm {r} < {limit:e})")?;
                sep = "; ";
            }
        }
        if fl.exploding {
            let (n, limit) = (Sci(self.judged_norm().as_f64()), t.exploding_norm);
            write!(f, "{sep}exploding (grad norm {n} > {limit:e})")?;
            sep = "; ";
        }
        if fl.growing {
            let (k, x) = (self.growth_streak, t.growth_factor);
            write!(f, "{sep}growing (more than x{x} per step for {k} steps)")?;
            sep = "; ";
        }
        if fl.non_finite {
            write!(f, "{sep}non-finite (a gradient holds NaN or infinity)")?;
            sep = "; ";
        }
        if fl.vanishing_over_time {
            let limit = t.vanishing_ratio;
            write!(
                f,
                "{sep}vanishing over time (input grad norm at the first step / the last < {limit:e})"
            )?;
        }
        Ok(())
    }
}

/// A [`GradientReport`] per step plus a short history of the total norm, for the
/// growing flag: fed once per step by [`GradientMonitor::observe`].
#[derive(Clone, Debug, PartialEq)]
pub struct GradientMonitor<T> {
    report: GradientReport<T>,
    previous: Option<f64>,
    streak: usize,
}

impl<T: Real> Default for GradientMonitor<T> {
    fn default() -> Self {
        GradientMonitor {
            report: GradientReport::new(),
            previous: None,
            streak: 0,
        }
    }
}

impl<T: Real> GradientMonitor<T> {
    /// A monitor with no history.
    ///
    /// # Errors
    /// Those of [`Thresholds::validate`].
    pub fn new(thresholds: Thresholds) -> Result<Self> {
        Ok(GradientMonitor {
            report: GradientReport::with_thresholds(thresholds)?,
            ..Self::default()
        })
    }

    /// Collects this step's report (as [`GradientReport::collect_into`], reusing its
    /// storage), records `pre_clip_norm` if the gradients were clipped by norm, feeds
    /// the total norm (the pre-clipping one if given) to the history, and returns the
    /// report with all its flags set.
    ///
    /// # Errors
    /// Those of [`GradientReport::collect_into`]; the history is then left as it was.
    pub fn observe<M: Parameters<T>>(
        &mut self,
        model: &M,
        grads: &M::Grads,
        update_norms: Option<&[(&'static str, T)]>,
        pre_clip_norm: Option<T>,
    ) -> Result<&GradientReport<T>> {
        self.report.collect_into(model, grads, update_norms)?;
        if let Some(n) = pre_clip_norm {
            self.report.set_pre_clip_norm(n);
        }
        self.record_norm(self.report.judged_norm());
        self.report.set_growth_streak(self.streak);
        Ok(&self.report)
    }

    /// Feeds one step's total gradient norm to the history without a report (for
    /// training loops that only clip); returns whether the growing flag is now on.
    ///
    /// A step grows when `norm > growth_factor * previous norm`; the flag is on once
    /// `growth_steps` steps in a row have grown. A non-finite norm ends the streak.
    pub fn record_norm(&mut self, norm: T) -> bool {
        let n = norm.as_f64();
        let t = &self.report.thresholds;
        let grew = self.previous.is_some_and(|p| n > t.growth_factor * p);
        self.streak = if grew { self.streak + 1 } else { 0 };
        self.previous = Some(n);
        self.streak >= t.growth_steps
    }

    /// Steps in a row whose norm grew by more than the growth factor.
    pub fn streak(&self) -> usize {
        self.streak
    }

    /// The last report.
    pub fn report(&self) -> &GradientReport<T> {
        &self.report
    }

    /// The thresholds.
    pub fn thresholds(&self) -> &Thresholds {
        &self.report.thresholds
    }

    /// Forgets the history (after a learning-rate change, say).
    pub fn reset(&mut self) {
        self.previous = None;
        self.streak = 0;
    }
}
