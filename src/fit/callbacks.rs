//! Callbacks: code run after every batch and every epoch of a fit, which can stop
//! it or save it; [`Checkpoint`] is one.

use super::state::FitState;
use super::FitError;
use gradnet_core::optim::OptimizerState;
use gradnet_core::persist::{checkpoint_to_bytes_with, write_atomic, Progress};
use gradnet_core::{Network, Real, SeededRng};
use std::path::{Path, PathBuf};

/// What a callback wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on training.
    Continue,
    /// Stop after this batch or epoch; fit returns the history so far.
    Stop,
}

/// What a callback sees: the network, the optimizer and the fit's state, and what
/// it needs to save a checkpoint to resume from this point.
pub struct Context<'a, T: Real, N: Network<T>, O> {
    /// The network being trained.
    pub net: &'a N,
    /// Its optimizer.
    pub optimizer: &'a O,
    /// Where the fit is (epoch, batch, steps, history).
    pub state: &'a FitState<N>,
    pub(crate) dropout_rng: &'a SeededRng,
    pub(crate) directions: &'a [(String, bool)],
    /// This process's rank in a data-parallel fit (0 in one process).
    pub(crate) rank: usize,
    pub(crate) _t: core::marker::PhantomData<T>,
}

impl<T: Real, N: Network<T>, O: OptimizerState<T>> Context<'_, T, N, O> {
    /// A checkpoint of this point as the bytes of a file: the model, the
    /// optimizer, the dropout and shuffling generators, and the fit's state (see
    /// [`FitState`]), from which [`crate::fit::Trainer::resume_from`] continues bit
    /// for bit.
    ///
    /// # Errors
    /// [`FitError::Core`] as [`gradnet_core::persist::checkpoint_to_bytes`].
    pub fn checkpoint_bytes(&self) -> Result<Vec<u8>, FitError> {
        let progress = Progress {
            step: self.state.step,
            epoch: self.state.epoch as u64,
        };
        Ok(checkpoint_to_bytes_with(
            self.net,
            self.optimizer,
            &[self.dropout_rng, &self.state.epoch_rng],
            progress,
            &self.state.to_extra(),
        )?)
    }

    /// Writes [`Context::checkpoint_bytes`] to `path`, crash-safely (a temporary
    /// file renamed over the old one), creating its directory. In a data-parallel
    /// fit only rank 0 writes (every rank holds the same network and optimizer);
    /// elsewhere this does nothing.
    ///
    /// # Errors
    /// [`FitError::Io`] if the directory cannot be created, [`FitError::Core`] if
    /// the file cannot be written, and as [`Context::checkpoint_bytes`].
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<(), FitError> {
        if self.rank != 0 {
            return Ok(());
        }
        let path = path.as_ref();
        let io = |source| FitError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let bytes = self.checkpoint_bytes()?;
        Ok(write_atomic(path, &bytes)?)
    }

    /// This process's rank in a data-parallel fit (0 in one process): a callback
    /// that writes files or prints may leave it to rank 0.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Whether a larger value of the series `name` is better (`None` for a name the
    /// fit does not record).
    pub fn higher_is_better(&self, name: &str) -> Option<bool> {
        self.directions
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, h)| h)
    }
}

/// Code run during a fit. Both hooks default to doing nothing.
pub trait Callback<T: Real, N: Network<T>, O> {
    /// After every training step.
    ///
    /// # Errors
    /// Any [`FitError`]; the fit stops and returns it.
    fn on_batch_end(&mut self, cx: &Context<'_, T, N, O>) -> Result<Control, FitError> {
        let _ = cx;
        Ok(Control::Continue)
    }

    /// After every epoch, once its history (validation included) is recorded; the
    /// state's position is then the start of the next epoch.
    ///
    /// # Errors
    /// Any [`FitError`]; the fit stops and returns it.
    fn on_epoch_end(&mut self, cx: &Context<'_, T, N, O>) -> Result<Control, FitError> {
        let _ = cx;
        Ok(Control::Continue)
    }
}

/// Saves checkpoints during a fit, as Keras' `ModelCheckpoint`: `last.ckpt`
/// every N epochs (or every N steps), and `best.ckpt` whenever a monitored
/// series reaches its best value so far. Each is a full checkpoint
/// ([`Context::checkpoint_bytes`]), so training resumes from either
/// ([`crate::fit::Trainer::resume_from`]).
///
/// ```no_run
/// use gradnet::fit::Checkpoint;
/// let every_epoch = Checkpoint::new("runs/digits").every_epochs(1).best("val_accuracy");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    dir: PathBuf,
    every_epochs: Option<usize>,
    every_steps: Option<u64>,
    best: Option<String>,
}

impl Checkpoint {
    /// Checkpoints in `dir` (created if needed), `last.ckpt` after every epoch.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Checkpoint {
            dir: dir.into(),
            every_epochs: Some(1),
            every_steps: None,
            best: None,
        }
    }

    /// `last.ckpt` after every `n` epochs (0: never at an epoch's end).
    pub fn every_epochs(mut self, n: usize) -> Self {
        self.every_epochs = (n > 0).then_some(n);
        self
    }

    /// `last.ckpt` also after every `n` steps, within epochs (0: never).
    pub fn every_steps(mut self, n: u64) -> Self {
        self.every_steps = (n > 0).then_some(n);
        self
    }

    /// `best.ckpt` at each epoch whose value of `monitor` (a series of the
    /// history: `val_loss`, `accuracy`, ...) is the best so far.
    pub fn best(mut self, monitor: impl Into<String>) -> Self {
        self.best = Some(monitor.into());
        self
    }

    /// The path of the latest periodic checkpoint.
    pub fn last_path(&self) -> PathBuf {
        self.dir.join("last.ckpt")
    }

    /// The path of the best checkpoint.
    pub fn best_path(&self) -> PathBuf {
        self.dir.join("best.ckpt")
    }
}

impl<T: Real, N: Network<T>, O: OptimizerState<T>> Callback<T, N, O> for Checkpoint {
    fn on_batch_end(&mut self, cx: &Context<'_, T, N, O>) -> Result<Control, FitError> {
        if self.every_steps.is_some_and(|n| cx.state.step % n == 0) {
            cx.save_checkpoint(self.last_path())?;
        }
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, cx: &Context<'_, T, N, O>) -> Result<Control, FitError> {
        if self.every_epochs.is_some_and(|n| cx.state.epoch % n == 0) {
            cx.save_checkpoint(self.last_path())?;
        }
        if let Some(monitor) = &self.best {
            let higher = cx
                .higher_is_better(monitor)
                .ok_or_else(|| FitError::UnknownSeries {
                    name: monitor.clone(),
                    known: cx.directions.iter().map(|(n, _)| n.clone()).collect(),
                })?;
            let values = cx.state.history.get(monitor).unwrap_or(&[]);
            if let Some((&last, before)) = values.split_last() {
                let better = |a: f64, b: f64| if higher { a > b } else { a < b };
                if last.is_finite() && before.iter().all(|&b| !b.is_finite() || better(last, b)) {
                    cx.save_checkpoint(self.best_path())?;
                }
            }
        }
        Ok(Control::Continue)
    }
}
