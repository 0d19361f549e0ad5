//! Batch normalization over features, `torch.nn.BatchNorm1d(D)` on `(rows, D)` input.
//!
//! Training mode, for each feature `j` over the `n` rows of the batch:
//!
//! ```text
//! mean_j  = (1/n) sum_i x_ij
//! var_j   = (1/n) sum_i (x_ij - mean_j)^2                  biased: normalizes the batch
//! xhat_ij = (x_ij - mean_j) * invstd_j,   invstd_j = 1 / sqrt(var_j + eps)
//! y_ij    = weight_j * xhat_ij + bias_j                     (weight 1, bias 0 if not affine)
//!
//! running_mean_j = (1 - m) running_mean_j + m mean_j
//! running_var_j  = (1 - m) running_var_j  + m var_j n/(n-1)  unbiased: estimates the population
//! num_batches_tracked += 1
//! ```
//!
//! with `m = momentum`, or `m = 1 / num_batches_tracked` (after the increment) when
//! `momentum` is `None`, PyTorch's cumulative average. Evaluation mode normalizes
//! with the running statistics instead: `y = weight (x - running_mean) /
//! sqrt(running_var + eps) + bias`.
//!
//! The training-mode backward carries the gradient through the batch statistics
//! (each `x_ij` moves `mean_j` and `var_j`). With `dxhat = weight * dy`:
//!
//! ```text
//! dx_ij     = invstd_j / n * (n dxhat_ij - sum_i dxhat_ij - xhat_ij sum_i dxhat_ij xhat_ij)
//! dweight_j = sum_i dy_ij xhat_ij
//! dbias_j   = sum_i dy_ij
//! ```
//!
//! The layer holds parameters and buffers (what is saved); a [`BatchNormCache`],
//! owned by the caller and reused, holds what the backward pass reads. Neither
//! pass allocates once the cache and outputs have held a batch this large.
//!
//! ```
//! use gradnet_core::{Batch, Write};
//! use gradnet_core::batch_norm::{BatchNorm, BatchNormCache};
//! let mut bn = BatchNorm::<f64, 1>::default();
//! let x = Batch::<f64, 1>::from_rows(&[[1.0], [3.0]])?;
//! let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
//! bn.forward_train(&x, &mut y, &mut cache)?;
//! // mean 2, biased variance 1: y = (x - 2) / sqrt(1 + 1e-5)
//! let s = 1.0 / (1.0f64 + 1e-5).sqrt();
//! assert_eq!(y.as_slice(), &[-s, s]);
//! // running_mean = 0.9 * 0 + 0.1 * 2; running_var = 0.9 * 1 + 0.1 * (1 * 2/1)
//! assert_eq!(bn.running_mean(), &[0.1 * 2.0]);
//! assert_eq!(bn.running_var(), &[0.9 + 0.1 * 2.0]);
//! let mut g = bn.zero_grads();
//! let dy = Batch::<f64, 1>::from_rows(&[[1.0], [0.0]])?;
//! bn.backward(&mut cache, &dy, &mut g, Write::Overwrite, None, Write::Overwrite);
//! assert_eq!(g.bias(), Some(&[1.0][..]));
//! assert_eq!(g.weight(), Some(&[-s][..]));
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use crate::batch::Batch;
use crate::dense::Write;
use crate::error::{Error, Result};
use crate::layer::Layer;
use crate::params::{Gradients, ParamMut, Parameters, Shape, TensorKind};
use crate::real::Real;
use crate::reduce::{NoReduce, Reducer};
use crate::rng::SeededRng;

mod fused;

/// Rows per block in [`BatchNorm::forward_eval`]: the per-feature scale (one square
/// root) is formed once per block rather than once per value.
const EVAL_BLOCK: usize = 32;

/// The hyper-parameters of a [`BatchNorm`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Learn a per-feature `weight` and `bias` (PyTorch `affine`, default `true`).
    pub affine: bool,
    /// Weight of the newest batch in the running statistics, in `[0, 1]` (default
    /// `Some(0.1)`); `None` keeps a cumulative average over all batches.
    pub momentum: Option<f64>,
    /// Added to the variance before the square root, finite and `> 0` (default
    /// `1e-5`). PyTorch also takes 0; gradnet does not, since a constant feature
    /// would then normalize to 0/0 = NaN.
    pub eps: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            affine: true,
            momentum: Some(0.1),
            eps: 1e-5,
        }
    }
}

