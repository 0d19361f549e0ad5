//! The micro-kernels of the packed product: one `MR x NR` tile of `C`, summed over a
//! packed panel of `A` (`k x MR`, column by column) and one of `B` (`k x NR`, row by
//! row), in registers.
//!
//! Which kernel runs is decided at run time ([`Kernel::detect`]): on x86-64, AVX-512
//! (f32, when the compiler has its intrinsics: `cfg(gradnet_avx512)`, set by the
//! build script for Rust 1.89 and later), else AVX2 with FMA, else the portable
//! kernel, which the compiler vectorizes for the build's own target. So a build
//! without `-C target-cpu=native` runs the same product as a native one.
//!
//! Every kernel takes slices and checks their lengths before it reads through
//! pointers; the `unsafe` of the x86 kernels is that of `#[target_feature]`
//! (they may only run on a CPU with those features, which [`Kernel::detect`] checks)
//! and of the intrinsics' unaligned loads and stores (within the checked lengths).

use super::{packed, MatMut, MatRef};
use crate::real::{mul_add_if, Real};

/// A micro-kernel: `c[r * ldc + j] = sum_p a[p * mr + r] * b[p * nr + j]` (or `+=`
/// that sum, if `add`) for `r < mr`, `j < nr`, where `a.len() = k * mr`, `b.len() =
/// k * nr`, `ldc >= nr` and `c.len() >= (mr - 1) * ldc + nr`: the tile is written
/// straight into `C`'s rows (or, for a tile at an edge of `C` or a product with
/// `alpha`, into a buffer that `packed::write_back` finishes).
///
/// Values are only made by `Kernel::detect` and `Kernel::all`, which hand out
/// a kernel only where the running CPU has the features it was compiled for: that is
/// what makes calling `Kernel::tile` sound.
#[derive(Clone, Copy)]
pub struct Kernel<T> {
    /// Rows of `A` and `C` in one tile.
    pub(crate) mr: usize,
    /// Columns of `B` and `C` in one tile.
    pub(crate) nr: usize,
    /// A name for test messages and benchmarks.
    pub(crate) name: &'static str,
    /// The tile.
    tile: TileFn<T>,
    /// The tile reading `A`'s rows in place, if the kernel has that form.
    tile_rows: Option<RowsFn<T>>,
    /// [`packed::pack`] for panels of `mr` (`A`'s rows).
    pub(crate) pack_a: Pack<T>,
    /// [`packed::pack`] for panels of `nr` (`B`'s columns).
    pub(crate) pack_b: Pack<T>,
    /// [`packed::write_back`] for tiles `nr` wide.
    pub(crate) write_back: WriteBack<T>,
    /// The matrix-vector product over panels `nr` wide ([`packed::gemv_panels`]).
    pub(crate) gemv: Gemv<T>,
}

/// The type of [`packed::gemv_panels`] for one panel width: `(x, k, n, panels, y)`.
pub(crate) type Gemv<T> = fn(&[T], usize, usize, &[T], &mut [T]);

