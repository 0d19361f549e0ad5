//! The layer protocol ([`Layer`]) of every layer, against central finite differences.
//!
//! Each layer's backward, called through the protocol, is checked for its input and
//! every parameter against the central difference of
//!
//! ```text
//! L = sum_ij c_ij sin(y_ij),   dL/dy_ij = c_ij cos(y_ij)
//! ```
//!
//! (a nonlinear op after the layer, so a backward that ignores `dy` fails), with the
//! project's rule `|a - n| <= 1e-6 max(|a|, |n|) + 1e-9` (`gradcheck`). Every point
//! lies at least 1e-3 from a kink. The same harness checks that `Write::Accumulate`
//! adds to what was there, that `dx = None` gives the same parameter gradients as
//! `Some`, and that evaluation agrees with training where the two modes compute the
//! same function. Then: batch norm changes only in `commit`; dropout draws the stream
//! of `Dropout::forward_train`; shapes and `visit_values_mut` of every layer.

use gradnet_core::activation::{LeakyRelu, Sigmoid, Silu, Tanh};
use gradnet_core::batch_norm::{BatchNorm, BatchNormCache, BatchNormConfig};
use gradnet_core::dropout::Dropout;
use gradnet_core::gradcheck::{check_gradient, compare, numeric_gradient};
use gradnet_core::layer_norm::{LayerNorm, LayerNormConfig};
use gradnet_core::prelu::PRelu;
use gradnet_core::rng::{seeded, SeededRng};
use gradnet_core::{
    Activate, Activation, Batch, Dense, DenseGrads, Error, Fused, Gradients, Layer, NoGrads,
    ParamMut, Parameters, Result, Shape, Sum, TensorKind, Write,
};
use rand::Rng;

/// The seed of every training forward (only dropout draws from it).
const SEED: u64 = 11;

/// `c_k` of the loss: varied in sign and size, so every output counts differently.
fn c(k: usize) -> f64 {
    [0.7, -1.3, 0.45, 1.9, -0.6, 1.1, -2.2][k % 7] * (1.0 + 0.01 * k as f64)
}

/// `L = sum_k c_k sin(y_k)`.
fn loss(y: &[f64]) -> f64 {
    y.iter().enumerate().map(|(k, &v)| c(k) * v.sin()).sum()
}

/// `dL/dy_k = c_k cos(y_k)`.
fn dloss<const D: usize>(y: &Batch<f64, D>) -> Batch<f64, D> {
    let d = y
        .as_slice()
        .iter()
        .enumerate()
        .map(|(k, &v)| c(k) * v.cos())
        .collect();
    Batch::from_vec(d).unwrap()
}

/// `n` varied values in about `[-scale, scale]`, none closer to 0 than `0.1 scale`
/// (so a kink at 0 is far from every input).
fn data(n: usize, phase: f64, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|k| {
            let v = (k as f64 * 1.618 + phase).sin();
            let v = if v.abs() < 0.1 {
                v + 0.3f64.copysign(v)
            } else {
                v
            };
            scale * v
        })
        .collect()
}

fn batch<const D: usize>(rows: usize, phase: f64) -> Batch<f64, D> {
    Batch::from_vec(data(rows * D, phase, 1.5)).unwrap()
}

/// Every gradient value, in visiting order.
fn flat_grads<G: Gradients<f64>>(g: &G) -> Vec<f64> {
    let mut v = Vec::new();
    g.visit_grads(&mut |_, g| v.extend_from_slice(g));
    v
}

/// Every parameter value, in visiting order.
fn values<P: Parameters<f64>>(p: &P) -> Vec<f64> {
    let mut v = Vec::new();
    p.visit_params(&mut |_, p| v.extend_from_slice(p));
    v
}

/// `p` with its parameters set to `flat` (in visiting order) by `visit_values_mut`.
fn with_values<P: Parameters<f64> + Clone>(p: &P, flat: &[f64]) -> P {
    let mut p = p.clone();
    let mut rest = flat;
    p.visit_values_mut(&mut |_, v| {
        let (head, tail) = rest.split_at(v.len());
        v.copy_from_slice(head);
        rest = tail;
    });
    assert!(rest.is_empty(), "more values than parameters");
    p
}

/// The training forward through the protocol, with a fresh cache and the fixed seed.
fn train<L, const I: usize, const O: usize>(
    layer: &L,
    x: &Batch<f64, I>,
) -> (Batch<f64, O>, L::Cache)
where
    L: Layer<f64, Batch<f64, I>, Output = Batch<f64, O>>,
{
    let (mut y, mut cache) = (Batch::new(), L::Cache::default());
    Layer::check_train(layer, x).unwrap();
    Layer::forward_train(layer, x, &mut y, &mut cache, &mut seeded(SEED)).unwrap();
    (y, cache)
}

fn plus(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| a + b).collect()
}

