//! A fully connected layer, `torch.nn.Linear`: `Y = X W^T + b`.
//!
//! `W` is stored as PyTorch stores it, `[out, in]` row-major, so weights move to and
//! from PyTorch without a transpose. The three products of a training step,
//!
//! ```text
//! forward   Y  = X W^T      (rows x in) * (in x out)
//! backward  dW = dY^T X     (out x rows) * (rows x in)
//!           dX = dY W       (rows x out) * (out x in)
//! db = sum over rows of dY
//! ```
//!
//! go through [`gemm`] with transposes as strided views, never copies. Small layers
//! (up to [`DIRECT_MAX_MACS`] multiply-adds per call) take direct loops over the
//! const widths instead, which the compiler unrolls and which allocate nothing. At
//! inference (`forward_eval`) the weight stays packed between calls
//! ([`gemm_cached_b`], under the layer's [`Stamp`], which every write to the weight
//! renews), and one row of a large layer is a matrix-vector product over that
//! packing ([`gemv_cached_b`]).
//!
//! ```
//! use gradnet_core::{Batch, Dense, DenseGrads, Write, activation::Tanh};
//! let layer = Dense::<f64, 2, 1>::from_parts(vec![0.5, -1.0], Some(vec![0.25]))?;
//! let x = Batch::<f64, 2>::from_rows(&[[2.0, 1.0]])?;
//! let (mut z, mut y) = (Batch::new(), Batch::new());
//! layer.forward_act(&x, Tanh, &mut z, &mut y);
//! assert_eq!(z.as_slice(), &[0.25]);            // 0.5*2 - 1*1 + 0.25
//! assert_eq!(y.as_slice(), &[0.25f64.tanh()]);
//! let mut g = DenseGrads::zeros(true);
//! let mut dy = Batch::<f64, 1>::from_rows(&[[1.0]])?;
//! layer.backward_act(Tanh, &x, &z, &y, &mut dy, &mut g, Write::Overwrite, None, Write::Overwrite);
//! let dz = 1.0 - 0.25f64.tanh().powi(2);
//! assert!((g.weight()[0] - dz * 2.0).abs() < 1e-15 && (g.weight()[1] - dz).abs() < 1e-15);
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use crate::activation::{Activation, Identity};
use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::gemm::{gemm, gemm_cached_b, gemv_cached_b, MatMut, MatRef, Stamp};
use crate::init::Init;
use crate::layer::Layer;
use crate::params::{Gradients, ParamMut, Parameters, Shape, TensorKind};
use crate::real::{mul_add_if, Real, TARGET_FMA};
use crate::rng::SeededRng;

/// Layers with at most this many multiply-adds per call (`rows * IN * OUT`) use
/// direct loops instead of a GEMM call.
pub const DIRECT_MAX_MACS: usize = 8192;

/// Batches of at most this many rows also take the direct loops, whatever the layer's
/// size: a product with so few rows is a matrix-vector product, which the GEMM would
/// spend packing the whole weight matrix for (see `benches/dense.rs`, group
/// `forward_by_rows`, for the crossover).
pub const DIRECT_MAX_ROWS: usize = 8;

/// Whether a backward pass overwrites its output buffer or adds to it.
///
/// Parameter gradients are usually overwritten (a fresh step); an input gradient that
/// meets another path (a residual connection) is accumulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// `out = value`.
    Overwrite,
    /// `out += value`.
    Accumulate,
}

impl Write {
    /// `0` to overwrite, `1` to accumulate: the `beta` of a product `C = A B + beta C`.
    pub(crate) fn beta<T: Real>(self) -> T {
        match self {
            Write::Overwrite => T::zero(),
            Write::Accumulate => T::one(),
        }
    }
}

/// `torch.nn.Linear(IN, OUT, bias)`: weight `[OUT, IN]`, optional bias `[OUT]`.
///
/// Equality compares the values (weight and bias) only.
#[derive(Clone, Debug)]
pub struct Dense<T, const IN: usize, const OUT: usize> {
    /// `OUT x IN` row-major: row `o` holds the weights into output `o`.
    weight: Vec<T>,
    /// One bias per output, if the layer has one.
    bias: Option<Vec<T>>,
    /// The weight's stamp, renewed by every way of writing it, under which the
    /// evaluation-mode product keeps the weight packed ([`gemm_cached_b`]).
    stamp: Stamp,
}

