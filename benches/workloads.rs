//! The workloads, written with `network!`, beside the GEMM alone doing the same
//! matrix products:
//!
//! - **W1**: MLP 784-256-128-10, ReLU, softmax cross-entropy, batch 64, f32; one
//!   training step = forward + backward + SGD update (`train_step`).
//! - **W2**: MLP 2-16-16-1, tanh, MSE, batch 1, f32; one SGD training step.
//! - **W3**: input 256, 20 x (dense 256, batch norm, ReLU), dense 10, softmax
//!   cross-entropy, batch 128, f32; one SGD training step (batch norm in training mode).
//! - **W4**: LSTM, input 32, hidden 128, 50 steps, batch 32, its last state into a
//!   dense layer of 10, softmax cross-entropy, f32; one SGD training step
//!   (backpropagation through all 50 steps).
//! - **W5**: W1's network, inference with `forward_into`, at batch 1 and batch 64.
//!
//! Throughput is in FLOPs (criterion prints them as "elements"), counting only the
//! matrix products, each product of an m x k by a k x n matrix as 2mkn: per dense
//! layer `in -> out` at `rows` rows, the forward product `X W^T` is `2 rows in out`;
//! a training step adds `dW = dY^T X` and, except for the first layer (whose input
//! gradient nobody asked for, so it is not computed), `dX = dY W`, each as many
//! FLOPs again. Bias additions, activations, the loss and the update are not counted:
//! they are the framework's overhead that the ratio to the GEMM shows. So a W1 step
//! counts `2 * 64 * (2 * 784 * 256 + 3 * 256 * 128 + 3 * 128 * 10)` = 64.5 MFLOP.
//! W4 counts the LSTM's products: forward, the input projections of all steps at once
//! (`2 * (T B) * 32 * 4H`) and the recurrent product of every step but the first
//! (whose state is zero: `2 * (T - 1) * B * H * 4H`); backward, `dW_ih` as large as
//! the projections, and `dW_hh` and `dh_{t-1}` each as large as the recurrence (no
//! `dX`: the input's gradient is not asked for); and the dense layer's as in W1:
//! 721 MFLOP a step.
//!
//! `gemm_alone` runs exactly the products of the gradnet benchmark beside it (same
//! shapes, same transposed views) through `gradnet::gemm::gemm` and nothing else, so
//! gradnet's rate over the GEMM's is the fraction of the product ceiling reached.
//! (At W5's batch 1 gradnet computes the last layer, 128 x 10, with direct loops;
//! `gemm_alone` still sends it to the GEMM.) W1 also times `loss_and_grad` alone,
//! so the cost of the SGD update shows as the difference.
//! After criterion's report, a summary prints the medians and that ratio (read from
//! criterion's estimates in `target/criterion`). Single-threaded: gradnet's GEMM
//! runs on the calling thread.
//!
//! `cargo bench --bench workloads`

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use gradnet::gemm::{gemm, MatMut, MatRef};
use gradnet::optim::{Sgd, SgdConfig};
use gradnet::prelude::*;
use std::hint::black_box;
use std::time::Duration;

mod common;
use common::median_ns;

network! {
    /// W1 and W5: 784-256-128-10 with ReLU.
    struct Mlp784 {
        input: 784,
        dense(256),
        relu,
        dense(128),
        relu,
        dense(10),
        loss: cross_entropy,
    }
}

network! {
    /// W2: 2-16-16-1 with tanh.
    struct Mlp2 {
        input: 2,
        dense(16),
        tanh,
        dense(16),
        tanh,
        dense(1),
        loss: mse,
    }
}

network! {
    /// W3: 20 x (dense 256, batch norm, ReLU), then 10 logits.
    struct Deep256 {
        input: 256,
        repeat(20) { dense(256), batch_norm, relu },
        dense(10),
        loss: cross_entropy,
    }
}

/// W3's dense layers as `(in, out)`.
fn w3_layers() -> Vec<(usize, usize)> {
    let mut layers = vec![(256, 256); 20];
    layers.push((256, 10));
    layers
}

/// W1's layers as `(in, out)`.
const W1: [(usize, usize); 3] = [(784, 256), (256, 128), (128, 10)];
/// W2's layers.
const W2: [(usize, usize); 3] = [(2, 16), (16, 16), (16, 1)];