/// `torch.nn.BatchNorm1d(D)` on `(rows, D)` input: parameters `weight`, `bias` and
/// buffers `running_mean`, `running_var`, `num_batches_tracked`.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm<T, const D: usize> {
    /// Per-feature scale (`gamma`), initially 1; `None` if not affine.
    weight: Option<Vec<T>>,
    /// Per-feature shift (`beta`), initially 0; `None` if not affine.
    bias: Option<Vec<T>>,
    /// Running estimate of each feature's mean, initially 0.
    running_mean: Vec<T>,
    /// Running estimate of each feature's (unbiased) variance, initially 1.
    running_var: Vec<T>,
    /// Training-mode forward passes so far. An integer in PyTorch; kept in `T` here so
    /// that it travels with the other buffers (exact in `f32` up to 2^24 batches).
    num_batches_tracked: T,
    /// See [`BatchNormConfig::momentum`].
    momentum: Option<T>,
    /// See [`BatchNormConfig::eps`].
    eps: T,
}

/// Read and write access to the values; the fields are private so that no value of
/// the wrong length can be put in.
impl<T: Real, const D: usize> BatchNorm<T, D> {
    /// The per-feature scale (`gamma`), if affine.
    pub fn weight(&self) -> Option<&[T]> {
        self.weight.as_deref()
    }

    /// The per-feature scale (`gamma`), if affine, mutable (its length is fixed).
    pub fn weight_mut(&mut self) -> Option<&mut [T]> {
        self.weight.as_deref_mut()
    }

    /// The per-feature shift (`beta`), if affine.
    pub fn bias(&self) -> Option<&[T]> {
        self.bias.as_deref()
    }

    /// The per-feature shift (`beta`), if affine, mutable (its length is fixed).
    pub fn bias_mut(&mut self) -> Option<&mut [T]> {
        self.bias.as_deref_mut()
    }

    /// The running estimate of each feature's mean (a buffer).
    pub fn running_mean(&self) -> &[T] {
        &self.running_mean
    }

    /// The running estimate of each feature's mean (a buffer), mutable (its length is fixed).
    pub fn running_mean_mut(&mut self) -> &mut [T] {
        &mut self.running_mean
    }

    /// The running estimate of each feature's unbiased variance (a buffer).
    pub fn running_var(&self) -> &[T] {
        &self.running_var
    }

    /// The running estimate of each feature's unbiased variance (a buffer), mutable (its length is fixed).
    pub fn running_var_mut(&mut self) -> &mut [T] {
        &mut self.running_var
    }

    /// The number of training-mode batches folded into the running statistics (a buffer).
    pub fn num_batches_tracked(&self) -> T {
        self.num_batches_tracked
    }

    /// The number of training-mode batches folded into the running statistics (a buffer), mutable.
    pub fn num_batches_tracked_mut(&mut self) -> &mut T {
        &mut self.num_batches_tracked
    }

    /// The momentum of the running statistics (`None`: cumulative average).
    pub fn momentum(&self) -> Option<T> {
        self.momentum
    }

    /// The `eps` added to the variance (finite and positive).
    pub fn eps(&self) -> T {
        self.eps
    }
}

/// What the training-mode backward pass of a [`BatchNorm`] reads, written by
/// [`BatchNorm::forward_train`]. Owned by the caller and reused across steps: it
/// allocates on the first call and whenever a batch outgrows it, never otherwise.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchNormCache<T, const D: usize> {
    /// The normalized input, `(x - mean) * invstd`, `rows x D`.
    pub xhat: Batch<T, D>,
    /// The batch mean of each feature.
    pub mean: Vec<T>,
    /// The biased batch variance of each feature.
    pub var: Vec<T>,
    /// `1 / sqrt(var + eps)` for each feature.
    pub invstd: Vec<T>,
    // Backward scratch, one per feature: sums over rows, then the coefficients of dx.
    sum_dy: Vec<T>,
    sum_dy_xhat: Vec<T>,
    scale: Vec<T>,
    // Filled by `forward_frozen_stats` (the running statistics): the backward then
    // has no batch-statistics terms.
    frozen: bool,
    // The rows the batch statistics were taken over: this batch's, or every
    // process's in a synchronized pass.
    stat_rows: usize,
    // A synchronized pass's packing buffer (2 D values): what one reduction sends.
    sync: Vec<T>,
    // One row of `xhat` and one of the pre-activation, for the step fused with an
    // activation, which forms them again rather than keeping them.
    row: Vec<T>,
    zrow: Vec<T>,
}

impl<T: Real, const D: usize> BatchNormCache<T, D> {
    /// An empty cache; allocates nothing until the first forward pass.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sizes the per-feature vectors (a no-op after the first call).
    fn prepare(&mut self) {
        for v in [
            &mut self.mean,
            &mut self.var,
            &mut self.invstd,
            &mut self.sum_dy,
            &mut self.sum_dy_xhat,
            &mut self.scale,
            &mut self.row,
            &mut self.zrow,
        ] {
            v.resize(D, T::zero());
        }
    }

