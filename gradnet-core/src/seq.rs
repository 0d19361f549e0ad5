//! [`Seq<T, D>`]: a batch of sequences, `steps x rows x D` values, time-major and
//! contiguous.
//!
//! Step `t`'s rows are one contiguous `rows x D` block, row-major, and the blocks
//! follow each other in time order: value `(t, r, d)` sits at `(t * rows + r) * D + d`.
//! This is PyTorch's default layout (`batch_first=False`, `[time, batch, features]`),
//! chosen because it is the fastest for a recurrence:
//!
//! - each step of the recurrence reads one step of every sequence, `h_{t-1}` of all
//!   rows, and writes `h_t`: in this order those are single contiguous blocks, which a
//!   matrix product takes as they are (no gather, no strided view);
//! - the whole sequence, read as one `(steps * rows) x D` matrix, is the left operand
//!   of the single large product that forms the input projections of all steps at
//!   once (`X W_ih^T`), and of the products that form `dW_ih` and `dX` on the way back.
//!
//! Batch-first data (`[batch, time, features]`, PyTorch's `batch_first=True`) is
//! converted on the way in ([`Seq::from_batch_first`]) and out ([`Seq::to_batch_first`]).
//! Every sequence of a batch has the same number of steps, known at run time. Like a
//! [`Batch`], a sequence keeps its allocation when it shrinks ([`Seq::set_shape`]).
//!
//! ```
//! use gradnet_core::{seq::Seq, Error};
//! // Two sequences (rows) of three steps, one feature, batch-first: [batch, time, 1].
//! let bf = [1.0f32, 2.0, 3.0, 10.0, 20.0, 30.0];
//! let s = Seq::<f32, 1>::from_batch_first(&bf, 3)?;
//! assert_eq!((s.steps(), s.rows()), (3, 2));
//! assert_eq!(s.step(1), &[2.0, 20.0]);            // step 1 of both sequences
//! assert_eq!(s.as_slice(), &[1.0, 10.0, 2.0, 20.0, 3.0, 30.0]);
//! assert_eq!(s.to_batch_first(), bf);
//! assert!(matches!(Seq::<f32, 1>::from_time_major(vec![1.0; 5], 2), Err(Error::RaggedBuffer { .. })));
//! # Ok::<(), Error>(())
//! ```

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::real::Real;

/// `steps x rows x D` values, time-major (step after step, each step a row-major
/// `rows x D` block); see the [module documentation](self).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Seq<T, const D: usize> {
    /// The values as one `(steps * rows) x D` batch (time-major rows).
    flat: Batch<T, D>,
    steps: usize,
    rows: usize,
}

impl<T: Real, const D: usize> Seq<T, D> {
    /// The width of each row of each step.
    pub const WIDTH: usize = D;

    /// An empty sequence (0 steps, 0 rows) that allocates nothing: a buffer to be
    /// filled by a kernel.
    pub fn new() -> Self {
        Seq {
            flat: Batch::new(),
            steps: 0,
            rows: 0,
        }
    }

    /// `steps x rows` of zeros. Unlike the checked constructors this accepts zero
    /// steps or rows: it makes buffers, not data.
    pub fn zeros(steps: usize, rows: usize) -> Self {
        Seq {
            flat: Batch::zeros(steps * rows),
            steps,
            rows,
        }
    }

    /// Takes ownership of a time-major buffer (`[time, batch, D]`, PyTorch's
    /// `batch_first=False`) of `steps` steps; the number of rows is
    /// `data.len() / (steps * D)`.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] if `steps` is 0 or `data` is empty,
    /// [`Error::RaggedBuffer`] (with `width = steps * D`) if `data.len()` is not a
    /// multiple of `steps * D`, [`Error::NonFinite`] at the first NaN or infinity
    /// (its `row` counts rows over all steps, `t * rows + r`).
    pub fn from_time_major(data: Vec<T>, steps: usize) -> Result<Self> {
        let rows = check_len::<D>(data.len(), steps)?;
        check_finite::<T, D>(&data)?;
        Ok(Seq {
            flat: Batch::from_vec_unchecked(data),
            steps,
            rows,
        })
    }