impl<T: PartialEq, const IN: usize, const OUT: usize> PartialEq for Dense<T, IN, OUT> {
    fn eq(&self, other: &Self) -> bool {
        self.weight == other.weight && self.bias == other.bias
    }
}

/// Read and write access to the values; the fields are private so that no value of
/// the wrong length can be put in.
impl<T: Real, const IN: usize, const OUT: usize> Dense<T, IN, OUT> {
    /// The weight, `OUT x IN` row-major (PyTorch's `[out, in]`).
    pub fn weight(&self) -> &[T] {
        &self.weight
    }

    /// The weight, `OUT x IN` row-major (PyTorch's `[out, in]`), mutable (its length is fixed).
    pub fn weight_mut(&mut self) -> &mut [T] {
        self.stamp.renew();
        &mut self.weight
    }

    /// The bias, one per output, if the layer has one.
    pub fn bias(&self) -> Option<&[T]> {
        self.bias.as_deref()
    }

    /// The bias, one per output, if the layer has one, mutable (its length is fixed).
    pub fn bias_mut(&mut self) -> Option<&mut [T]> {
        self.bias.as_deref_mut()
    }
}

/// The gradients of a [`Dense`] layer, same shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseGrads<T, const IN: usize, const OUT: usize> {
    /// dL/dW, `OUT x IN`.
    weight: Vec<T>,
    /// dL/db, if the layer has a bias.
    bias: Option<Vec<T>>,
}

/// Read and write access to the values; the fields are private so that no value of
/// the wrong length can be put in.
impl<T: Real, const IN: usize, const OUT: usize> DenseGrads<T, IN, OUT> {
    /// dL/dW, `OUT x IN`.
    pub fn weight(&self) -> &[T] {
        &self.weight
    }

    /// dL/dW, `OUT x IN`, mutable (its length is fixed).
    pub fn weight_mut(&mut self) -> &mut [T] {
        &mut self.weight
    }

    /// dL/db, if the layer has a bias.
    pub fn bias(&self) -> Option<&[T]> {
        self.bias.as_deref()
    }

    /// dL/db, if the layer has a bias, mutable (its length is fixed).
    pub fn bias_mut(&mut self) -> Option<&mut [T]> {
        self.bias.as_deref_mut()
    }
}

impl<T: Real, const IN: usize, const OUT: usize> DenseGrads<T, IN, OUT> {
    /// Zeroed gradients, with a bias gradient if `bias`.
    pub fn zeros(bias: bool) -> Self {
        DenseGrads {
            weight: vec![T::zero(); OUT * IN],
            bias: bias.then(|| vec![T::zero(); OUT]),
        }
    }
}

impl<T: Real, const IN: usize, const OUT: usize> Dense<T, IN, OUT> {
    /// Number of inputs.
    pub const IN: usize = IN;
    /// Number of outputs.
    pub const OUT: usize = OUT;

    /// A layer whose weight is drawn by `init` (fan_in = IN, fan_out = OUT) and whose
    /// bias, if any, starts at zero.
    pub fn new(init: &Init, bias: bool, rng: &mut SeededRng) -> Self {
        let mut weight = vec![T::zero(); OUT * IN];
        init.fill(&mut weight, IN, OUT, rng);
        Dense {
            weight,
            bias: bias.then(|| vec![T::zero(); OUT]),
            stamp: Stamp::new(),
        }
    }

    /// A layer from given values.
    ///
    /// # Errors
    /// [`Error::WidthMismatch`] if the weight does not hold `OUT * IN` values or the
    /// bias `OUT`.
    pub fn from_parts(weight: Vec<T>, bias: Option<Vec<T>>) -> Result<Self> {
        if weight.len() != OUT * IN {
            return Err(Error::WidthMismatch {
                what: "dense weight".into(),
                expected: OUT * IN,
                found: weight.len(),
            });
        }
        if let Some(b) = &bias {
            if b.len() != OUT {
                return Err(Error::WidthMismatch {
                    what: "dense bias".into(),
                    expected: OUT,
                    found: b.len(),
                });
            }
        }
        Ok(Dense {
            weight,
            bias,
            stamp: Stamp::new(),
        })
    }

