//! The small matrix products of the recurrent layers, over runtime shapes: through
//! [`crate::gemm`] when large, direct loops below the size where the dense layer
//! switches too ([`crate::dense::DIRECT_MAX_MACS`], [`crate::dense::DIRECT_MAX_ROWS`]).

use crate::dense::{Write, DIRECT_MAX_MACS, DIRECT_MAX_ROWS};
use crate::gemm::{gemm, MatMut, MatRef};
use crate::real::Real;

/// Whether a product of `m` rows (of the output, or summed over for `A^T B`) and
/// `macs` multiply-adds takes direct loops, as [`crate::Dense`] decides.
pub(super) fn direct(m: usize, macs: usize) -> bool {
    m <= DIRECT_MAX_ROWS || macs <= DIRECT_MAX_MACS
}

/// `c = a b^T`, `a: m x k`, `b: n x k`, `c: m x n`, all row-major.
pub(super) fn mul_abt<T: Real>(a: &[T], b: &[T], c: &mut [T], m: usize, k: usize, n: usize) {
    if direct(m, m * k * n) {
        for (ci, ai) in c[..m * n].chunks_exact_mut(n).zip(a.chunks_exact(k)) {
            for (cij, bj) in ci.iter_mut().zip(b.chunks_exact(k)) {
                *cij = dot(ai, bj);
            }
        }
    } else {
        gemm(
            T::one(),
            MatRef::row_major(&a[..m * k], m, k),
            MatRef::row_major(&b[..n * k], n, k).t(),
            T::zero(),
            MatMut::row_major(&mut c[..m * n], m, n),
        );
    }
}

/// `sum_i a[i] b[i]`, in independent partial sums so the loop vectorizes.
#[inline]
pub(super) fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    const LANES: usize = 8;
    let split = a.len().min(b.len()) / LANES * LANES;
    let mut acc = [T::zero(); LANES];
    for (ca, cb) in a[..split]
        .chunks_exact(LANES)
        .zip(b[..split].chunks_exact(LANES))
    {
        for k in 0..LANES {
            acc[k] += ca[k] * cb[k];
        }
    }
    let tail = a[split..]
        .iter()
        .zip(&b[split..])
        .fold(T::zero(), |s, (&x, &y)| s + x * y);
    acc.iter().fold(tail, |s, &v| s + v)
}

/// `c = a b + beta c`, `a: m x k`, `b: k x n`, `c: m x n`, all row-major.
pub(super) fn mul_ab<T: Real>(
    a: &[T],
    b: &[T],
    c: &mut [T],
    m: usize,
    k: usize,
    n: usize,
    beta: T,
) {
    if direct(m, m * k * n) {
        for (ci, ai) in c[..m * n].chunks_exact_mut(n).zip(a.chunks_exact(k)) {
            scale(ci, beta);
            for (&aip, bp) in ai.iter().zip(b.chunks_exact(n)) {
                for (cij, &bpj) in ci.iter_mut().zip(bp) {
                    *cij += aip * bpj;
                }
            }
        }
    } else {
        gemm(
            T::one(),
            MatRef::row_major(&a[..m * k], m, k),
            MatRef::row_major(&b[..k * n], k, n),
            beta,
            MatMut::row_major(&mut c[..m * n], m, n),
        );
    }
}

/// `c = a^T b + beta c`, `a: k x m`, `b: k x n`, `c: m x n`, all row-major (a
/// parameter gradient summed over the `k` rows of all steps).
#[allow(clippy::too_many_arguments)]
pub(super) fn mul_atb<T: Real>(
    a: &[T],
    b: &[T],
    c: &mut [T],
    k: usize,
    m: usize,
    n: usize,
    beta: T,
) {
    if direct(k, m * k * n) {
        scale(&mut c[..m * n], beta);
        for (ap, bp) in a.chunks_exact(m).zip(b.chunks_exact(n)).take(k) {
            for (ci, &api) in c.chunks_exact_mut(n).zip(ap) {
                for (cij, &bpj) in ci.iter_mut().zip(bp) {
                    *cij += api * bpj;
                }
            }
        }
    } else {
        gemm(
            T::one(),
            MatRef::row_major(&a[..k * m], k, m).t(),
            MatRef::row_major(&b[..k * n], k, n),
            beta,
            MatMut::row_major(&mut c[..m * n], m, n),
        );
    }
}

/// `v = beta v`, where `beta = 0` clears (NaN included).
pub(super) fn scale<T: Real>(v: &mut [T], beta: T) {
    if beta == T::zero() {
        v.fill(T::zero());
    } else if beta != T::one() {
        v.iter_mut().for_each(|x| *x *= beta);
    }
}

/// `out (per write) = sum over rows of a`, `a` with rows of width `w`.
pub(super) fn col_sums<T: Real>(a: &[T], w: usize, out: &mut [T], write: Write) {
    if write == Write::Overwrite {
        out.fill(T::zero());
    }
    for row in a.chunks_exact(w) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}