/// The type of a micro-kernel: `(a, b, c, ldc, add)` as [`Kernel`] describes.
pub(crate) type TileFn<T> = unsafe fn(&[T], &[T], &mut [T], usize, bool);
/// The type of a micro-kernel that reads `A`'s `mr` rows where they are, with their
/// depth contiguous: `(a, lda, b, c, ldc, add)`, row `r` of the tile being `a[r * lda
/// ..]`, `k = b.len() / nr` deep, otherwise as [`TileFn`]. It saves packing `A`
/// when `A`'s rows are contiguous (`X` in the forward product, `dY` in `dY W`).
pub(crate) type RowsFn<T> = unsafe fn(&[T], usize, &[T], &mut [T], usize, bool);
/// The type of [`packed::pack`] for one panel width.
pub(crate) type Pack<T> = fn(MatRef<'_, T>, usize, usize, usize, usize, &mut [T]);
/// The type of [`packed::write_back`] for one tile width.
#[allow(clippy::type_complexity)]
pub(crate) type WriteBack<T> = fn(&[T], &mut MatMut<'_, T>, [usize; 4], T, T);

impl<T: Real> Kernel<T> {
    /// The kernel `tile` of `MR x NR`, with packing and write-back for that shape.
    fn new<const MR: usize, const NR: usize>(name: &'static str, tile: TileFn<T>) -> Self {
        Kernel {
            mr: MR,
            nr: NR,
            name,
            tile,
            tile_rows: None,
            pack_a: packed::pack::<T, MR>,
            pack_b: packed::pack::<T, NR>,
            write_back: packed::write_back::<T, NR>,
            gemv: packed::gemv_default::<T, NR>,
        }
    }
}

impl<T> Kernel<T> {
    /// The same kernel with other packing functions (of the same panel widths).
    fn with_packs(self, pack_a: Pack<T>, pack_b: Pack<T>) -> Self {
        Kernel {
            pack_a,
            pack_b,
            ..self
        }
    }

    /// The same kernel with another matrix-vector loop (of the same panel width).
    fn with_gemv(self, gemv: Gemv<T>) -> Self {
        Kernel { gemv, ..self }
    }

    /// The same kernel with its form that reads `A`'s rows in place.
    #[cfg(target_arch = "x86_64")]
    fn with_rows(self, tile_rows: RowsFn<T>) -> Self {
        Kernel {
            tile_rows: Some(tile_rows),
            ..self
        }
    }
}

impl<T> core::fmt::Debug for Kernel<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({} x {})", self.name, self.mr, self.nr)
    }
}

impl<T: Real> Kernel<T> {
    /// One tile into `c`, rows `ldc` apart (see [`Kernel`]). Panics if the lengths
    /// do not agree.
    #[inline]
    pub(crate) fn tile(&self, a: &[T], b: &[T], c: &mut [T], ldc: usize, add: bool) {
        let k = a.len() / self.mr;
        assert!(
            a.len() == k * self.mr
                && b.len() == k * self.nr
                && ldc >= self.nr
                && c.len() >= (self.mr - 1) * ldc + self.nr,
            "gemm kernel: panel lengths disagree"
        );
        // SAFETY: `self` was made by `detect` or `all`, which only hand out a kernel
        // whose target features the running CPU has; the lengths are checked above,
        // and each kernel checks them again before it reads through pointers.
        unsafe { (self.tile)(a, b, c, ldc, add) }
    }

    /// Whether the kernel can read `A`'s rows in place ([`Kernel::tile_rows`]).
    pub(crate) fn reads_rows(&self) -> bool {
        self.tile_rows.is_some()
    }

    /// One tile from `A`'s `mr` rows read in place, `lda` apart, `b.len() / nr`
    /// deep, into `c` as [`Kernel::tile`]. Panics if the kernel has no such form or
    /// the lengths do not agree.
    #[inline]
    pub(crate) fn tile_rows(
        &self,
        a: &[T],
        lda: usize,
        b: &[T],
        c: &mut [T],
        ldc: usize,
        add: bool,
    ) {
        let k = b.len() / self.nr;
        let tile = self
            .tile_rows
            .expect("gemm kernel: no form reading A's rows");
        assert!(
            b.len() == k * self.nr
                && (k == 0 || a.len() >= (self.mr - 1) * lda + k)
                && ldc >= self.nr
                && c.len() >= (self.mr - 1) * ldc + self.nr,
            "gemm kernel: rows and panel lengths disagree"
        );
        // SAFETY: as in `tile`: a kernel of `detect` or `all` runs on this CPU, and
        // the lengths are checked here and again in the kernel.
        unsafe { tile(a, lda, b, c, ldc, add) }
    }

    /// The fastest kernel this CPU runs for `T`.
    pub(crate) fn detect() -> Self {
        T::gemm_kernels(&mut |_| true)
    }