/// How evaluation relates to training for a layer.
#[derive(Clone, Copy, PartialEq)]
enum Eval {
    /// The same function, bit for bit.
    SameAsTrain,
    /// Something else (batch norm's running statistics, dropout's identity).
    Differs,
}

/// Checks the protocol's backward of `at(p)` at input `x`: the input gradient and the
/// parameter gradients (in `visit_grads` order, which must be the order of `p`)
/// against finite differences, overwriting garbage; accumulating onto given values;
/// without `dx`, the same parameter gradients bit for bit. `zero` makes the layer's
/// gradients.
fn check_layer<L, const I: usize, const O: usize>(
    name: &str,
    at: impl Fn(&[f64]) -> L,
    p: &[f64],
    x: &Batch<f64, I>,
    zero: impl Fn(&L) -> L::Grads,
    eval: Eval,
) where
    L: Layer<f64, Batch<f64, I>, Output = Batch<f64, O>>,
{
    let layer = at(p);
    let rows = x.rows();
    let numeric_dx = numeric_gradient(
        |xs| loss(train(&layer, &Batch::from_slice(xs).unwrap()).0.as_slice()),
        x.as_slice(),
    );
    let numeric_dp = numeric_gradient(|ps| loss(train(&at(ps), x).0.as_slice()), p);

    // Overwrite: garbage in both outputs (and dx of the wrong rows) is replaced.
    let (y, mut cache) = train(&layer, x);
    let mut dy = dloss(&y);
    let mut g = zero(&layer);
    g.visit_grads_mut(&mut |_, g| g.fill(7.0));
    let mut dx = Batch::<f64, I>::from_vec(vec![5.0; (rows + 3) * I]).unwrap();
    let w = Write::Overwrite;
    Layer::backward(
        &layer,
        x,
        &y,
        &mut cache,
        &mut dy,
        &mut g,
        w,
        Some(&mut dx),
        w,
    );
    assert_eq!(dx.rows(), rows, "{name}: dx rows");
    check_gradient(
        |xs| loss(train(&layer, &Batch::from_slice(xs).unwrap()).0.as_slice()),
        x.as_slice(),
        dx.as_slice(),
    )
    .unwrap_or_else(|e| panic!("{name}: dx: {e}"));
    let analytic_dp = flat_grads(&g);
    assert_eq!(
        analytic_dp.len(),
        p.len(),
        "{name}: one gradient per parameter"
    );
    compare(&analytic_dp, &numeric_dp).unwrap_or_else(|e| panic!("{name}: dparams: {e}"));

    // Accumulate: adds to what dx and the gradients held.
    let (y, mut cache) = train(&layer, x);
    let mut dy = dloss(&y);
    let dx0 = data(rows * I, 0.3, 0.8);
    let g0 = data(p.len(), 2.1, 0.8);
    let mut dx = Batch::<f64, I>::from_slice(&dx0).unwrap();
    let mut g = zero(&layer);
    let mut rest = &g0[..];
    g.visit_grads_mut(&mut |_, g| {
        let (head, tail) = rest.split_at(g.len());
        g.copy_from_slice(head);
        rest = tail;
    });
    let a = Write::Accumulate;
    Layer::backward(
        &layer,
        x,
        &y,
        &mut cache,
        &mut dy,
        &mut g,
        a,
        Some(&mut dx),
        a,
    );
    compare(dx.as_slice(), &plus(&dx0, &numeric_dx))
        .unwrap_or_else(|e| panic!("{name}: accumulated dx: {e}"));
    compare(&flat_grads(&g), &plus(&g0, &numeric_dp))
        .unwrap_or_else(|e| panic!("{name}: accumulated dparams: {e}"));

    // No dx: the same parameter gradients, bit for bit.
    let (y, mut cache) = train(&layer, x);
    let mut dy = dloss(&y);
    let mut g = zero(&layer);
    g.visit_grads_mut(&mut |_, g| g.fill(-3.0));
    Layer::backward(&layer, x, &y, &mut cache, &mut dy, &mut g, w, None, w);
    assert_eq!(flat_grads(&g), analytic_dp, "{name}: dparams without dx");

    if eval == Eval::SameAsTrain {
        let mut ye = Batch::new();
        Layer::forward_eval(&layer, x, &mut ye);
        assert_eq!(ye, y, "{name}: evaluation differs from training");
    }
}

/// [`Fused`] owning its dense layer, so that the harness can rebuild it from flat
/// parameters; every call is `Fused`'s.
#[derive(Clone, Debug)]
struct OwnedFused<A, const I: usize, const O: usize>(Dense<f64, I, O>, A);

