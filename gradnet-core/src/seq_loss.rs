//! Losses over sequence outputs: every step of every row counts, with PyTorch's mean
//! reduction over all of them.
//!
//! A network whose output is a [`Seq`] (a recurrent layer with `sequence`, and what
//! follows it per step) is trained against a target per step:
//!
//! ```text
//! Mse, BceWithLogits   target Seq<T, D> of the output's shape     L = mean over steps, rows, features
//! SoftmaxCrossEntropy  target SeqClasses: a class per step and row   L = mean over steps and rows
//! ```
//!
//! which is PyTorch's `MSELoss()(output, target)` on `[time, batch, D]` tensors, and
//! `CrossEntropyLoss()(logits.permute(1, 2, 0), classes)` with logits `[time, batch,
//! D]` and classes `[batch, time]`. A sequence read as one `(steps * rows) x D` batch
//! ([`Seq::as_batch`]) makes these the batch losses of [`crate::loss`] over all steps
//! at once, with the same numerics.
//!
//! ```
//! use gradnet_core::{seq::Seq, SeqClasses, SeqLoss, loss::SoftmaxCrossEntropy};
//! // 2 steps of 1 sequence, 2 classes; classes given batch-first ([batch, time]).
//! let logits = Seq::<f64, 2>::from_time_major(vec![0.0, 0.0, 3.0, 0.0], 2)?;
//! let classes = SeqClasses::from_batch_first(&[1, 0], 2)?;
//! let mut grad = Seq::new();
//! let l = SoftmaxCrossEntropy.loss_and_grad(&logits, &classes, &mut grad)?;
//! let step1 = (1.0 + (-3.0f64).exp()).ln();
//! assert!((l - (2f64.ln() + step1) / 2.0).abs() < 1e-15);
//! assert_eq!((grad.steps(), grad.rows()), (2, 1));
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::loss::{BceWithLogits, Loss, Mse, SoftmaxCrossEntropy};
use crate::real::Real;
use crate::seq::Seq;

/// One class index per step and row, time-major (index `t * rows + r`), the target
/// of a cross-entropy over a sequence output.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SeqClasses {
    classes: Vec<usize>,
    steps: usize,
    rows: usize,
}

impl SeqClasses {
    /// From batch-first indices (`[batch, time]`, as PyTorch's `CrossEntropyLoss`
    /// takes them for a `[batch, classes, time]` input) of `steps` steps.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] for no steps or no indices, [`Error::RaggedBuffer`] if
    /// the length is not a multiple of `steps`.
    pub fn from_batch_first(classes: &[usize], steps: usize) -> Result<Self> {
        let rows = rows_of(classes.len(), steps)?;
        let mut out = vec![0; classes.len()];
        for r in 0..rows {
            for t in 0..steps {
                out[t * rows + r] = classes[r * steps + t];
            }
        }
        Ok(SeqClasses {
            classes: out,
            steps,
            rows,
        })
    }

    /// From time-major indices (`[time, batch]`) of `steps` steps.
    ///
    /// # Errors
    /// As [`SeqClasses::from_batch_first`].
    pub fn from_time_major(classes: Vec<usize>, steps: usize) -> Result<Self> {
        let rows = rows_of(classes.len(), steps)?;
        Ok(SeqClasses {
            classes,
            steps,
            rows,
        })
    }

    /// Makes these targets a copy of the given sequences (rows) of `src`, every step
    /// of each, in the order of `indices` (for shuffled minibatches), reusing the
    /// allocation. Nothing is changed on error.
    ///
    /// # Errors
    /// [`Error::RowMismatch`] naming the first index past `src.rows()`.
    pub fn gather_rows_from(&mut self, src: &SeqClasses, indices: &[usize]) -> Result<()> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= src.rows) {
            return Err(Error::RowMismatch {
                op: "gather_rows_from",
                expected: bad + 1,
                found: src.rows,
            });
        }
        self.classes.clear();
        for t in 0..src.steps {
            let step = &src.classes[t * src.rows..(t + 1) * src.rows];
            self.classes.extend(indices.iter().map(|&i| step[i]));
        }
        self.steps = src.steps;
        self.rows = indices.len();
        Ok(())
    }

    /// Number of time steps.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Number of rows (sequences).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The indices, time-major.
    pub fn as_slice(&self) -> &[usize] {
        &self.classes
    }
}

