//! Layer normalization over each row, `torch.nn.LayerNorm(D)` on `(rows, D)` input.
//!
//! For each row `i`, over its `D` features:
//!
//! ```text
//! mean_i  = (1/D) sum_j x_ij
//! var_i   = (1/D) sum_j (x_ij - mean_i)^2                  biased, as PyTorch
//! xhat_ij = (x_ij - mean_i) * invstd_i,   invstd_i = 1 / sqrt(var_i + eps)
//! y_ij    = weight_j * xhat_ij + bias_j                     (each optional)
//! ```
//!
//! Unlike batch norm the statistics belong to the row, so training and evaluation
//! compute the same thing and there are no running statistics. The backward pass,
//! with `dxhat = weight * dy`:
//!
//! ```text
//! dx_ij     = invstd_i / D * (D dxhat_ij - sum_j dxhat_ij - xhat_ij sum_j dxhat_ij xhat_ij)
//! dweight_j = sum_i dy_ij xhat_ij
//! dbias_j   = sum_i dy_ij
//! ```
//!
//! The layer holds the parameters; a caller-owned [`LayerNormCache`] holds what the
//! backward reads and is reused without allocating for any batch up to the largest
//! it has held.
//!
//! ```
//! use gradnet_core::{Batch, Write};
//! use gradnet_core::layer_norm::{LayerNorm, LayerNormCache};
//! let ln = LayerNorm::<f64, 2>::default();
//! let x = Batch::<f64, 2>::from_rows(&[[1.0, 3.0], [5.0, 5.0]])?;
//! let (mut y, mut cache) = (Batch::new(), LayerNormCache::new());
//! ln.forward_train(&x, &mut y, &mut cache);
//! // row 0: mean 2, biased variance 1; row 1: variance 0, so xhat = 0
//! let s = 1.0 / (1.0f64 + 1e-5).sqrt();
//! assert_eq!(y.as_slice(), &[-s, s, 0.0, 0.0]);
//! let mut g = ln.zero_grads();
//! let dy = Batch::<f64, 2>::from_rows(&[[1.0, 0.0], [0.0, 0.0]])?;
//! ln.backward(&cache, &dy, &mut g, Write::Overwrite, None, Write::Overwrite);
//! assert_eq!(g.weight(), Some(&[-s, 0.0][..]));
//! assert_eq!(g.bias(), Some(&[1.0, 0.0][..]));
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use crate::batch::Batch;
use crate::batch_norm::{affine_row, check_eps, check_len};
use crate::dense::Write;
use crate::error::Result;
use crate::layer::Layer;
use crate::params::{Gradients, ParamMut, Parameters, Shape, TensorKind};
use crate::real::Real;
use crate::rng::SeededRng;

/// The hyper-parameters of a [`LayerNorm`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNormConfig {
    /// Added to the variance before the square root, finite and `> 0` (default
    /// `1e-5`; PyTorch also takes 0).
    pub eps: f64,
    /// Learn a per-feature weight (PyTorch `elementwise_affine`, default `true`).
    pub elementwise_affine: bool,
    /// Also learn a per-feature bias when `elementwise_affine` (default `true`).
    pub bias: bool,
}

impl Default for LayerNormConfig {
    fn default() -> Self {
        LayerNormConfig {
            eps: 1e-5,
            elementwise_affine: true,
            bias: true,
        }
    }
}

/// `torch.nn.LayerNorm(D)` on `(rows, D)` input: optional `weight` and `bias`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm<T, const D: usize> {
    /// Per-feature scale, initially 1; `None` without `elementwise_affine`.
    weight: Option<Vec<T>>,
    /// Per-feature shift, initially 0; `None` without `elementwise_affine` or `bias`.
    bias: Option<Vec<T>>,
    /// See [`LayerNormConfig::eps`].
    eps: T,
}

/// Read and write access to the values; the fields are private so that no value of
/// the wrong length can be put in.
impl<T: Real, const D: usize> LayerNorm<T, D> {
    /// The per-feature scale, if `elementwise_affine`.
    pub fn weight(&self) -> Option<&[T]> {
        self.weight.as_deref()
    }