    /// Copies a batch-first buffer (`[batch, time, D]`, PyTorch's
    /// `batch_first=True`) of `steps` steps into time-major order.
    ///
    /// # Errors
    /// As [`Seq::from_time_major`]; a non-finite value is reported at its time-major
    /// position.
    pub fn from_batch_first(data: &[T], steps: usize) -> Result<Self> {
        let rows = check_len::<D>(data.len(), steps)?;
        let mut s = Seq::zeros(steps, rows);
        for r in 0..rows {
            for t in 0..steps {
                let src = &data[(r * steps + t) * D..(r * steps + t + 1) * D];
                s.flat.as_mut_slice()[(t * rows + r) * D..(t * rows + r + 1) * D]
                    .copy_from_slice(src);
            }
        }
        check_finite::<T, D>(s.flat.as_slice())?;
        Ok(s)
    }

    /// A sequence whose step `t` is `steps[t]`.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`] if there are no steps or the steps have no rows,
    /// [`Error::RowMismatch`] if two steps differ in rows, [`Error::NonFinite`] as in
    /// [`Seq::from_time_major`].
    pub fn from_steps(steps: &[Batch<T, D>]) -> Result<Self> {
        let rows = steps.first().map_or(0, Batch::rows);
        if rows == 0 || D == 0 {
            return Err(Error::EmptyBatch);
        }
        let mut data = Vec::with_capacity(steps.len() * rows * D);
        for b in steps {
            if b.rows() != rows {
                return Err(Error::RowMismatch {
                    op: "Seq::from_steps",
                    expected: rows,
                    found: b.rows(),
                });
            }
            data.extend_from_slice(b.as_slice());
        }
        check_finite::<T, D>(&data)?;
        Ok(Seq {
            flat: Batch::from_vec_unchecked(data),
            steps: steps.len(),
            rows,
        })
    }

