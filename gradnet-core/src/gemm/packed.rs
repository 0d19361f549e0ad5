//! The packed product behind [`super::gemm`], in the usual blocked order: `B` in
//! blocks of `KC x NC` and `A` in blocks of `MC x KC` are copied into panels laid out
//! as the micro-kernel reads them (zero-padded to whole tiles), and every `MR x NR`
//! tile of `C` is one kernel call, which writes (or adds) the tile into `C` itself
//! when it can: a whole tile, `C`'s rows contiguous, `alpha = 1` and `beta` 0 or 1
//! (every product of the dense and recurrent layers but those at `C`'s edges).
//! Other tiles go through a buffer and [`write_back`] (`alpha`, any `beta`).
//!
//! The packing buffers are the thread's own ([`Real::with_gemm_scratch`]): they grow
//! to the largest blocks seen and are kept, so a product allocates nothing once a
//! product of its size has run on that thread. All of this file is safe code; the
//! only `unsafe` is inside the kernels ([`super::kernels`]).

use super::kernels::Kernel;
use super::{MatMut, MatRef, Stamp};
use crate::real::{mul_add_if, Real, TARGET_FMA};
use std::cell::Cell;
use std::thread::LocalKey;

/// Depth of one block: `k` is summed `KC` at a time (a panel of `B`, `KC x NR`, is
/// 16 KiB of f32 for `NR = 16`, and stays in L1 while the tiles of a block use it).
const KC: usize = 256;
/// Rows of `A` in one block, in tiles: `MC = MC_TILES * MR` (a block of `A`, `MC x
/// KC`, stays in L2).
const MC_TILES: usize = 16;
/// Columns of `B` in one block (rounded down to whole tiles): 1 MiB of f32 at `KC`.
const NC: usize = 1024;

/// Most bytes of packed matrices [`Cache`] keeps per thread and type: past this, the
/// least recently used go.
const CACHE_BYTES: usize = 64 << 20;

/// The packing buffers of [`super::gemm`] (one block of `A`, one of `B`, and a tile:
/// at most `(MC + NC) KC` values, 1.1 MiB for f32), and the cache of whole packed
/// `B`s of [`super::gemm_cached_b`].
#[doc(hidden)]
#[derive(Debug)]
pub struct Scratch<T> {
    bufs: Buffers<T>,
    cache: Cache<T>,
}

/// The per-product packing buffers.
#[derive(Debug)]
struct Buffers<T> {
    a: Vec<T>,
    b: Vec<T>,
    tile: Vec<T>,
}

/// Whole packed `B`s, each kept under its [`Stamp`]'s slot while the stamp's version
/// and the view stay the same (a later version of the same slot repacks into the
/// same buffer, so a weight updated every step allocates nothing either).
#[derive(Debug)]
struct Cache<T> {
    entries: Vec<Cached<T>>,
    /// A clock of uses, for least-recently-used eviction.
    tick: u64,
}