    /// The coefficients [`BatchNorm::dx_coefficients`] left in the scratch.
    pub(crate) fn coefficients(&self) -> Coefficients<'_, T> {
        Coefficients {
            scale: &self.scale,
            k1: &self.sum_dy,
            k2: &self.sum_dy_xhat,
        }
    }

    /// The rows the batch statistics of the last training forward were taken over:
    /// the batch's own, or, synchronized, those of every process's batch.
    pub fn stat_rows(&self) -> usize {
        self.stat_rows
    }
}

/// The gradients of a [`BatchNorm`]'s parameters, same shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormGrads<T, const D: usize> {
    /// dL/dweight, if the layer has a weight.
    weight: Option<Vec<T>>,
    /// dL/dbias, if the layer has a bias.
    bias: Option<Vec<T>>,
}

/// Read and write access to the values; the fields are private so that no value of
/// the wrong length can be put in.
impl<T: Real, const D: usize> BatchNormGrads<T, D> {
    /// dL/dweight, if the layer has a weight.
    pub fn weight(&self) -> Option<&[T]> {
        self.weight.as_deref()
    }

    /// dL/dweight, if the layer has a weight, mutable (its length is fixed).
    pub fn weight_mut(&mut self) -> Option<&mut [T]> {
        self.weight.as_deref_mut()
    }

    /// dL/dbias, if the layer has a bias.
    pub fn bias(&self) -> Option<&[T]> {
        self.bias.as_deref()
    }

    /// dL/dbias, if the layer has a bias, mutable (its length is fixed).
    pub fn bias_mut(&mut self) -> Option<&mut [T]> {
        self.bias.as_deref_mut()
    }
}

impl<T: Real, const D: usize> BatchNormGrads<T, D> {
    /// Zeroed gradients, with a weight and a bias gradient as asked.
    pub fn zeros(weight: bool, bias: bool) -> Self {
        BatchNormGrads {
            weight: weight.then(|| vec![T::zero(); D]),
            bias: bias.then(|| vec![T::zero(); D]),
        }
    }
}

impl<T: Real, const D: usize> Default for BatchNorm<T, D> {
    /// PyTorch's defaults: affine, momentum 0.1, eps 1e-5.
    fn default() -> Self {
        Self::build(true, Some(T::of(0.1)), T::of(1e-5))
    }
}

impl<T: Real, const D: usize> BatchNorm<T, D> {
    /// Number of features.
    pub const FEATURES: usize = D;

    fn build(affine: bool, momentum: Option<T>, eps: T) -> Self {
        BatchNorm {
            weight: affine.then(|| vec![T::one(); D]),
            bias: affine.then(|| vec![T::zero(); D]),
            running_mean: vec![T::zero(); D],
            running_var: vec![T::one(); D],
            num_batches_tracked: T::zero(),
            momentum,
            eps,
        }
    }

    /// A freshly initialized layer (weight 1, bias 0, running mean 0, running
    /// variance 1, no batches tracked).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the momentum is outside `[0, 1]` (or NaN) or
    /// `eps` is not finite and positive.
    pub fn new(config: BatchNormConfig) -> Result<Self> {
        if let Some(m) = config.momentum {
            if !(0.0..=1.0).contains(&m) {
                return Err(Error::InvalidParameter {
                    name: "batch norm momentum",
                    value: m,
                    reason: "must be in [0, 1]",
                });
            }
        }
        check_eps::<T>("batch norm eps", config.eps)?;
        Ok(Self::from_checked_config(config))
    }

    /// A layer with the given `weight` and `bias` (either may be absent: a layer
    /// without them normalizes only), fresh running statistics, and the settings of
    /// `config` (whose `affine` is ignored).
    ///
    /// # Errors
    /// As [`BatchNorm::new`], and [`Error::WidthMismatch`] if `weight` or `bias` does
    /// not hold `D` values.
    pub fn from_parts(
        config: BatchNormConfig,
        weight: Option<Vec<T>>,
        bias: Option<Vec<T>>,
    ) -> Result<Self> {
        let mut bn = Self::new(config)?;
        check_len("batch norm weight", &weight, D)?;
        check_len("batch norm bias", &bias, D)?;
        bn.weight = weight;
        bn.bias = bias;
        Ok(bn)
    }

    /// [`BatchNorm::new`] for a configuration already checked, as the `network!` macro
    /// checks it at compile time (literals by the macro, named consts by const
    /// assertions), so generated constructors need no run-time failure path.
    #[doc(hidden)]
    pub fn from_checked_config(config: BatchNormConfig) -> Self {
        Self::build(config.affine, config.momentum.map(T::of), T::of(config.eps))
    }

    /// Zeroed gradients of this layer's shapes.
    pub fn zero_grads(&self) -> BatchNormGrads<T, D> {
        BatchNormGrads::zeros(self.weight.is_some(), self.bias.is_some())
    }