    /// Zeroed gradients of this layer's shapes.
    pub fn zero_grads(&self) -> DenseGrads<T, IN, OUT> {
        DenseGrads::zeros(self.bias.is_some())
    }

    /// Whether a batch of `rows` takes the direct loops rather than the GEMM.
    pub fn is_direct(rows: usize) -> bool {
        rows <= DIRECT_MAX_ROWS || rows * IN * OUT <= DIRECT_MAX_MACS
    }

    /// `out = X W^T` (no bias), resizing `out` to `x.rows()`; with the weight's
    /// packing kept between calls if `keep` (evaluation: the weight is read as it
    /// is, many times; a training step's forward product packs it afresh, as the
    /// step changes it).
    fn product(&self, x: &Batch<T, IN>, out: &mut Batch<T, OUT>, keep: bool) {
        let rows = x.rows();
        out.set_rows(rows);
        if keep && rows == 1 && IN * OUT > DIRECT_MAX_MACS {
            // One row of a large layer at inference: a matrix-vector product over
            // the kept packing of W^T, whose panels stream contiguously.
            gemv_cached_b(
                x.as_slice(),
                MatRef::row_major(&self.weight, OUT, IN).t(),
                self.stamp,
                out.as_mut_slice(),
            );
        } else if Self::is_direct(rows) {
            // Weight rows outside, batch rows inside: the weight matrix is read once
            // per call, however many rows there are. Four weight rows at a time, so
            // that four dot products' independent sums are in flight at once (one
            // alone is a chain of dependent additions); each is summed exactly as
            // `dot` sums it, so every output has the same value either way.
            let out = out.as_mut_slice();
            let quads = self.weight.chunks_exact(4 * IN);
            let rest = quads.remainder();
            for (q, w4) in quads.enumerate() {
                let w: [&[T]; 4] = core::array::from_fn(|i| &w4[i * IN..(i + 1) * IN]);
                for (r, xr) in x.iter_rows().enumerate() {
                    let d = dot4::<T, IN>(xr, w);
                    out[r * OUT + 4 * q..][..4].copy_from_slice(&d);
                }
            }
            let done = OUT - rest.len() / IN.max(1);
            for (o, w) in rest.chunks_exact(IN).enumerate() {
                for (r, xr) in x.iter_rows().enumerate() {
                    out[r * OUT + done + o] = dot::<T, IN>(xr, w);
                }
            }
        } else {
            let (a, b) = (
                MatRef::row_major(x.as_slice(), rows, IN),
                MatRef::row_major(&self.weight, OUT, IN).t(),
            );
            let c = MatMut::row_major(out.as_mut_slice(), rows, OUT);
            if keep {
                gemm_cached_b(T::one(), a, b, self.stamp, T::zero(), c);
            } else {
                gemm(T::one(), a, b, T::zero(), c);
            }
        }
    }

    /// `y = X W^T + b`, resizing `y` to `x.rows()`.
    pub fn forward(&self, x: &Batch<T, IN>, y: &mut Batch<T, OUT>) {
        self.forward_eval(x, Identity, y);
    }

    /// `X W^T + b` in a new batch (allocating; for convenience).
    pub fn forward_alloc(&self, x: &Batch<T, IN>) -> Batch<T, OUT> {
        let mut y = Batch::new();
        self.forward(x, &mut y);
        y
    }

    /// `y = act(X W^T + b)` with the bias and the activation applied in one pass over
    /// the product; keeps nothing for a backward pass (evaluation mode).
    pub fn forward_eval<A: Activation<T>>(&self, x: &Batch<T, IN>, act: A, y: &mut Batch<T, OUT>) {
        self.forward_keeping(x, act, y, true);
    }