impl<A: Activation<f64>, const I: usize, const O: usize> Layer<f64, Batch<f64, I>>
    for OwnedFused<A, I, O>
{
    type Output = Batch<f64, O>;
    type Cache = Batch<f64, O>;
    type Grads = DenseGrads<f64, I, O>;

    fn forward_eval(&self, x: &Batch<f64, I>, y: &mut Batch<f64, O>) {
        Layer::forward_eval(&Fused(&self.0, self.1), x, y);
    }

    fn forward_train(
        &self,
        x: &Batch<f64, I>,
        y: &mut Batch<f64, O>,
        cache: &mut Batch<f64, O>,
        rng: &mut SeededRng,
    ) -> Result<()> {
        Layer::forward_train(&Fused(&self.0, self.1), x, y, cache, rng)
    }

    fn backward(
        &self,
        x: &Batch<f64, I>,
        y: &Batch<f64, O>,
        cache: &mut Batch<f64, O>,
        dy: &mut Batch<f64, O>,
        grads: &mut DenseGrads<f64, I, O>,
        grad_write: Write,
        dx: Option<&mut Batch<f64, I>>,
        dx_write: Write,
    ) {
        let f = Fused(&self.0, self.1);
        Layer::backward(&f, x, y, cache, dy, grads, grad_write, dx, dx_write);
    }
}

/// [`Sum`] owning the block output it adds; every call is `Sum`'s.
#[derive(Clone, Debug)]
struct OwnedSum<const D: usize>(Batch<f64, D>);

impl<const D: usize> Layer<f64, Batch<f64, D>> for OwnedSum<D> {
    type Output = Batch<f64, D>;
    type Cache = ();
    type Grads = NoGrads;

    fn forward_eval(&self, x: &Batch<f64, D>, y: &mut Batch<f64, D>) {
        Layer::forward_eval(&Sum(&self.0), x, y);
    }

    fn forward_train(
        &self,
        x: &Batch<f64, D>,
        y: &mut Batch<f64, D>,
        cache: &mut (),
        rng: &mut SeededRng,
    ) -> Result<()> {
        Layer::forward_train(&Sum(&self.0), x, y, cache, rng)
    }

    fn backward(
        &self,
        x: &Batch<f64, D>,
        y: &Batch<f64, D>,
        cache: &mut (),
        dy: &mut Batch<f64, D>,
        grads: &mut NoGrads,
        grad_write: Write,
        dx: Option<&mut Batch<f64, D>>,
        dx_write: Write,
    ) {
        let s = Sum(&self.0);
        Layer::backward(&s, x, y, cache, dy, grads, grad_write, dx, dx_write);
    }
}

fn dense<const I: usize, const O: usize>(bias: bool) -> Dense<f64, I, O> {
    let b = bias.then(|| data(O, 4.0, 0.3));
    Dense::from_parts(data(O * I, 1.0, 0.6), b).unwrap()
}

#[test]
fn dense_alone() {
    for bias in [true, false] {
        let d = dense::<3, 2>(bias);
        let at = |p: &[f64]| with_values(&d, p);
        let x = batch::<3>(4, 0.5);
        check_layer(
            "dense",
            at,
            &values(&d),
            &x,
            |l| l.zero_grads(),
            Eval::SameAsTrain,
        );
    }
}

#[test]
fn dense_alone_through_the_gemm() {
    // 16 rows of 32 -> 17: more rows and multiply-adds than the direct loops take.
    assert!(!Dense::<f64, 32, 17>::is_direct(16));
    let d = dense::<32, 17>(true);
    let at = |p: &[f64]| with_values(&d, p);
    let x = batch::<32>(16, 0.5);
    check_layer(
        "dense gemm",
        at,
        &values(&d),
        &x,
        |l| l.zero_grads(),
        Eval::SameAsTrain,
    );
}

#[test]
fn fused_with_tanh_and_with_leaky_relu() {
    let x = batch::<3>(5, 0.9);
    for bias in [true, false] {
        let d = dense::<3, 4>(bias);
        let p = values(&d);
        check_layer(
            "fused tanh",
            |p: &[f64]| OwnedFused(with_values(&d, p), Tanh),
            &p,
            &x,
            |l| l.0.zero_grads(),
            Eval::SameAsTrain,
        );
        let act = LeakyRelu::new(0.1);
        let layer = OwnedFused(d.clone(), act);
        // Every pre-activation at least 1e-3 from leaky relu's kink, and both signs.
        let (_, z) = train(&layer, &x);
        assert!(z.as_slice().iter().all(|z| z.abs() >= 1e-3));
        assert!(z.as_slice().iter().any(|&z| z < 0.0) && z.as_slice().iter().any(|&z| z > 0.0));
        check_layer(
            "fused leaky relu",
            |p: &[f64]| OwnedFused(with_values(&d, p), act),
            &p,
            &x,
            |l| l.0.zero_grads(),
            Eval::SameAsTrain,
        );
    }
}

#[test]
fn activation_alone() {
    let x = batch::<3>(4, 0.2);
    check_layer(
        "sigmoid",
        |_| Activate(Sigmoid),
        &[],
        &x,
        |_| NoGrads,
        Eval::SameAsTrain,
    );
    check_layer(
        "leaky relu",
        |_| Activate(LeakyRelu::new(0.2)),
        &[],
        &x,
        |_| NoGrads,
        Eval::SameAsTrain,
    );
}