    fn assert_shapes(&self) {
        let ok = |v: &Option<Vec<T>>| v.as_ref().map_or(true, |v| v.len() == D);
        assert!(
            ok(&self.weight)
                && ok(&self.bias)
                && self.running_mean.len() == D
                && self.running_var.len() == D,
            "batch norm: parameters and buffers must hold {D} values"
        );
    }

    /// Training-mode forward: normalizes `x` with its own batch statistics into `y`
    /// (resized to `x.rows()`), keeps what the backward needs in `cache`, and updates
    /// the running statistics and `num_batches_tracked`
    /// ([`BatchNorm::forward_train_stats`] then [`BatchNorm::update_running_stats`]).
    ///
    /// # Errors
    /// [`Error::TooFewRows`] if `x` has fewer than 2 rows (the variance of one value
    /// is undefined; PyTorch refuses too). The layer is then left unchanged.
    pub fn forward_train(
        &mut self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
    ) -> Result<()> {
        self.forward_train_stats(x, y, cache)?;
        self.update_running_stats(cache);
        Ok(())
    }

    /// The training-mode forward without its side effect: normalizes `x` with its own
    /// batch statistics into `y` and keeps the statistics and what the backward needs
    /// in `cache`, leaving the layer unchanged. A caller that may still fail after the
    /// forward pass (a generated training step) commits the statistics with
    /// [`BatchNorm::update_running_stats`] only once the whole step has succeeded.
    ///
    /// # Errors
    /// [`Error::TooFewRows`] if `x` has fewer than 2 rows.
    pub fn forward_train_stats(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
    ) -> Result<()> {
        self.forward_train_stats_with(x, y, cache, &mut NoReduce)
    }

    /// [`BatchNorm::forward_train_stats`] with the batch statistics taken over the
    /// rows of every process `reducer` sums over (PyTorch's `SyncBatchNorm`): the
    /// per-feature sums and the row count in one reduction, then the sums of
    /// squared deviations from that mean in a second (two passes, as one process
    /// computes them). With [`NoReduce`] this is `forward_train_stats`.
    ///
    /// # Errors
    /// [`Error::TooFewRows`] if `x` has fewer than 2 rows (checked on each
    /// process's own batch, so that every process refuses alike).
    pub fn forward_train_stats_with<R: Reducer<T>>(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
        reducer: &mut R,
    ) -> Result<()> {
        self.batch_stats(x, cache, reducer)?;
        self.normalize_keeping(x, y, cache);
        Ok(())
    }

    /// `y = weight * xhat + bias` with the cache's statistics, keeping `xhat` in the
    /// cache for the backward.
    fn normalize_keeping(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
    ) {
        let n = x.rows();
        cache.xhat.set_rows(n);
        y.set_rows(n);
        let (weight, bias) = (self.weight.as_deref(), self.bias.as_deref());
        let (mean, invstd) = (&cache.mean[..D], &cache.invstd[..D]);
        for ((r, h), o) in x
            .iter_rows()
            .zip(cache.xhat.as_mut_slice().chunks_exact_mut(D.max(1)))
            .zip(y.as_mut_slice().chunks_exact_mut(D.max(1)))
        {
            xhat_row(r, mean, invstd, h);
            affine_row(h, o, weight, bias);
        }
    }

    /// The batch statistics of `x` (synchronized through `reducer`) into `cache`:
    /// mean, biased variance, `invstd` and the rows they were taken over.
    ///
    /// # Errors
    /// [`Error::TooFewRows`] if `x` has fewer than 2 rows.
    pub(crate) fn batch_stats<R: Reducer<T>>(
        &self,
        x: &Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
        reducer: &mut R,
    ) -> Result<()> {
        let n = x.rows();
        check_train_rows(n)?;
        self.assert_shapes();
        cache.prepare();
        cache.frozen = false;
        let mean = &mut cache.mean[..D];
        let var = &mut cache.var[..D];
        let invstd = &mut cache.invstd[..D];

        mean.fill(T::zero());
        for r in x.iter_rows() {
            let r = &r[..D];
            for j in 0..D {
                mean[j] += r[j];
            }
        }
        let mut rows = n;
        if R::SYNCED {
            // The sums and the row count, reduced together.
            cache.sync.clear();
            cache.sync.extend_from_slice(mean);
            cache.sync.push(T::of(n as f64));
            reducer.sum_in_place(&mut cache.sync);
            mean.copy_from_slice(&cache.sync[..D]);
            rows = cache.sync[D].as_f64().round() as usize;
        }
        cache.stat_rows = rows;
        let nt = T::of(rows as f64);
        for m in mean.iter_mut() {
            *m /= nt;
        }
        var.fill(T::zero());
        for r in x.iter_rows() {
            let r = &r[..D];
            for j in 0..D {
                let d = r[j] - mean[j];
                var[j] += d * d;
            }
        }
        if R::SYNCED {
            reducer.sum_in_place(var);
        }
        for j in 0..D {
            var[j] /= nt;
            invstd[j] = (var[j] + self.eps).sqrt().recip();
        }
        Ok(())
    }

