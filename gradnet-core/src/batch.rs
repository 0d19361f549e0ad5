//! [`Batch<T, D>`]: `rows x D` values, row-major and contiguous.
//!
//! The feature width `D` is part of the type, so a layer that takes 64 features
//! cannot be handed a batch of 32; the number of rows is a run-time value. A batch
//! keeps its allocation when it shrinks, so one buffer serves every batch size up to
//! its capacity (the workspaces of generated networks rely on this).
//!
//! ```
//! use gradnet_core::{Batch, Error};
//! let b = Batch::<f32, 3>::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])?;
//! assert_eq!(b.rows(), 2);
//! assert_eq!(b.row(1), &[4.0, 5.0, 6.0]);
//! assert!(matches!(Batch::<f32, 3>::from_slice(&[1.0, 2.0]), Err(Error::RaggedBuffer { .. })));
//! # Ok::<(), Error>(())
//! ```

use crate::error::{Error, Result};
use crate::real::Real;

/// `rows x D` values of type `T`, row-major, contiguous.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Batch<T, const D: usize> {
    data: Vec<T>,
}

impl<T: Real, const D: usize> Batch<T, D> {
    /// The width of each row.
    pub const WIDTH: usize = D;

    /// An empty batch (0 rows) that allocates nothing; a buffer to be filled by a kernel.
    pub fn new() -> Self {
        Batch { data: Vec::new() }
    }

    /// A batch of `rows` rows of zeros. Unlike the checked constructors this accepts
    /// zero rows: it makes buffers, not data.
    pub fn zeros(rows: usize) -> Self {
        Batch {
            data: vec![T::zero(); rows * D],
        }
    }

    /// Takes ownership of a flat row-major buffer.
    ///
    /// # Errors
    /// [`Error::RaggedBuffer`] if `data.len()` is not a multiple of `D`,
    /// [`Error::EmptyBatch`] if it is empty, [`Error::NonFinite`] at the first NaN or
    /// infinity.
    pub fn from_vec(data: Vec<T>) -> Result<Self> {
        check_data::<T, D>(&data)?;
        Ok(Batch { data })
    }

    /// Takes a buffer whose length the caller knows to be a multiple of `D`, without
    /// checking its values.
    pub(crate) fn from_vec_unchecked(data: Vec<T>) -> Self {
        debug_assert_eq!(data.len() % D.max(1), 0);
        Batch { data }
    }

    /// Copies a flat row-major slice; errors as [`Batch::from_vec`].
    pub fn from_slice(data: &[T]) -> Result<Self> {
        check_data::<T, D>(data)?;
        Ok(Batch {
            data: data.to_vec(),
        })
    }

    /// Copies rows given as arrays; errors as [`Batch::from_vec`] (the width cannot
    /// be wrong here: it is checked by the type).
    pub fn from_rows(rows: &[[T; D]]) -> Result<Self> {
        let data: Vec<T> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Self::from_vec(data)
    }

