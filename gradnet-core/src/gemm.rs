//! The one safe door to the matrix product: [`gemm`] over strided views.
//!
//! Every product in gradnet goes through [`gemm`], which checks shapes and bounds
//! once and then runs gradnet's own packed product: `A` and `B` copied in blocks
//! into panels, and register-blocked micro-kernels over them, chosen at run time for
//! the CPU (AVX-512 or AVX2 with FMA on x86-64, a portable kernel elsewhere). The
//! packing buffers are kept per thread and reused, so a product allocates nothing
//! once one of its size has run on that thread. Transposes are views with swapped
//! strides ([`MatRef::t`]), never copies.
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

pub(crate) mod kernels;
mod packed;

#[doc(hidden)]
pub use kernels::Kernel;
#[doc(hidden)]
pub use packed::Scratch;

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
        // C = beta C.
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
    packed::gemm_with(Kernel::detect(), alpha, a, b, None, beta, c);
}

/// Where the values of a matrix stand: a slot (which matrix) and a version (which
/// contents), for [`gemm_cached_b`] to know when a packed copy is still good.
///
/// Every [`Stamp::new`] and [`Stamp::renew`] takes a number never handed out before
/// in this process, so a matrix that renews its stamp on every change to its
/// values (as [`crate::Dense`] does, whatever changes them: an optimizer step, a
/// load, a write through the visitors or [`crate::Dense::weight_mut`]) never
/// shows an old stamp with new values. A clone keeps the stamp, as it has the same
/// values; from its next change on it has a version of its own.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    slot: u64,
    version: u64,
}

/// The next number for a [`Stamp`] (from 1: a version of 0 is never handed out).
fn next_stamp() -> u64 {
    use core::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Stamp {
    /// A stamp for a new matrix: a slot and a version of its own.
    pub fn new() -> Self {
        Stamp {
            slot: next_stamp(),
            version: next_stamp(),
        }
    }

    /// Marks a change to the matrix's values: a new version, the same slot.
    pub fn renew(&mut self) {
        self.version = next_stamp();
    }
}

impl Default for Stamp {
    fn default() -> Self {
        Self::new()
    }
}

/// [`gemm`] with `B` packed whole once and kept, per thread, while `b_stamp` says its
/// values are unchanged: for a matrix used many times as it is, such as a weight
/// at inference, whose packing would otherwise be redone by every product. The
/// result is the same as [`gemm`]'s, bit for bit (packing only copies).
///
/// The caller promises that two calls with equal stamps pass the same values of
/// `B` (see [`Stamp`]). The cache holds one packed copy per slot and at most 64 MiB
/// per thread and type, dropping the least recently used past that; a new version
/// of a slot is packed into its old buffer, so a product of the same shape
/// allocates nothing after the first.
///
/// # Panics
/// As [`gemm`].
pub fn gemm_cached_b<T: Real>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    b_stamp: Stamp,
    beta: T,
    c: MatMut<'_, T>,
) {
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions differ");
    if a.cols == 0 || a.rows == 0 || b.cols == 0 {
        return gemm(alpha, a, b, beta, c);
    }
    assert_eq!(a.rows, c.rows, "gemm: rows of A and C differ");
    assert_eq!(b.cols, c.cols, "gemm: columns of B and C differ");
    packed::gemm_with(Kernel::detect(), alpha, a, b, Some(b_stamp), beta, c);
}