    /// Number of time steps.
    #[inline]
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Number of rows (sequences) at each step.
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether the sequence holds no values.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.flat.is_empty()
    }

    /// Values this sequence can hold without allocating.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.flat.capacity_rows() * D
    }

    /// Sets the shape, keeping the allocation when `steps * rows * D` fits in
    /// [`Seq::capacity`] (so no allocation then). The values are unspecified
    /// afterwards (kept where the flat buffer overlaps, zero where it grew): callers
    /// overwrite them.
    #[inline]
    pub fn set_shape(&mut self, steps: usize, rows: usize) {
        self.flat.set_rows(steps * rows);
        self.steps = steps;
        self.rows = rows;
    }

    /// The sequence as one `(steps * rows) x D` batch: row `t * rows + r` is step
    /// `t` of sequence `r`. A layer that acts on each step alone (dense,
    /// activations, dropout, layer norm; batch norm over rows and steps) acts on this
    /// batch, which is how [`crate::PerStep`] runs it.
    #[inline]
    pub fn as_batch(&self) -> &Batch<T, D> {
        &self.flat
    }

    /// The flat batch to be written by a per-step kernel, and the shape it will have
    /// (`steps x rows`, set now; the kernel sets the batch's rows to `steps * rows`).
    #[inline]
    pub(crate) fn flat_for(&mut self, steps: usize, rows: usize) -> &mut Batch<T, D> {
        self.steps = steps;
        self.rows = rows;
        &mut self.flat
    }

    /// Makes this sequence a copy of the given sequences (rows) of `src`, every step
    /// of each, in the order of `indices` (for shuffled minibatches), reusing the
    /// allocation. Nothing is changed on error.
    ///
    /// # Errors
    /// [`Error::RowMismatch`] naming the first index past `src.rows()`.
    pub fn gather_rows_from(&mut self, src: &Seq<T, D>, indices: &[usize]) -> Result<()> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= src.rows) {
            return Err(Error::RowMismatch {
                op: "gather_rows_from",
                expected: bad + 1,
                found: src.rows,
            });
        }
        let rows = indices.len();
        self.set_shape(src.steps, rows);
        let out = self.flat.as_mut_slice();
        for t in 0..src.steps {
            let step = src.step(t);
            for (k, &i) in indices.iter().enumerate() {
                let o = (t * rows + k) * D;
                out[o..o + D].copy_from_slice(&step[i * D..(i + 1) * D]);
            }
        }
        Ok(())
    }

    /// All values, time-major.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        self.flat.as_slice()
    }

    /// All values, time-major, mutable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.flat.as_mut_slice()
    }

    /// Step `t`: a row-major `rows x D` block (panics if `t >= steps()`).
    #[inline]
    pub fn step(&self, t: usize) -> &[T] {
        assert!(t < self.steps, "step {t} of a {}-step sequence", self.steps);
        let n = self.rows * D;
        &self.flat.as_slice()[t * n..(t + 1) * n]
    }

    /// Step `t`, mutable (panics if `t >= steps()`).
    #[inline]
    pub fn step_mut(&mut self, t: usize) -> &mut [T] {
        assert!(t < self.steps, "step {t} of a {}-step sequence", self.steps);
        let n = self.rows * D;
        &mut self.flat.as_mut_slice()[t * n..(t + 1) * n]
    }

    /// Step `t` as a new [`Batch`] (allocating; see [`Seq::copy_step_into`]).
    pub fn step_batch(&self, t: usize) -> Batch<T, D> {
        let mut b = Batch::new();
        self.copy_step_into(t, &mut b);
        b
    }

    /// Makes `out` a copy of step `t`, reusing its allocation (panics if
    /// `t >= steps()`).
    pub fn copy_step_into(&self, t: usize, out: &mut Batch<T, D>) {
        out.set_rows(self.rows);
        out.as_mut_slice().copy_from_slice(self.step(t));
    }

    /// The values batch-first, `[batch, time, D]` (PyTorch's `batch_first=True`).
    pub fn to_batch_first(&self) -> Vec<T> {
        let mut out = Vec::new();
        self.write_batch_first(&mut out);
        out
    }

    /// Writes the values batch-first into `out`, reusing its allocation.
    pub fn write_batch_first(&self, out: &mut Vec<T>) {
        let (steps, rows) = (self.steps, self.rows);
        out.clear();
        out.resize(self.flat.as_slice().len(), T::zero());
        for t in 0..steps {
            for r in 0..rows {
                let src = &self.flat.as_slice()[(t * rows + r) * D..(t * rows + r + 1) * D];
                out[(r * steps + t) * D..(r * steps + t + 1) * D].copy_from_slice(src);
            }
        }
    }

    /// Makes this sequence a copy of `src`, reusing the allocation.
    pub fn copy_from(&mut self, src: &Seq<T, D>) {
        self.flat.copy_from(&src.flat);
        self.steps = src.steps;
        self.rows = src.rows;
    }

    /// The L2 norm of each step's block into `out` (one value per step, in f64),
    /// reusing its allocation: applied to an input's gradient, how much each time
    /// step's input matters to the loss (the vanishing gradient over time shows as
    /// norms that fall towards the first step).
    pub fn step_norms(&self, out: &mut Vec<f64>) {
        out.clear();
        let n = self.rows * D;
        if n == 0 {
            out.resize(self.steps, 0.0);
            return;
        }
        out.extend(self.flat.as_slice().chunks_exact(n).map(|b| {
            b.iter()
                .map(|v| v.as_f64() * v.as_f64())
                .sum::<f64>()
                .sqrt()
        }));
    }

    /// Returns an error naming the first non-finite value, if any.
    ///
    /// # Errors
    /// [`Error::NonFinite`], whose `row` counts rows over all steps (`t * rows + r`).
    pub fn check_finite(&self) -> Result<()> {
        check_finite::<T, D>(self.flat.as_slice())
    }

    /// Consumes the sequence, returning its time-major buffer.
    pub fn into_vec(self) -> Vec<T> {
        self.flat.into_vec()
    }
}

/// The rows of a buffer of `len` values and `steps` steps, or why there are none.
fn check_len<const D: usize>(len: usize, steps: usize) -> Result<usize> {
    if steps == 0 || len == 0 {
        return Err(Error::EmptyBatch);
    }
    let per_row = steps * D;
    if D == 0 || len % per_row != 0 {
        return Err(Error::RaggedBuffer {
            len,
            width: per_row,
        });
    }
    Ok(len / per_row)
}

fn check_finite<T: Real, const D: usize>(data: &[T]) -> Result<()> {
    if crate::anomaly::all_finite(data) {
        return Ok(());
    }
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            row: i / D,
            col: i % D,
            value: data[i].as_f64(),
        }),
    }
}