/// FLOPs of the products of one training step (first layer without `dX`).
fn train_flops(rows: usize, layers: &[(usize, usize)]) -> u64 {
    layers
        .iter()
        .enumerate()
        .map(|(k, &(i, o))| (if k == 0 { 2 } else { 3 }) * 2 * rows * i * o)
        .sum::<usize>() as u64
}

/// W4's shape: steps, batch, input, hidden, classes.
const W4: (usize, usize, usize, usize, usize) = (50, 32, 32, 128, 10);

/// FLOPs of W4's products in one training step (see the module documentation).
fn w4_flops() -> u64 {
    let (t, b, i, h, c) = W4;
    let proj = 2 * t * b * i * 4 * h;
    let rec = 2 * (t - 1) * b * h * 4 * h;
    (2 * proj + 3 * rec + 2 * 2 * b * h * c) as u64
}

/// FLOPs of the products of one forward pass.
fn forward_flops(rows: usize, layers: &[(usize, usize)]) -> u64 {
    layers.iter().map(|&(i, o)| 2 * rows * i * o).sum::<usize>() as u64
}

fn random_batch<const D: usize>(rows: usize, seed: u64) -> Batch<f32, D> {
    use gradnet::rand::RngExt;
    let mut rng = seeded(seed);
    Batch::from_vec((0..rows * D).map(|_| rng.random_range(-1.0..1.0)).collect())
        .expect("finite data")
}

fn sgd() -> Sgd<f32> {
    SgdConfig::new(1e-3).build().expect("a valid learning rate")
}

/// Buffers for a chain of dense layers' products through the GEMM alone: weights,
/// outputs and gradients of every layer, at `rows` rows.
struct GemmOnly {
    rows: usize,
    layers: Vec<(usize, usize)>,
    x: Vec<f32>,
    w: Vec<Vec<f32>>,
    y: Vec<Vec<f32>>,
    dw: Vec<Vec<f32>>,
    dx: Vec<Vec<f32>>,
}

impl GemmOnly {
    fn new(rows: usize, layers: &[(usize, usize)], x: &[f32]) -> Self {
        let per_layer = |f: &dyn Fn(usize, usize) -> usize| -> Vec<Vec<f32>> {
            layers.iter().map(|&(i, o)| vec![0.01; f(i, o)]).collect()
        };
        GemmOnly {
            rows,
            layers: layers.to_vec(),
            x: x.to_vec(),
            w: per_layer(&|i, o| o * i),
            y: per_layer(&|_, o| rows * o),
            dw: per_layer(&|i, o| o * i),
            dx: per_layer(&|i, _| rows * i),
        }
    }

    /// `Y_k = X_k W_k^T` for every layer, `X_k` the previous layer's output.
    fn forward(&mut self) {
        let r = self.rows;
        for (k, &(i, o)) in self.layers.iter().enumerate() {
            let (before, after) = self.y.split_at_mut(k);
            let input: &[f32] = if k == 0 { &self.x } else { &before[k - 1] };
            gemm(
                1.0,
                MatRef::row_major(input, r, i),
                MatRef::row_major(&self.w[k], o, i).t(),
                0.0,
                MatMut::row_major(&mut after[0], r, o),
            );
        }
    }

    /// The forward products, then `dW_k = dY_k^T X_k` for every layer and
    /// `dX_k = dY_k W_k` for all but the first (the outputs stand in for dY).
    fn train(&mut self) {
        self.forward();
        let r = self.rows;
        for (k, &(i, o)) in self.layers.iter().enumerate().rev() {
            let input: &[f32] = if k == 0 { &self.x } else { &self.y[k - 1] };
            gemm(
                1.0,
                MatRef::row_major(&self.y[k], r, o).t(),
                MatRef::row_major(input, r, i),
                0.0,
                MatMut::row_major(&mut self.dw[k], o, i),
            );
            if k > 0 {
                gemm(
                    1.0,
                    MatRef::row_major(&self.y[k], r, o),
                    MatRef::row_major(&self.w[k], o, i),
                    0.0,
                    MatMut::row_major(&mut self.dx[k], r, i),
                );
            }
        }
    }
}