    /// [`Dense::forward_eval`], with the weight's packing kept between calls only
    /// if `keep` (see `product`).
    fn forward_keeping<A: Activation<T>>(
        &self,
        x: &Batch<T, IN>,
        act: A,
        y: &mut Batch<T, OUT>,
        keep: bool,
    ) {
        self.product(x, y, keep);
        match &self.bias {
            Some(b) => {
                for row in y.as_mut_slice().chunks_exact_mut(OUT) {
                    for (v, &b) in row.iter_mut().zip(b) {
                        *v = act.f(*v + b);
                    }
                }
            }
            None => act.forward_inplace(y.as_mut_slice()),
        }
    }

    /// Training-mode forward: `z = X W^T + b` (kept for the backward pass) and
    /// `y = act(z)`, formed in one pass over the product.
    pub fn forward_act<A: Activation<T>>(
        &self,
        x: &Batch<T, IN>,
        act: A,
        z: &mut Batch<T, OUT>,
        y: &mut Batch<T, OUT>,
    ) {
        self.product(x, z, false);
        y.set_rows(x.rows());
        let zero_bias: [T; 0] = [];
        let bias: &[T] = self.bias.as_deref().unwrap_or(&zero_bias);
        for (zr, yr) in z
            .as_mut_slice()
            .chunks_exact_mut(OUT)
            .zip(y.as_mut_slice().chunks_exact_mut(OUT))
        {
            if bias.is_empty() {
                for (y, &z) in yr.iter_mut().zip(zr.iter()) {
                    *y = act.f(z);
                }
            } else {
                for ((y, z), &b) in yr.iter_mut().zip(zr.iter_mut()).zip(bias) {
                    *z += b;
                    *y = act.f(*z);
                }
            }
        }
    }

    /// Backward pass given `dz = dL/d(X W^T + b)`: writes dW and db into `grads`
    /// (per `grad_write`) and, if asked, dX into `dx` (per `dx_write`; an accumulated
    /// `dx` must already have `x.rows()` rows).
    ///
    /// # Panics
    /// If `dz` and `x` differ in rows, or an accumulated `dx` has the wrong rows.
    pub fn backward(
        &self,
        x: &Batch<T, IN>,
        dz: &Batch<T, OUT>,
        grads: &mut DenseGrads<T, IN, OUT>,
        grad_write: Write,
        dx: Option<&mut Batch<T, IN>>,
        dx_write: Write,
    ) {
        if let Some(db) = grads.bias.as_mut() {
            if grad_write == Write::Overwrite {
                db.fill(T::zero());
            }
            for row in dz.iter_rows() {
                for (g, &d) in db.iter_mut().zip(row) {
                    *g += d;
                }
            }
        }
        self.backward_products(x, dz, grads, grad_write, dx, dx_write);
    }

