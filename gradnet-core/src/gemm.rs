//! The one safe door to the matrix product: [`gemm`] over strided views.
//!
//! Every product in gradnet goes through [`gemm`], which checks shapes and bounds
//! once and then calls `matrixmultiply`'s `sgemm`/`dgemm`. Transposes are views with
//! swapped strides ([`MatRef::t`]), never copies.
//!
//! ```
//! use gradnet_core::gemm::{gemm, MatMut, MatRef};
//! let a = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 x 3
//! let b = [1.0f64, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3 x 2
//! let mut c = [0.0f64; 4];
//! gemm(1.0, MatRef::row_major(&a, 2, 3), MatRef::row_major(&b, 3, 2), 0.0,
//!      MatMut::row_major(&mut c, 2, 2));
//! assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
//! ```

use crate::real::Real;

/// A read-only `rows x cols` matrix view with element strides.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

/// A mutable `rows x cols` matrix view with element strides.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

/// Panics unless every element `(i, j)`, `i < rows`, `j < cols`, lies in `len`.
fn check_view(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|a| (cols - 1).checked_mul(cs).and_then(|b| a.checked_add(b)));
    assert!(
        matches!(last, Some(l) if l < len),
        "matrix view {rows}x{cols} with strides ({rs}, {cs}) does not fit in {len} elements"
    );
    assert!(
        rs <= isize::MAX as usize && cs <= isize::MAX as usize,
        "stride too large"
    );
}

impl<'a, T> MatRef<'a, T> {
    /// A view with explicit strides. Panics if any element falls outside `data`.
    pub fn new(data: &'a [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        check_view(data.len(), rows, cols, rs, cs);
        MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// A contiguous row-major view.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transpose, as a view (no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Element `(i, j)`.
    pub fn at(&self, i: usize, j: usize) -> &T {
        &self.data[i * self.rs + j * self.cs]
    }
}

impl<'a, T> MatMut<'a, T> {
    /// A view with explicit strides. Panics if any element falls outside `data`, or if
    /// two elements share a place (zero stride with more than one row or column).
    pub fn new(data: &'a mut [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        check_view(data.len(), rows, cols, rs, cs);
        assert!(
            (rows <= 1 || rs != 0) && (cols <= 1 || cs != 0),
            "a mutable view cannot have elements that alias"
        );
        // Distinct (i, j) must map to distinct offsets: require the larger stride to
        // step over the whole extent of the smaller one.
        let (small, small_n, big) = if rs <= cs {
            (rs, rows, cs)
        } else {
            (cs, cols, rs)
        };
        assert!(
            small_n <= 1 || big >= small * small_n || (rows <= 1 || cols <= 1),
            "a mutable view cannot have elements that alias"
        );
        MatMut {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// A contiguous row-major view.
    pub fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transpose, as a view (no copy).
    pub fn t(self) -> Self {
        MatMut {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Element `(i, j)`.
    pub fn at(&mut self, i: usize, j: usize) -> &mut T {
        &mut self.data[i * self.rs + j * self.cs]
    }
}

/// `C = alpha * A * B + beta * C`, with `A: m x k`, `B: k x n`, `C: m x n`.
///
/// When `beta` is zero, `C`'s previous contents are ignored (NaN included).
///
/// # Panics
/// If the shapes do not agree. Views are checked against their buffers when made,
/// and `C` is borrowed mutably while `A` and `B` are shared, so they cannot alias.
pub fn gemm<T: Real>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: MatMut<'_, T>) {
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions differ");
    assert_eq!(a.rows, c.rows, "gemm: rows of A and C differ");
    assert_eq!(b.cols, c.cols, "gemm: columns of B and C differ");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // C = beta C; matrixmultiply handles this too, but spell it out.
        let MatMut {
            data,
            rs,
            cs,
            rows,
            cols,
            ..
        } = c;
        for i in 0..rows {
            for j in 0..cols {
                let v = &mut data[i * rs + j * cs];
                *v = if beta == T::zero() {
                    T::zero()
                } else {
                    beta * *v
                };
            }
        }
        return;
    }
    // SAFETY: the views were bounds-checked when made (every (i, j) lies inside its
    // slice), the shapes agree (checked above), C's distinct elements do not alias
    // (checked in MatMut::new), and C is a unique borrow, so it aliases neither A nor B.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.data.as_mut_ptr(),
            c.rs as isize,
            c.cs as isize,
        );
    }
}

/// The textbook triple loop, for tests of [`gemm`] and for tiny products.
pub fn gemm_naive<T: Real>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
) {
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions differ");
    assert_eq!(a.rows, c.rows, "gemm: rows of A and C differ");
    assert_eq!(b.cols, c.cols, "gemm: columns of B and C differ");
    for i in 0..a.rows {
        for j in 0..b.cols {
            let mut s = T::zero();
            for p in 0..a.cols {
                s += *a.at(i, p) * *b.at(p, j);
            }
            let v = c.at(i, j);
            *v = if beta == T::zero() {
                alpha * s
            } else {
                alpha * s + beta * *v
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn random(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> Vec<f64> {
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// gemm against the naive loop over random shapes, transposes and betas.
    #[test]
    fn gemm_matches_naive_loop() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for case in 0..200 {
            let m = rng.random_range(1..40);
            let k = rng.random_range(1..40);
            let n = rng.random_range(1..40);
            let ta = case % 2 == 1;
            let tb = (case / 2) % 2 == 1;
            let beta = [0.0, 1.0, -0.5][case % 3];
            let a = random(&mut rng, m * k);
            let b = random(&mut rng, k * n);
            let c0 = random(&mut rng, m * n);
            let av = if ta {
                MatRef::row_major(&a, k, m).t()
            } else {
                MatRef::row_major(&a, m, k)
            };
            let bv = if tb {
                MatRef::row_major(&b, n, k).t()
            } else {
                MatRef::row_major(&b, k, n)
            };
            let (mut c1, mut c2) = (c0.clone(), c0.clone());
            gemm(0.7, av, bv, beta, MatMut::row_major(&mut c1, m, n));
            gemm_naive(0.7, av, bv, beta, MatMut::row_major(&mut c2, m, n));
            for (x, y) in c1.iter().zip(&c2) {
                assert!(
                    (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                    "case {case}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn beta_zero_ignores_nan_in_c() {
        let a = [1.0f32, 2.0];
        let b = [3.0f32, 4.0];
        let mut c = [f32::NAN];
        gemm(
            1.0,
            MatRef::row_major(&a, 1, 2),
            MatRef::row_major(&b, 2, 1),
            0.0,
            MatMut::row_major(&mut c, 1, 1),
        );
        assert_eq!(c, [11.0]);
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn view_out_of_bounds_panics() {
        let a = [0.0f32; 5];
        let _ = MatRef::row_major(&a, 2, 3);
    }
}