    /// The evaluation-mode forward with a cache for the backward: normalizes `x` with
    /// the running statistics (as [`BatchNorm::forward_eval`]) and keeps `xhat` and
    /// `invstd` in `cache`, so that [`BatchNorm::backward`] gives the gradients of the
    /// evaluation-mode map (no batch-statistics terms). Any number of rows.
    pub fn forward_frozen_stats(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
    ) {
        self.frozen_stats(x, cache);
        self.normalize_keeping(x, y, cache);
    }

    /// The running statistics as the cache's statistics, for a frozen pass over `x`.
    pub(crate) fn frozen_stats(&self, x: &Batch<T, D>, cache: &mut BatchNormCache<T, D>) {
        self.assert_shapes();
        cache.prepare();
        cache.frozen = true;
        cache.stat_rows = x.rows();
        for j in 0..D {
            cache.mean[j] = self.running_mean[j];
            cache.var[j] = self.running_var[j];
            cache.invstd[j] = (self.running_var[j] + self.eps).sqrt().recip();
        }
    }

    /// Folds the batch statistics of the last [`BatchNorm::forward_train_stats`] with
    /// `cache` into the running statistics and counts the batch in
    /// `num_batches_tracked`.
    ///
    /// # Panics
    /// If `cache` holds no batch statistics (no training-mode forward filled it).
    pub fn update_running_stats(&mut self, cache: &BatchNormCache<T, D>) {
        // The rows the statistics were taken over (every process's, synchronized).
        let n = cache.stat_rows;
        assert!(
            n >= 2 && !cache.frozen && cache.mean.len() == D && cache.var.len() == D,
            "batch norm: update_running_stats needs the cache of a training-mode forward pass"
        );
        let nt = T::of(n as f64);
        self.num_batches_tracked += T::one();
        let m = self.momentum.unwrap_or(self.num_batches_tracked.recip());
        let keep = T::one() - m;
        let unbias = nt / (nt - T::one());
        for j in 0..D {
            self.running_mean[j] = keep * self.running_mean[j] + m * cache.mean[j];
            self.running_var[j] = keep * self.running_var[j] + m * cache.var[j] * unbias;
        }
    }

    /// Evaluation-mode forward: `y = weight (x - running_mean) / sqrt(running_var +
    /// eps) + bias`, resizing `y` to `x.rows()`. Changes nothing and keeps nothing.
    pub fn forward_eval(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        self.assert_shapes();
        y.set_rows(x.rows());
        let block = EVAL_BLOCK * D.max(1);
        for (xb, yb) in x
            .as_slice()
            .chunks(block)
            .zip(y.as_mut_slice().chunks_mut(block))
        {
            for j in 0..D {
                let invstd = (self.running_var[j] + self.eps).sqrt().recip();
                let scale = self.weight.as_ref().map_or(invstd, |w| w[j] * invstd);
                let shift =
                    self.bias.as_ref().map_or(T::zero(), |b| b[j]) - self.running_mean[j] * scale;
                for (o, &v) in yb[j..].iter_mut().step_by(D).zip(xb[j..].iter().step_by(D)) {
                    *o = v * scale + shift;
                }
            }
        }
    }

    /// Training-mode backward, given `dy = dL/dy` for the batch of the last
    /// [`BatchNorm::forward_train`] with this `cache`: writes dweight and dbias into
    /// `grads` (per `grad_write`) and, if asked, dx into `dx` (per `dx_write`; an
    /// accumulated `dx` must already have the batch's rows). The cache is mutable only
    /// for its scratch space; what the forward pass stored is left as it was.
    ///
    /// # Panics
    /// If `dy` (or an accumulated `dx`) differs in rows from the cached batch.
    pub fn backward(
        &self,
        cache: &mut BatchNormCache<T, D>,
        dy: &Batch<T, D>,
        grads: &mut BatchNormGrads<T, D>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        self.backward_with(cache, dy, grads, grad_write, dx, dx_write, &mut NoReduce);
    }