/// `y = x B` for one row `x` (`B.rows()` values; `y` has `B.cols()`), with `B` kept
/// packed as [`gemm_cached_b`] keeps it (the same cache entry: a product of many
/// rows and one of a single row share one packed copy). A matrix-vector product
/// over panels that stream contiguously, for inference at batch 1.
///
/// # Panics
/// If `x` or `y` has the wrong length.
pub fn gemv_cached_b<T: Real>(x: &[T], b: MatRef<'_, T>, b_stamp: Stamp, y: &mut [T]) {
    assert_eq!(x.len(), b.rows, "gemv: x must have B's rows");
    assert_eq!(y.len(), b.cols, "gemv: y must have B's columns");
    if b.cols == 0 {
        return;
    }
    if b.rows == 0 {
        y.fill(T::zero());
        return;
    }
    packed::gemv_with(Kernel::detect(), x, b, b_stamp, y);
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

    /// A `rows x cols` view of `data` (made here, with room for the strides): row
    /// major or, if `transposed`, column major, with `pad` unused elements after each
    /// row (column), so the views are strided, not contiguous.
    fn view<T>(
        data: &[T],
        rows: usize,
        cols: usize,
        transposed: bool,
        pad: usize,
    ) -> MatRef<'_, T> {
        if transposed {
            MatRef::new(data, rows, cols, 1, rows + pad)
        } else {
            MatRef::new(data, rows, cols, cols + pad, 1)
        }
    }

    /// Every kernel of this CPU against the naive loop (in f64, with the bound of
    /// the sum's rounding error), over shapes at and around the tile and block
    /// edges, every transpose, padded strides, `alpha` and `beta`.
    fn kernels_match_naive<T: Real>(eps: f64, seed: u64) {
        let sizes = [1, 2, 3, 5, 6, 7, 8, 9, 13, 16, 17, 31, 32, 33, 47, 64, 97];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut stamp = Stamp::new();
        for kernel in Kernel::<T>::all() {
            for case in 0..240 {
                // One dimension large now and then: past one block of rows (MC = 16
                // tiles), of k (KC = 256), or many tiles of columns.
                let big = [1, 6, 11].iter().position(|&c| c == case % 16);
                let mut pick = |dim: usize, large: usize| match case % 16 {
                    0 | 4 | 8 | 13 => sizes[rng.random_range(0..sizes.len())],
                    _ if big == Some(dim) => rng.random_range(40..large),
                    _ => rng.random_range(1..40),
                };
                let (m, k, n) = (pick(0, 300), pick(1, 600), pick(2, 300));
                let (ta, tb, tc) = (case % 2 == 1, (case / 2) % 2 == 1, (case / 4) % 2 == 1);
                let pad = case % 3;
                let alpha = [1.0, 0.7, -2.0][case % 3];
                let beta = [0.0, 1.0, -0.5, 0.0][(case / 3) % 4];
                let mut r = |len: usize| -> Vec<T> {
                    (0..len)
                        .map(|_| T::of(rng.random_range(-1.0..1.0)))
                        .collect()
                };
                let a = r((m + pad) * (k + pad));
                let b = r((k + pad) * (n + pad));
                let c0 = r((m + pad) * (n + pad));
                let av = view(&a, m, k, ta, pad);
                let bv = view(&b, k, n, tb, pad);
                let mut c = c0.clone();
                let (crs, ccs) = if tc { (1, m + pad) } else { (n + pad, 1) };
                // Every fourth case with `B` through the cache (packed whole), under
                // a stamp that a later case of the same kernel may see again with
                // other values only after a renewal.
                stamp.renew();
                packed::gemm_with(
                    kernel,
                    T::of(alpha),
                    av,
                    bv,
                    (case % 4 == 2).then_some(stamp),
                    T::of(beta),
                    MatMut::new(&mut c, m, n, crs, ccs),
                );
                for i in 0..m {
                    for j in 0..n {
                        let (mut s, mut bound) = (0.0, 0.0);
                        for p in 0..k {
                            let t = av.at(i, p).as_f64() * bv.at(p, j).as_f64();
                            s += t;
                            bound += t.abs();
                        }
                        let old = c0[i * crs + j * ccs].as_f64();
                        let want = alpha * s + if beta == 0.0 { 0.0 } else { beta * old };
                        let got = c[i * crs + j * ccs].as_f64();
                        let tol = eps * (k as f64 + 2.0) * (alpha.abs() * bound + old.abs());
                        assert!(
                            (got - want).abs() <= tol,
                            "{kernel:?}, case {case}: {m}x{k}x{n} (ta {ta}, tb {tb}, tc {tc}, \
                             pad {pad}), C[{i}, {j}] = {got}, want {want}"
                        );
                    }
                }
                // Nothing outside the view was written.
                let mut inside = vec![false; c.len()];
                for i in 0..m {
                    for j in 0..n {
                        inside[i * crs + j * ccs] = true;
                    }
                }
                for ((x, y), inside) in c.iter().zip(&c0).zip(inside) {
                    assert!(inside || x == y, "{kernel:?}, case {case}: wrote outside C");
                }
            }
        }
    }

    #[test]
    fn every_kernel_matches_naive_f32() {
        kernels_match_naive::<f32>(f32::EPSILON as f64, 11);
    }

    #[test]
    fn every_kernel_matches_naive_f64() {
        kernels_match_naive::<f64>(f64::EPSILON, 12);
    }

    /// Wider than one block of columns (NC = 2048), through the public door.
    #[test]
    fn wide_product_spans_column_blocks() {
        let (m, k, n) = (3, 5, 2100);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 - 2.0).collect();
        let (mut c1, mut c2) = (vec![0.0; m * n], vec![0.0; m * n]);
        gemm(
            1.0,
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            0.0,
            MatMut::row_major(&mut c1, m, n),
        );
        gemm_naive(
            1.0,
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            0.0,
            MatMut::row_major(&mut c2, m, n),
        );
        assert_eq!(c1, c2);
    }

    /// The cache packs `B` once per stamp: the same stamp with other values gives
    /// the first values' product (the caller's promise broken on purpose, to see
    /// that the packed copy is reused), and a renewed stamp the new values'.
    #[test]
    fn cached_b_is_reused_until_renewed() {
        let (m, k, n) = (40, 70, 50);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b1: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let b2: Vec<f32> = b1.iter().map(|v| v + 1.0).collect();
        let product = |b: &[f32], stamp: Option<Stamp>| {
            let mut c = vec![0.0; m * n];
            let (av, bv) = (MatRef::row_major(&a, m, k), MatRef::row_major(b, k, n));
            let cv = MatMut::row_major(&mut c, m, n);
            match stamp {
                Some(s) => gemm_cached_b(1.0, av, bv, s, 0.0, cv),
                None => gemm(1.0, av, bv, 0.0, cv),
            }
            c
        };
        let mut stamp = Stamp::new();
        let (want1, want2) = (product(&b1, None), product(&b2, None));
        assert!(want1 != want2);
        assert_eq!(product(&b1, Some(stamp)), want1);
        assert_eq!(
            product(&b2, Some(stamp)),
            want1,
            "the packed copy is reused"
        );
        stamp.renew();
        assert_eq!(
            product(&b2, Some(stamp)),
            want2,
            "a new version is repacked"
        );
        // A clone's stamp, renewed on its own change, never meets the other's.
        let mut other = stamp;
        other.renew();
        assert_eq!(product(&b1, Some(other)), want1);
        assert_eq!(product(&b2, Some(stamp)), want2);
    }

    /// The matrix-vector product over the cached panels against the naive loop,
    /// for every kernel's panel width, over depths past one block (KC = 256) and
    /// widths past a block of columns (NC = 1024), with strided and transposed `B`.
    fn gemv_matches_naive<T: Real>(eps: f64, seed: u64) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let shapes = [
            (1, 1),
            (2, 3),
            (7, 33),
            (300, 17),
            (256, 64),
            (513, 97),
            (40, 1100),
        ];
        for kernel in Kernel::<T>::all() {
            for (case, &(k, n)) in shapes.iter().enumerate() {
                let (tb, pad) = (case % 2 == 1, case % 3);
                let b: Vec<T> = (0..(k + pad) * (n + pad))
                    .map(|_| T::of(rng.random_range(-1.0..1.0)))
                    .collect();
                let x: Vec<T> = (0..k).map(|_| T::of(rng.random_range(-1.0..1.0))).collect();
                let bv = view(&b, k, n, tb, pad);
                let mut y = vec![T::of(f64::NAN); n];
                packed::gemv_with(kernel, &x, bv, Stamp::new(), &mut y);
                for (j, got) in y.iter().enumerate() {
                    let (mut want, mut bound) = (0.0, 0.0);
                    for (p, xv) in x.iter().enumerate() {
                        let t = xv.as_f64() * bv.at(p, j).as_f64();
                        want += t;
                        bound += t.abs();
                    }
                    let tol = eps * (k as f64 + 2.0) * bound;
                    assert!(
                        (got.as_f64() - want).abs() <= tol,
                        "{kernel:?}: {k}x{n} (tb {tb}), y[{j}] = {got:?}, want {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn gemv_matches_naive_f32() {
        gemv_matches_naive::<f32>(f32::EPSILON as f64, 21);
    }

    #[test]
    fn gemv_matches_naive_f64() {
        gemv_matches_naive::<f64>(f64::EPSILON, 22);
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