    /// The fused backward of `y = act(X W^T + b)`: turns `dy` into `dz` in place
    /// (`dz = dy * act'(z)`) while summing db in the same pass, then forms dW and dX as
    /// [`Dense::backward`] does. `z` and `y` are those of [`Dense::forward_act`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward_act<A: Activation<T>>(
        &self,
        act: A,
        x: &Batch<T, IN>,
        z: &Batch<T, OUT>,
        y: &Batch<T, OUT>,
        dy: &mut Batch<T, OUT>,
        grads: &mut DenseGrads<T, IN, OUT>,
        grad_write: Write,
        dx: Option<&mut Batch<T, IN>>,
        dx_write: Write,
    ) {
        assert!(
            z.rows() == dy.rows() && y.rows() == dy.rows(),
            "dense backward: z, y and dy must have the same rows"
        );
        match grads.bias.as_mut() {
            Some(db) => {
                if grad_write == Write::Overwrite {
                    db.fill(T::zero());
                }
                let db: &mut [T; OUT] = db.as_mut_slice().try_into().expect("OUT biases");
                for ((d, z), y) in dy
                    .as_mut_slice()
                    .chunks_exact_mut(OUT)
                    .zip(z.iter_rows())
                    .zip(y.iter_rows())
                {
                    // Rows as arrays of the const width, so the loop vectorizes
                    // (the derivative's branch becomes a select).
                    let d: &mut [T; OUT] = d.try_into().expect("OUT values");
                    let (z, y): (&[T; OUT], &[T; OUT]) = (
                        z.try_into().expect("OUT values"),
                        y.try_into().expect("OUT values"),
                    );
                    for o in 0..OUT {
                        d[o] *= act.df(z[o], y[o]);
                        db[o] += d[o];
                    }
                }
            }
            None => act.backward_inplace(z.as_slice(), y.as_slice(), dy.as_mut_slice()),
        }
        self.backward_products(x, dy, grads, grad_write, dx, dx_write);
    }

    /// dW = dz^T X and dX = dz W.
    fn backward_products(
        &self,
        x: &Batch<T, IN>,
        dz: &Batch<T, OUT>,
        grads: &mut DenseGrads<T, IN, OUT>,
        grad_write: Write,
        dx: Option<&mut Batch<T, IN>>,
        dx_write: Write,
    ) {
        let rows = x.rows();
        assert_eq!(dz.rows(), rows, "dense backward: dz and x differ in rows");
        let direct = Self::is_direct(rows);
        if direct {
            // dW's row o is the sum over the batch of dz[r][o] x[r]: a combination of
            // x's rows, each row of dW read and written once.
            let add = grad_write == Write::Accumulate;
            let dz = dz.as_slice();
            for (o, gw) in grads.weight.chunks_exact_mut(IN).enumerate() {
                combine::<T, IN>(dz.get(o..).unwrap_or(&[]), OUT, x.as_slice(), gw, add);
            }
        } else {
            gemm(
                T::one(),
                MatRef::row_major(dz.as_slice(), rows, OUT).t(),
                MatRef::row_major(x.as_slice(), rows, IN),
                grad_write.beta(),
                MatMut::row_major(&mut grads.weight, OUT, IN),
            );
        }
        if let Some(dx) = dx {
            match dx_write {
                Write::Overwrite => dx.set_rows(rows),
                Write::Accumulate => {
                    assert_eq!(dx.rows(), rows, "dense backward: dx has wrong rows")
                }
            }
            if direct {
                // dX's row r is the sum over the outputs of dz[r][o] W[o]: a
                // combination of W's rows.
                let add = dx_write == Write::Accumulate;
                for (dxr, dr) in dx.as_mut_slice().chunks_exact_mut(IN).zip(dz.iter_rows()) {
                    combine::<T, IN>(dr, 1, &self.weight, dxr, add);
                }
            } else {
                gemm(
                    T::one(),
                    MatRef::row_major(dz.as_slice(), rows, OUT),
                    MatRef::row_major(&self.weight, OUT, IN),
                    dx_write.beta(),
                    MatMut::row_major(dx.as_mut_slice(), rows, IN),
                );
            }
        }
    }
}

/// The dense layer alone, `Y = X W^T + b`, as a step of a network's passes (a dense
/// layer followed by an activation is [`crate::layer::Fused`]). It keeps nothing
/// for the backward pass beyond its input, and backward is [`Dense::backward`] with
/// `dz = dy`; `dy` is left as it was.
impl<T: Real, const IN: usize, const OUT: usize> Layer<T, Batch<T, IN>> for Dense<T, IN, OUT> {
    type Output = Batch<T, OUT>;
    type Cache = ();
    type Grads = DenseGrads<T, IN, OUT>;

    fn forward_eval(&self, x: &Batch<T, IN>, y: &mut Batch<T, OUT>) {
        Dense::forward(self, x, y);
    }

    fn forward_train(
        &self,
        x: &Batch<T, IN>,
        y: &mut Batch<T, OUT>,
        _cache: &mut (),
        _rng: &mut SeededRng,
    ) -> Result<()> {
        // A training step changes the weight: nothing to keep packed.
        self.forward_keeping(x, Identity, y, false);
        Ok(())
    }

    fn backward(
        &self,
        x: &Batch<T, IN>,
        _y: &Batch<T, OUT>,
        _cache: &mut (),
        dy: &mut Batch<T, OUT>,
        grads: &mut DenseGrads<T, IN, OUT>,
        grad_write: Write,
        dx: Option<&mut Batch<T, IN>>,
        dx_write: Write,
    ) {
        Dense::backward(self, x, dy, grads, grad_write, dx, dx_write);
    }
}