    /// [`BatchNorm::backward`] of a [`BatchNorm::forward_train_stats_with`]: the
    /// parameter gradients are this process's (a data-parallel step sums them with
    /// every other gradient), while the sums over rows that carry the gradient
    /// through the batch statistics, `sum_i dy_ij` and `sum_i dy_ij xhat_ij`, are
    /// reduced over the processes and divided by their rows, as `SyncBatchNorm`'s
    /// backward. The reduction happens whether or not `dx` is asked for, so that
    /// every process makes the same calls. With [`NoReduce`] this is `backward`.
    ///
    /// # Panics
    /// As [`BatchNorm::backward`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward_with<R: Reducer<T>>(
        &self,
        cache: &mut BatchNormCache<T, D>,
        dy: &Batch<T, D>,
        grads: &mut BatchNormGrads<T, D>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
        reducer: &mut R,
    ) {
        let n = cache.xhat.rows();
        assert_eq!(
            dy.rows(),
            n,
            "batch norm backward: dy and the cached batch differ in rows"
        );
        assert!(
            cache.invstd.len() == D,
            "batch norm backward: the cache holds no forward pass"
        );
        let (sum_dy, sum_dy_xhat) = (&mut cache.sum_dy[..D], &mut cache.sum_dy_xhat[..D]);
        sum_dy.fill(T::zero());
        sum_dy_xhat.fill(T::zero());
        for (d, h) in dy.iter_rows().zip(cache.xhat.iter_rows()) {
            sums_row(d, h, sum_dy, sum_dy_xhat);
        }
        self.finish_sums(cache, grads, grad_write, reducer);
        let Some(dx) = dx else { return };
        self.dx_coefficients(cache, n);
        match dx_write {
            Write::Overwrite => dx.set_rows(n),
            Write::Accumulate => assert_eq!(dx.rows(), n, "batch norm backward: dx has wrong rows"),
        }
        let k = cache.coefficients();
        for ((o, d), h) in dx
            .as_mut_slice()
            .chunks_exact_mut(D.max(1))
            .zip(dy.iter_rows())
            .zip(cache.xhat.iter_rows())
        {
            dx_row(o, d, h, k, dx_write);
        }
    }

    /// With the sums over rows in the cache's scratch (`sum_dy`, `sum_dy_xhat`):
    /// writes dweight and dbias into `grads`, then (synchronized, unless frozen)
    /// reduces the sums over the processes.
    pub(crate) fn finish_sums<R: Reducer<T>>(
        &self,
        cache: &mut BatchNormCache<T, D>,
        grads: &mut BatchNormGrads<T, D>,
        grad_write: Write,
        reducer: &mut R,
    ) {
        let (sum_dy, sum_dy_xhat) = (&mut cache.sum_dy[..D], &mut cache.sum_dy_xhat[..D]);
        write_into(grads.weight.as_deref_mut(), sum_dy_xhat, grad_write);
        write_into(grads.bias.as_deref_mut(), sum_dy, grad_write);
        if R::SYNCED && !cache.frozen {
            cache.sync.clear();
            cache.sync.extend_from_slice(sum_dy);
            cache.sync.extend_from_slice(sum_dy_xhat);
            reducer.sum_in_place(&mut cache.sync);
            sum_dy.copy_from_slice(&cache.sync[..D]);
            sum_dy_xhat.copy_from_slice(&cache.sync[D..2 * D]);
        }
    }

    /// Turns the (reduced) sums into the coefficients of [`dx_row`]: `dx = a (dy -
    /// sum_dy/n - xhat sum_dy_xhat/n)`, `a = weight * invstd`, the formula of the
    /// module doc with `dxhat = weight * dy` factored out; `n` is the rows the
    /// statistics were taken over. Frozen (running statistics), the statistics do
    /// not depend on `x`, so only the per-feature scale remains.
    pub(crate) fn dx_coefficients(&self, cache: &mut BatchNormCache<T, D>, rows: usize) {
        let frozen = cache.frozen;
        let nt = T::of(if frozen { rows } else { cache.stat_rows } as f64);
        let (sum_dy, sum_dy_xhat) = (&mut cache.sum_dy[..D], &mut cache.sum_dy_xhat[..D]);
        let scale = &mut cache.scale[..D];
        for j in 0..D {
            let a = self.weight.as_ref().map_or(T::one(), |w| w[j]) * cache.invstd[j];
            scale[j] = a;
            (sum_dy[j], sum_dy_xhat[j]) = if frozen {
                (T::zero(), T::zero())
            } else {
                (a * sum_dy[j] / nt, a * sum_dy_xhat[j] / nt)
            };
        }
    }
}

/// `h = (x - mean) * invstd` over one row.
#[inline(always)]
pub(crate) fn xhat_row<T: Real>(x: &[T], mean: &[T], invstd: &[T], h: &mut [T]) {
    let (x, mean, invstd) = (&x[..h.len()], &mean[..h.len()], &invstd[..h.len()]);
    for j in 0..h.len() {
        h[j] = (x[j] - mean[j]) * invstd[j];
    }
}

/// `s1 += d`, `s2 += d h` over one row: the backward's sums over rows.
#[inline(always)]
pub(crate) fn sums_row<T: Real>(d: &[T], h: &[T], s1: &mut [T], s2: &mut [T]) {
    let n = s1.len();
    let (d, h, s2) = (&d[..n], &h[..n], &mut s2[..n]);
    for j in 0..n {
        s1[j] += d[j];
        s2[j] += d[j] * h[j];
    }
}

