//! The matrix products of the recurrent layers, over runtime shapes.
//!
//! The products over all steps at once go through [`crate::gemm`] when large, and
//! direct loops below the size where the dense layer switches too
//! ([`crate::dense::DIRECT_MAX_MACS`], [`crate::dense::DIRECT_MAX_ROWS`]). The two
//! products of every step, `h_{t-1} W_hh^T` forward and `dG_t W_hh` backward, take
//! [`mul_ab_packed`] instead: a register-blocked loop over `W_hh` packed once per
//! pass by [`pack_b`]. The GEMM would pack `W_hh` again on each of those calls, and
//! allocate its packing buffer for each.

use crate::dense::{Write, DIRECT_MAX_MACS, DIRECT_MAX_ROWS};
use crate::gemm::{gemm, MatMut, MatRef};
use crate::real::{mul_add_if, Real, TARGET_FMA};

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

/// Whether the f32 tile is [`avx512::tile`] (the compiler's own vectorization keeps
/// to 256-bit registers on these CPUs).
const AVX512: bool = cfg!(all(target_arch = "x86_64", target_feature = "avx512f"));
/// Groups of 4 rows of `A` (and `C`) in one tile of [`mul_ab_packed`]: with AVX-512's
/// 32 vector registers, 8 rows' accumulators fit; with AVX2's 16, 4 do. (Written as
/// groups of 4, the compiler keeps them in registers; as one array of 8 rows it
/// vectorizes across rows with gathers.)
const Q: usize = if AVX512 { 2 } else { 1 };
/// Rows in one tile.
const MR: usize = 4 * Q;
/// Columns of `B` (and `C`) in one tile: two vector registers of f32 (AVX2: 16,
/// AVX-512: 32).
const NR: usize = if AVX512 { 32 } else { 16 };

/// `B` (`k x n`, element `(p, j)` at `src[p * rs + j * cs]`) into `dst` as
/// [`mul_ab_packed`] reads it: column panels of `NR`, each `k x NR` row-major, the
/// last one padded with zeros. The recurrent layers pack `W_hh` once per pass (both
/// ways: `W_hh^T` forward, `W_hh` backward) and then use it at every step.
pub(super) fn pack_b<T: Real>(
    src: &[T],
    k: usize,
    n: usize,
    rs: usize,
    cs: usize,
    dst: &mut Vec<T>,
) {
    dst.resize(n.div_ceil(NR) * k * NR, T::zero());
    for (q, panel) in dst.chunks_exact_mut(k * NR).enumerate() {
        for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
            for (jj, d) in row.iter_mut().enumerate() {
                let j = q * NR + jj;
                *d = if j < n {
                    src[p * rs + j * cs]
                } else {
                    T::zero()
                };
            }
        }
    }
}