/// `sum_i a[i] b[i]` over a const width, so the loop unrolls.
#[inline(always)]
fn dot<T: Real, const N: usize>(a: &[T], b: &[T]) -> T {
    // Independent partial sums, so the loop vectorizes (a single running sum is a
    // chain of dependent additions that the compiler may not reorder).
    const LANES: usize = 16;
    let (a, b) = (&a[..N], &b[..N]);
    let split = N / LANES * LANES;
    let mut acc = [T::zero(); LANES];
    for (ca, cb) in a[..split]
        .chunks_exact(LANES)
        .zip(b[..split].chunks_exact(LANES))
    {
        for k in 0..LANES {
            acc[k] = mul_add_if::<T, TARGET_FMA>(ca[k], cb[k], acc[k]);
        }
    }
    let mut s = T::zero();
    for i in split..N {
        s += a[i] * b[i];
    }
    s + halve(acc)
}

/// The sum of 16 partial sums, by halves (8 sums of pairs, then 4, 2, 1): four
/// levels of additions in a row rather than sixteen.
#[inline(always)]
fn halve<T: Real>(mut v: [T; 16]) -> T {
    let mut w = 16;
    while w > 1 {
        w /= 2;
        for k in 0..w {
            let far = v[k + w];
            v[k] += far;
        }
    }
    v[0]
}

/// [`dot`] of `a` with each of four rows `w`, in one pass over `a`: the four sums
/// are independent, and each is formed in `dot`'s order (the same partial sums, the
/// same tail, the same final sum by halves), so `dot4(a, w)[i] == dot(a, w[i])`
/// exactly.
#[inline(always)]
fn dot4<T: Real, const N: usize>(a: &[T], w: [&[T]; 4]) -> [T; 4] {
    const LANES: usize = 16;
    let a = &a[..N];
    let [w0, w1, w2, w3] = w.map(|w| &w[..N]);
    let split = N / LANES * LANES;
    let zero = [T::zero(); LANES];
    let (mut s0, mut s1, mut s2, mut s3) = (zero, zero, zero, zero);
    fn chunks<T>(v: &[T], split: usize) -> core::slice::ChunksExact<'_, T> {
        v[..split].chunks_exact(LANES)
    }
    for ((((ca, c0), c1), c2), c3) in chunks(a, split)
        .zip(chunks(w0, split))
        .zip(chunks(w1, split))
        .zip(chunks(w2, split))
        .zip(chunks(w3, split))
    {
        let lanes = |c: &[T]| -> [T; LANES] { c.try_into().expect("LANES values") };
        let (ca, c0, c1, c2, c3) = (lanes(ca), lanes(c0), lanes(c1), lanes(c2), lanes(c3));
        for k in 0..LANES {
            s0[k] = mul_add_if::<T, TARGET_FMA>(ca[k], c0[k], s0[k]);
            s1[k] = mul_add_if::<T, TARGET_FMA>(ca[k], c1[k], s1[k]);
            s2[k] = mul_add_if::<T, TARGET_FMA>(ca[k], c2[k], s2[k]);
            s3[k] = mul_add_if::<T, TARGET_FMA>(ca[k], c3[k], s3[k]);
        }
    }
    let finish = |acc: [T; LANES], w: &[T]| {
        let mut s = T::zero();
        for j in split..N {
            s += a[j] * w[j];
        }
        s + halve(acc)
    };
    [
        finish(s0, w0),
        finish(s1, w1),
        finish(s2, w2),
        finish(s3, w3),
    ]
}

/// `y = sum_k c_k r_k` (`y += ` that sum when `add`), where `r_k` is the `k`-th row of
/// width `N` in `rows` and `c_k = coef[k * stride]`: a linear combination of rows,
/// summed in the order of `k`. `y` is held in registers, 16 (then 8, 4, 1) values at a
/// time, for the whole sum, so each of its values is read and written once; the
/// rows are read contiguously.
#[inline(always)]
fn combine<T: Real, const N: usize>(coef: &[T], stride: usize, rows: &[T], y: &mut [T], add: bool) {
    if N == 0 {
        return;
    }
    let y = &mut y[..N];
    let mut j = 0;
    while j + 16 <= N {
        combine_block::<T, N, 16>(j, coef, stride, rows, y, add);
        j += 16;
    }
    if j + 8 <= N {
        combine_block::<T, N, 8>(j, coef, stride, rows, y, add);
        j += 8;
    }
    if j + 4 <= N {
        combine_block::<T, N, 4>(j, coef, stride, rows, y, add);
        j += 4;
    }
    while j < N {
        combine_block::<T, N, 1>(j, coef, stride, rows, y, add);
        j += 1;
    }
}