/// The coefficients of dx per feature, from [`BatchNorm::dx_coefficients`]: the
/// scale `a` and the two terms `k1 = a sum_dy / n`, `k2 = a sum_dy_xhat / n`.
#[derive(Clone, Copy)]
pub(crate) struct Coefficients<'a, T> {
    scale: &'a [T],
    k1: &'a [T],
    k2: &'a [T],
}

/// One row of dx: `o = a d - k1 - h k2` (or `o +=` it).
#[inline(always)]
pub(crate) fn dx_row<T: Real>(o: &mut [T], d: &[T], h: &[T], k: Coefficients<'_, T>, write: Write) {
    let n = o.len();
    let (d, h) = (&d[..n], &h[..n]);
    let (a, k1, k2) = (&k.scale[..n], &k.k1[..n], &k.k2[..n]);
    match write {
        Write::Overwrite => {
            for j in 0..n {
                o[j] = a[j] * d[j] - k1[j] - h[j] * k2[j];
            }
        }
        Write::Accumulate => {
            for j in 0..n {
                o[j] += a[j] * d[j] - k1[j] - h[j] * k2[j];
            }
        }
    }
}

/// [`Error::TooFewRows`] below the 2 rows a training-mode pass needs.
fn check_train_rows(n: usize) -> Result<()> {
    if n < 2 {
        return Err(Error::TooFewRows {
            op: "batch norm in training mode",
            min: 2,
            found: n,
        });
    }
    Ok(())
}

/// Batch norm as a step of a network's passes. The training forward is
/// [`BatchNorm::forward_train_stats`]: it leaves the layer as it was and keeps the
/// batch statistics in the cache, and [`Layer::commit`] folds them into the running
/// statistics ([`BatchNorm::update_running_stats`]) once the whole step has
/// succeeded. `forward_train` then `commit` is the inherent
/// [`BatchNorm::forward_train`]. Backward is [`BatchNorm::backward`] (the cache's
/// scratch space is used, what the forward stored is kept; `dy` is left as it was).
///
/// Call this impl's `forward_train` by the trait's path
/// (`Layer::forward_train(&bn, ...)`): with [`Layer`] in scope, method syntax on a
/// `BatchNorm` place picks this `&self` method before the inherent `&mut self` one.
impl<T: Real, const D: usize> Layer<T, Batch<T, D>> for BatchNorm<T, D> {
    type Output = Batch<T, D>;
    type Cache = BatchNormCache<T, D>;
    type Grads = BatchNormGrads<T, D>;

    /// Refuses fewer than 2 rows ([`Error::TooFewRows`]), as
    /// [`BatchNorm::forward_train_stats`] does.
    fn check_train(&self, x: &Batch<T, D>) -> Result<()> {
        check_train_rows(x.rows())
    }

    fn forward_eval(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        BatchNorm::forward_eval(self, x, y);
    }

    fn forward_train(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
        _rng: &mut SeededRng,
    ) -> Result<()> {
        self.forward_train_stats(x, y, cache)
    }

    /// Normalizes with the running statistics, keeping `xhat` and `invstd` for the
    /// backward, which is then the evaluation mode's per-feature affine map.
    fn forward_frozen(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
    ) -> Result<()> {
        self.forward_frozen_stats(x, y, cache);
        Ok(())
    }

    fn backward(
        &self,
        _x: &Batch<T, D>,
        _y: &Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
        dy: &mut Batch<T, D>,
        grads: &mut BatchNormGrads<T, D>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        BatchNorm::backward(self, cache, dy, grads, grad_write, dx, dx_write);
    }

    fn commit(&mut self, cache: &BatchNormCache<T, D>) {
        self.update_running_stats(cache);
    }

    /// [`BatchNorm::forward_train_stats_with`]: synchronized batch statistics.
    fn forward_train_with<R: Reducer<T>>(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
        _rng: &mut SeededRng,
        reducer: &mut R,
    ) -> Result<()> {
        self.forward_train_stats_with(x, y, cache, reducer)
    }

    /// [`BatchNorm::backward_with`].
    fn backward_with<R: Reducer<T>>(
        &self,
        _x: &Batch<T, D>,
        _y: &Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
        dy: &mut Batch<T, D>,
        grads: &mut BatchNormGrads<T, D>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
        reducer: &mut R,
    ) {
        BatchNorm::backward_with(self, cache, dy, grads, grad_write, dx, dx_write, reducer);
    }
}