#[test]
fn sum_passes_dy_to_both_paths() {
    let x = batch::<3>(4, 0.2);
    let block = batch::<3>(4, 3.3);
    check_layer(
        "sum",
        |_| OwnedSum(block.clone()),
        &[],
        &x,
        |_| NoGrads,
        Eval::SameAsTrain,
    );
    // The block's output gradient is dy itself (the network shares the buffer).
    let (y, _) = train(&OwnedSum(block.clone()), &x);
    let numeric = numeric_gradient(
        |b| {
            loss(
                train(&OwnedSum(Batch::from_slice(b).unwrap()), &x)
                    .0
                    .as_slice(),
            )
        },
        block.as_slice(),
    );
    compare(dloss(&y).as_slice(), &numeric).unwrap();
}

#[test]
fn prelu_shared_and_per_feature() {
    let x = batch::<3>(5, 0.4);
    assert!(x.as_slice().iter().all(|v| v.abs() >= 1e-3));
    for layer in [
        PRelu::<f64, 3>::from_weight(vec![0.3]).unwrap(),
        PRelu::from_weight(vec![0.25, -0.1, 0.6]).unwrap(),
    ] {
        check_layer(
            "prelu",
            |p: &[f64]| with_values(&layer, p),
            &values(&layer),
            &x,
            |l| l.zero_grads(),
            Eval::SameAsTrain,
        );
    }
}

fn affine_bn() -> BatchNorm<f64, 3> {
    BatchNorm::from_parts(
        BatchNormConfig::default(),
        Some(vec![1.3, -0.7, 0.9]),
        Some(vec![0.2, -0.4, 0.1]),
    )
    .unwrap()
}