fn w1_train(c: &mut Criterion) {
    const ROWS: usize = 64;
    let mut group = c.benchmark_group("W1_train_784-256-128-10_b64");
    group.throughput(Throughput::Elements(train_flops(ROWS, &W1)));
    let mut net = Mlp784::<f32>::new(&mut seeded(0));
    let x = random_batch::<784>(ROWS, 1);
    let t: Vec<usize> = (0..ROWS).map(|i| i % 10).collect();
    let mut gemm_only = GemmOnly::new(ROWS, &W1, x.as_slice());
    let (mut opt, mut ws, mut grads) = (sgd(), Mlp784Workspace::new(), net.zero_grads());
    group.bench_function(BenchmarkId::new("gradnet", "train_step"), |b| {
        b.iter(|| {
            net.train_step(black_box(&x), &t, &mut opt, &mut ws, &mut grads)
                .expect("a valid step")
        })
    });
    group.bench_function(BenchmarkId::new("gradnet", "loss_and_grad"), |b| {
        b.iter(|| {
            net.loss_and_grad(black_box(&x), &t, &mut ws, &mut grads)
                .expect("a valid pass")
        })
    });
    group.bench_function(BenchmarkId::new("gemm_alone", "8_products"), |b| {
        b.iter(|| {
            gemm_only.train();
            black_box(&gemm_only.dw);
        })
    });
    group.finish();
}

network! {
    /// W4: an LSTM's last state into 10 logits.
    struct Lstm32 {
        input: seq(32),
        lstm(128),
        dense(10),
        loss: cross_entropy,
    }
}

/// W4's products through the GEMM alone, in the shapes the LSTM uses them: the
/// projections of all steps, the recurrent product of each step, `dW_ih`, `dW_hh`
/// (one product over all steps) and `dh_{t-1}` of each step; then the dense layer's.
struct GemmLstm {
    x: Vec<f32>,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    gates: Vec<f32>,
    hidden: Vec<f32>,
    dgates: Vec<f32>,
    dw_ih: Vec<f32>,
    dw_hh: Vec<f32>,
    dh: Vec<f32>,
    dense: GemmOnly,
}

impl GemmLstm {
    fn new(x: &[f32]) -> Self {
        let (t, b, i, h, c) = W4;
        GemmLstm {
            x: x.to_vec(),
            w_ih: vec![0.01; 4 * h * i],
            w_hh: vec![0.01; 4 * h * h],
            gates: vec![0.0; t * b * 4 * h],
            hidden: vec![0.01; t * b * h],
            dgates: vec![0.01; t * b * 4 * h],
            dw_ih: vec![0.0; 4 * h * i],
            dw_hh: vec![0.0; 4 * h * h],
            dh: vec![0.0; b * h],
            dense: GemmOnly::new(b, &[(h, c)], &vec![0.01; b * h]),
        }
    }

    fn train(&mut self) {
        let (t, b, i, h, _) = W4;
        let g = 4 * h;
        gemm(
            1.0,
            MatRef::row_major(&self.x, t * b, i),
            MatRef::row_major(&self.w_ih, g, i).t(),
            0.0,
            MatMut::row_major(&mut self.gates, t * b, g),
        );
        for s in 1..t {
            gemm(
                1.0,
                MatRef::row_major(&self.hidden[(s - 1) * b * h..s * b * h], b, h),
                MatRef::row_major(&self.w_hh, g, h).t(),
                1.0,
                MatMut::row_major(&mut self.gates[s * b * g..(s + 1) * b * g], b, g),
            );
        }
        self.dense.train();
        for s in (1..t).rev() {
            gemm(
                1.0,
                MatRef::row_major(&self.dgates[s * b * g..(s + 1) * b * g], b, g),
                MatRef::row_major(&self.w_hh, g, h),
                0.0,
                MatMut::row_major(&mut self.dh, b, h),
            );
        }
        gemm(
            1.0,
            MatRef::row_major(&self.dgates, t * b, g).t(),
            MatRef::row_major(&self.x, t * b, i),
            0.0,
            MatMut::row_major(&mut self.dw_ih, g, i),
        );
        gemm(
            1.0,
            MatRef::row_major(&self.dgates[b * g..], (t - 1) * b, g).t(),
            MatRef::row_major(&self.hidden[..(t - 1) * b * h], (t - 1) * b, h),
            0.0,
            MatMut::row_major(&mut self.dw_hh, g, h),
        );
    }
}