/// `c = a b + beta c`, `a: m x k` and `c: m x n` row-major, `b` packed by [`pack_b`]:
/// the product of every step of a recurrent layer, without the GEMM's packing of `b`
/// on each call (nor its allocation). Tiles of `MR x NR` of `c` are summed over all of
/// `k` in registers, reading `MR` values of `a` and `NR` of `b` per term, with the
/// tiles of one panel of `b` (kept in L1) next to each other. `a` is first copied into
/// `scratch` (grown, never shrunk) in blocks of `MR` rows, column by column (`k x MR`
/// each, the last block padded with zeros), so the tile reads both from one pointer
/// each without bounds checks. Products with a fused multiply-add where the target
/// has one.
#[allow(clippy::too_many_arguments)]
pub(super) fn mul_ab_packed<T: Real>(
    a: &[T],
    b: &[T],
    c: &mut [T],
    m: usize,
    k: usize,
    n: usize,
    beta: T,
    scratch: &mut Vec<T>,
) {
    let (a, c) = (&a[..m * k], &mut c[..m * n]);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        scale(c, beta);
        return;
    }
    let b = &b[..n.div_ceil(NR) * k * NR];
    scratch.resize(m.div_ceil(MR) * k * MR, T::zero());
    for (block, packed) in scratch.chunks_exact_mut(k * MR).enumerate() {
        for r in 0..MR {
            let i = block * MR + r;
            let column = packed[r..].iter_mut().step_by(MR);
            if i < m {
                column
                    .zip(&a[i * k..(i + 1) * k])
                    .for_each(|(d, &x)| *d = x);
            } else {
                column.for_each(|d| *d = T::zero());
            }
        }
    }
    for (q, panel) in b.chunks_exact(k * NR).enumerate() {
        let (j0, cols) = (q * NR, NR.min(n - q * NR));
        for (block, packed) in scratch.chunks_exact(k * MR).enumerate() {
            let mut acc = [[T::zero(); NR]; MR];
            match (
                T::as_f32s(packed),
                T::as_f32s(panel),
                T::as_f32s_mut(acc.as_flattened_mut()),
            ) {
                #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
                // SAFETY: the build enables AVX-512 (the cfg above) for every function.
                (Some(packed), Some(panel), Some(acc)) => unsafe {
                    avx512::tile(packed, panel, acc)
                },
                _ => tile_at_run_time(packed, panel, &mut acc),
            }
            let rows = MR.min(m - block * MR);
            for (r, acc) in acc.iter().enumerate().take(rows) {
                let out = &mut c[(block * MR + r) * n + j0..][..cols];
                if beta == T::zero() {
                    out.copy_from_slice(&acc[..cols]);
                } else {
                    for (o, &s) in out.iter_mut().zip(acc) {
                        *o = with_beta(s, *o, beta);
                    }
                }
            }
        }
    }
}

/// [`tile`] with AVX2 and FMA when the CPU has them and the build does not already
/// target them (a portable build on a current x86-64 CPU), else as the build
/// compiles it: so a portable build runs the per-step products 8 lanes wide with
/// fused multiply-adds too.
#[inline(always)]
fn tile_at_run_time<T: Real>(packed: &[T], panel: &[T], out: &mut [[T; NR]; MR]) {
    #[cfg(target_arch = "x86_64")]
    if !cfg!(target_feature = "avx2")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { tile_avx2(packed, panel, out) };
        return;
    }
    tile::<T, TARGET_FMA>(packed, panel, out)
}

/// [`tile`] with fused multiply-adds, built for AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<T: Real>(packed: &[T], panel: &[T], out: &mut [[T; NR]; MR]) {
    tile::<T, true>(packed, panel, out)
}

/// One `MR x NR` tile of [`mul_ab_packed`]: `sum_p a_p (x) b_p` over the `MR` values
/// `a_p` of `packed` and the `NR` values `b_p` of `panel` for each `p`, with fused
/// multiply-adds if `FMA` (only where the code is built with the instruction).
#[inline(always)]
fn tile<T: Real, const FMA: bool>(packed: &[T], panel: &[T], out: &mut [[T; NR]; MR]) {
    let mut acc = [[[T::zero(); NR]; 4]; Q];
    for (ap, bp) in packed.chunks_exact(MR).zip(panel.chunks_exact(NR)) {
        for (acc, ap) in acc.iter_mut().zip(ap.chunks_exact(4)) {
            for r in 0..4 {
                for jj in 0..NR {
                    acc[r][jj] = mul_add_if::<T, FMA>(ap[r], bp[jj], acc[r][jj]);
                }
            }
        }
    }
    for (o, a) in out.iter_mut().zip(acc.iter().flatten()) {
        *o = *a;
    }
}

/// The f32 tile with AVX-512 registers (8 rows by two of 16 lanes, 16 accumulators):
/// on the machine this was measured on, W4's training step takes about 25% less time
/// than with the compiler's 256-bit vectorization of [`tile`]. The AVX-512 intrinsics
/// are stable since Rust 1.89, so a build that targets AVX-512 needs that compiler
/// (any other build keeps the workspace's MSRV).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[clippy::msrv = "1.89"]
mod avx512 {
    use super::{MR, NR};
    use core::arch::x86_64::{
        _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
    };