/// One packed `B` of [`Cache`].
#[derive(Debug)]
struct Cached<T> {
    slot: u64,
    version: u64,
    /// The view and the kernel it was packed for: `rows, cols, rs, cs`, kernel name.
    view: ([usize; 4], &'static str),
    used: u64,
    data: Vec<T>,
}

impl<T: Real> Cache<T> {
    /// `b` packed whole for `kernel` (in [`blocked`]'s order of blocks), from the
    /// cache if `stamp` and the view are those it was packed under, else packed now.
    fn panels(&mut self, kernel: Kernel<T>, b: MatRef<'_, T>, stamp: Stamp) -> &[T] {
        self.tick += 1;
        let view = ([b.rows, b.cols, b.rs, b.cs], kernel.name);
        let len = b.cols.div_ceil(kernel.nr) * kernel.nr * b.rows;
        let i = match self.entries.iter().position(|e| e.slot == stamp.slot) {
            Some(i) => i,
            None => {
                self.evict(len * core::mem::size_of::<T>());
                self.entries.push(Cached {
                    slot: stamp.slot,
                    version: 0,
                    view: ([0; 4], ""),
                    used: 0,
                    data: Vec::new(),
                });
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[i];
        e.used = self.tick;
        if e.version != stamp.version || e.view != view {
            pack_whole_b(kernel, b, aligned(&mut e.data, len));
            e.version = stamp.version;
            e.view = view;
        }
        aligned_ref(&self.entries[i].data, len)
    }

    /// Drops the least recently used entries until `more` bytes fit in
    /// [`CACHE_BYTES`] (or none is left).
    fn evict(&mut self, more: usize) {
        let bytes = |e: &Cached<T>| e.data.capacity() * core::mem::size_of::<T>();
        let mut total: usize = self.entries.iter().map(bytes).sum();
        while total + more > CACHE_BYTES && !self.entries.is_empty() {
            let (i, _) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .expect("not empty");
            total -= bytes(&self.entries[i]);
            self.entries.swap_remove(i);
        }
    }
}

impl<T> Default for Scratch<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Scratch<T> {
    /// Empty buffers (no allocation).
    pub const fn new() -> Self {
        Scratch {
            bufs: Buffers {
                a: Vec::new(),
                b: Vec::new(),
                tile: Vec::new(),
            },
            cache: Cache {
                entries: Vec::new(),
                tick: 0,
            },
        }
    }

    /// Runs `f` with the buffers kept in `key` (taken out while `f` runs and put back
    /// after, so a nested call, were there one, would only use fresh buffers; during
    /// the thread's teardown, fresh buffers are used too).
    pub(crate) fn with_thread_local<R>(
        key: &'static LocalKey<Cell<Scratch<T>>>,
        f: impl FnOnce(&mut Scratch<T>) -> R,
    ) -> R {
        let mut scratch = key.try_with(Cell::take).unwrap_or_default();
        let r = f(&mut scratch);
        // The cell holds an empty Scratch now; replacing it frees nothing.
        let _ = key.try_with(|cell| cell.set(scratch));
        r
    }
}

/// Alignment of the packed panels, in bytes: a cache line, so that no vector load of
/// a panel (64 bytes with AVX-512) straddles two lines.
const ALIGN: usize = 64;

/// `len` elements of `v` starting at a multiple of [`ALIGN`] bytes, growing `v`
/// (never shrinking it) to make room.
fn aligned<T: Real>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    let slack = ALIGN / core::mem::size_of::<T>().max(1);
    if v.len() < len + slack {
        v.resize(len + slack, T::zero());
    }
    let offset = v.as_ptr().align_offset(ALIGN).min(slack);
    &mut v[offset..offset + len]
}

/// The same `len` elements as [`aligned`] gave of `v` (which has room for them).
fn aligned_ref<T: Real>(v: &[T], len: usize) -> &[T] {
    let slack = ALIGN / core::mem::size_of::<T>().max(1);
    let offset = v.as_ptr().align_offset(ALIGN).min(slack);
    &v[offset..offset + len]
}

/// Columns of `B` in one block for `kernel` (whole tiles).
fn nc_max<T>(kernel: &Kernel<T>) -> usize {
    (NC / kernel.nr).max(1) * kernel.nr
}

/// All of `b` (`k x n`) packed into `dst` as [`blocked`] packs it one block at a
/// time: blocks of `NC` columns, and in each, blocks of `KC` depth, one after the
/// other (`dst.len() = ceil(n / NR) NR k`).
fn pack_whole_b<T: Real>(kernel: Kernel<T>, b: MatRef<'_, T>, dst: &mut [T]) {
    let (k, n, nr) = (b.rows, b.cols, kernel.nr);
    let mut off = 0;
    for jc in (0..n).step_by(nc_max(&kernel)) {
        let nc = nc_max(&kernel).min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let len = nc.div_ceil(nr) * kc * nr;
            (kernel.pack_b)(b, pc, kc, jc, nc, &mut dst[off..off + len]);
            off += len;
        }
    }
    debug_assert_eq!(off, dst.len());
}

/// `C = alpha A B + beta C` for `m, n, k >= 1` and shapes that agree (the caller,
/// [`super::gemm`], checks both), with `kernel`; `B` packed whole and kept in the
/// thread's cache under `b_stamp` if given (such a product always runs as `A B`,
/// never as `(B^T A^T)^T`: see below).
pub(super) fn gemm_with<T: Real>(
    kernel: Kernel<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    b_stamp: Option<Stamp>,
    beta: T,
    c: MatMut<'_, T>,
) {
    // C^T = B^T A^T: take the orientation whose tiles waste less on padding (a
    // product with few columns, such as the 10 logits of a classifier, puts them
    // along the kernel's rows, which are fewer). Only for a clear gain: the other
    // orientation writes `C` with strides.
    let padded =
        |m: usize, n: usize| m.div_ceil(kernel.mr) * kernel.mr * n.div_ceil(kernel.nr) * kernel.nr;
    // A cached `B` keeps its orientation whatever the rows of `A`, so that a later
    // product with other rows (a smaller batch) finds it packed.
    if b_stamp.is_none() && 4 * padded(c.cols, c.rows) < 3 * padded(c.rows, c.cols) {
        T::with_gemm_scratch(|s| {
            blocked(kernel, alpha, b.t(), a.t(), beta, c.t(), &mut s.bufs, None)
        })
    } else {
        T::with_gemm_scratch(|s| {
            let packed = b_stamp.map(|stamp| s.cache.panels(kernel, b, stamp));
            blocked(kernel, alpha, a, b, beta, c, &mut s.bufs, packed)
        })
    }
}

/// `y = x B` for one row `x` (`k` values) and `B` (`k x n`) packed whole in the
/// thread's cache under `stamp` (as [`gemm_with`] keeps it): the panels are read
/// once, front to back, each lane summed in order over the depth. The caller
/// ([`super::gemv_cached_b`]) checks the lengths.
pub(super) fn gemv_with<T: Real>(
    kernel: Kernel<T>,
    x: &[T],
    b: MatRef<'_, T>,
    stamp: Stamp,
    y: &mut [T],
) {
    T::with_gemm_scratch(|s| {
        let whole = s.cache.panels(kernel, b, stamp);
        (kernel.gemv)(x, b.rows, b.cols, whole, y);
    })
}

/// [`gemv_panels`] as the build's target compiles it (fused multiply-adds where
/// the target has them): the matrix-vector loop of the portable kernels.
pub(super) fn gemv_default<T: Real, const NR: usize>(
    x: &[T],
    k: usize,
    n: usize,
    whole: &[T],
    y: &mut [T],
) {
    gemv_panels::<T, NR, TARGET_FMA>(x, k, n, whole, y)
}

/// [`gemv_with`] over panels `NR` wide, laid out as [`pack_whole_b`] lays them
/// (`k x n`, `whole` as long as that layout), into `y` (`n` values); with fused
/// multiply-adds if `FMA`. Inlined into its callers, so that one compiled with more
/// vector features (`super::kernels`) runs it with them.
#[inline(always)]
pub(super) fn gemv_panels<T: Real, const NR: usize, const FMA: bool>(
    x: &[T],
    k: usize,
    n: usize,
    whole: &[T],
    y: &mut [T],
) {
    assert!(x.len() == k && y.len() == n && whole.len() == n.div_ceil(NR) * NR * k);
    let nc_max = (NC / NR).max(1) * NR;
    let mut off = 0;
    for jc in (0..n).step_by(nc_max) {
        let nc = nc_max.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let len = nc.div_ceil(NR) * kc * NR;
            let block = &whole[off..off + len];
            off += len;
            let xs = &x[pc..pc + kc];
            // Four panels at a time, so that four panels' sums (4 NR lanes) are in
            // flight together rather than one chain of dependent additions.
            let mut q = 0;
            let count = nc.div_ceil(NR);
            while q < count {
                let group = 4.min(count - q);
                let panel = |i: usize| {
                    let start = (q + i.min(group - 1)) * kc * NR;
                    block[start..start + kc * NR].chunks_exact(NR)
                };
                let zero = [T::zero(); NR];
                let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
                for ((((&xv, r0), r1), r2), r3) in xs
                    .iter()
                    .zip(panel(0))
                    .zip(panel(1))
                    .zip(panel(2))
                    .zip(panel(3))
                {
                    let lanes = |r: &[T]| -> [T; NR] { r.try_into().expect("NR") };
                    let (r0, r1, r2, r3) = (lanes(r0), lanes(r1), lanes(r2), lanes(r3));
                    for j in 0..NR {
                        a0[j] = mul_add_if::<T, FMA>(xv, r0[j], a0[j]);
                        a1[j] = mul_add_if::<T, FMA>(xv, r1[j], a1[j]);
                        a2[j] = mul_add_if::<T, FMA>(xv, r2[j], a2[j]);
                        a3[j] = mul_add_if::<T, FMA>(xv, r3[j], a3[j]);
                    }
                }
                let acc = [a0, a1, a2, a3];
                for (i, acc) in acc.iter().enumerate().take(group) {
                    let col = jc + (q + i) * NR;
                    let lanes = NR.min(n - col);
                    let out = &mut y[col..col + lanes];
                    if pc == 0 {
                        out.copy_from_slice(&acc[..lanes]);
                    } else {
                        out.iter_mut().zip(acc).for_each(|(o, &v)| *o += v);
                    }
                }
                q += group;
            }
        }
    }
}

