//! Dropout, `torch.nn.Dropout(p)`: inverted dropout in training, the identity in
//! evaluation.
//!
//! ```text
//! training    mask_ij = 0 with probability p, else 1 / (1 - p);   y = mask * x
//! backward    dx = mask * dy
//! evaluation  y = x
//! ```
//!
//! Scaling the kept values by `1 / (1 - p)` keeps the expected value of every output
//! equal to its input, so evaluation needs no rescaling. The mask is drawn from a
//! [`SeededRng`] the caller passes in, one 32-bit draw per value (a value is dropped
//! when the draw is below `p * 2^32`, so `p` is honoured to within `2^-32`). It is
//! stored, as the values `0` and `1 / (1 - p)`, in a caller-owned buffer that the
//! backward pass reads; the buffer keeps its allocation across batches.
//!
//! `p = 1` is accepted, as in PyTorch: training outputs are all zeros, and so are the
//! gradients. With `p = 0` or `p = 1` (to within `2^-33`) the mask is certain and no
//! random numbers are drawn.
//!
//! ```
//! use gradnet_core::{Batch, Write, dropout::Dropout, rng::seeded};
//! let drop = Dropout::new(0.5)?;
//! let x = Batch::<f64, 4>::from_rows(&[[1.0, 2.0, 3.0, 4.0]])?;
//! let (mut y, mut mask) = (Batch::new(), Batch::new());
//! drop.forward_train(&x, &mut y, &mut mask, &mut seeded(7));
//! for ((&y, &x), &m) in y.as_slice().iter().zip(x.as_slice()).zip(mask.as_slice()) {
//!     assert!(m == 0.0 || m == 2.0);   // dropped, or kept and scaled by 1 / (1 - 0.5)
//!     assert_eq!(y, m * x);
//! }
//! drop.forward_eval(&x, &mut y);
//! assert_eq!(y, x);
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use crate::batch::Batch;
use crate::dense::Write;
use crate::error::{Error, Result};
use crate::layer::{Layer, NoGrads};
use crate::real::Real;
use crate::rng::SeededRng;
use rand::Rng;

/// `2^32`: one more than the largest 32-bit draw.
const DRAWS: f64 = 4_294_967_296.0;

/// `torch.nn.Dropout(p)`: zeroes each value with probability `p` in training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    p: f64,
    /// A 32-bit draw below this drops its value: `round(p * 2^32)`.
    threshold: u64,
}

impl Default for Dropout {
    /// PyTorch's default, `p = 0.5`.
    fn default() -> Self {
        Dropout {
            p: 0.5,
            threshold: 1 << 31,
        }
    }
}

