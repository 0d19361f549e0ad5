//! Training without boilerplate: [`Trainer`] runs epochs of seeded minibatches
//! over any [`Network`], with a learning-rate schedule, validation, [metrics],
//! early stopping, gradient reports, callbacks ([`Checkpoint`]) and progress
//! output, and returns a [`History`].
//!
//! The step itself is the network's own [`Network::train_step`]: a fit gives the
//! same numbers, bit for bit, as the hand-written loop it replaces (each epoch:
//! `0..n` shuffled by [`gradnet_core::rng::shuffle`] with the generator
//! `seeded(seed)` on stream 1, then batches gathered in that order; dropout draws
//! from the workspace's generator `seeded(seed)`, as `NetWorkspace::with_seed`).
//!
//! ```
//! use gradnet::prelude::*;
//! use gradnet::data::Dataset;
//! use gradnet::fit::{Trainer, Verbosity};
//! use gradnet::metrics::Mae;
//!
//! network! {
//!     struct Line { input: 1, dense(1), loss: mse }
//! }
//!
//! // y = 3x - 1 on 64 points.
//! let xs: Vec<f64> = (0..64).map(|i| i as f64 / 32.0 - 1.0).collect();
//! let ys: Vec<f64> = xs.iter().map(|x| 3.0 * x - 1.0).collect();
//! let data = Dataset::new(Batch::<f64, 1>::from_slice(&xs)?, Batch::<f64, 1>::from_slice(&ys)?)?;
//! let mut net = Line::<f64>::new(&mut seeded(0));
//! let mut opt = SgdConfig::new(0.1).build()?;
//! let history = Trainer::new(200, 16)
//!     .seed(1)
//!     .metric(Mae)
//!     .validation_split(0.25)
//!     .verbosity(Verbosity::Quiet)
//!     .fit(&mut net, &mut opt, &data)?;
//! assert!(history.last("val_mae").unwrap() < 1e-2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [metrics]: crate::metrics

mod callbacks;
mod history;
mod parallel;
pub(crate) mod progress;
mod state;

pub use callbacks::{Callback, Checkpoint, Context, Control};
pub use history::{GradientSnapshot, History, Series, StopReason};
pub use progress::Verbosity;
pub use state::FitState;