/// [`combine`] for `y[j..j + L]`, with the `L` sums in one array (registers).
#[inline(always)]
fn combine_block<T: Real, const N: usize, const L: usize>(
    j: usize,
    coef: &[T],
    stride: usize,
    rows: &[T],
    y: &mut [T],
    add: bool,
) {
    let y: &mut [T; L] = (&mut y[j..j + L]).try_into().expect("L values");
    let mut acc = if add { *y } else { [T::zero(); L] };
    for (r, &c) in rows.chunks_exact(N).zip(coef.iter().step_by(stride)) {
        let r: &[T; L] = r[j..j + L].try_into().expect("L values");
        for l in 0..L {
            acc[l] = mul_add_if::<T, TARGET_FMA>(c, r[l], acc[l]);
        }
    }
    *y = acc;
}

impl<T: Real, const IN: usize, const OUT: usize> Parameters<T> for Dense<T, IN, OUT> {
    type Grads = DenseGrads<T, IN, OUT>;

    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[T])) {
        f("weight", &self.weight);
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }

    fn visit_params_mut(&mut self, grads: &Self::Grads, f: &mut impl FnMut(ParamMut<'_, T>)) {
        self.stamp.renew();
        f(ParamMut {
            name: "weight",
            value: &mut self.weight,
            grad: &grads.weight,
        });
        if let (Some(b), Some(g)) = (self.bias.as_mut(), grads.bias.as_ref()) {
            f(ParamMut {
                name: "bias",
                value: b,
                grad: g,
            });
        }
    }

    fn zero_grads(&self) -> Self::Grads {
        DenseGrads::zeros(self.bias.is_some())
    }

    /// `weight` `[OUT, IN]` and `bias` `[OUT]`, as `torch.nn.Linear`.
    fn visit_shapes(&self, f: &mut impl FnMut(&'static str, TensorKind, Shape)) {
        f("weight", TensorKind::Parameter, Shape::matrix(OUT, IN));
        if self.bias.is_some() {
            f("bias", TensorKind::Parameter, Shape::vector(OUT));
        }
    }

    fn visit_values_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        self.stamp.renew();
        f("weight", &mut self.weight);
        if let Some(b) = &mut self.bias {
            f("bias", b);
        }
    }
}