impl Dropout {
    /// Dropout with drop probability `p`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `0 <= p <= 1` (NaN included).
    pub fn new(p: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidParameter {
                name: "dropout probability",
                value: p,
                reason: "must be in [0, 1]",
            });
        }
        Ok(Self::from_checked_p(p))
    }

    /// [`Dropout::new`] for a probability already checked to lie in `[0, 1)`, as the
    /// `network!` macro checks it at compile time, so generated constructors need no
    /// run-time failure path.
    #[doc(hidden)]
    pub fn from_checked_p(p: f64) -> Self {
        Dropout {
            p,
            threshold: (p * DRAWS).round() as u64,
        }
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The factor kept values are scaled by, `1 / (1 - p)` (0 when `p = 1`, where
    /// nothing is kept).
    pub fn scale<T: Real>(&self) -> T {
        if self.p < 1.0 {
            T::of(1.0 / (1.0 - self.p))
        } else {
            T::zero()
        }
    }

    /// Training-mode forward: draws a fresh `mask` (resized to `x.rows()`, values 0
    /// or `1 / (1 - p)`) from `rng` and sets `y = mask * x` (resized likewise).
    pub fn forward_train<T: Real, const D: usize>(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        mask: &mut Batch<T, D>,
        rng: &mut SeededRng,
    ) {
        let n = x.rows();
        mask.set_rows(n);
        y.set_rows(n);
        let scale = self.scale::<T>();
        let (m, y) = (mask.as_mut_slice(), y.as_mut_slice());
        if self.threshold == 0 {
            // p below 2^-33 (p = 0 in practice): every value kept.
            m.fill(scale);
        } else if self.threshold >= DRAWS as u64 {
            // p above 1 - 2^-33 (p = 1 in practice): every value dropped.
            m.fill(T::zero());
        } else {
            for m in m.iter_mut() {
                *m = if u64::from(rng.next_u32()) < self.threshold {
                    T::zero()
                } else {
                    scale
                };
            }
        }
        for ((y, &x), &m) in y.iter_mut().zip(x.as_slice()).zip(m.iter()) {
            *y = x * m;
        }
    }

    /// Evaluation-mode forward: `y = x` (resized to `x.rows()`); draws nothing.
    pub fn forward_eval<T: Real, const D: usize>(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        y.copy_from(x);
    }

    /// Backward of the training-mode forward: `dx = mask * dy` with the `mask` of
    /// that pass, written into `dx` if asked (per `dx_write`; an accumulated `dx`
    /// must already have `dy.rows()` rows). (The backward of evaluation mode is
    /// `dx = dy`.)
    ///
    /// # Panics
    /// If `mask` and `dy` (or an accumulated `dx`) differ in rows.
    pub fn backward<T: Real, const D: usize>(
        &self,
        mask: &Batch<T, D>,
        dy: &Batch<T, D>,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        let n = dy.rows();
        assert_eq!(
            mask.rows(),
            n,
            "dropout backward: mask and dy differ in rows"
        );
        let Some(dx) = dx else { return };
        match dx_write {
            Write::Overwrite => {
                dx.set_rows(n);
                for ((o, &d), &m) in dx
                    .as_mut_slice()
                    .iter_mut()
                    .zip(dy.as_slice())
                    .zip(mask.as_slice())
                {
                    *o = d * m;
                }
            }
            Write::Accumulate => {
                assert_eq!(dx.rows(), n, "dropout backward: dx has wrong rows");
                for ((o, &d), &m) in dx
                    .as_mut_slice()
                    .iter_mut()
                    .zip(dy.as_slice())
                    .zip(mask.as_slice())
                {
                    *o += d * m;
                }
            }
        }
    }
}

/// Dropout as a step of a network's passes, for every scalar type and width. The
/// cache is the mask, drawn from the `rng` argument exactly as
/// [`Dropout::forward_train`] draws it (so a network's dropout stream is the same
/// through either); evaluation is the identity and draws nothing. There are no
/// parameters, and without a `dx` the backward does nothing.
impl<T: Real, const D: usize> Layer<T, Batch<T, D>> for Dropout {
    type Output = Batch<T, D>;
    type Cache = Batch<T, D>;
    type Grads = NoGrads;

    fn forward_eval(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        Dropout::forward_eval(self, x, y);
    }

    fn forward_train(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        mask: &mut Batch<T, D>,
        rng: &mut SeededRng,
    ) -> Result<()> {
        Dropout::forward_train(self, x, y, mask, rng);
        Ok(())
    }

    /// The identity, with a mask of ones (so the backward passes `dy` on); draws
    /// nothing.
    fn forward_frozen(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        mask: &mut Batch<T, D>,
    ) -> Result<()> {
        mask.set_rows(x.rows());
        mask.as_mut_slice().fill(T::one());
        y.copy_from(x);
        Ok(())
    }

    fn backward(
        &self,
        _x: &Batch<T, D>,
        _y: &Batch<T, D>,
        mask: &mut Batch<T, D>,
        dy: &mut Batch<T, D>,
        _grads: &mut NoGrads,
        _grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        if dx.is_some() {
            Dropout::backward(self, mask, dy, dx, dx_write);
        }
    }
}

/// Dropout has no parameters and no buffers; the impl lets generic code (summaries,
/// weights files) treat it as every other layer.
impl<T: Real> crate::params::Parameters<T> for Dropout {
    type Grads = NoGrads;

    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[T])) {
        let _ = f;
    }

    fn visit_params_mut(
        &mut self,
        grads: &NoGrads,
        f: &mut impl FnMut(crate::params::ParamMut<'_, T>),
    ) {
        let _ = (grads, f);
    }

    fn zero_grads(&self) -> NoGrads {
        NoGrads
    }
}
