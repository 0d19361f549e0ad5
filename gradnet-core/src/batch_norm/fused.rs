//! Batch norm and the activation after it as one step, `y = act(weight * xhat +
//! bias)`: [`Fused`] of a [`BatchNorm`], as a generated network runs `batch_norm`
//! followed by an activation.
//!
//! The step keeps nothing per value but what the network keeps anyway, its input `x`
//! and its output `y`: the forward writes `y` straight from `x` and the statistics
//! (no `xhat`, no pre-activation), and the backward forms `xhat` and the
//! pre-activation `z = weight * xhat + bias` again, a row at a time in the cache's
//! scratch, to get `dz = dy * act'(z, y)` and the sums over rows in one pass over
//! `x`, `y` and `dy`, then `dx` in a second over `x` and `dz`. Against batch norm
//! and then the activation, that is two buffers of the batch's size fewer, one pass
//! fewer each way, and the same values: the same statistics, the same `xhat`, the
//! same formulas (`tests/layer.rs` checks both against each other and against
//! central differences).
//!
//! ```
//! use gradnet_core::activation::Relu;
//! use gradnet_core::batch_norm::{BatchNorm, BatchNormCache};
//! use gradnet_core::{rng::seeded, Batch, Fused, Layer};
//! let bn = BatchNorm::<f64, 2>::default();
//! let x = Batch::<f64, 2>::from_rows(&[[1.0, -1.0], [3.0, 1.0]])?;
//! let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
//! Layer::forward_train(&Fused(&bn, Relu), &x, &mut y, &mut cache, &mut seeded(0))?;
//! let s = 1.0 / (1.0f64 + 1e-5).sqrt();
//! assert_eq!(y.as_slice(), &[0.0, 0.0, s, s]);
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use super::Coefficients;
use super::{affine_row, dx_row, sums_row, xhat_row, BatchNorm, BatchNormCache, BatchNormGrads};
use crate::activation::Activation;
use crate::batch::Batch;
use crate::dense::Write;
use crate::error::Result;
use crate::layer::{Fused, Layer};
use crate::real::Real;
use crate::reduce::{NoReduce, Reducer};
use crate::rng::SeededRng;

/// The training and frozen passes normalize with the cache's statistics (the batch's
/// or the running ones); [`Layer::commit`] is batch norm's own, called on the layer
/// (a `Fused` only borrows it): [`BatchNorm::update_running_stats`] with this cache.
impl<T: Real, A: Activation<T>, const D: usize> Layer<T, Batch<T, D>>
    for Fused<'_, BatchNorm<T, D>, A>
{
    type Output = Batch<T, D>;
    type Cache = BatchNormCache<T, D>;
    type Grads = BatchNormGrads<T, D>;

    fn check_train(&self, x: &Batch<T, D>) -> Result<()> {
        Layer::check_train(self.0, x)
    }

    fn forward_eval(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        self.0.forward_eval(x, y);
        self.1.forward_inplace(y.as_mut_slice());
    }

    fn forward_train(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
        rng: &mut SeededRng,
    ) -> Result<()> {
        self.forward_train_with(x, y, cache, rng, &mut NoReduce)
    }

    fn forward_frozen(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
    ) -> Result<()> {
        self.0.frozen_stats(x, cache);
        self.normalize(x, y, cache);
        Ok(())
    }

    fn backward(
        &self,
        x: &Batch<T, D>,
        y: &Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
        dy: &mut Batch<T, D>,
        grads: &mut BatchNormGrads<T, D>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        let r = &mut NoReduce;
        self.backward_with(x, y, cache, dy, grads, grad_write, dx, dx_write, r);
    }

    fn forward_train_with<R: Reducer<T>>(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
        _rng: &mut SeededRng,
        reducer: &mut R,
    ) -> Result<()> {
        self.0.batch_stats(x, cache, reducer)?;
        self.normalize(x, y, cache);
        Ok(())
    }

    /// Leaves `dy` holding the gradient w.r.t. the pre-activation, as the dense
    /// [`Fused`] does.
    fn backward_with<R: Reducer<T>>(
        &self,
        x: &Batch<T, D>,
        y: &Batch<T, D>,
        cache: &mut BatchNormCache<T, D>,
        dy: &mut Batch<T, D>,
        grads: &mut BatchNormGrads<T, D>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
        reducer: &mut R,
    ) {
        let (bn, act) = (self.0, self.1);
        let n = x.rows();
        assert!(
            y.rows() == n && dy.rows() == n,
            "batch norm backward: x, y and dy differ in rows"
        );
        assert!(
            cache.invstd.len() == D,
            "batch norm backward: the cache holds no forward pass"
        );
        let (weight, bias) = (bn.weight.as_deref(), bn.bias.as_deref());
        {
            let c = &mut *cache;
            let (mean, invstd) = (&c.mean[..D], &c.invstd[..D]);
            let (h, z) = (&mut c.row[..D], &mut c.zrow[..D]);
            let (s1, s2) = (&mut c.sum_dy[..D], &mut c.sum_dy_xhat[..D]);
            s1.fill(T::zero());
            s2.fill(T::zero());
            for ((r, yr), d) in x
                .iter_rows()
                .zip(y.iter_rows())
                .zip(dy.as_mut_slice().chunks_exact_mut(D.max(1)))
            {
                xhat_row(r, mean, invstd, h);
                affine_row(h, z, weight, bias);
                act.backward_inplace(z, &yr[..D], d);
                sums_row(d, h, s1, s2);
            }
        }
        bn.finish_sums(cache, grads, grad_write, reducer);
        let Some(dx) = dx else { return };
        bn.dx_coefficients(cache, n);
        match dx_write {
            Write::Overwrite => dx.set_rows(n),
            Write::Accumulate => assert_eq!(dx.rows(), n, "batch norm backward: dx has wrong rows"),
        }
        let c = &mut *cache;
        let (mean, invstd, h) = (&c.mean[..D], &c.invstd[..D], &mut c.row[..D]);
        let k = Coefficients {
            scale: &c.scale,
            k1: &c.sum_dy,
            k2: &c.sum_dy_xhat,
        };
        for ((o, d), r) in dx
            .as_mut_slice()
            .chunks_exact_mut(D.max(1))
            .zip(dy.iter_rows())
            .zip(x.iter_rows())
        {
            xhat_row(r, mean, invstd, h);
            dx_row(o, d, h, k, dx_write);
        }
    }
}

impl<T: Real, A: Activation<T>, const D: usize> Fused<'_, BatchNorm<T, D>, A> {
    /// `y = act(weight * xhat + bias)` with the cache's statistics, `xhat` formed a
    /// row at a time in the cache's scratch.
    fn normalize(&self, x: &Batch<T, D>, y: &mut Batch<T, D>, cache: &mut BatchNormCache<T, D>) {
        let (bn, act) = (self.0, self.1);
        let (weight, bias) = (bn.weight.as_deref(), bn.bias.as_deref());
        y.set_rows(x.rows());
        let c = &mut *cache;
        let (mean, invstd, h) = (&c.mean[..D], &c.invstd[..D], &mut c.row[..D]);
        for (r, o) in x
            .iter_rows()
            .zip(y.as_mut_slice().chunks_exact_mut(D.max(1)))
        {
            xhat_row(r, mean, invstd, h);
            affine_row(h, o, weight, bias);
            act.forward_inplace(o);
        }
    }
}