    /// Every kernel this CPU runs for `T`, fastest first (for tests).
    #[cfg(test)]
    pub(crate) fn all() -> Vec<Self> {
        let mut all = Vec::new();
        T::gemm_kernels(&mut |k| {
            all.push(k);
            false
        });
        all
    }
}

impl<T: Real> Kernel<T> {
    /// Offers `take` the portable kernel (4 x 4, any [`Real`]) and returns it: the
    /// default of [`Real::gemm_kernels`].
    pub(crate) fn portable(take: &mut dyn FnMut(Kernel<T>) -> bool) -> Self {
        let k = Kernel::new::<4, 4>("portable", portable::<T, 4, 4>);
        take(k);
        k
    }
}

/// Offers `f` the kernels for f32 this CPU runs, fastest first, until `f` takes one
/// (returns true); the portable kernel, always offered last, is returned if none is.
pub(crate) fn f32_kernels(f: &mut dyn FnMut(Kernel<f32>) -> bool) -> Kernel<f32> {
    #[cfg(target_arch = "x86_64")]
    {
        #[cfg(gradnet_avx512)]
        if std::arch::is_x86_feature_detected!("avx512f") {
            let k = Kernel::new::<8, 32>("avx512 f32", avx512::tile_f32)
                .with_rows(avx512::tile_f32_rows)
                .with_packs(x86::pack_f32::<8>, x86::pack_f32::<32>)
                .with_gemv(x86::gemv::<f32, 32>);
            if f(k) {
                return k;
            }
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            let k = Kernel::new::<6, 16>("avx2+fma f32", x86::tile_f32)
                .with_rows(x86::tile_f32_rows)
                .with_packs(x86::pack_f32::<6>, x86::pack_f32::<16>)
                .with_gemv(x86::gemv::<f32, 16>);
            if f(k) {
                return k;
            }
        }
    }
    let k = Kernel::new::<4, 8>("portable f32", portable::<f32, 4, 8>);
    f(k);
    k
}

/// [`f32_kernels`] for f64.
pub(crate) fn f64_kernels(f: &mut dyn FnMut(Kernel<f64>) -> bool) -> Kernel<f64> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        let k = Kernel::new::<4, 8>("avx2+fma f64", x86::tile_f64).with_gemv(x86::gemv::<f64, 8>);
        if f(k) {
            return k;
        }
    }
    Kernel::portable(f)
}

/// The portable kernel as an `unsafe fn` (the type every kernel shares); it has no
/// requirement of its own.
///
/// # Safety
/// None: it is safe to call with any slices (it panics on disagreeing lengths).
unsafe fn portable<T: Real, const MR: usize, const NR: usize>(
    a: &[T],
    b: &[T],
    c: &mut [T],
    ldc: usize,
    add: bool,
) {
    generic::<T, MR, NR, false>(a, b, c, ldc, add)
}