impl<T: Real, const IN: usize, const OUT: usize> Gradients<T> for DenseGrads<T, IN, OUT> {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[T])) {
        f("weight", &self.weight);
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }

    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        f("weight", &mut self.weight);
        if let Some(b) = &mut self.bias {
            f("bias", b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// `dot4` gives each row exactly `dot`'s value (same order of the sums), so the
    /// direct product's outputs do not depend on which of the two formed them.
    fn dot4_is_dot<const N: usize>(rng: &mut rand_chacha::ChaCha8Rng) {
        let mut r =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
        let a = r(N);
        let w: Vec<Vec<f32>> = (0..4).map(|_| r(N)).collect();
        let d = dot4::<f32, N>(&a, core::array::from_fn(|i| &w[i][..]));
        for (i, w) in w.iter().enumerate() {
            assert_eq!(
                d[i].to_bits(),
                dot::<f32, N>(&a, w).to_bits(),
                "N = {N}, row {i}"
            );
        }
    }

    #[test]
    fn dot4_sums_each_row_as_dot() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        dot4_is_dot::<1>(&mut rng);
        dot4_is_dot::<2>(&mut rng);
        dot4_is_dot::<15>(&mut rng);
        dot4_is_dot::<16>(&mut rng);
        dot4_is_dot::<17>(&mut rng);
        dot4_is_dot::<128>(&mut rng);
        dot4_is_dot::<784>(&mut rng);
    }

    /// The direct loops against the GEMM over output widths that are and are not
    /// multiples of four (the rows `dot4` leaves to `dot`).
    #[test]
    fn direct_product_matches_gemm() {
        fn check<const IN: usize, const OUT: usize>() {
            let mut rng = crate::rng::seeded(5);
            let layer = Dense::<f64, IN, OUT>::new(&Init::glorot_uniform(), false, &mut rng);
            let x: Vec<f64> = (0..3 * IN).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
            let x = Batch::<f64, IN>::from_vec(x).unwrap();
            let mut direct = Batch::new();
            layer.product(&x, &mut direct, true);
            let mut want = vec![0.0; 3 * OUT];
            crate::gemm::gemm_naive(
                1.0,
                MatRef::row_major(x.as_slice(), 3, IN),
                MatRef::row_major(layer.weight(), OUT, IN).t(),
                0.0,
                MatMut::row_major(&mut want, 3, OUT),
            );
            for (d, w) in direct.as_slice().iter().zip(&want) {
                assert!(
                    (d - w).abs() <= 1e-12 * (1.0 + w.abs()),
                    "{IN}x{OUT}: {d} vs {w}"
                );
            }
        }
        check::<3, 1>();
        check::<5, 4>();
        check::<17, 7>();
        check::<33, 10>();
    }

    /// The direct backward loops (`combine`) against the formulas `dW = dz^T X` and
    /// `dX = dz W`, overwriting and accumulating, for widths that take each of its
    /// blocks (16, 8, 4, 1 values) and for 0, 1 and 3 rows.
    #[test]
    fn direct_backward_matches_the_formulas() {
        fn check<const IN: usize, const OUT: usize>() {
            let mut rng = crate::rng::seeded(9);
            let layer = Dense::<f64, IN, OUT>::new(&Init::glorot_uniform(), false, &mut rng);
            let w = layer.weight();
            for rows in [0, 1, 3] {
                assert!(Dense::<f64, IN, OUT>::is_direct(rows));
                let v = |n: usize, k: usize| -> Vec<f64> {
                    (0..n).map(|i| ((i * k) % 13) as f64 * 0.25 - 1.5).collect()
                };
                let x = Batch::<f64, IN>::from_vec_unchecked(v(rows * IN, 7));
                let dz = Batch::<f64, OUT>::from_vec_unchecked(v(rows * OUT, 5));
                for write in [Write::Overwrite, Write::Accumulate] {
                    let (g0, dx0) = (v(OUT * IN, 3), v(rows * IN, 11));
                    let mut grads = layer.zero_grads();
                    grads.weight.copy_from_slice(&g0);
                    let mut dx = Batch::<f64, IN>::from_vec_unchecked(dx0.clone());
                    layer.backward_products(&x, &dz, &mut grads, write, Some(&mut dx), write);
                    let keep = if write == Write::Accumulate { 1.0 } else { 0.0 };
                    for o in 0..OUT {
                        for i in 0..IN {
                            let sum: f64 = (0..rows)
                                .map(|r| dz.as_slice()[r * OUT + o] * x.as_slice()[r * IN + i])
                                .sum();
                            let want = keep * g0[o * IN + i] + sum;
                            let got = grads.weight[o * IN + i];
                            assert!(
                                (got - want).abs() <= 1e-12,
                                "{IN}x{OUT} rows {rows} {write:?}: dW"
                            );
                        }
                    }
                    for r in 0..rows {
                        for i in 0..IN {
                            let sum: f64 = (0..OUT)
                                .map(|o| dz.as_slice()[r * OUT + o] * w[o * IN + i])
                                .sum();
                            let want = keep * dx0[r * IN + i] + sum;
                            let got = dx.as_slice()[r * IN + i];
                            assert!(
                                (got - want).abs() <= 1e-12,
                                "{IN}x{OUT} rows {rows} {write:?}: dX"
                            );
                        }
                    }
                }
            }
        }
        check::<1, 1>();
        check::<2, 16>();
        check::<3, 2>();
        check::<4, 5>();
        check::<8, 3>();
        check::<16, 16>();
        check::<29, 4>();
        check::<45, 1>();
    }
}