/// The blocked loops of [`gemm_with`], in one orientation; `b_packed`, if given, is
/// `b` packed whole ([`pack_whole_b`]), read instead of packing each block.
#[allow(clippy::too_many_arguments)]
fn blocked<T: Real>(
    kernel: Kernel<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
    s: &mut Buffers<T>,
    b_packed: Option<&[T]>,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let (mr, nr) = (kernel.mr, kernel.nr);
    let one = T::one();
    let mc_max = MC_TILES * mr;
    let nc_max = nc_max(&kernel);
    // Whole blocks of the depth used, whatever `m` and `n`: so that once a product
    // has run, no product of at most its depth (a smaller batch's `dY^T X`, or the
    // other orientation of one: see `gemm_with`) needs more room.
    let kc_all = KC.min(k);
    let a_block = aligned(&mut s.a, mc_max * kc_all);
    let b_block = aligned(
        &mut s.b,
        if b_packed.is_some() {
            0
        } else {
            nc_max * kc_all
        },
    );
    let tile = aligned(&mut s.tile, mr * nr);
    // Whether `A`'s whole panels are read in place: its rows contiguous along the
    // depth (`X` of the forward product, `dY` of `dY W`), so packing them would
    // only copy them.
    let in_place = kernel.reads_rows() && a.cs == 1 && m > 0;
    // Where the next block starts in `b_packed`.
    let mut b_off = 0;
    for jc in (0..n).step_by(nc_max) {
        let nc = nc_max.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            // Blocks after the first of `k` add to what the first wrote.
            let beta = if pc == 0 { beta } else { one };
            // Whether whole tiles are written by the kernel itself (`C = A B` or `C +=
            // A B` into rows with unit column stride) rather than through a buffer.
            let direct = c.cs == 1 && alpha == one && (beta == T::zero() || beta == one);
            let b_len = nc.div_ceil(nr) * kc * nr;
            let b_panels: &[T] = match b_packed {
                Some(whole) => {
                    b_off += b_len;
                    &whole[b_off - b_len..b_off]
                }
                None => {
                    let panels = &mut b_block[..b_len];
                    (kernel.pack_b)(b, pc, kc, jc, nc, panels);
                    panels
                }
            };
            for ic in (0..m).step_by(mc_max) {
                let mc = mc_max.min(m - ic);
                // `A`'s whole panels of `mr` rows are read where they are when its
                // rows are contiguous and the kernel can; only a last, partial panel
                // is packed (padded with zero rows), into the first panel's room.
                let whole = if in_place { mc / mr } else { 0 };
                let packed_from = ic + whole * mr;
                let a_panels = &mut a_block[..(mc - whole * mr).div_ceil(mr) * kc * mr];
                (kernel.pack_a)(a.t(), pc, kc, packed_from, ic + mc - packed_from, a_panels);
                for (jp, b_panel) in b_panels.chunks_exact(kc * nr).enumerate() {
                    let j0 = jc + jp * nr;
                    let cols = nr.min(n - j0);
                    for ip in 0..mc.div_ceil(mr) {
                        let i0 = ic + ip * mr;
                        let rows = mr.min(m - i0);
                        // A whole tile of row-contiguous C is written in place.
                        let in_c = direct && rows == mr && cols == nr;
                        let (out, ldc, add) = if in_c {
                            (&mut c.data[i0 * c.rs + j0..], c.rs, beta == one)
                        } else {
                            (&mut tile[..], nr, false)
                        };
                        match ip.checked_sub(whole) {
                            None => {
                                let a_rows = &a.data[i0 * a.rs + pc..];
                                kernel.tile_rows(a_rows, a.rs, b_panel, out, ldc, add);
                            }
                            Some(q) => {
                                let a_panel = &a_panels[q * kc * mr..(q + 1) * kc * mr];
                                kernel.tile(a_panel, b_panel, out, ldc, add);
                            }
                        }
                        if !in_c {
                            (kernel.write_back)(tile, &mut c, [i0, j0, rows, cols], alpha, beta);
                        }
                    }
                }
            }
        }
    }
}

