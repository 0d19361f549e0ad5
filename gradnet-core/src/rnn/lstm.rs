//! The LSTM cell, `torch.nn.LSTM` (one layer, one direction): [`Lstm<T, IN, H>`].
//!
//! PyTorch's equations and gate order (`i, f, g, o`, the four `H`-row blocks of
//! `weight_ih_l0` `[4H, IN]`, `weight_hh_l0` `[4H, H]` and both biases `[4H]`):
//!
//! ```text
//! i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
//! f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
//! g_t = tanh   (W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
//! o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
//! c_t = f_t * c_{t-1} + i_t * g_t
//! h_t = o_t * tanh(c_t)
//! ```
//!
//! and backward, per step, from `dh = dL/dh_t` and `dc = dL/dc_t` (from step `t + 1`):
//!
//! ```text
//! dc  += dh * o * (1 - tanh(c_t)^2)         do = dh * tanh(c_t)
//! di = dc * g    df = dc * c_{t-1}    dg = dc * i    dc_{t-1} = dc * f
//! pre-activations: di i (1 - i), df f (1 - f), dg (1 - g^2), do o (1 - o)
//! ```
//!
//! The cache keeps the four gates after their nonlinearities and every `c_t`;
//! `tanh(c_t)` is recomputed on the way back. The gradient reaches `c_{t-1}` through
//! `f_t` alone, with no squashing derivative: this is why the LSTM keeps a gradient
//! alive over many steps where the tanh RNN's vanishes. With
//! [`RecurrentConfig::forget_bias_one`](super::RecurrentConfig::forget_bias_one) the
//! forget gate starts near `sigmoid(1)`.
//!
//! PyTorch equivalent of `Lstm::<f32, 8, 16>` read as `h_n`: `nn.LSTM(8, 16)`, its
//! `h_n[0]`; with [`Steps`](super::Steps), its `output`.
//!
//! ```
//! use gradnet_core::rnn::{Lstm, RecurrentCache, RecurrentConfig, State};
//! use gradnet_core::{seq::Seq, Batch, rng::seeded};
//! let lstm = Lstm::<f64, 2, 3>::new(&RecurrentConfig { forget_bias_one: true, ..Default::default() }, &mut seeded(0));
//! assert_eq!(lstm.weight_ih().len(), 4 * 3 * 2);
//! assert_eq!(&lstm.bias_ih().unwrap()[3..6], &[1.0, 1.0, 1.0]); // the forget block
//! let x = Seq::<f64, 2>::from_batch_first(&[0.5, -1.0, 0.25, 0.0, 1.0, 1.0], 3)?;
//! let h0 = State::with_cell(Batch::from_rows(&[[0.1, 0.2, 0.3]])?, Batch::from_rows(&[[1.0, 0.0, -1.0]])?);
//! let mut cache = RecurrentCache::default();
//! lstm.forward_from(&x, Some(&h0), &mut cache)?;
//! let last = cache.final_state(); // (h_n, c_n): the next chunk's initial state
//! assert_eq!((last.h.rows(), last.c.rows()), (1, 1));
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use super::{Cell, Recurrent};
use crate::activation::{sigmoid_vec, tanh_vec};
use crate::real::Real;

/// The LSTM cell: four gates `i, f, g, o` and a cell state; see the [module
/// documentation](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LstmCell;

/// `torch.nn.LSTM(IN, H)`, one layer, one direction.
pub type Lstm<T, const IN: usize, const H: usize> = Recurrent<T, LstmCell, IN, H>;

impl Cell for LstmCell {
    const GATES: usize = 4;
    const HAS_C: bool = true;
    const SPLIT: bool = false;

    #[inline]
    fn forward<T: Real>(
        &self,
        a: &mut [T],
        _r: &[T],
        b: &[T],
        _bh: &[T],
        c_prev: &[T],
        _h_prev: &[T],
        h: &mut [T],
        c: &mut [T],
        _keep: &mut [T],
    ) {
        // Gate blocks of H side by side, every slice cut to H so the loop has no
        // bounds checks and vectorizes (the nonlinearities are straight-line code).
        let n = h.len();
        let (ai, rest) = a[..4 * n].split_at_mut(n);
        let (af, rest) = rest.split_at_mut(n);
        let (ag, ao) = rest.split_at_mut(n);
        let (bi, bf, bg, bo) = (&b[..n], &b[n..2 * n], &b[2 * n..3 * n], &b[3 * n..4 * n]);
        let (c_prev, c) = (&c_prev[..n], &mut c[..n]);
        for j in 0..n {
            let i = sigmoid_vec(ai[j] + bi[j]);
            let f = sigmoid_vec(af[j] + bf[j]);
            let g = tanh_vec(ag[j] + bg[j]);
            let o = sigmoid_vec(ao[j] + bo[j]);
            let ct = f * c_prev[j] + i * g;
            c[j] = ct;
            h[j] = o * tanh_vec(ct);
            ai[j] = i;
            af[j] = f;
            ag[j] = g;
            ao[j] = o;
        }
    }

    #[inline]
    fn backward<T: Real>(
        &self,
        a: &[T],
        _keep: &[T],
        c_prev: &[T],
        c: &[T],
        _h_prev: &[T],
        h: &[T],
        dh: &[T],
        dc: &mut [T],
        da: &mut [T],
        _dr: &mut [T],
        _dh_prev: &mut [T],
    ) {
        let n = h.len();
        let one = T::one();
        let (ai, af, ag, ao) = (&a[..n], &a[n..2 * n], &a[2 * n..3 * n], &a[3 * n..4 * n]);
        let (di, rest) = da[..4 * n].split_at_mut(n);
        let (df, rest) = rest.split_at_mut(n);
        let (dg, d_o) = rest.split_at_mut(n);
        let (c_prev, c, dh, dc) = (&c_prev[..n], &c[..n], &dh[..n], &mut dc[..n]);
        for j in 0..n {
            let (i, f, g, o) = (ai[j], af[j], ag[j], ao[j]);
            let tc = tanh_vec(c[j]);
            let dct = dc[j] + dh[j] * o * (one - tc) * (one + tc);
            dc[j] = dct * f;
            di[j] = dct * g * i * (one - i);
            df[j] = dct * c_prev[j] * f * (one - f);
            dg[j] = dct * i * (one - g) * (one + g);
            d_o[j] = dh[j] * tc * o * (one - o);
        }
    }
}
