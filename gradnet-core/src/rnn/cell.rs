//! What one step of a recurrent layer computes: the [`Cell`] trait, and the Elman
//! cell [`RnnCell`] (the LSTM's and GRU's are in their own modules).

use core::fmt::Debug;

use crate::activation::{tanh_vec, Activation, Relu, Tanh};
use crate::real::Real;

/// What one step of a recurrent layer computes, for one row; implemented by
/// [`RnnCell`] and the LSTM and GRU cells. Gate blocks follow PyTorch's order.
pub trait Cell: Copy + Debug + PartialEq + Send + Sync + 'static {
    /// Number of gates `G` (rows of `weight_ih` are `G * H`).
    const GATES: usize;
    /// Whether the cell carries a cell state `c` besides `h` (LSTM).
    const HAS_C: bool;
    /// Whether the last gate's recurrent part is kept apart and gated (GRU's
    /// `r * (W_hn h + b_hn)`), so the recurrent pre-activation's gradient differs
    /// from the input's and the state passes to the next step directly too.
    const SPLIT: bool;

    /// One step for one row. Without [`Cell::SPLIT`], on entry `a` holds `W_ih x_t +
    /// W_hh h_{t-1}` and `bi` the sum of both biases (`G * H` each; zeros without
    /// biases), and `r` and `bh` are empty. With it, `a` holds `W_ih x_t` and `r`
    /// `W_hh h_{t-1}` (no biases), and `bi`, `bh` are the two biases. Writes `h` (and
    /// `c`), and leaves in `a` what [`Cell::backward`] reads (the gates after their
    /// nonlinearities), and in `keep` (`H` values, GRU only) `W_hn h + b_hn`.
    #[allow(clippy::too_many_arguments)]
    fn forward<T: Real>(
        &self,
        a: &mut [T],
        r: &[T],
        bi: &[T],
        bh: &[T],
        c_prev: &[T],
        h_prev: &[T],
        h: &mut [T],
        c: &mut [T],
        keep: &mut [T],
    );

    /// The step's backward for one row: from `dh = dL/dh_t` (all paths) and, in
    /// `dc`, `dL/dc_t` (LSTM), writes `da = dL/d(W_ih x_t + b_ih)`, `dr =
    /// dL/d(W_hh h_{t-1} + b_hh)` (only if [`Cell::SPLIT`]; it is `da` otherwise),
    /// `dh_prev` the direct part of `dL/dh_{t-1}` (only if [`Cell::SPLIT`]), and
    /// turns `dc` into `dL/dc_{t-1}`.
    #[allow(clippy::too_many_arguments)]
    fn backward<T: Real>(
        &self,
        a: &[T],
        keep: &[T],
        c_prev: &[T],
        c: &[T],
        h_prev: &[T],
        h: &[T],
        dh: &[T],
        dc: &mut [T],
        da: &mut [T],
        dr: &mut [T],
        dh_prev: &mut [T],
    );
}

/// The nonlinearity of an Elman RNN, PyTorch's `nonlinearity`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RnnNonlinearity {
    /// `tanh` (PyTorch's default).
    #[default]
    Tanh,
    /// `relu`.
    Relu,
}

/// The Elman cell, `h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`: one gate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RnnCell {
    /// tanh or relu.
    pub nonlinearity: RnnNonlinearity,
}

impl Cell for RnnCell {
    const GATES: usize = 1;
    const HAS_C: bool = false;
    const SPLIT: bool = false;

    #[inline]
    fn forward<T: Real>(
        &self,
        a: &mut [T],
        _r: &[T],
        b: &[T],
        _bh: &[T],
        _c_prev: &[T],
        _h_prev: &[T],
        h: &mut [T],
        _c: &mut [T],
        _keep: &mut [T],
    ) {
        // a keeps the pre-activation z; h = act(z).
        let n = h.len();
        let (a, b) = (&mut a[..n], &b[..n]);
        match self.nonlinearity {
            RnnNonlinearity::Tanh => {
                for ((z, &b), h) in a.iter_mut().zip(b).zip(h.iter_mut()) {
                    *z += b;
                    *h = tanh_vec(*z);
                }
            }
            RnnNonlinearity::Relu => {
                for ((z, &b), h) in a.iter_mut().zip(b).zip(h.iter_mut()) {
                    *z += b;
                    *h = Relu.f(*z);
                }
            }
        }
    }

    #[inline]
    fn backward<T: Real>(
        &self,
        a: &[T],
        _keep: &[T],
        _c_prev: &[T],
        _c: &[T],
        _h_prev: &[T],
        h: &[T],
        dh: &[T],
        _dc: &mut [T],
        da: &mut [T],
        _dr: &mut [T],
        _dh_prev: &mut [T],
    ) {
        // dz = dh * act'(z)
        for j in 0..h.len() {
            da[j] = dh[j]
                * match self.nonlinearity {
                    RnnNonlinearity::Tanh => Tanh.df(a[j], h[j]),
                    RnnNonlinearity::Relu => Relu.df(a[j], h[j]),
                };
        }
    }
}