/// Rows `p0 .. p0 + kc` (the depth) and columns `l0 .. l0 + lc` (the lanes) of `v`
/// into `dst` as panels of `R` lanes: element `(p, l)` of panel `q` at
/// `q * kc * R + p * R + (l - l0 - q R)`, the lanes past the end zero. `B` is packed
/// as it is (`k x n`, panels of `NR` columns), `A` as its transpose (`k x m`, panels
/// of `MR` rows).
pub(super) fn pack<T: Real, const R: usize>(
    v: MatRef<'_, T>,
    p0: usize,
    kc: usize,
    l0: usize,
    lc: usize,
    dst: &mut [T],
) {
    for (q, panel) in dst.chunks_exact_mut(kc * R).enumerate() {
        let first = l0 + q * R;
        let lanes = R.min(l0 + lc - first);
        if lanes == R && v.cs == 1 && v.rs >= R {
            // Lanes contiguous: `R` values per step of the depth, from rows `rs`
            // apart (one bounds check each).
            let rows = v.data[p0 * v.rs + first..].chunks(v.rs);
            for (d, src) in panel.chunks_exact_mut(R).zip(rows) {
                let src: &[T; R] = src[..R].try_into().expect("R values");
                let d: &mut [T; R] = d.try_into().expect("R values");
                *d = *src;
            }
        } else if lanes == R && v.cs == 1 {
            for (p, d) in panel.chunks_exact_mut(R).enumerate() {
                d.copy_from_slice(&v.data[(p0 + p) * v.rs + first..][..R]);
            }
        } else if lanes == R && v.rs == 1 {
            // Depth contiguous (a transposed view: `W^T`, or `A` row major): `R`
            // slices read side by side.
            let src: [&[T]; R] = core::array::from_fn(|l| &v.data[(first + l) * v.cs + p0..][..kc]);
            for (p, d) in panel.chunks_exact_mut(R).enumerate() {
                for (d, s) in d.iter_mut().zip(&src) {
                    *d = s[p];
                }
            }
        } else {
            if lanes < R {
                panel.fill(T::zero());
            }
            for (p, d) in panel.chunks_exact_mut(R).enumerate() {
                for (l, d) in d.iter_mut().enumerate().take(lanes) {
                    *d = v.data[(p0 + p) * v.rs + (first + l) * v.cs];
                }
            }
        }
    }
}