/// The kernel in plain Rust: accumulators in an `MR x NR` array, which the compiler
/// keeps in vector registers for the target it compiles for (the portable kernel),
/// or, inlined into a `#[target_feature]` function, for those features. `FMA`
/// fuses the multiply-adds (only where the target has the instruction: elsewhere
/// `mul_add` is a library call).
#[inline(always)]
fn generic<T: Real, const MR: usize, const NR: usize, const FMA: bool>(
    a: &[T],
    b: &[T],
    c: &mut [T],
    ldc: usize,
    add: bool,
) {
    let mut acc = [[T::zero(); NR]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let ap: &[T; MR] = ap.try_into().expect("chunks of MR");
        let bp: &[T; NR] = bp.try_into().expect("chunks of NR");
        for (acc, &x) in acc.iter_mut().zip(ap) {
            for (s, &y) in acc.iter_mut().zip(bp) {
                *s = mul_add_if::<T, FMA>(x, y, *s);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let row: &mut [T; NR] = (&mut c[r * ldc..r * ldc + NR]).try_into().expect("NR");
        if add {
            row.iter_mut().zip(acc).for_each(|(o, &v)| *o += v);
        } else {
            *row = *acc;
        }
    }
}

/// The body of an f32 tile of `$mr` rows by two vector registers of `$w` lanes
/// (`NR = 2 $w`), over the slices `$a`, `$b`, `$out` of [`Kernel`]'s contract, with
/// one instruction set's intrinsics: `$zero`, `$load`, `$set1`, `$fma`, `$add`, `$store`;
/// the tile goes to `$c` (rows `$ldc` apart), added to what is there if `$acc`.
/// `2 $mr` accumulators; per step of `k`, 2 loads of `B` and `$mr` broadcasts of `A`.
/// Expanded inside an `unsafe fn` with that instruction set's `#[target_feature]`
/// (a macro, not a helper function or a closure, so that every compiler builds the
/// loop with those features).
#[cfg(target_arch = "x86_64")]
macro_rules! f32_tile {
    ($a:ident, $ars:expr, $astep:expr, $b:ident, $c:ident, $ldc:ident, $acc:ident, $mr:expr,
     $w:expr, $zero:ident, $load:ident, $set1:ident, $fma:ident, $add:ident, $store:ident) => {{
        const MR: usize = $mr;
        const W: usize = $w;
        const NR: usize = 2 * W;
        // `A`'s value of row `r` at step `p` is `a[r * ars + p * astep]`: a packed
        // panel has `(ars, astep) = (1, MR)`, rows read in place `(lda, 1)`.
        let (ars, astep): (usize, usize) = ($ars, $astep);
        let k = $b.len() / NR;
        assert!(
            $b.len() == k * NR
                && (k == 0 || $a.len() > (MR - 1) * ars + (k - 1) * astep)
                && $ldc >= NR
                && $c.len() >= (MR - 1) * $ldc + NR
        );
        // SAFETY: the CPU has the instruction set (the enclosing function's contract).
        // Step `p < k` reads `a[r * ars + p * astep]` for `r < MR` and `b[p * NR .. p *
        // NR + NR]` (`ap` and `bp` advance by `astep` and `NR` per step, `k` steps in
        // all), inside the slices by the lengths checked above; the loads and stores
        // of `c` touch `c[r * ldc .. r * ldc + NR]` for `r < MR`, inside `c` by its
        // checked length.
        unsafe {
            let mut acc = [[$zero(); 2]; MR];
            let (mut ap, mut bp) = ($a.as_ptr(), $b.as_ptr());
            // One step of `k` at `ap`, `bp`.
            macro_rules! step {
                ($ap_:expr, $bp_:expr) => {{
                    let (ap, bp): (*const f32, *const f32) = ($ap_, $bp_);
                    let b0 = $load(bp);
                    let b1 = $load(bp.add(W));
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let x = $set1(*ap.add(r * ars));
                        acc[0] = $fma(x, b0, acc[0]);
                        acc[1] = $fma(x, b1, acc[1]);
                    }
                }};
            }
            // Four steps per iteration (less loop overhead), then the rest.
            for _ in 0..k / 4 {
                for u in 0..4 {
                    step!(ap.add(u * astep), bp.add(u * NR));
                }
                ap = ap.add(4 * astep);
                bp = bp.add(4 * NR);
            }
            for _ in 0..k % 4 {
                step!(ap, bp);
                ap = ap.add(astep);
                bp = bp.add(NR);
            }
            let o = $c.as_mut_ptr();
            for (r, acc) in acc.iter().enumerate() {
                let row = o.add(r * $ldc);
                if $acc {
                    $store(row, $add($load(row), acc[0]));
                    $store(row.add(W), $add($load(row.add(W)), acc[1]));
                } else {
                    $store(row, acc[0]);
                    $store(row.add(W), acc[1]);
                }
            }
        }
    }};
}

/// The AVX2 + FMA kernels, and the f32 packing of transposed panels with AVX.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{packed, MatRef};
    use core::arch::x86_64::{
        _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_shuffle_ps, _mm256_storeu_ps, _mm256_unpackhi_ps,
        _mm256_unpacklo_ps,
    };

    /// [`packed::gemv_panels`] compiled for AVX2 and FMA when the CPU has them
    /// (whatever the build's target), else as the build compiles it.
    pub(super) fn gemv<T: crate::real::Real, const NR: usize>(
        x: &[T],
        k: usize,
        n: usize,
        whole: &[T],
        y: &mut [T],
    ) {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            unsafe { gemv_avx2::<T, NR>(x, k, n, whole, y) }
        } else {
            packed::gemv_default::<T, NR>(x, k, n, whole, y)
        }
    }

    /// [`packed::gemv_panels`] with fused multiply-adds, built for AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn gemv_avx2<T: crate::real::Real, const NR: usize>(
        x: &[T],
        k: usize,
        n: usize,
        whole: &[T],
        y: &mut [T],
    ) {
        packed::gemv_panels::<T, NR, true>(x, k, n, whole, y)
    }

    /// [`packed::pack`] for f32 panels of `R` lanes, with the panels whose source
    /// has the depth contiguous (`v.rs == 1`: `W^T` in a dense layer's forward
    /// product, or `X` as its `A`) transposed 8 x 8 in AVX registers instead of read
    /// one value at a time; other panels, and CPUs without AVX, as `pack`.
    pub(super) fn pack_f32<const R: usize>(
        v: MatRef<'_, f32>,
        p0: usize,
        kc: usize,
        l0: usize,
        lc: usize,
        dst: &mut [f32],
    ) {
        let fast = R % 8 == 0 && v.rs == 1 && kc >= 8 && std::arch::is_x86_feature_detected!("avx");
        for (q, panel) in dst.chunks_exact_mut(kc * R).enumerate() {
            let first = l0 + q * R;
            let lanes = R.min(l0 + lc - first);
            if fast && lanes == R {
                let src: [&[f32]; R] =
                    core::array::from_fn(|l| &v.data[(first + l) * v.cs + p0..][..kc]);
                // SAFETY: the CPU has AVX (checked above).
                unsafe { transpose_panel::<R>(&src, panel) }
            } else {
                packed::pack::<f32, R>(v, p0, kc, first, lanes, panel);
            }
        }
    }

    /// `dst[p * R + l] = src[l][p]` for `p < kc = dst.len() / R`, `l < R` (`R` a
    /// multiple of 8, every `src[l]` at least `kc` long): 8 x 8 blocks transposed
    /// in registers, the last `kc % 8` steps of the depth one value at a time.
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[target_feature(enable = "avx")]
    unsafe fn transpose_panel<const R: usize>(src: &[&[f32]; R], dst: &mut [f32]) {
        let kc = dst.len() / R;
        assert!(R % 8 == 0 && dst.len() == kc * R && src.iter().all(|s| s.len() >= kc));
        let full = kc / 8 * 8;
        // SAFETY: AVX (the contract). Block `(p, g)` loads `src[8 g + i][p .. p + 8]`
        // (`p + 8 <= full <= kc <= src[..].len()`) and stores
        // `dst[(p + u) R + 8 g ..][..8]` for `u < 8`, inside `dst` (`(p + 7) R + 8 g + 8
        // <= kc R` as `p + 8 <= kc` and `8 g + 8 <= R`).
        unsafe {
            let d = dst.as_mut_ptr();
            for p in (0..full).step_by(8) {
                for g in 0..R / 8 {
                    // (A macro, not a closure, so the load is built with AVX.)
                    macro_rules! r {
                        ($i:expr) => {
                            _mm256_loadu_ps(src[8 * g + $i].as_ptr().add(p))
                        };
                    }
                    let (r0, r1, r2, r3) = (r!(0), r!(1), r!(2), r!(3));
                    let (r4, r5, r6, r7) = (r!(4), r!(5), r!(6), r!(7));
                    // Pairs of rows interleaved, then quadruples, then the halves.
                    let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
                    let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
                    let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
                    let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
                    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                    let out = [
                        _mm256_permute2f128_ps::<0x20>(s0, s4),
                        _mm256_permute2f128_ps::<0x20>(s1, s5),
                        _mm256_permute2f128_ps::<0x20>(s2, s6),
                        _mm256_permute2f128_ps::<0x20>(s3, s7),
                        _mm256_permute2f128_ps::<0x31>(s0, s4),
                        _mm256_permute2f128_ps::<0x31>(s1, s5),
                        _mm256_permute2f128_ps::<0x31>(s2, s6),
                        _mm256_permute2f128_ps::<0x31>(s3, s7),
                    ];
                    for (u, o) in out.into_iter().enumerate() {
                        _mm256_storeu_ps(d.add((p + u) * R + 8 * g), o);
                    }
                }
            }
        }
        for p in full..kc {
            for (l, s) in src.iter().enumerate() {
                dst[p * R + l] = s[p];
            }
        }
    }

    /// f32, 6 rows by two registers of 8 lanes (`f32_tile`).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile_f32(a: &[f32], b: &[f32], c: &mut [f32], ldc: usize, add: bool) {
        f32_tile!(
            a,
            1,
            6,
            b,
            c,
            ldc,
            add,
            6,
            8,
            _mm256_setzero_ps,
            _mm256_loadu_ps,
            _mm256_set1_ps,
            _mm256_fmadd_ps,
            _mm256_add_ps,
            _mm256_storeu_ps
        )
    }

    /// [`tile_f32`] reading `A`'s 6 rows where they are, `lda` apart (a
    /// [`super::RowsFn`]).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile_f32_rows(
        a: &[f32],
        lda: usize,
        b: &[f32],
        c: &mut [f32],
        ldc: usize,
        add: bool,
    ) {
        f32_tile!(
            a,
            lda,
            1,
            b,
            c,
            ldc,
            add,
            6,
            8,
            _mm256_setzero_ps,
            _mm256_loadu_ps,
            _mm256_set1_ps,
            _mm256_fmadd_ps,
            _mm256_add_ps,
            _mm256_storeu_ps
        )
    }

    /// f64: the plain-Rust kernel (4 rows by 8, eight 4-lane accumulators), compiled
    /// for AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile_f64(a: &[f64], b: &[f64], c: &mut [f64], ldc: usize, add: bool) {
        super::generic::<f64, 4, 8, true>(a, b, c, ldc, add)
    }
}