    /// Copies rows given as slices, checking each row's width at run time.
    ///
    /// # Errors
    /// [`Error::WidthMismatch`] naming the first row of the wrong width, and the
    /// errors of [`Batch::from_vec`].
    pub fn from_row_slices<R: AsRef<[T]>>(rows: &[R]) -> Result<Self> {
        let mut data = Vec::with_capacity(rows.len() * D);
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != D {
                return Err(Error::WidthMismatch {
                    what: format!("row {i}"),
                    expected: D,
                    found: r.len(),
                });
            }
            data.extend_from_slice(r);
        }
        Self::from_vec(data)
    }

    /// Number of rows.
    #[inline]
    pub fn rows(&self) -> usize {
        self.data.len() / D.max(1)
    }

    /// Whether the batch has no rows.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Rows this batch can hold without allocating.
    #[inline]
    pub fn capacity_rows(&self) -> usize {
        self.data.capacity() / D.max(1)
    }

    /// Sets the number of rows, keeping the allocation when it shrinks (and when it
    /// grows within [`Batch::capacity_rows`]). New rows are zero; kept rows keep
    /// their values.
    #[inline]
    pub fn set_rows(&mut self, rows: usize) {
        self.data.resize(rows * D, T::zero());
    }

    /// All values, row after row.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// All values, row after row, mutable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// Row `i` (panics if `i >= rows()`, as slice indexing does).
    #[inline]
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * D..(i + 1) * D]
    }

    /// Row `i`, mutable.
    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        &mut self.data[i * D..(i + 1) * D]
    }

    /// Iterates over the rows.
    pub fn iter_rows(&self) -> core::slice::ChunksExact<'_, T> {
        self.data.chunks_exact(D.max(1))
    }

    /// Makes this batch a copy of `rows` rows of `src` starting at `start`,
    /// reusing the allocation.
    ///
    /// # Errors
    /// [`Error::RowMismatch`] if `start + rows > src.rows()`.
    pub fn copy_rows_from(&mut self, src: &Batch<T, D>, start: usize, rows: usize) -> Result<()> {
        if start + rows > src.rows() {
            return Err(Error::RowMismatch {
                op: "copy_rows_from",
                expected: start + rows,
                found: src.rows(),
            });
        }
        self.data.clear();
        self.data
            .extend_from_slice(&src.data[start * D..(start + rows) * D]);
        Ok(())
    }

    /// Makes this batch a copy of the given rows of `src` (for shuffled minibatches),
    /// reusing the allocation.
    ///
    /// # Errors
    /// [`Error::RowMismatch`] naming the first index past `src.rows()`.
    pub fn gather_rows_from(&mut self, src: &Batch<T, D>, indices: &[usize]) -> Result<()> {
        self.data.clear();
        for &i in indices {
            if i >= src.rows() {
                return Err(Error::RowMismatch {
                    op: "gather_rows_from",
                    expected: i + 1,
                    found: src.rows(),
                });
            }
            self.data.extend_from_slice(src.row(i));
        }
        Ok(())
    }

    /// Makes this batch a copy of `src`, reusing the allocation.
    pub fn copy_from(&mut self, src: &Batch<T, D>) {
        self.data.clear();
        self.data.extend_from_slice(&src.data);
    }

    /// Returns an error naming the first non-finite value, if any.
    ///
    /// # Errors
    /// [`Error::NonFinite`].
    pub fn check_finite(&self) -> Result<()> {
        check_finite::<T, D>(&self.data)
    }

    /// Consumes the batch, returning its buffer.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }

    /// The same values in another scalar type (e.g. f32 -> f64 for gradient checks).
    pub fn cast<U: Real>(&self) -> Batch<U, D> {
        Batch {
            data: self.data.iter().map(|&v| U::of(v.as_f64())).collect(),
        }
    }
}

fn check_data<T: Real, const D: usize>(data: &[T]) -> Result<()> {
    if D == 0 || data.len() % D != 0 {
        return Err(Error::RaggedBuffer {
            len: data.len(),
            width: D,
        });
    }
    if data.is_empty() {
        return Err(Error::EmptyBatch);
    }
    check_finite::<T, D>(data)
}

fn check_finite<T: Real, const D: usize>(data: &[T]) -> Result<()> {
    // The position is looked for only on failure.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_check_their_input() {
        assert_eq!(
            Batch::<f64, 3>::from_vec(vec![1.0; 4]),
            Err(Error::RaggedBuffer { len: 4, width: 3 })
        );
        assert_eq!(Batch::<f64, 3>::from_vec(vec![]), Err(Error::EmptyBatch));
        let err = Batch::<f32, 2>::from_slice(&[1.0, 2.0, f32::NAN, 0.0]).unwrap_err();
        assert!(matches!(err, Error::NonFinite { row: 1, col: 0, .. }));
        let err = Batch::<f32, 2>::from_slice(&[1.0, 2.0, f32::INFINITY, 0.0]).unwrap_err();
        assert!(matches!(err, Error::NonFinite { row: 1, col: 0, .. }));
        let err = Batch::<f32, 2>::from_row_slices(&[vec![1.0, 2.0], vec![3.0]]).unwrap_err();
        assert!(matches!(
            err,
            Error::WidthMismatch {
                expected: 2,
                found: 1,
                ..
            }
        ));
    }

    #[test]
    fn shrinking_keeps_the_allocation() {
        let mut b = Batch::<f32, 4>::zeros(64);
        let cap = b.capacity_rows();
        let ptr = b.as_slice().as_ptr();
        b.set_rows(3);
        assert_eq!(b.rows(), 3);
        b.set_rows(64);
        assert_eq!(b.capacity_rows(), cap);
        assert_eq!(b.as_slice().as_ptr(), ptr);
    }

    #[test]
    fn gather_and_copy_rows() {
        let src = Batch::<f64, 2>::from_rows(&[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]).unwrap();
        let mut dst = Batch::new();
        dst.gather_rows_from(&src, &[2, 0]).unwrap();
        assert_eq!(dst.as_slice(), &[4.0, 5.0, 0.0, 1.0]);
        dst.copy_rows_from(&src, 1, 2).unwrap();
        assert_eq!(dst.as_slice(), &[2.0, 3.0, 4.0, 5.0]);
        assert!(dst.gather_rows_from(&src, &[3]).is_err());
        assert!(dst.copy_rows_from(&src, 2, 2).is_err());
    }
}