fn rows_of(len: usize, steps: usize) -> Result<usize> {
    if steps == 0 || len == 0 {
        return Err(Error::EmptyBatch);
    }
    if len % steps != 0 {
        return Err(Error::RaggedBuffer { len, width: steps });
    }
    Ok(len / steps)
}

/// A loss over a sequence output; see the [module documentation](self).
pub trait SeqLoss<T: Real, const D: usize>: Copy + core::fmt::Debug {
    /// A target per step and row.
    type Target: ?Sized;

    /// The loss, the mean over every step and row.
    ///
    /// # Errors
    /// As [`SeqLoss::check_target`], and the target errors of the batch loss.
    fn loss(&self, output: &Seq<T, D>, target: &Self::Target) -> Result<T>;

    /// The loss, and its gradient with respect to `output` in `grad` (reshaped to
    /// the output's, reusing its allocation).
    ///
    /// # Errors
    /// As [`SeqLoss::loss`]; `grad`'s values are then unspecified.
    fn loss_and_grad(
        &self,
        output: &Seq<T, D>,
        target: &Self::Target,
        grad: &mut Seq<T, D>,
    ) -> Result<T>;

    /// Checks a target for an output of `steps x rows` without computing anything.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] if `rows` or `steps` is 0, [`Error::StepMismatch`],
    /// [`Error::RowMismatch`], and the target errors of the batch loss.
    fn check_target(&self, steps: usize, rows: usize, target: &Self::Target) -> Result<()>;
}

fn check_shape(steps: usize, rows: usize, t_steps: usize, t_rows: usize) -> Result<()> {
    if steps == 0 || rows == 0 {
        return Err(Error::EmptyBatch);
    }
    if t_steps != steps {
        return Err(Error::StepMismatch {
            op: "sequence loss target",
            expected: steps,
            found: t_steps,
        });
    }
    if t_rows != rows {
        return Err(Error::RowMismatch {
            op: "sequence loss target",
            expected: rows,
            found: t_rows,
        });
    }
    Ok(())
}

/// The sequence form of a batch loss whose target is a batch of the output's shape.
macro_rules! seq_loss_on_rows {
    ($loss:ty) => {
        impl<T: Real, const D: usize> SeqLoss<T, D> for $loss {
            type Target = Seq<T, D>;

            fn loss(&self, output: &Seq<T, D>, target: &Seq<T, D>) -> Result<T> {
                SeqLoss::check_target(self, output.steps(), output.rows(), target)?;
                Loss::loss(self, output.as_batch(), target.as_batch())
            }

            fn loss_and_grad(
                &self,
                output: &Seq<T, D>,
                target: &Seq<T, D>,
                grad: &mut Seq<T, D>,
            ) -> Result<T> {
                SeqLoss::check_target(self, output.steps(), output.rows(), target)?;
                let (steps, rows) = (output.steps(), output.rows());
                Loss::loss_and_grad(
                    self,
                    output.as_batch(),
                    target.as_batch(),
                    grad.flat_for(steps, rows),
                )
            }

            fn check_target(&self, steps: usize, rows: usize, target: &Seq<T, D>) -> Result<()> {
                check_shape(steps, rows, target.steps(), target.rows())?;
                Loss::check_target(self, steps * rows, target.as_batch())
            }
        }
    };
}

seq_loss_on_rows!(Mse);
seq_loss_on_rows!(BceWithLogits);

impl<T: Real, const D: usize> SeqLoss<T, D> for SoftmaxCrossEntropy {
    type Target = SeqClasses;

    fn loss(&self, output: &Seq<T, D>, target: &SeqClasses) -> Result<T> {
        SeqLoss::<T, D>::check_target(self, output.steps(), output.rows(), target)?;
        Loss::loss(self, output.as_batch(), target.as_slice())
    }

    fn loss_and_grad(
        &self,
        output: &Seq<T, D>,
        target: &SeqClasses,
        grad: &mut Seq<T, D>,
    ) -> Result<T> {
        SeqLoss::<T, D>::check_target(self, output.steps(), output.rows(), target)?;
        let (steps, rows) = (output.steps(), output.rows());
        Loss::loss_and_grad(
            self,
            output.as_batch(),
            target.as_slice(),
            grad.flat_for(steps, rows),
        )
    }

    fn check_target(&self, steps: usize, rows: usize, target: &SeqClasses) -> Result<()> {
        check_shape(steps, rows, target.steps(), target.rows())?;
        Loss::<T, D>::check_target(self, steps * rows, target.as_slice())
    }
}
