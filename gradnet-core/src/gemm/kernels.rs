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
use crate::real::Real;

/// A micro-kernel: `out[r * nr + j] = sum_p a[p * mr + r] * b[p * nr + j]`, where
/// `a.len() = k * mr`, `b.len() = k * nr`, `out.len() >= mr * nr`.
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
    tile: unsafe fn(&[T], &[T], &mut [T]),
    /// [`packed::pack`] for panels of `mr` (`A`'s rows).
    pub(crate) pack_a: Pack<T>,
    /// [`packed::pack`] for panels of `nr` (`B`'s columns).
    pub(crate) pack_b: Pack<T>,
    /// [`packed::write_back`] for tiles `nr` wide.
    pub(crate) write_back: WriteBack<T>,
}

/// The type of [`packed::pack`] for one panel width.
pub(crate) type Pack<T> = fn(MatRef<'_, T>, usize, usize, usize, usize, &mut [T]);
/// The type of [`packed::write_back`] for one tile width.
#[allow(clippy::type_complexity)]
pub(crate) type WriteBack<T> = fn(&[T], &mut MatMut<'_, T>, [usize; 4], T, T);

impl<T: Real> Kernel<T> {
    /// The kernel `tile` of `MR x NR`, with packing and write-back for that shape.
    fn new<const MR: usize, const NR: usize>(
        name: &'static str,
        tile: unsafe fn(&[T], &[T], &mut [T]),
    ) -> Self {
        Kernel {
            mr: MR,
            nr: NR,
            name,
            tile,
            pack_a: packed::pack::<T, MR>,
            pack_b: packed::pack::<T, NR>,
            write_back: packed::write_back::<T, NR>,
        }
    }
}

impl<T> core::fmt::Debug for Kernel<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({} x {})", self.name, self.mr, self.nr)
    }
}

impl<T: Real> Kernel<T> {
    /// One tile (see [`Kernel`]). Panics if the lengths do not agree.
    #[inline]
    pub(crate) fn tile(&self, a: &[T], b: &[T], out: &mut [T]) {
        let k = a.len() / self.mr;
        assert!(
            a.len() == k * self.mr && b.len() == k * self.nr && out.len() >= self.mr * self.nr,
            "gemm kernel: panel lengths disagree"
        );
        // SAFETY: `self` was made by `detect` or `all`, which only hand out a kernel
        // whose target features the running CPU has; the lengths are checked above,
        // and each kernel checks them again before it reads through pointers.
        unsafe { (self.tile)(a, b, out) }
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
            let k = Kernel::new::<8, 32>("avx512 f32", avx512::tile_f32);
            if f(k) {
                return k;
            }
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            let k = Kernel::new::<6, 16>("avx2+fma f32", x86::tile_f32);
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
        let k = Kernel::new::<4, 8>("avx2+fma f64", x86::tile_f64);
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
unsafe fn portable<T: Real, const MR: usize, const NR: usize>(a: &[T], b: &[T], out: &mut [T]) {
    generic::<T, MR, NR, false>(a, b, out)
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
    out: &mut [T],
) {
    let mut acc = [[T::zero(); NR]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let ap: &[T; MR] = ap.try_into().expect("chunks of MR");
        let bp: &[T; NR] = bp.try_into().expect("chunks of NR");
        for (acc, &x) in acc.iter_mut().zip(ap) {
            for (s, &y) in acc.iter_mut().zip(bp) {
                *s = if FMA { x.mul_add(y, *s) } else { x * y + *s };
            }
        }
    }
    for (o, acc) in out.chunks_exact_mut(NR).zip(&acc) {
        o.copy_from_slice(acc);
    }
}

/// The body of an f32 tile of `$mr` rows by two vector registers of `$w` lanes
/// (`NR = 2 $w`), over the slices `$a`, `$b`, `$out` of [`Kernel`]'s contract, with
/// one instruction set's intrinsics: `$zero`, `$load`, `$set1`, `$fma`, `$store`.
/// `2 $mr` accumulators; per step of `k`, 2 loads of `B` and `$mr` broadcasts of `A`.
/// Expanded inside an `unsafe fn` with that instruction set's `#[target_feature]`
/// (a macro, not a helper function or a closure, so that every compiler builds the
/// loop with those features).
#[cfg(target_arch = "x86_64")]
macro_rules! f32_tile {
    ($a:ident, $b:ident, $out:ident, $mr:expr, $w:expr,
     $zero:ident, $load:ident, $set1:ident, $fma:ident, $store:ident) => {{
        const MR: usize = $mr;
        const W: usize = $w;
        const NR: usize = 2 * W;
        let k = $a.len() / MR;
        assert!($a.len() == k * MR && $b.len() == k * NR && $out.len() >= MR * NR);
        // SAFETY: the CPU has the instruction set (the enclosing function's contract).
        // Step `p < k` reads `a[p * MR .. p * MR + MR]` and `b[p * NR .. p * NR + NR]`
        // (`ap` and `bp` advance by `MR` and `NR` per step, `k` steps in all), inside
        // the slices by the lengths checked above; the stores write `out[..MR * NR]`.
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
                        let x = $set1(*ap.add(r));
                        acc[0] = $fma(x, b0, acc[0]);
                        acc[1] = $fma(x, b1, acc[1]);
                    }
                }};
            }
            // Four steps per iteration (less loop overhead), then the rest.
            for _ in 0..k / 4 {
                for u in 0..4 {
                    step!(ap.add(u * MR), bp.add(u * NR));
                }
                ap = ap.add(4 * MR);
                bp = bp.add(4 * NR);
            }
            for _ in 0..k % 4 {
                step!(ap, bp);
                ap = ap.add(MR);
                bp = bp.add(NR);
            }
            let o = $out.as_mut_ptr();
            for (r, acc) in acc.iter().enumerate() {
                $store(o.add(r * NR), acc[0]);
                $store(o.add(r * NR + W), acc[1]);
            }
        }
    }};
}

/// The AVX2 + FMA kernels.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{
        _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };

    /// f32, 6 rows by two registers of 8 lanes (`f32_tile`).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile_f32(a: &[f32], b: &[f32], out: &mut [f32]) {
        f32_tile!(
            a,
            b,
            out,
            6,
            8,
            _mm256_setzero_ps,
            _mm256_loadu_ps,
            _mm256_set1_ps,
            _mm256_fmadd_ps,
            _mm256_storeu_ps
        )
    }

    /// f64: the plain-Rust kernel (4 rows by 8, eight 4-lane accumulators), compiled
    /// for AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile_f64(a: &[f64], b: &[f64], out: &mut [f64]) {
        super::generic::<f64, 4, 8, true>(a, b, out)
    }
}

/// The AVX-512 kernel, for compilers that have its intrinsics (Rust 1.89; the build
/// script sets `gradnet_avx512`); the crate's other code keeps the workspace's MSRV.
#[cfg(all(target_arch = "x86_64", gradnet_avx512))]
#[clippy::msrv = "1.89"]
mod avx512 {
    use core::arch::x86_64::{
        _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
    };

    /// f32, 8 rows by two registers of 16 lanes (`f32_tile`).
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile_f32(a: &[f32], b: &[f32], out: &mut [f32]) {
        f32_tile!(
            a,
            b,
            out,
            8,
            16,
            _mm512_setzero_ps,
            _mm512_loadu_ps,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_storeu_ps
        )
    }
}