fn w4_train(c: &mut Criterion) {
    use gradnet::rand::RngExt;
    use gradnet::seq::Seq;
    let (steps, rows, input, _, classes) = W4;
    let mut group = c.benchmark_group("W4_train_lstm32-128_t50_b32");
    group.throughput(Throughput::Elements(w4_flops()));
    let mut net = Lstm32::<f32>::new(&mut seeded(7));
    let mut rng = seeded(8);
    let x = Seq::<f32, 32>::from_time_major(
        (0..steps * rows * input)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect(),
        steps,
    )
    .expect("finite data");
    let t: Vec<usize> = (0..rows).map(|i| i % classes).collect();
    let (mut opt, mut ws, mut grads) = (sgd(), Lstm32Workspace::new(), net.zero_grads());
    group.bench_function(BenchmarkId::new("gradnet", "train_step"), |b| {
        b.iter(|| {
            net.train_step(black_box(&x), &t, &mut opt, &mut ws, &mut grads)
                .expect("a valid step")
        })
    });
    let mut gemm_only = GemmLstm::new(x.as_slice());
    group.bench_function(BenchmarkId::new("gemm_alone", "lstm_products"), |b| {
        b.iter(|| {
            gemm_only.train();
            black_box(&gemm_only.dw_hh);
        })
    });
    group.finish();
}

fn w3_train(c: &mut Criterion) {
    const ROWS: usize = 128;
    let layers = w3_layers();
    let mut group = c.benchmark_group("W3_train_20x256-bn-relu_b128");
    group.throughput(Throughput::Elements(train_flops(ROWS, &layers)));
    let mut net = Deep256::<f32>::new(&mut seeded(5));
    let x = random_batch::<256>(ROWS, 6);
    let t: Vec<usize> = (0..ROWS).map(|i| i % 10).collect();
    let (mut opt, mut ws, mut grads) = (sgd(), Deep256Workspace::new(), net.zero_grads());
    group.bench_function(BenchmarkId::new("gradnet", "train_step"), |b| {
        b.iter(|| {
            net.train_step(black_box(&x), &t, &mut opt, &mut ws, &mut grads)
                .expect("a valid step")
        })
    });
    let mut gemm_only = GemmOnly::new(ROWS, &layers, x.as_slice());
    group.bench_function(BenchmarkId::new("gemm_alone", "62_products"), |b| {
        b.iter(|| {
            gemm_only.train();
            black_box(&gemm_only.dw);
        })
    });
    group.finish();
}

fn w2_train(c: &mut Criterion) {
    let mut group = c.benchmark_group("W2_train_2-16-16-1_b1");
    group.throughput(Throughput::Elements(train_flops(1, &W2)));
    let mut net = Mlp2::<f32>::new(&mut seeded(2));
    let x = Batch::<f32, 2>::from_rows(&[[0.5, -0.25]]).expect("finite");
    let y = Batch::<f32, 1>::from_rows(&[[0.75]]).expect("finite");
    let (mut opt, mut ws, mut grads) = (sgd(), Mlp2Workspace::new(), net.zero_grads());
    group.bench_function(BenchmarkId::new("gradnet", "train_step"), |b| {
        b.iter(|| {
            net.train_step(black_box(&x), &y, &mut opt, &mut ws, &mut grads)
                .expect("a valid step")
        })
    });
    group.finish();
}

fn w5_forward(c: &mut Criterion) {
    let net = Mlp784::<f32>::new(&mut seeded(3));
    for rows in [1, 64] {
        let mut group = c.benchmark_group(format!("W5_forward_784-256-128-10_b{rows}"));
        group.throughput(Throughput::Elements(forward_flops(rows, &W1)));
        let x = random_batch::<784>(rows, 4);
        let (mut ws, mut out) = (Mlp784Workspace::new(), Batch::new());
        group.bench_function(BenchmarkId::new("gradnet", "forward_into"), |b| {
            b.iter(|| {
                net.forward_into(black_box(&x), &mut ws, &mut out)
                    .expect("finite input");
                black_box(&out);
            })
        });
        // The share of forward_into spent refusing non-finite input: the check alone.
        group.bench_function(BenchmarkId::new("input_check", "check_finite"), |b| {
            b.iter(|| black_box(&x).check_finite().expect("finite input"))
        });
        let mut gemm_only = GemmOnly::new(rows, &W1, x.as_slice());
        group.bench_function(BenchmarkId::new("gemm_alone", "3_products"), |b| {
            b.iter(|| {
                gemm_only.forward();
                black_box(&gemm_only.y);
            })
        });
        group.finish();
    }
}