    /// The per-feature scale, if `elementwise_affine`, mutable (its length is fixed).
    pub fn weight_mut(&mut self) -> Option<&mut [T]> {
        self.weight.as_deref_mut()
    }

    /// The per-feature shift, if any.
    pub fn bias(&self) -> Option<&[T]> {
        self.bias.as_deref()
    }

    /// The per-feature shift, if any, mutable (its length is fixed).
    pub fn bias_mut(&mut self) -> Option<&mut [T]> {
        self.bias.as_deref_mut()
    }

    /// The `eps` added to the variance (finite and positive).
    pub fn eps(&self) -> T {
        self.eps
    }
}

/// What the backward pass of a [`LayerNorm`] reads, written by
/// [`LayerNorm::forward_train`]. Owned by the caller and reused: it allocates on
/// the first call and whenever a batch outgrows it, never otherwise.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerNormCache<T, const D: usize> {
    /// The normalized input, `(x - mean) * invstd`, `rows x D`.
    pub xhat: Batch<T, D>,
    /// The mean of each row.
    pub mean: Vec<T>,
    /// `1 / sqrt(var + eps)` of each row.
    pub invstd: Vec<T>,
}

impl<T: Real, const D: usize> LayerNormCache<T, D> {
    /// An empty cache; allocates nothing until the first forward pass.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The gradients of a [`LayerNorm`]'s parameters, same shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNormGrads<T, const D: usize> {
    /// dL/dweight, if the layer has a weight.
    weight: Option<Vec<T>>,
    /// dL/dbias, if the layer has a bias.
    bias: Option<Vec<T>>,
}

/// Read and write access to the values; the fields are private so that no value of
/// the wrong length can be put in.
impl<T: Real, const D: usize> LayerNormGrads<T, D> {
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

impl<T: Real, const D: usize> LayerNormGrads<T, D> {
    /// Zeroed gradients, with a weight and a bias gradient as asked.
    pub fn zeros(weight: bool, bias: bool) -> Self {
        LayerNormGrads {
            weight: weight.then(|| vec![T::zero(); D]),
            bias: bias.then(|| vec![T::zero(); D]),
        }
    }
}

impl<T: Real, const D: usize> Default for LayerNorm<T, D> {
    /// PyTorch's defaults: eps 1e-5, weight and bias.
    fn default() -> Self {
        Self::build(true, true, T::of(1e-5))
    }
}

/// Mean and `1 / sqrt(var + eps)` of one row (two passes, for accuracy).
#[inline]
fn row_stats<T: Real, const D: usize>(r: &[T], eps: T) -> (T, T) {
    let r = &r[..D];
    let dt = T::of(D as f64);
    let mut s = T::zero();
    for &v in r {
        s += v;
    }
    let mean = s / dt;
    let mut q = T::zero();
    for &v in r {
        let d = v - mean;
        q += d * d;
    }
    (mean, (q / dt + eps).sqrt().recip())
}

impl<T: Real, const D: usize> LayerNorm<T, D> {
    /// Number of features.
    pub const FEATURES: usize = D;

    fn build(affine: bool, bias: bool, eps: T) -> Self {
        LayerNorm {
            weight: affine.then(|| vec![T::one(); D]),
            bias: (affine && bias).then(|| vec![T::zero(); D]),
            eps,
        }
    }

    /// A freshly initialized layer (weight 1, bias 0).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless `eps` is finite and positive, also
    /// after conversion to `T` (stricter than PyTorch, which takes 0: a constant row
    /// would normalize to 0/0 = NaN).
    pub fn new(config: LayerNormConfig) -> Result<Self> {
        check_eps::<T>("layer norm eps", config.eps)?;
        Ok(Self::from_checked_config(config))
    }