/// `C[i0 + r, j0 + j] = alpha tile[r * NR + j] + beta C[..]` for `r < rows`, `j <
/// cols` (`at = [i0, j0, rows, cols]`), where `beta = 0` ignores `C` (NaN included).
pub(super) fn write_back<T: Real, const NR: usize>(
    tile: &[T],
    c: &mut MatMut<'_, T>,
    at: [usize; 4],
    alpha: T,
    beta: T,
) {
    let [i0, j0, rows, cols] = at;
    let (zero, one) = (T::zero(), T::one());
    for (r, t) in tile.chunks_exact(NR).take(rows).enumerate() {
        let start = (i0 + r) * c.rs + j0 * c.cs;
        if c.cs == 1 && cols == NR {
            let out: &mut [T; NR] = (&mut c.data[start..start + NR]).try_into().expect("NR");
            let t: &[T; NR] = t.try_into().expect("NR");
            if alpha == one && beta == zero {
                *out = *t;
            } else if alpha == one && beta == one {
                out.iter_mut().zip(t).for_each(|(o, &v)| *o += v);
            } else {
                for (o, &v) in out.iter_mut().zip(t) {
                    *o = if beta == zero {
                        alpha * v
                    } else {
                        alpha * v + beta * *o
                    };
                }
            }
        } else {
            for (j, &v) in t.iter().enumerate().take(cols) {
                let o = &mut c.data[start + j * c.cs];
                *o = if beta == zero {
                    alpha * v
                } else {
                    alpha * v + beta * *o
                };
            }
        }
    }
}
