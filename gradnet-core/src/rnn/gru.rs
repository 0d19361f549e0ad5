//! The GRU cell, `torch.nn.GRU` (one layer, one direction): [`Gru<T, IN, H>`].
//!
//! PyTorch's equations and gate order (`r, z, n`, the three `H`-row blocks of
//! `weight_ih_l0` `[3H, IN]`, `weight_hh_l0` `[3H, H]` and both biases `[3H]`):
//!
//! ```text
//! r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
//! z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
//! n_t = tanh   (W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
//! h_t = (1 - z_t) * n_t + z_t * h_{t-1}
//! ```
//!
//! The reset gate multiplies the recurrent part of `n` *with* its bias `b_hn` (PyTorch's
//! form, not the original paper's `W_hn (r * h)`), so the recurrent pre-activation of
//! the `n` block differs from the input's and the cache keeps `W_hn h_{t-1} + b_hn`.
//! Backward, per step, from `dh = dL/dh_t`:
//!
//! ```text
//! dn = dh (1 - z)    dz = dh (h_{t-1} - n)    dh_{t-1} += dh z   (the direct path)
//! dn_pre = dn (1 - n^2):  d(W_in x + b_in) = dn_pre,  d(W_hn h + b_hn) = dn_pre r
//! dr = dn_pre (W_hn h_{t-1} + b_hn)
//! pre-activations: dr r (1 - r), dz z (1 - z)  (the same for the input and recurrent parts)
//! ```
//!
//! PyTorch equivalent of `Gru::<f32, 8, 16>` read as `h_n`: `nn.GRU(8, 16)`, its
//! `h_n[0]`; with [`Steps`](super::Steps), its `output`.
//!
//! ```
//! use gradnet_core::rnn::{Gru, RecurrentConfig, Steps};
//! use gradnet_core::{seq::Seq, Layer, rng::seeded};
//! let gru = Gru::<f32, 2, 3>::new(&RecurrentConfig::default(), &mut seeded(0));
//! assert_eq!(gru.weight_hh().len(), 3 * 3 * 3);
//! let x = Seq::<f32, 2>::from_batch_first(&[0.5, -1.0, 0.25, 0.0, 1.0, 1.0], 3)?;
//! let (mut out, mut cache) = (Seq::new(), Default::default());
//! Layer::forward_train(&Steps(&gru), &x, &mut out, &mut cache, &mut seeded(0))?;
//! assert_eq!((out.steps(), out.rows()), (3, 1)); // PyTorch's `output`
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use super::{Cell, Recurrent};
use crate::activation::{sigmoid_vec, tanh_vec};
use crate::real::Real;

/// The GRU cell: three gates `r, z, n`; see the [module documentation](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GruCell;

/// `torch.nn.GRU(IN, H)`, one layer, one direction.
pub type Gru<T, const IN: usize, const H: usize> = Recurrent<T, GruCell, IN, H>;

impl Cell for GruCell {
    const GATES: usize = 3;
    const HAS_C: bool = false;
    const SPLIT: bool = true;

    #[inline]
    fn forward<T: Real>(
        &self,
        a: &mut [T],
        r: &[T],
        bi: &[T],
        bh: &[T],
        _c_prev: &[T],
        h_prev: &[T],
        h: &mut [T],
        _c: &mut [T],
        keep: &mut [T],
    ) {
        let n = h.len();
        let one = T::one();
        // Every slice cut to its block of H, so the loop vectorizes.
        let (ar, rest) = a[..3 * n].split_at_mut(n);
        let (az, an) = rest.split_at_mut(n);
        let (rr_, rz, rn) = (&r[..n], &r[n..2 * n], &r[2 * n..3 * n]);
        let (bir, biz, bin) = (&bi[..n], &bi[n..2 * n], &bi[2 * n..3 * n]);
        let (bhr, bhz, bhn) = (&bh[..n], &bh[n..2 * n], &bh[2 * n..3 * n]);
        let (h_prev, keep) = (&h_prev[..n], &mut keep[..n]);
        for j in 0..n {
            let rr = sigmoid_vec(ar[j] + bir[j] + rr_[j] + bhr[j]);
            let z = sigmoid_vec(az[j] + biz[j] + rz[j] + bhz[j]);
            let hn = rn[j] + bhn[j];
            let nn = tanh_vec(an[j] + bin[j] + rr * hn);
            h[j] = (one - z) * nn + z * h_prev[j];
            keep[j] = hn;
            ar[j] = rr;
            az[j] = z;
            an[j] = nn;
        }
    }

    #[inline]
    fn backward<T: Real>(
        &self,
        a: &[T],
        keep: &[T],
        _c_prev: &[T],
        _c: &[T],
        h_prev: &[T],
        h: &[T],
        dh: &[T],
        _dc: &mut [T],
        da: &mut [T],
        dr: &mut [T],
        dh_prev: &mut [T],
    ) {
        let n = h.len();
        let one = T::one();
        for j in 0..n {
            let (rr, z, nn, hn) = (a[j], a[n + j], a[2 * n + j], keep[j]);
            let d = dh[j];
            dh_prev[j] = d * z;
            let dn_pre = d * (one - z) * (one - nn) * (one + nn);
            let dz_pre = d * (h_prev[j] - nn) * z * (one - z);
            let dr_pre = dn_pre * hn * rr * (one - rr);
            da[j] = dr_pre;
            dr[j] = dr_pre;
            da[n + j] = dz_pre;
            dr[n + j] = dz_pre;
            da[2 * n + j] = dn_pre;
            dr[2 * n + j] = dn_pre * rr;
        }
    }
}