    /// A layer with the given `weight` and `bias` (either may be absent) and the
    /// `eps` of `config` (whose `elementwise_affine` and `bias` are ignored).
    ///
    /// # Errors
    /// As [`LayerNorm::new`], and [`crate::Error::WidthMismatch`] if `weight` or `bias`
    /// does not hold `D` values.
    pub fn from_parts(
        config: LayerNormConfig,
        weight: Option<Vec<T>>,
        bias: Option<Vec<T>>,
    ) -> Result<Self> {
        let mut ln = Self::new(config)?;
        check_len("layer norm weight", &weight, D)?;
        check_len("layer norm bias", &bias, D)?;
        ln.weight = weight;
        ln.bias = bias;
        Ok(ln)
    }

    /// [`LayerNorm::new`] for a configuration already checked, as the `network!` macro
    /// checks it at compile time, so generated constructors need no run-time failure
    /// path.
    #[doc(hidden)]
    pub fn from_checked_config(config: LayerNormConfig) -> Self {
        Self::build(config.elementwise_affine, config.bias, T::of(config.eps))
    }

    /// Zeroed gradients of this layer's shapes.
    pub fn zero_grads(&self) -> LayerNormGrads<T, D> {
        LayerNormGrads::zeros(self.weight.is_some(), self.bias.is_some())
    }

    fn assert_shapes(&self) {
        let ok = |v: &Option<Vec<T>>| v.as_ref().map_or(true, |v| v.len() == D);
        assert!(
            ok(&self.weight) && ok(&self.bias),
            "layer norm: weight and bias must hold {D} values"
        );
    }

    /// Forward pass keeping what the backward needs in `cache`; `y` is resized to
    /// `x.rows()`. An empty batch gives an empty `y`.
    pub fn forward_train(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut LayerNormCache<T, D>,
    ) {
        self.assert_shapes();
        let n = x.rows();
        cache.xhat.set_rows(n);
        cache.mean.resize(n, T::zero());
        cache.invstd.resize(n, T::zero());
        y.set_rows(n);
        let (weight, bias) = (self.weight.as_deref(), self.bias.as_deref());
        for ((((r, h), o), m), s) in x
            .iter_rows()
            .zip(cache.xhat.as_mut_slice().chunks_exact_mut(D.max(1)))
            .zip(y.as_mut_slice().chunks_exact_mut(D.max(1)))
            .zip(cache.mean.iter_mut())
            .zip(cache.invstd.iter_mut())
        {
            let (mean, invstd) = row_stats::<T, D>(r, self.eps);
            (*m, *s) = (mean, invstd);
            for (h, &v) in h.iter_mut().zip(r) {
                *h = (v - mean) * invstd;
            }
            affine_row(h, o, weight, bias);
        }
    }

    /// Forward pass keeping nothing (evaluation, or inference); same output as
    /// [`LayerNorm::forward_train`].
    pub fn forward_eval(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        self.assert_shapes();
        y.set_rows(x.rows());
        for (r, o) in x
            .iter_rows()
            .zip(y.as_mut_slice().chunks_exact_mut(D.max(1)))
        {
            let (mean, invstd) = row_stats::<T, D>(r, self.eps);
            let (r, o) = (&r[..D], &mut o[..D]);
            for j in 0..D {
                let h = (r[j] - mean) * invstd;
                let h = self.weight.as_ref().map_or(h, |w| h * w[j]);
                o[j] = self.bias.as_ref().map_or(h, |b| h + b[j]);
            }
        }
    }