fn plain_bn() -> BatchNorm<f64, 3> {
    BatchNorm::new(BatchNormConfig {
        affine: false,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn batch_norm_affine_and_not() {
    let x = batch::<3>(6, 0.7);
    for layer in [affine_bn(), plain_bn()] {
        check_layer(
            "batch norm",
            |p: &[f64]| with_values(&layer, p),
            &values(&layer),
            &x,
            |l| l.zero_grads(),
            Eval::Differs,
        );
    }
}

#[test]
fn batch_norm_changes_only_in_commit() {
    let x = batch::<3>(6, 0.7);
    for momentum in [Some(0.1), None] {
        let config = BatchNormConfig {
            momentum,
            ..Default::default()
        };
        let mut bn =
            BatchNorm::<f64, 3>::from_parts(config, Some(vec![1.3, -0.7, 0.9]), None).unwrap();
        // Two steps, so that the second starts from running statistics of its own.
        for _ in 0..2 {
            let before = bn.clone();
            let (y, mut cache) = train(&bn, &x);
            assert_eq!(bn, before, "forward_train changed the layer");
            let (mut dy, mut g) = (dloss(&y), bn.zero_grads());
            let (w, mut dx) = (Write::Overwrite, Batch::new());
            Layer::backward(
                &bn,
                &x,
                &y,
                &mut cache,
                &mut dy,
                &mut g,
                w,
                Some(&mut dx),
                w,
            );
            assert_eq!(bn, before, "backward changed the layer");

            // commit = the old forward_train's update, bit for bit (and the same y).
            let mut old = before.clone();
            let (mut y_old, mut cache_old) = (Batch::new(), BatchNormCache::new());
            BatchNorm::forward_train(&mut old, &x, &mut y_old, &mut cache_old).unwrap();
            assert_eq!(y_old, y);
            Layer::commit(&mut bn, &cache);
            assert_eq!(bn, old);
            assert_ne!(bn, before);
        }
        // Evaluation through the protocol is the inherent evaluation.
        let (mut a, mut b) = (Batch::new(), Batch::new());
        Layer::forward_eval(&bn, &x, &mut a);
        BatchNorm::forward_eval(&bn, &x, &mut b);
        assert_eq!(a, b);
    }
}

/// [`Fused`] owning its batch norm, for the harness; every call is `Fused`'s.
#[derive(Clone, Debug)]
struct OwnedFusedBn<A>(BatchNorm<f64, 3>, A);

impl<A: Activation<f64>> Layer<f64, Batch<f64, 3>> for OwnedFusedBn<A> {
    type Output = Batch<f64, 3>;
    type Cache = BatchNormCache<f64, 3>;
    type Grads = <BatchNorm<f64, 3> as Layer<f64, Batch<f64, 3>>>::Grads;

    fn check_train(&self, x: &Batch<f64, 3>) -> Result<()> {
        Layer::check_train(&Fused(&self.0, self.1), x)
    }

    fn forward_eval(&self, x: &Batch<f64, 3>, y: &mut Batch<f64, 3>) {
        Layer::forward_eval(&Fused(&self.0, self.1), x, y);
    }

    fn forward_train(
        &self,
        x: &Batch<f64, 3>,
        y: &mut Batch<f64, 3>,
        cache: &mut BatchNormCache<f64, 3>,
        rng: &mut SeededRng,
    ) -> Result<()> {
        Layer::forward_train(&Fused(&self.0, self.1), x, y, cache, rng)
    }

    fn forward_frozen(
        &self,
        x: &Batch<f64, 3>,
        y: &mut Batch<f64, 3>,
        cache: &mut BatchNormCache<f64, 3>,
    ) -> Result<()> {
        Layer::forward_frozen(&Fused(&self.0, self.1), x, y, cache)
    }

    fn backward(
        &self,
        x: &Batch<f64, 3>,
        y: &Batch<f64, 3>,
        cache: &mut BatchNormCache<f64, 3>,
        dy: &mut Batch<f64, 3>,
        grads: &mut Self::Grads,
        grad_write: Write,
        dx: Option<&mut Batch<f64, 3>>,
        dx_write: Write,
    ) {
        let f = Fused(&self.0, self.1);
        Layer::backward(&f, x, y, cache, dy, grads, grad_write, dx, dx_write);
    }
}

/// The fused step's passes against batch norm's then the activation's, in training
/// and in frozen mode: the same output, the same gradients (to rounding: the fused
/// backward forms `xhat` again, from the same statistics), `dy` left holding the
/// pre-activation's gradient, and `commit` through the layer as for batch norm.
fn fused_bn_is_bn_then_act<A: Activation<f64>>(bn: &BatchNorm<f64, 3>, act: A, x: &Batch<f64, 3>) {
    let close = |a: &[f64], b: &[f64], what: &str| {
        assert_eq!(a.len(), b.len(), "{what}");
        for (a, b) in a.iter().zip(b) {
            assert!(
                (a - b).abs() <= 1e-14 * (1.0 + b.abs()),
                "{what}: {a} vs {b}"
            );
        }
    };
    let w = Write::Overwrite;
    for frozen in [false, true] {
        let (mut z, mut y, mut cache) = (Batch::new(), Batch::new(), BatchNormCache::new());
        let (mut yf, mut cf) = (Batch::new(), BatchNormCache::new());
        let fused = Fused(bn, act);
        if frozen {
            Layer::forward_frozen(bn, x, &mut z, &mut cache).unwrap();
            Layer::forward_frozen(&fused, x, &mut yf, &mut cf).unwrap();
        } else {
            Layer::forward_train(bn, x, &mut z, &mut cache, &mut seeded(0)).unwrap();
            Layer::forward_train(&fused, x, &mut yf, &mut cf, &mut seeded(0)).unwrap();
        }
        Layer::forward_train(&Activate(act), &z, &mut y, &mut (), &mut seeded(0)).unwrap();
        assert_eq!(yf, y, "frozen {frozen}: output");
        let dy = dloss(&y);
        let (mut dz, mut dx, mut g) = (Batch::new(), Batch::new(), bn.zero_grads());
        let mut d = dy.clone();
        Layer::backward(
            &Activate(act),
            &z,
            &y,
            &mut (),
            &mut d,
            &mut NoGrads,
            w,
            Some(&mut dz),
            w,
        );
        Layer::backward(bn, x, &z, &mut cache, &mut dz, &mut g, w, Some(&mut dx), w);
        let (mut df, mut dxf, mut gf) = (dy.clone(), Batch::new(), bn.zero_grads());
        Layer::backward(
            &fused,
            x,
            &yf,
            &mut cf,
            &mut df,
            &mut gf,
            w,
            Some(&mut dxf),
            w,
        );
        close(df.as_slice(), dz.as_slice(), "dy holds dz");
        close(dxf.as_slice(), dx.as_slice(), "dx");
        close(&flat_grads(&gf), &flat_grads(&g), "dparams");
        if !frozen {
            let (mut a, mut b) = (bn.clone(), bn.clone());
            Layer::commit(&mut a, &cache);
            Layer::commit(&mut b, &cf);
            assert_eq!(a, b, "commit");
        }
    }
    let (mut a, mut b, mut c) = (Batch::new(), Batch::new(), Batch::new());
    Layer::forward_eval(&Fused(bn, act), x, &mut a);
    Layer::forward_eval(bn, x, &mut b);
    Layer::forward_eval(&Activate(act), &b, &mut c);
    assert_eq!(a, c, "evaluation");
}

#[test]
fn batch_norm_fused_with_an_activation() {
    let x = batch::<3>(6, 0.7);
    let mut trained = affine_bn();
    // Running statistics of their own, so that frozen mode differs from training.
    let (_, cache) = train(&trained, &batch::<3>(5, 2.2));
    Layer::commit(&mut trained, &cache);
    for layer in [affine_bn(), plain_bn(), trained] {
        // Every pre-activation at least 1e-3 from leaky relu's kink, and both signs.
        let (z, _) = train(&layer, &x);
        assert!(z.as_slice().iter().all(|z| z.abs() >= 1e-3));
        assert!(z.as_slice().iter().any(|&z| z < 0.0) && z.as_slice().iter().any(|&z| z > 0.0));
        for name in ["tanh", "silu", "leaky relu"] {
            let p = values(&layer);
            match name {
                "tanh" => {
                    fused_bn_is_bn_then_act(&layer, Tanh, &x);
                    check_layer(
                        name,
                        |p: &[f64]| OwnedFusedBn(with_values(&layer, p), Tanh),
                        &p,
                        &x,
                        |l| l.0.zero_grads(),
                        Eval::Differs,
                    );
                }
                "silu" => {
                    fused_bn_is_bn_then_act(&layer, Silu, &x);
                    check_layer(
                        name,
                        |p: &[f64]| OwnedFusedBn(with_values(&layer, p), Silu),
                        &p,
                        &x,
                        |l| l.0.zero_grads(),
                        Eval::Differs,
                    );
                }
                _ => {
                    let act = LeakyRelu::new(0.1);
                    fused_bn_is_bn_then_act(&layer, act, &x);
                    check_layer(
                        name,
                        |p: &[f64]| OwnedFusedBn(with_values(&layer, p), act),
                        &p,
                        &x,
                        |l| l.0.zero_grads(),
                        Eval::Differs,
                    );
                }
            }
        }
    }
    // Fewer than 2 rows are refused as by batch norm, and nothing is written.
    let one = batch::<3>(1, 0.1);
    let fused = OwnedFusedBn(affine_bn(), Tanh);
    assert!(matches!(
        Layer::check_train(&fused, &one),
        Err(Error::TooFewRows { .. })
    ));
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    let r = Layer::forward_train(&fused, &one, &mut y, &mut cache, &mut seeded(0));
    assert!(matches!(r, Err(Error::TooFewRows { found: 1, .. })));
    assert_eq!(y, Batch::new());
}

#[test]
fn batch_norm_refuses_one_row() {
    let bn = affine_bn();
    let one = batch::<3>(1, 0.1);
    let refused = Err(Error::TooFewRows {
        op: "batch norm in training mode",
        min: 2,
        found: 1,
    });
    assert_eq!(Layer::check_train(&bn, &one), refused);
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    assert_eq!(
        Layer::forward_train(&bn, &one, &mut y, &mut cache, &mut seeded(0)),
        refused
    );
    assert_eq!(bn, affine_bn());
    assert_eq!(
        Layer::check_train(&bn, &Batch::<f64, 3>::new()),
        Err(Error::TooFewRows {
            op: "batch norm in training mode",
            min: 2,
            found: 0,
        })
    );
    assert_eq!(Layer::check_train(&bn, &batch::<3>(2, 0.1)), Ok(()));
    // Layers that take any batch accept one row.
    assert_eq!(
        Layer::check_train(&LayerNorm::<f64, 3>::default(), &one),
        Ok(())
    );
    assert_eq!(Layer::check_train(&Dropout::default(), &one), Ok(()));
}

#[test]
fn layer_norm_with_and_without_bias() {
    let x = batch::<4>(3, 1.3);
    let with_bias = LayerNorm::<f64, 4>::from_parts(
        LayerNormConfig::default(),
        Some(vec![1.2, -0.8, 0.5, 1.7]),
        Some(vec![0.1, -0.3, 0.25, 0.0]),
    )
    .unwrap();
    let without = LayerNorm::<f64, 4>::from_parts(
        LayerNormConfig::default(),
        Some(vec![0.9, 1.1, -1.4, 0.6]),
        None,
    )
    .unwrap();
    for layer in [with_bias, without] {
        check_layer(
            "layer norm",
            |p: &[f64]| with_values(&layer, p),
            &values(&layer),
            &x,
            |l| l.zero_grads(),
            Eval::SameAsTrain,
        );
    }
}

#[test]
fn dropout_backward() {
    let x = batch::<4>(5, 0.6);
    let drop = Dropout::new(0.3).unwrap();
    // The fixed seed draws the same mask in every call; it drops some and keeps some.
    let (_, mask) = train(&drop, &x);
    let m = mask.as_slice();
    assert!(m.contains(&0.0) && m.iter().any(|&v| v > 0.0));
    check_layer("dropout", |_| drop, &[], &x, |_| NoGrads, Eval::Differs);
    // Evaluation is the identity.
    let mut y = Batch::new();
    Layer::forward_eval(&drop, &x, &mut y);
    assert_eq!(y, x);
}

#[test]
fn dropout_draws_the_stream_of_its_forward_train() {
    let drop = Dropout::new(0.4).unwrap();
    let x = Batch::<f32, 7>::from_vec((0..7 * 9).map(|k| k as f32 - 20.0).collect()).unwrap();
    let (mut r1, mut r2) = (seeded(99), seeded(99));
    for _ in 0..3 {
        let (mut y1, mut m1, mut y2, mut m2) =
            (Batch::new(), Batch::new(), Batch::new(), Batch::new());
        Layer::forward_train(&drop, &x, &mut y1, &mut m1, &mut r1).unwrap();
        Dropout::forward_train(&drop, &x, &mut y2, &mut m2, &mut r2);
        assert_eq!((&y1, &m1), (&y2, &m2));
    }
    // Both left their generators at the same place.
    assert_eq!(r1.next_u64(), r2.next_u64());
}

#[test]
fn parameter_free_layers_without_dx_do_nothing() {
    // Nothing to compute: dx stays unset, and a dy of the wrong rows is not even read.
    let x = batch::<2>(3, 0.1);
    let (y, mut mask) = train(&Dropout::new(0.5).unwrap(), &x);
    let mut dy = Batch::<f64, 2>::from_vec(vec![1.0; 4]).unwrap();
    let w = Write::Overwrite;
    Layer::backward(
        &Dropout::default(),
        &x,
        &y,
        &mut mask,
        &mut dy,
        &mut NoGrads,
        w,
        None,
        w,
    );
    Layer::backward(
        &Activate(Tanh),
        &x,
        &y,
        &mut (),
        &mut dy,
        &mut NoGrads,
        w,
        None,
        w,
    );
    Layer::backward(&Sum(&x), &x, &y, &mut (), &mut dy, &mut NoGrads, w, None, w);
}

/// `(name, kind, dims)` of every tensor, as `visit_shapes` gives them.
fn shapes<P: Parameters<f64>>(p: &P) -> Vec<(&'static str, TensorKind, Vec<usize>)> {
    let mut v = Vec::new();
    p.visit_shapes(&mut |n, k, s| v.push((n, k, s.dims().to_vec())));
    v
}

/// `visit_shapes` agrees with `visit_params` then `visit_buffers`: the same names in
/// the same order, and `numel` the length of each.
fn check_shapes_match<P: Parameters<f64>>(p: &P) {
    let mut seen = Vec::new();
    p.visit_params(&mut |n, v| seen.push((n, TensorKind::Parameter, v.len())));
    p.visit_buffers(&mut |n, v| seen.push((n, TensorKind::Buffer, v.len())));
    let mut shapes = Vec::new();
    p.visit_shapes(&mut |n, k, s| shapes.push((n, k, s.numel())));
    assert_eq!(shapes, seen);
}

use TensorKind::{Buffer, Parameter};

#[test]
fn shapes_of_every_layer() {
    let d = Dense::<f64, 784, 256>::from_parts(vec![0.0; 784 * 256], Some(vec![0.0; 256])).unwrap();
    assert_eq!(
        shapes(&d),
        [
            ("weight", Parameter, vec![256, 784]),
            ("bias", Parameter, vec![256])
        ]
    );
    check_shapes_match(&d);
    let nb = dense::<3, 2>(false);
    assert_eq!(shapes(&nb), [("weight", Parameter, vec![2, 3])]);
    check_shapes_match(&nb);

    let shared = PRelu::<f64, 5>::shared(0.25);
    assert_eq!(shapes(&shared), [("weight", Parameter, vec![1])]);
    let per = PRelu::<f64, 5>::per_feature(0.25);
    assert_eq!(shapes(&per), [("weight", Parameter, vec![5])]);
    check_shapes_match(&shared);
    check_shapes_match(&per);

    let bn = affine_bn();
    assert_eq!(
        shapes(&bn),
        [
            ("weight", Parameter, vec![3]),
            ("bias", Parameter, vec![3]),
            ("running_mean", Buffer, vec![3]),
            ("running_var", Buffer, vec![3]),
            ("num_batches_tracked", Buffer, vec![]),
        ]
    );
    check_shapes_match(&bn);
    let plain = plain_bn();
    assert_eq!(
        shapes(&plain),
        [
            ("running_mean", Buffer, vec![3]),
            ("running_var", Buffer, vec![3]),
            ("num_batches_tracked", Buffer, vec![]),
        ]
    );
    check_shapes_match(&plain);

    let ln = LayerNorm::<f64, 4>::default();
    assert_eq!(
        shapes(&ln),
        [("weight", Parameter, vec![4]), ("bias", Parameter, vec![4])]
    );
    check_shapes_match(&ln);
    let bare = LayerNorm::<f64, 4>::new(LayerNormConfig {
        elementwise_affine: false,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(shapes(&bare), []);
}

#[test]
fn shape_type() {
    let w = Shape::matrix(256, 784);
    assert_eq!(
        (w.dims(), w.rank(), w.numel()),
        (&[256, 784][..], 2, 200_704)
    );
    assert_eq!(w.to_string(), "[256, 784]");
    assert_eq!(format!("{w:?}"), "Shape[256, 784]");
    assert_eq!(Shape::vector(10).to_string(), "[10]");
    assert_eq!(Shape::scalar().to_string(), "[]");
    assert_eq!((Shape::scalar().rank(), Shape::scalar().numel()), (0, 1));
    assert_eq!(Shape::vector(0).numel(), 0);
    assert_eq!(Shape::from([2, 3, 4, 5]).numel(), 120);
    assert_eq!(Shape::from([2, 3, 4, 5]).to_string(), "[2, 3, 4, 5]");
    assert_eq!(Shape::from_dims(&[256, 784]), Some(w));
    assert_eq!(Shape::from([256, 784]), w);
    assert_eq!(Shape::from([]), Shape::scalar());
    assert_eq!(Shape::from_dims(&[1, 2, 3, 4, 5]), None);
    assert_ne!(Shape::vector(1), Shape::scalar());
    assert_ne!(Shape::matrix(1, 3), Shape::vector(3));
}

/// Writes `100 + k` to the `k`-th parameter value through `visit_values_mut`, reads
/// it back through `visit_params`, and checks the buffers did not move.
fn check_values_mut<P: Parameters<f64> + Clone>(p: &P) {
    let mut p = p.clone();
    let buffers = |p: &P| {
        let mut v = Vec::new();
        p.visit_buffers(&mut |n, b| v.push((n, b.to_vec())));
        v
    };
    let before = buffers(&p);
    let mut names = Vec::new();
    p.visit_params(&mut |n, _| names.push(n));
    let mut k = 0.0;
    let mut seen = Vec::new();
    p.visit_values_mut(&mut |n, v| {
        seen.push(n);
        for x in v {
            *x = 100.0 + k;
            k += 1.0;
        }
    });
    assert_eq!(seen, names);
    let n = values(&p).len();
    assert_eq!(
        values(&p),
        (0..n).map(|k| 100.0 + k as f64).collect::<Vec<_>>()
    );
    assert_eq!(buffers(&p), before);
}

#[test]
fn values_mut_writes_what_visit_params_reads() {
    check_values_mut(&dense::<3, 2>(true));
    check_values_mut(&dense::<3, 2>(false));
    check_values_mut(&PRelu::<f64, 3>::shared(0.25));
    check_values_mut(&PRelu::<f64, 3>::per_feature(0.25));
    check_values_mut(&affine_bn());
    check_values_mut(&plain_bn());
    check_values_mut(&LayerNorm::<f64, 4>::default());
    // The accessors see the writes where they expect them.
    let mut d = dense::<3, 2>(true);
    d.visit_values_mut(&mut |n, v| v.fill(if n == "weight" { 1.5 } else { -2.0 }));
    assert_eq!(
        (d.weight(), d.bias()),
        (&[1.5; 6][..], Some(&[-2.0; 2][..]))
    );
}

/// A hand-written model that keeps the defaults of `visit_shapes` and
/// `visit_values_mut`.
#[derive(Clone, Debug, PartialEq)]
struct Hand {
    a: Vec<f64>,
    b: Vec<f64>,
    stat: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
struct HandGrads(Vec<f64>, Vec<f64>);

impl Gradients<f64> for HandGrads {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[f64])) {
        f("0.weight", &self.0);
        f("2.weight", &self.1);
    }
    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [f64])) {
        f("0.weight", &mut self.0);
        f("2.weight", &mut self.1);
    }
}

impl Parameters<f64> for Hand {
    type Grads = HandGrads;
    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[f64])) {
        f("0.weight", &self.a);
        f("2.weight", &self.b);
    }
    fn visit_params_mut(&mut self, g: &HandGrads, f: &mut impl FnMut(ParamMut<'_, f64>)) {
        f(ParamMut {
            name: "0.weight",
            value: &mut self.a,
            grad: &g.0,
        });
        f(ParamMut {
            name: "2.weight",
            value: &mut self.b,
            grad: &g.1,
        });
    }
    fn visit_buffers(&self, f: &mut impl FnMut(&'static str, &[f64])) {
        f("1.stat", &self.stat);
    }
    fn zero_grads(&self) -> HandGrads {
        HandGrads(vec![0.0; self.a.len()], vec![0.0; self.b.len()])
    }
}

#[test]
fn defaults_give_flat_shapes_and_write_values() {
    let hand = Hand {
        a: vec![1.0; 6],
        b: vec![2.0],
        stat: vec![0.0; 3],
    };
    assert_eq!(
        shapes(&hand),
        [
            ("0.weight", Parameter, vec![6]),
            ("2.weight", Parameter, vec![1]),
            ("1.stat", Buffer, vec![3]),
        ]
    );
    check_shapes_match(&hand);
    check_values_mut(&hand);
}