/// Each distinct product shape of W1, W3 and W5 through the GEMM alone, in the
/// views a dense layer uses (`X W^T`, `dY^T X`, `dY W`), with its FLOP rate
/// (criterion's "elements/s" are FLOP/s): `products/<m>x<k>x<n>/<op>`.
fn products(c: &mut Criterion) {
    // (m, k, n, op): forward `X W^T` (rows x in by in x out), `dW = dY^T X`
    // (out x rows by rows x in), `dX = dY W` (rows x out by out x in).
    let shapes: [(usize, usize, usize, &str); 8] = [
        (64, 784, 256, "X_Wt"),
        (256, 64, 784, "dYt_X"),
        (64, 256, 128, "X_Wt"),
        (128, 64, 256, "dYt_X"),
        (64, 128, 256, "dY_W"),
        (128, 256, 256, "X_Wt"),
        (256, 128, 256, "dYt_X"),
        (128, 256, 256, "dY_W"),
    ];
    let mut group = c.benchmark_group("products");
    for (m, k, n, op) in shapes {
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let a = vec![0.01f32; m * k];
        let b = vec![0.01f32; k * n];
        let mut out = vec![0.0f32; m * n];
        group.bench_function(BenchmarkId::new(format!("{m}x{k}x{n}"), op), |bench| {
            bench.iter(|| {
                // The views each op takes in a dense layer: the weight `[out, in]`
                // transposed for the forward, `dY` transposed for `dW`.
                let (av, bv) = match op {
                    "X_Wt" => (MatRef::row_major(&a, m, k), MatRef::row_major(&b, n, k).t()),
                    "dYt_X" => (MatRef::row_major(&a, k, m).t(), MatRef::row_major(&b, k, n)),
                    _ => (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n)),
                };
                gemm(1.0, av, bv, 0.0, MatMut::row_major(&mut out, m, n));
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = w1_train, w2_train, w3_train, w4_train, w5_forward, products
}

/// Prints each workload's median and FLOP rate, and its fraction of the GEMM's rate.
fn summary() {
    let rows: [(&str, &str, u64, Option<&str>); 6] = [
        (
            "W1_train_784-256-128-10_b64",
            "train_step",
            train_flops(64, &W1),
            Some("8_products"),
        ),
        (
            "W2_train_2-16-16-1_b1",
            "train_step",
            train_flops(1, &W2),
            None,
        ),
        (
            "W3_train_20x256-bn-relu_b128",
            "train_step",
            train_flops(128, &w3_layers()),
            Some("62_products"),
        ),
        (
            "W4_train_lstm32-128_t50_b32",
            "train_step",
            w4_flops(),
            Some("lstm_products"),
        ),
        (
            "W5_forward_784-256-128-10_b1",
            "forward_into",
            forward_flops(1, &W1),
            Some("3_products"),
        ),
        (
            "W5_forward_784-256-128-10_b64",
            "forward_into",
            forward_flops(64, &W1),
            Some("3_products"),
        ),
    ];
    println!("\nsummary (criterion medians; FLOPs = 2mkn per matrix product):");
    for (group, param, flops, gemm_param) in rows {
        let Some(ns) = median_ns(group, "gradnet", param) else {
            println!("  {group}: no estimate (run without --test and without a filter)");
            continue;
        };
        let rate = flops as f64 / ns; // GFLOP/s
        let mut line = format!("  {group}: {:.2} us, {rate:.2} GFLOP/s", ns / 1e3);
        if let Some(gp) = gemm_param {
            if let Some(gns) = median_ns(group, "gemm_alone", gp) {
                let grate = flops as f64 / gns;
                line += &format!(
                    "; GEMM alone {:.2} us, {grate:.2} GFLOP/s; gradnet at {:.0}% of the GEMM rate",
                    gns / 1e3,
                    100.0 * rate / grate
                );
            }
        }
        println!("{line}");
        if param == "train_step" {
            if let Some(lg) = median_ns(group, "gradnet", "loss_and_grad") {
                println!(
                    "    of which loss_and_grad (forward + backward) {:.2} us, the SGD update {:.2} us",
                    lg / 1e3,
                    (ns - lg) / 1e3
                );
            }
        }
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