    /// Backward pass, given `dy = dL/dy` for the batch of the last
    /// [`LayerNorm::forward_train`] with this `cache`: writes dweight and dbias into
    /// `grads` (per `grad_write`) and, if asked, dx into `dx` (per `dx_write`; an
    /// accumulated `dx` must already have the batch's rows).
    ///
    /// # Panics
    /// If `dy` (or an accumulated `dx`) differs in rows from the cached batch.
    pub fn backward(
        &self,
        cache: &LayerNormCache<T, D>,
        dy: &Batch<T, D>,
        grads: &mut LayerNormGrads<T, D>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        let n = cache.xhat.rows();
        assert_eq!(
            dy.rows(),
            n,
            "layer norm backward: dy and the cached batch differ in rows"
        );
        assert_eq!(
            cache.invstd.len(),
            n,
            "layer norm backward: cache is inconsistent"
        );
        if grad_write == Write::Overwrite {
            grads.zero();
        }
        for (d, h) in dy.iter_rows().zip(cache.xhat.iter_rows()) {
            let (d, h) = (&d[..D], &h[..D]);
            if let Some(gw) = grads.weight.as_deref_mut() {
                let gw = &mut gw[..D];
                for j in 0..D {
                    gw[j] += d[j] * h[j];
                }
            }
            if let Some(gb) = grads.bias.as_deref_mut() {
                let gb = &mut gb[..D];
                for j in 0..D {
                    gb[j] += d[j];
                }
            }
        }

        let Some(dx) = dx else { return };
        match dx_write {
            Write::Overwrite => dx.set_rows(n),
            Write::Accumulate => assert_eq!(dx.rows(), n, "layer norm backward: dx has wrong rows"),
        }
        let dt = T::of(D as f64);
        // An empty `w` stands for a weight of ones (no affine weight).
        let w: &[T] = self.weight.as_deref().unwrap_or(&[]);
        for (((o, d), h), &invstd) in dx
            .as_mut_slice()
            .chunks_exact_mut(D.max(1))
            .zip(dy.iter_rows())
            .zip(cache.xhat.iter_rows())
            .zip(&cache.invstd)
        {
            let (o, d, h) = (&mut o[..D], &d[..D], &h[..D]);
            // dx = invstd (dxhat - mean_j(dxhat) - xhat mean_j(dxhat xhat)), dxhat = w dy.
            let (mut s1, mut s2) = (T::zero(), T::zero());
            if w.is_empty() {
                for j in 0..D {
                    s1 += d[j];
                    s2 += d[j] * h[j];
                }
            } else {
                for j in 0..D {
                    let g = w[j] * d[j];
                    s1 += g;
                    s2 += g * h[j];
                }
            }
            let (k1, k2) = (s1 / dt, s2 / dt);
            for j in 0..D {
                let g = if w.is_empty() { d[j] } else { w[j] * d[j] };
                let v = invstd * (g - k1 - h[j] * k2);
                match dx_write {
                    Write::Overwrite => o[j] = v,
                    Write::Accumulate => o[j] += v,
                }
            }
        }
    }
}

/// Layer norm as a step of a network's passes: [`LayerNorm::forward_eval`],
/// [`LayerNorm::forward_train`] (which cannot fail) and [`LayerNorm::backward`];
/// `dy` is left as it was.
impl<T: Real, const D: usize> Layer<T, Batch<T, D>> for LayerNorm<T, D> {
    type Output = Batch<T, D>;
    type Cache = LayerNormCache<T, D>;
    type Grads = LayerNormGrads<T, D>;

    fn forward_eval(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        LayerNorm::forward_eval(self, x, y);
    }

    fn forward_train(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut LayerNormCache<T, D>,
        _rng: &mut SeededRng,
    ) -> Result<()> {
        LayerNorm::forward_train(self, x, y, cache);
        Ok(())
    }

    fn backward(
        &self,
        _x: &Batch<T, D>,
        _y: &Batch<T, D>,
        cache: &mut LayerNormCache<T, D>,
        dy: &mut Batch<T, D>,
        grads: &mut LayerNormGrads<T, D>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        LayerNorm::backward(self, cache, dy, grads, grad_write, dx, dx_write);
    }
}

impl<T: Real, const D: usize> Parameters<T> for LayerNorm<T, D> {
    type Grads = LayerNormGrads<T, D>;

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

    fn zero_grads(&self) -> Self::Grads {
        LayerNorm::zero_grads(self)
    }

    /// `weight` and `bias` `[D]` (each if present), as `torch.nn.LayerNorm(D)`.
    fn visit_shapes(&self, f: &mut impl FnMut(&'static str, TensorKind, Shape)) {
        if self.weight.is_some() {
            f("weight", TensorKind::Parameter, Shape::vector(D));
        }
        if self.bias.is_some() {
            f("bias", TensorKind::Parameter, Shape::vector(D));
        }
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

impl<T: Real, const D: usize> Gradients<T> for LayerNormGrads<T, D> {
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