/// The AVX-512 kernel, for compilers that have its intrinsics (Rust 1.89; the build
/// script sets `gradnet_avx512`); the crate's other code keeps the workspace's MSRV.
#[cfg(all(target_arch = "x86_64", gradnet_avx512))]
#[clippy::msrv = "1.89"]
mod avx512 {
    use core::arch::x86_64::{
        _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };

    /// f32, 8 rows by two registers of 16 lanes (`f32_tile`).
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile_f32(a: &[f32], b: &[f32], c: &mut [f32], ldc: usize, add: bool) {
        f32_tile!(
            a,
            1,
            8,
            b,
            c,
            ldc,
            add,
            8,
            16,
            _mm512_setzero_ps,
            _mm512_loadu_ps,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_add_ps,
            _mm512_storeu_ps
        )
    }

    /// [`tile_f32`] reading `A`'s 8 rows where they are, `lda` apart (a
    /// [`super::RowsFn`]).
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile_f32_rows(
        a: &[f32],
        lda: usize,
        b: &[f32],
        c: &mut [f32],
        ldc: usize,
        add: bool,
    ) {
        f32_tile!(
            a,
            lda,
            1,
            b,
            c,
            ldc,
            add,
            8,
            16,
            _mm512_setzero_ps,
            _mm512_loadu_ps,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_add_ps,
            _mm512_storeu_ps
        )
    }
}