use crate::data::{empty, DataError, Dataset, Loader, Rows};
use crate::metrics::Metric;
use gradnet_core::diagnostics::{GradientReport, Thresholds};
use gradnet_core::optim::OptimizerState;
use gradnet_core::persist::checkpoint_from_bytes_with;
use gradnet_core::schedule::LrSchedule;
use gradnet_core::{rng, Error, Network, Real};
use parallel::Parallel;
use std::borrow::Borrow;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Everything that can stop a fit with an error (a step that diverges is not an
/// error: it ends the fit with [`StopReason::Diverged`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// An error of the runtime (a shape, a batch-norm batch of one row, a
    /// checkpoint file).
    #[error(transparent)]
    Core(#[from] Error),
    /// An error of the data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Early stopping or a checkpoint monitors a series the fit does not record.
    #[error("no series {name:?} in this fit (it records {known:?})")]
    UnknownSeries {
        /// The name asked for.
        name: String,
        /// The names recorded.
        known: Vec<String>,
    },
    /// A setting out of range.
    #[error("invalid {name}: {reason}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A checkpoint whose fit state is missing or unreadable.
    #[error("checkpoint entry {key}: {reason}")]
    BadState {
        /// The entry.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint of another fit (other metrics).
    #[error("the checkpoint was written by a fit with other metrics: {reason}")]
    StateMismatch {
        /// What differs.
        reason: String,
    },
    /// A file or directory could not be read or created.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// An error of a user's callback.
    #[error("callback: {0}")]
    Callback(Box<dyn std::error::Error + Send + Sync>),
    /// A data-parallel fit's step failed on this rank or another
    /// ([`crate::distributed::DistError`]); a divergence found on the reduced
    /// gradients ends the fit as in one process instead.
    #[cfg(feature = "mpi")]
    #[error(transparent)]
    Distributed(#[from] crate::distributed::DistError),
    /// Another rank's callback failed at the same point of the fit (that rank
    /// returns its own error).
    #[error("a callback failed on another rank")]
    PeerCallback,
}

/// When a learning-rate schedule steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleStep {
    /// `lr_at(epoch)` at the start of every epoch.
    Epoch,
    /// `lr_at(step)` before every step (steps counted from 0 over the whole fit).
    Batch,
}

/// Early stopping, as Keras' `EarlyStopping`: stop when `monitor` has not
/// improved by more than `min_delta` for `patience` epochs, and (by default)
/// restore the weights of the best epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    monitor: String,
    patience: usize,
    min_delta: f64,
    restore_best: bool,
}

impl EarlyStopping {
    /// Monitors the series `monitor` (`val_loss`, `val_accuracy`, ...; larger is
    /// better for a metric that says so, smaller for losses and errors), patience
    /// 5, `min_delta` 0, restoring the best weights.
    pub fn new(monitor: impl Into<String>) -> Self {
        EarlyStopping {
            monitor: monitor.into(),
            patience: 5,
            min_delta: 0.0,
            restore_best: true,
        }
    }

    /// Epochs without improvement before stopping.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// The least change that counts as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Whether the best epoch's weights (and buffers) are put back at the end.
    pub fn restore_best(mut self, restore: bool) -> Self {
        self.restore_best = restore;
        self
    }
}

type Metrics<T, N> = Vec<Box<dyn Metric<<N as Network<T>>::Output, <N as Network<T>>::Target>>>;

/// A configured training run: build it, then [`Trainer::fit`] a network.
pub struct Trainer<T: Real, N: Network<T>, O> {
    epochs: usize,
    batch_size: usize,
    seed: u64,
    shuffle: bool,
    drop_last: bool,
    schedule: Option<(Box<dyn LrSchedule>, ScheduleStep)>,
    metrics: Metrics<T, N>,
    validation_split: Option<f64>,
    early: Option<EarlyStopping>,
    report_every: Option<u64>,
    thresholds: Thresholds,
    callbacks: Vec<Box<dyn Callback<T, N, O>>>,
    verbosity: Verbosity,
    log: Option<Box<dyn Write>>,
    summary: bool,
    resume: Option<PathBuf>,
    parallel: Option<Box<dyn Parallel<T, N, O>>>,
}

impl<T: Real, N: Network<T>, O: OptimizerState<T> + Clone> Trainer<T, N, O> {
    /// `epochs` epochs of minibatches of `batch_size`, shuffled with seed 0, the
    /// last batch kept, progress shown ([`Verbosity::Auto`]).
    pub fn new(epochs: usize, batch_size: usize) -> Self {
        Trainer {
            epochs,
            batch_size,
            seed: 0,
            shuffle: true,
            drop_last: false,
            schedule: None,
            metrics: Vec::new(),
            validation_split: None,
            early: None,
            report_every: None,
            thresholds: Thresholds::default(),
            callbacks: Vec::new(),
            verbosity: Verbosity::Auto,
            log: None,
            summary: false,
            resume: None,
            parallel: None,
        }
    }

    /// Trains data-parallel over the ranks of an MPI job (every rank calls `fit`
    /// with the same configuration, data and network type): each epoch's shuffle
    /// is the same on every rank, then split strided into equal shards (the last
    /// `n % ranks` examples of the shuffled order are dropped, as
    /// `DistributedSampler(drop_last=True)`); the batch size is the global batch,
    /// `batch_size / ranks` rows on each rank (it must divide); each step is
    /// [`crate::distributed::DataParallel::train_step`]; the loss and metrics are
    /// reduced over the ranks (training: per step and at the epoch's end;
    /// validation: each rank evaluates its strided share of the validation data);
    /// checkpoints are written by rank 0 only ([`Context::save_checkpoint`] does
    /// nothing elsewhere) and [`Trainer::resume_from`] loads the one file on every
    /// rank; progress is printed by rank 0 only. Rank 0's initial weights are
    /// broadcast first. Each rank draws its dropout masks from its own stream of
    /// the seed (rank 0 from one process's).
    ///
    /// With one rank this is the ordinary fit, to rounding. Metric sums of a
    /// checkpoint written within an epoch are rank 0's alone, so an epoch resumed
    /// from one reports metrics over rank 0's part of its first half.
    #[cfg(feature = "mpi")]
    pub fn data_parallel(mut self, dp: crate::distributed::DataParallel<T>) -> Self
    where
        T: mpi::datatype::Equivalence + 'static,
        N: 'static,
        N::Input: Rows,
        O: 'static,
    {
        self.parallel = Some(Box::new((dp, Vec::new())));
        self
    }

    /// The seed of the shuffling (stream 1) and dropout (stream 0) generators.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Whether each epoch's order is shuffled (default) or kept.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Drops each epoch's last batch when it is smaller than the batch size (a
    /// one-row batch is an error for batch norm, as in PyTorch).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// A learning-rate schedule, stepped per epoch or per batch.
    pub fn schedule(mut self, schedule: impl LrSchedule + 'static, step: ScheduleStep) -> Self {
        self.schedule = Some((Box::new(schedule), step));
        self
    }

    /// A metric recorded per epoch on the training data (from each step's own
    /// output, as Keras) and on the validation data.
    pub fn metric(mut self, metric: impl Metric<N::Output, N::Target> + 'static) -> Self {
        self.metrics.push(Box::new(metric));
        self
    }

    /// Holds out the last `fraction` of the training data (before any shuffle, as
    /// Keras' `validation_split`) for validation, when [`Trainer::fit`] is given no
    /// validation data.
    pub fn validation_split(mut self, fraction: f64) -> Self {
        self.validation_split = Some(fraction);
        self
    }

    /// Early stopping.
    pub fn early_stopping(mut self, early: EarlyStopping) -> Self {
        self.early = Some(early);
        self
    }

    /// A gradient report ([`GradientReport`]) every `steps` steps, kept in the
    /// history ([`History::gradients`]); a report whose flags fire (vanishing,
    /// exploding, non-finite) is printed.
    pub fn gradient_report_every(mut self, steps: u64) -> Self {
        self.report_every = (steps > 0).then_some(steps);
        self
    }

    /// The thresholds of those reports.
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// A callback.
    pub fn callback(mut self, callback: impl Callback<T, N, O> + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// How much to print.
    pub fn verbosity(mut self, verbosity: Verbosity) -> Self {
        self.verbosity = verbosity;
        self
    }

    /// Where progress lines go instead of standard output (a bar still goes to
    /// the terminal's standard error).
    pub fn log_to(mut self, out: impl Write + 'static) -> Self {
        self.log = Some(Box::new(out));
        self
    }

    /// Prints the network's summary before training.
    pub fn print_summary(mut self, on: bool) -> Self {
        self.summary = on;
        self
    }

    /// Resumes from a checkpoint written during an earlier fit of the same
    /// configuration ([`Checkpoint`], [`Context::save_checkpoint`]): the network,
    /// the optimizer, both generators and the fit's state are loaded from it, and
    /// the fit goes on from where it was, with the same results as a fit never
    /// stopped.
    pub fn resume_from(mut self, path: impl Into<PathBuf>) -> Self {
        self.resume = Some(path.into());
        self
    }

    /// Trains `net` with `opt` on `train`, validating on the part
    /// [`Trainer::validation_split`] holds out, if set.
    ///
    /// # Errors
    /// See [`Trainer::fit_validated`].
    pub fn fit<X, Y>(
        &mut self,
        net: &mut N,
        opt: &mut O,
        train: &Dataset<X, Y>,
    ) -> Result<History, FitError>
    where
        X: Rows<Batch = X> + Borrow<N::Input>,
        Y: Rows<Batch = Y> + Borrow<N::Target>,
    {
        match self.validation_split {
            Some(f) => {
                let (train, val) = train.split_last(f)?;
                self.run(net, opt, &train, Some(&val))
            }
            None => self.run(net, opt, train, None),
        }
    }

    /// Trains `net` with `opt` on `train` and validates on `val` after every
    /// epoch.
    ///
    /// # Errors
    /// - [`FitError::InvalidSetting`], [`FitError::UnknownSeries`] for a
    ///   configuration that cannot run, before anything is trained;
    /// - [`FitError::Core`] for a step that fails on anything but a non-finite
    ///   value (a batch-norm batch of one row: see [`Trainer::drop_last`]), or a
    ///   checkpoint that cannot be read or written;
    /// - [`FitError::BadState`], [`FitError::StateMismatch`] for a checkpoint to
    ///   resume from whose fit state does not fit this fit;
    /// - a callback's error.
    pub fn fit_validated<X, Y>(
        &mut self,
        net: &mut N,
        opt: &mut O,
        train: &Dataset<X, Y>,
        val: &Dataset<X, Y>,
    ) -> Result<History, FitError>
    where
        X: Rows<Batch = X> + Borrow<N::Input>,
        Y: Rows<Batch = Y> + Borrow<N::Target>,
    {
        self.run(net, opt, train, Some(val))
    }

    /// The names of the series this fit records, and whether larger is better.
    fn directions(&self, validated: bool) -> Vec<(String, bool)> {
        let mut out = vec![("loss".to_string(), false)];
        out.extend(
            self.metrics
                .iter()
                .map(|m| (m.name(), m.higher_is_better())),
        );
        if validated {
            let val: Vec<_> = out.iter().map(|(n, h)| (format!("val_{n}"), *h)).collect();
            out.extend(val);
        }
        out
    }

    fn check(&self, directions: &[(String, bool)]) -> Result<(), FitError> {
        if self.batch_size == 0 {
            return Err(DataError::ZeroBatchSize.into());
        }
        if let Some(p) = &self.parallel {
            if self.batch_size % p.size() != 0 {
                return Err(FitError::InvalidSetting {
                    name: "batch_size",
                    reason: "a data-parallel fit's batch size must be a multiple of the ranks",
                });
            }
        }
        if let Some(e) = &self.early {
            if !directions.iter().any(|(n, _)| *n == e.monitor) {
                return Err(FitError::UnknownSeries {
                    name: e.monitor.clone(),
                    known: directions.iter().map(|(n, _)| n.clone()).collect(),
                });
            }
            if !(e.min_delta.is_finite() && e.min_delta >= 0.0) {
                return Err(FitError::InvalidSetting {
                    name: "min_delta",
                    reason: "must be finite and >= 0",
                });
            }
        }
        Ok(())
    }

    fn run<X, Y>(
        &mut self,
        net: &mut N,
        opt: &mut O,
        train: &Dataset<X, Y>,
        val: Option<&Dataset<X, Y>>,
    ) -> Result<History, FitError>
    where
        X: Rows<Batch = X> + Borrow<N::Input>,
        Y: Rows<Batch = Y> + Borrow<N::Target>,
    {
        let directions = self.directions(val.is_some());
        self.check(&directions)?;
        let (rank, ranks) = self
            .parallel
            .as_ref()
            .map_or((0, 1), |p| (p.rank(), p.size()));
        let mut ws = N::Workspace::default();
        *N::rng_mut(&mut ws) = rng::seeded(self.seed);
        if rank > 0 {
            // Each rank its own dropout masks; rank 0 draws one process's.
            N::rng_mut(&mut ws).set_stream(rank as u64 + (1 << 32));
        }
        let mut loader = Loader::<X, Y>::new(self.batch_size / ranks)?
            .drop_last(self.drop_last)
            .shard(rank, ranks)?;
        if self.shuffle {
            loader = loader.shuffle(self.seed);
            loader.rng_mut().set_stream(1);
        }
        let mut state = match &self.resume {
            Some(path) => {
                let mut state = self.load(path, net, opt, &mut ws)?;
                if rank > 0 {
                    // The checkpoint holds rank 0's dropout stream.
                    N::rng_mut(&mut ws).set_stream(rank as u64 + (1 << 32));
                    for s in &mut state.metric_sums {
                        s.clear();
                    }
                }
                state
            }
            None => FitState::new(self.metrics.len(), loader.rng().clone()),
        };
        if let Some(p) = &mut self.parallel {
            p.broadcast_model(net);
        }
        if rank > 0 {
            self.verbosity = Verbosity::Quiet;
            self.summary = false;
        }
        *loader.rng_mut() = state.epoch_rng.clone();
        let mut grads = net.zero_grads();
        let mut report = GradientReport::with_thresholds(self.thresholds)?;
        let mut progress = progress::Progress::new(self.verbosity, self.log.take(), self.epochs);
        if self.summary {
            progress.message(&net.summary().to_string());
        }
        let batches = loader.batches_per_epoch(train.len());
        let mut val_batch = (empty::<X>(), empty::<Y>());
        let mut val_sums = vec![Vec::new(); self.metrics.len()];
        let mut stop = None;

        'epochs: while state.epoch < self.epochs {
            let epoch = state.epoch;
            if let Some((s, ScheduleStep::Epoch)) = &self.schedule {
                opt.set_learning_rate(s.lr_at(epoch))?;
            }
            state.epoch_rng = loader.rng().clone();
            loader.start_epoch(train.len());
            loader.skip(state.batch);
            progress.start_epoch(epoch, batches, state.batch);
            let first_batch = state.batch;
            while let Some((xb, yb)) = loader.next_batch(train) {
                if let Some((s, ScheduleStep::Batch)) = &self.schedule {
                    opt.set_learning_rate(s.lr_at(state.step as usize))?;
                }
                let step = match &mut self.parallel {
                    Some(p) => p.step(net, xb.borrow(), yb.borrow(), opt, &mut ws, &mut grads),
                    None => net
                        .train_step(xb.borrow(), yb.borrow(), opt, &mut ws, &mut grads)
                        .map(|loss| (loss, xb.len()))
                        .map_err(FitError::Core),
                };
                let (loss, rows) = match step {
                    Ok((loss, rows)) => (loss.as_f64(), rows as f64),
                    Err(FitError::Core(e)) if is_divergence(&e) => {
                        progress.message(&format!("stopping: {e}"));
                        stop = Some(StopReason::Diverged {
                            epoch,
                            step: state.step,
                            error: e,
                        });
                        break 'epochs;
                    }
                    Err(e) => return Err(e),
                };
                state.loss_sum += loss * rows;
                state.loss_rows += rows;
                let output = N::train_output(&ws);
                for (m, sums) in self.metrics.iter().zip(&mut state.metric_sums) {
                    m.update(sums, output, yb.borrow());
                }
                state.step += 1;
                state.batch += 1;
                if self.report_every.is_some_and(|n| state.step % n == 0) {
                    report.collect_into(&*net, &grads, None)?;
                    let snapshot = snapshot(&report, state.step, epoch);
                    if snapshot.flags.any() {
                        progress.message(&format!(
                            "step {}: gradient flags {:?}",
                            state.step, snapshot.flags
                        ));
                    }
                    state.history.gradients.push(snapshot);
                }
                if progress.shows_batches() {
                    progress.batch(loss, &self.running(&state));
                }
                let cx = Context {
                    net: &*net,
                    optimizer: &*opt,
                    state: &state,
                    dropout_rng: N::rng(&ws),
                    directions: &directions,
                    rank,
                    _t: core::marker::PhantomData,
                };
                let outcome = each_callback(&mut self.callbacks, |cb| cb.on_batch_end(&cx));
                if agree(&mut self.parallel, !self.callbacks.is_empty(), outcome)? {
                    stop = Some(StopReason::Callback { epoch });
                }
                if stop.is_some() {
                    break 'epochs;
                }
            }

            // The epoch's values, training then validation (the loss is the
            // global batches' already; the metrics' sums are summed over ranks).
            let mut values = vec![state.loss_sum / state.loss_rows];
            if let Some(p) = &mut self.parallel {
                sum_over_ranks(&mut **p, &mut state.metric_sums);
            }
            values.extend(
                self.metrics
                    .iter()
                    .zip(&state.metric_sums)
                    .map(|(m, s)| m.value(s)),
            );
            if let Some(val) = val {
                if let Some(p) = &mut self.parallel {
                    p.broadcast_buffers(net);
                }
                values.extend(self.validate(net, &mut ws, val, &mut val_batch, &mut val_sums)?);
            }
            for ((name, _), &v) in directions.iter().zip(&values) {
                state.history.push(name, v);
            }
            let summary = progress::pairs(directions.iter().map(|(n, _)| n.as_str()).zip(values));
            progress.end_epoch(state.batch - first_batch, &summary);

            // Early stopping.
            let mut early_stop = false;
            if let Some(e) = &self.early {
                let higher = directions
                    .iter()
                    .find(|(n, _)| *n == e.monitor)
                    .is_some_and(|&(_, h)| h);
                let v = state.history.last(&e.monitor).unwrap_or(f64::NAN);
                let es = &mut state.early;
                let improved = v.is_finite()
                    && es.best.map_or(true, |b| {
                        if higher {
                            v > b + e.min_delta
                        } else {
                            v < b - e.min_delta
                        }
                    });
                if improved {
                    es.best = Some(v);
                    es.best_epoch = epoch;
                    es.wait = 0;
                    if e.restore_best {
                        match &mut es.best_net {
                            Some(b) => b.clone_from(net),
                            None => es.best_net = Some(net.clone()),
                        }
                    }
                } else {
                    es.wait += 1;
                    early_stop = es.wait >= e.patience;
                }
            }

            // The position is now the next epoch's start.
            state.epoch += 1;
            state.batch = 0;
            state.epoch_rng = loader.rng().clone();
            state.reset_sums();
            let cx = Context {
                net: &*net,
                optimizer: &*opt,
                state: &state,
                dropout_rng: N::rng(&ws),
                directions: &directions,
                rank,
                _t: core::marker::PhantomData,
            };
            let outcome = each_callback(&mut self.callbacks, |cb| cb.on_epoch_end(&cx));
            let callback_stop = agree(&mut self.parallel, !self.callbacks.is_empty(), outcome)?;
            if early_stop {
                let e = self.early.as_ref().expect("early stopping is set");
                stop = Some(StopReason::EarlyStopped {
                    monitor: e.monitor.clone(),
                    best_epoch: state.early.best_epoch,
                });
                break;
            }
            if callback_stop {
                stop = Some(StopReason::Callback { epoch });
                break;
            }
        }
        progress.finish();

        let mut history = state.history;
        history.stop = stop.unwrap_or(StopReason::Completed);
        if let Some(e) = &self.early {
            if state.early.best.is_some() {
                history.best_epoch = Some(state.early.best_epoch);
            }
            if e.restore_best {
                if let Some(best) = &state.early.best_net {
                    net.clone_from(best);
                }
            }
        }
        Ok(history)
    }

    /// The running values of the metrics this epoch, for the progress bar.
    fn running(&self, state: &FitState<N>) -> String {
        let names: Vec<String> = self.metrics.iter().map(|m| m.name()).collect();
        let values = self
            .metrics
            .iter()
            .zip(&state.metric_sums)
            .map(|(m, s)| m.value(s));
        progress::pairs(names.iter().map(String::as_str).zip(values))
    }

    /// The validation loss and metrics, over `val` in batches, in order.
    fn validate<X, Y>(
        &mut self,
        net: &N,
        ws: &mut N::Workspace,
        val: &Dataset<X, Y>,
        batch: &mut (X, Y),
        sums: &mut [Vec<f64>],
    ) -> Result<Vec<f64>, FitError>
    where
        X: Rows<Batch = X> + Borrow<N::Input>,
        Y: Rows<Batch = Y> + Borrow<N::Target>,
    {
        for s in sums.iter_mut() {
            s.clear();
        }
        let (mut loss_sum, mut rows) = (0.0, 0.0);
        let n = val.len();
        // This rank's strided share (all of it in one process).
        let (rank, ranks) = self
            .parallel
            .as_ref()
            .map_or((0, 1), |p| (p.rank(), p.size()));
        let mine: Vec<usize> = (rank..n).step_by(ranks).collect();
        let mut indices = Vec::with_capacity(self.batch_size.min(n));
        for chunk in mine.chunks(self.batch_size) {
            indices.clear();
            indices.extend_from_slice(chunk);
            val.gather_into(&indices, &mut batch.0, &mut batch.1)?;
            let loss = net.loss(batch.0.borrow(), batch.1.borrow(), ws)?;
            let k = indices.len() as f64;
            loss_sum += loss.as_f64() * k;
            rows += k;
            let output = N::eval_output(ws);
            for (m, s) in self.metrics.iter().zip(sums.iter_mut()) {
                m.update(s, output, batch.1.borrow());
            }
        }
        if let Some(p) = &mut self.parallel {
            let mut totals = [loss_sum, rows];
            p.sum(&mut totals);
            [loss_sum, rows] = totals;
            sum_over_ranks(&mut **p, sums);
        }
        let mut out = vec![loss_sum / rows];
        out.extend(
            self.metrics
                .iter()
                .zip(sums.iter())
                .map(|(m, s)| m.value(s)),
        );
        Ok(out)
    }

    /// Loads a checkpoint to resume from.
    fn load(
        &self,
        path: &Path,
        net: &mut N,
        opt: &mut O,
        ws: &mut N::Workspace,
    ) -> Result<FitState<N>, FitError> {
        let bytes = std::fs::read(path).map_err(|source| FitError::Io {
            path: path.to_owned(),
            source,
        })?;
        // Into copies first: a checkpoint whose fit state is bad changes nothing.
        let (mut n2, mut o2) = (net.clone(), opt.clone());
        let (mut dropout, mut epoch_rng) = (N::rng(ws).clone(), rng::seeded(0));
        let (_, extra) = checkpoint_from_bytes_with(
            &bytes,
            &mut n2,
            &mut o2,
            &mut [&mut dropout, &mut epoch_rng],
        )?;
        let state = FitState::from_extra(&extra, &n2, epoch_rng)?;
        if state.metric_sums.len() != self.metrics.len() {
            return Err(FitError::StateMismatch {
                reason: format!(
                    "{} metrics saved, {} configured",
                    state.metric_sums.len(),
                    self.metrics.len()
                ),
            });
        }
        *net = n2;
        *opt = o2;
        *N::rng_mut(ws) = dropout;
        Ok(state)
    }
}

/// Every rank's verdict from its callbacks at the same point: whether any asked to
/// stop, or the error of this rank's callback ([`FitError::PeerCallback`] if only
/// another's failed). One small allreduce in a data-parallel fit with callbacks;
/// `outcome` itself otherwise.
fn agree<T: Real, N: Network<T>, O>(
    parallel: &mut Option<Box<dyn Parallel<T, N, O>>>,
    callbacks: bool,
    outcome: Result<bool, FitError>,
) -> Result<bool, FitError> {
    let Some(p) = parallel.as_mut().filter(|_| callbacks) else {
        return outcome;
    };
    let mut flags = [
        f64::from(u8::from(outcome.as_ref().is_ok_and(|&s| s))),
        f64::from(u8::from(outcome.is_err())),
    ];
    p.sum(&mut flags);
    match outcome {
        Err(e) => Err(e),
        Ok(_) if flags[1] > 0.0 => Err(FitError::PeerCallback),
        Ok(_) => Ok(flags[0] > 0.0),
    }
}

/// Sums metric sums over the ranks. A metric's sums have one length wherever it
/// saw a batch, and none on a rank that saw none: the lengths (and how many ranks
/// have any) are summed first, then the values, padded with zeros.
fn sum_over_ranks<T: Real, N: Network<T>, O>(p: &mut dyn Parallel<T, N, O>, sums: &mut [Vec<f64>]) {
    let mut lens: Vec<f64> = sums
        .iter()
        .flat_map(|s| [s.len() as f64, f64::from(u8::from(!s.is_empty()))])
        .collect();
    p.sum(&mut lens);
    let mut flat = Vec::new();
    for (s, l) in sums.iter_mut().zip(lens.chunks_exact(2)) {
        let len = if l[1] > 0.0 {
            (l[0] / l[1]).round() as usize
        } else {
            0
        };
        s.resize(len, 0.0);
        flat.extend_from_slice(s);
    }
    p.sum(&mut flat);
    let mut i = 0;
    for s in sums.iter_mut() {
        let len = s.len();
        s.copy_from_slice(&flat[i..i + len]);
        i += len;
    }
}

/// Whether a step's error is the divergence that ends a fit with its history.
fn is_divergence(e: &Error) -> bool {
    matches!(
        e,
        Error::NonFiniteLoss { .. }
            | Error::NonFiniteGradient { .. }
            | Error::NonFiniteGradNorm { .. }
            | Error::NonFiniteValue { .. }
            | Error::ParametersDiverged { .. }
    )
}

fn snapshot<T: Real>(report: &GradientReport<T>, step: u64, epoch: usize) -> GradientSnapshot {
    GradientSnapshot {
        step,
        epoch,
        norms: report
            .rows()
            .iter()
            .map(|r| (r.name.to_string(), r.grad_norm.as_f64()))
            .collect(),
        flags: report.flags(),
    }
}

/// Runs one hook of every callback in order: whether one of them asked to stop, or
/// the first error (the callbacks after it are not run).
fn each_callback<C: ?Sized>(
    callbacks: &mut [Box<C>],
    mut hook: impl FnMut(&mut C) -> Result<Control, FitError>,
) -> Result<bool, FitError> {
    let mut stop = false;
    for cb in callbacks {
        stop |= hook(cb)? == Control::Stop;
    }
    Ok(stop)
}