/// `out = weight * h + bias` over one row, either factor optional.
#[inline]
pub(crate) fn affine_row<T: Real>(
    h: &[T],
    out: &mut [T],
    weight: Option<&[T]>,
    bias: Option<&[T]>,
) {
    match (weight, bias) {
        (Some(w), Some(b)) => {
            for (((o, &h), &w), &b) in out.iter_mut().zip(h).zip(w).zip(b) {
                *o = h * w + b;
            }
        }
        (Some(w), None) => {
            for ((o, &h), &w) in out.iter_mut().zip(h).zip(w) {
                *o = h * w;
            }
        }
        (None, Some(b)) => {
            for ((o, &h), &b) in out.iter_mut().zip(h).zip(b) {
                *o = h + b;
            }
        }
        (None, None) => out.copy_from_slice(h),
    }
}

/// `dst = src` or `dst += src`, if there is a `dst`.
#[inline]
pub(crate) fn write_into<T: Real>(dst: Option<&mut [T]>, src: &[T], write: Write) {
    let Some(dst) = dst else { return };
    match write {
        Write::Overwrite => dst.copy_from_slice(src),
        Write::Accumulate => {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        }
    }
}

/// `Ok` if `v` is absent or holds `len` values.
pub(crate) fn check_len<T>(what: &str, v: &Option<Vec<T>>, len: usize) -> Result<()> {
    match v {
        Some(v) if v.len() != len => Err(Error::WidthMismatch {
            what: what.into(),
            expected: len,
            found: v.len(),
        }),
        _ => Ok(()),
    }
}

/// `Ok` if `eps` is finite and `> 0`, also once converted to `T`.
pub(crate) fn check_eps<T: Real>(name: &'static str, eps: f64) -> Result<()> {
    // Stricter than PyTorch (which takes 0): with eps = 0 a constant feature has
    // variance 0 and normalizes to 0/0 = NaN. The value must also stay positive in
    // the layer's scalar type (1e-50 is 0 in f32).
    let in_t = T::of(eps);
    if eps.is_finite() && eps > 0.0 && in_t > T::zero() && in_t.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value: eps,
            reason: "must be finite and > 0 in the layer's scalar type",
        })
    }
}

impl<T: Real, const D: usize> Parameters<T> for BatchNorm<T, D> {
    type Grads = BatchNormGrads<T, D>;

    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[T])) {
        if let Some(w) = &self.weight {
            f("weight", w);
        }
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }

    fn visit_params_mut(&mut self, grads: &Self::Grads, f: &mut impl FnMut(ParamMut<'_, T>)) {
        if let (Some(w), Some(g)) = (self.weight.as_mut(), grads.weight.as_ref()) {
            f(ParamMut {
                name: "weight",
                value: w,
                grad: g,
            });
        }
        if let (Some(b), Some(g)) = (self.bias.as_mut(), grads.bias.as_ref()) {
            f(ParamMut {
                name: "bias",
                value: b,
                grad: g,
            });
        }
    }

    fn visit_buffers(&self, f: &mut impl FnMut(&'static str, &[T])) {
        f("running_mean", &self.running_mean);
        f("running_var", &self.running_var);
        f(
            "num_batches_tracked",
            core::slice::from_ref(&self.num_batches_tracked),
        );
    }

    fn visit_buffers_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        f("running_mean", &mut self.running_mean);
        f("running_var", &mut self.running_var);
        f(
            "num_batches_tracked",
            core::slice::from_mut(&mut self.num_batches_tracked),
        );
    }

    fn zero_grads(&self) -> Self::Grads {
        BatchNorm::zero_grads(self)
    }

    /// As `torch.nn.BatchNorm1d(D)`: `weight`, `bias` `[D]` (if affine), then the
    /// buffers `running_mean`, `running_var` `[D]` and `num_batches_tracked` `[]`.
    fn visit_shapes(&self, f: &mut impl FnMut(&'static str, TensorKind, Shape)) {
        if self.weight.is_some() {
            f("weight", TensorKind::Parameter, Shape::vector(D));
        }
        if self.bias.is_some() {
            f("bias", TensorKind::Parameter, Shape::vector(D));
        }
        f("running_mean", TensorKind::Buffer, Shape::vector(D));
        f("running_var", TensorKind::Buffer, Shape::vector(D));
        f("num_batches_tracked", TensorKind::Buffer, Shape::scalar());
    }

    fn visit_values_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        if let Some(w) = &mut self.weight {
            f("weight", w);
        }
        if let Some(b) = &mut self.bias {
            f("bias", b);
        }
    }
}

impl<T: Real, const D: usize> Gradients<T> for BatchNormGrads<T, D> {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[T])) {
        if let Some(w) = &self.weight {
            f("weight", w);
        }
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }

    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        if let Some(w) = &mut self.weight {
            f("weight", w);
        }
        if let Some(b) = &mut self.bias {
            f("bias", b);
        }
    }
}