    /// [`super::tile`] for f32: `out = sum_p packed[p] (x) panel[p]`, row by row.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn tile(packed: &[f32], panel: &[f32], out: &mut [f32]) {
        const _: () = assert!(MR == 8 && NR == 32);
        let out = &mut out[..MR * NR];
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for (ap, bp) in packed.chunks_exact(MR).zip(panel.chunks_exact(NR)) {
            // SAFETY: bp has NR = 32 elements, two loads of 16.
            let (b0, b1) = unsafe {
                (
                    _mm512_loadu_ps(bp.as_ptr()),
                    _mm512_loadu_ps(bp[16..].as_ptr()),
                )
            };
            for (acc, &x) in acc.iter_mut().zip(ap) {
                let x = _mm512_set1_ps(x);
                acc[0] = _mm512_fmadd_ps(x, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(x, b1, acc[1]);
            }
        }
        for (row, acc) in out.chunks_exact_mut(NR).zip(&acc) {
            let (lo, hi) = row.split_at_mut(16);
            // SAFETY: each half has 16 elements.
            unsafe {
                _mm512_storeu_ps(lo.as_mut_ptr(), acc[0]);
                _mm512_storeu_ps(hi.as_mut_ptr(), acc[1]);
            }
        }
    }
}

/// `s + beta c`, where `beta = 0` ignores `c` (NaN included).
#[inline(always)]
fn with_beta<T: Real>(s: T, c: T, beta: T) -> T {
    if beta == T::zero() {
        s
    } else if beta == T::one() {
        s + c
    } else {
        s + beta * c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::gemm_naive;
    use rand::{RngExt, SeedableRng};

    /// The packed product against the naive loop over ragged shapes and every beta.
    #[test]
    fn packed_matches_naive() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (mut scratch, mut packed) = (Vec::new(), Vec::new());
        for case in 0..300 {
            let m = rng.random_range(1..20);
            let k = rng.random_range(1..40);
            let n = rng.random_range(1..70);
            let beta = [0.0, 1.0, -0.5][case % 3];
            let mut r = |len: usize| -> Vec<f64> {
                (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
            };
            let (a, b, c0) = (r(m * k), r(k * n), r(m * n));
            let (mut c1, mut c2) = (c0.clone(), c0.clone());
            // b as given, and as its transpose's transpose (the other strides).
            let mut bt = vec![0.0; k * n];
            for p in 0..k {
                for j in 0..n {
                    bt[j * k + p] = b[p * n + j];
                }
            }
            if case % 2 == 0 {
                pack_b(&b, k, n, n, 1, &mut packed);
            } else {
                pack_b(&bt, k, n, 1, k, &mut packed);
            }
            mul_ab_packed(&a, &packed, &mut c1, m, k, n, beta, &mut scratch);
            gemm_naive(
                1.0,
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&b, k, n),
                beta,
                MatMut::row_major(&mut c2, m, n),
            );
            for (x, y) in c1.iter().zip(&c2) {
                assert!(
                    (x - y).abs() <= 1e-13 * (1.0 + y.abs()),
                    "case {case} ({m}x{k}x{n}): {x} vs {y}"
                );
            }
        }
        // beta = 0 ignores NaN in c.
        let mut c = [f32::NAN; 4];
        let mut packed = Vec::new();
        pack_b(&[3.0, 4.0, 5.0, 6.0], 2, 2, 2, 1, &mut packed);
        mul_ab_packed(
            &[1.0f32, 2.0],
            &packed,
            &mut c,
            1,
            2,
            2,
            0.0,
            &mut Vec::new(),
        );
        assert_eq!(&c[..2], &[13.0, 16.0]);
    }
}
