//! What [`crate::fit::Trainer::fit`] gives back: per-epoch values of every metric,
//! gradient snapshots, and why training stopped.

use gradnet_core::diagnostics::Flags;
use gradnet_core::Error;
use std::fmt;

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum StopReason {
    /// Every epoch asked for ran.
    Completed,
    /// Early stopping: the monitored metric did not improve for `patience` epochs.
    EarlyStopped {
        /// The monitored metric.
        monitor: String,
        /// The epoch (from 0) whose value was the best.
        best_epoch: usize,
    },
    /// A training step failed on a non-finite loss, gradient or parameter (as
    /// Keras' `TerminateOnNaN`); the step was not applied, except for
    /// [`Error::ParametersDiverged`], whose update is already written.
    Diverged {
        /// The epoch (from 0) of the failed step.
        epoch: usize,
        /// Steps done before it.
        step: u64,
        /// The step's error.
        error: Error,
    },
    /// A callback asked to stop.
    Callback {
        /// The epoch (from 0) it asked at.
        epoch: usize,
    },
}

/// Per-layer gradient norms after one step, with the report's flags.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientSnapshot {
    /// Steps done (this one included).
    pub step: u64,
    /// The epoch (from 0).
    pub epoch: usize,
    /// `(parameter, ||gradient||_2)`, in the model's order.
    pub norms: Vec<(String, f64)>,
    /// What the report found.
    pub flags: Flags,
}

/// One named series of per-epoch values (`loss`, `val_accuracy`, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The name: the metric's, with `val_` in front for the validation data.
    pub name: String,
    /// One value per epoch.
    pub values: Vec<f64>,
}

/// Per-epoch values of the loss and every metric, on the training data (`loss`,
/// `accuracy`) and the validation data (`val_loss`, `val_accuracy`), as Keras'
/// `History.history`; gradient snapshots; and the reason training stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    pub(crate) series: Vec<Series>,
    pub(crate) gradients: Vec<GradientSnapshot>,
    pub(crate) stop: StopReason,
    pub(crate) best_epoch: Option<usize>,
}

impl Default for History {
    fn default() -> Self {
        History {
            series: Vec::new(),
            gradients: Vec::new(),
            stop: StopReason::Completed,
            best_epoch: None,
        }
    }
}

impl History {
    /// The per-epoch values of the series `name`, if it was recorded.
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.series
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.values.as_slice())
    }

    /// Every series, in the order they were first recorded.
    pub fn series(&self) -> &[Series] {
        &self.series
    }

    /// The names of every series.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.series.iter().map(|s| s.name.as_str())
    }

    /// Epochs recorded.
    pub fn epochs(&self) -> usize {
        self.series.first().map_or(0, |s| s.values.len())
    }

    /// The gradient snapshots taken (every N steps, if asked).
    pub fn gradients(&self) -> &[GradientSnapshot] {
        &self.gradients
    }

    /// Why training stopped.
    pub fn stop_reason(&self) -> &StopReason {
        &self.stop
    }

    /// Whether a step failed on a non-finite value.
    pub fn diverged(&self) -> bool {
        matches!(self.stop, StopReason::Diverged { .. })
    }

    /// The epoch (from 0) whose weights early stopping kept, if it ran.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }

    /// The last value of the series `name`.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(|v| v.last().copied())
    }

    /// Appends `value` to the series `name`, creating it.
    pub(crate) fn push(&mut self, name: &str, value: f64) {
        match self.series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.values.push(value),
            None => self.series.push(Series {
                name: name.to_string(),
                values: vec![value],
            }),
        }
    }
}

impl fmt::Display for History {
    /// One line per epoch with every series, then the stop reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for epoch in 0..self.epochs() {
            write!(f, "epoch {:>3}", epoch + 1)?;
            for s in &self.series {
                if let Some(v) = s.values.get(epoch) {
                    write!(f, "  {} {}", s.name, super::progress::number(*v))?;
                }
            }
            writeln!(f)?;
        }
        match &self.stop {
            StopReason::Completed => writeln!(f, "completed"),
            StopReason::EarlyStopped {
                monitor,
                best_epoch,
            } => writeln!(
                f,
                "stopped early: {monitor} best at epoch {}",
                best_epoch + 1
            ),
            StopReason::Diverged { epoch, step, error } => writeln!(
                f,
                "diverged at epoch {}, after {step} steps: {error}",
                epoch + 1
            ),
            StopReason::Callback { epoch } => {
                writeln!(f, "stopped by a callback at epoch {}", epoch + 1)
            }
        }
    }
}
