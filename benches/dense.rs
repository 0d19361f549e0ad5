//! One dense layer, 784 -> 256 with ReLU, forward + backward at batch 64, beside its
//! ceiling: the same three matrix products through the GEMM alone.
//!
//! Throughput is in FLOPs (criterion prints them as "elements"): each product of an
//! m x k by a k x n matrix counts 2mkn.
//!
//! `cargo bench --bench dense`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gradnet::activation::Relu;
use gradnet::gemm::{gemm, MatMut, MatRef};
use gradnet::prelude::*;
use gradnet::{DenseGrads, Write};
use std::hint::black_box;

const IN: usize = 784;
const OUT: usize = 256;
const ROWS: usize = 64;

fn dense(c: &mut Criterion) {
    let flops = 3 * 2 * (ROWS * IN * OUT) as u64;
    let mut group = c.benchmark_group("dense_784x256_b64");
    group.throughput(Throughput::Elements(flops));

    let mut rng = seeded(0);
    let layer = Dense::<f32, IN, OUT>::new(&Init::he_normal(), true, &mut rng);
    let x = {
        use gradnet::rand::RngExt;
        Batch::<f32, IN>::from_vec(
            (0..ROWS * IN)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect(),
        )
        .expect("finite data")
    };
    let (mut z, mut y) = (Batch::new(), Batch::new());
    let mut dy = Batch::<f32, OUT>::zeros(ROWS);
    let mut dx = Batch::<f32, IN>::zeros(ROWS);
    let mut grads = DenseGrads::<f32, IN, OUT>::zeros(true);
    group.bench_function(BenchmarkId::new("layer", "forward+backward"), |b| {
        b.iter(|| {
            layer.forward_act(black_box(&x), Relu, &mut z, &mut y);
            dy.as_mut_slice().copy_from_slice(y.as_slice());
            layer.backward_act(
                Relu,
                &x,
                &z,
                &y,
                &mut dy,
                &mut grads,
                Write::Overwrite,
                Some(&mut dx),
                Write::Overwrite,
            );
            black_box(&grads);
        })
    });

    // The ceiling: Y = X W^T, dW = dY^T X, dX = dY W with nothing else.
    let w = layer.weight().to_owned();
    let mut yb = vec![0.0f32; ROWS * OUT];
    let mut gw = vec![0.0f32; OUT * IN];
    let mut gx = vec![0.0f32; ROWS * IN];
    group.bench_function(BenchmarkId::new("gemm_alone", "3 products"), |b| {
        b.iter(|| {
            gemm(
                1.0,
                MatRef::row_major(x.as_slice(), ROWS, IN),
                MatRef::row_major(&w, OUT, IN).t(),
                0.0,
                MatMut::row_major(&mut yb, ROWS, OUT),
            );
            gemm(
                1.0,
                MatRef::row_major(&yb, ROWS, OUT).t(),
                MatRef::row_major(x.as_slice(), ROWS, IN),
                0.0,
                MatMut::row_major(&mut gw, OUT, IN),
            );
            gemm(
                1.0,
                MatRef::row_major(&yb, ROWS, OUT),
                MatRef::row_major(&w, OUT, IN),
                0.0,
                MatMut::row_major(&mut gx, ROWS, IN),
            );
            black_box((&gw, &gx));
        })
    });
    group.finish();
}

/// Forward of the same layer at small batches: the layer (direct loops up to
/// `DIRECT_MAX_ROWS` rows, GEMM above) beside the GEMM alone, to place the crossover.
fn forward_by_rows(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_by_rows_784x256");
    let mut rng = seeded(1);
    let layer = Dense::<f32, IN, OUT>::new(&Init::he_normal(), true, &mut rng);
    let w = layer.weight().to_owned();
    for rows in [1usize, 2, 4, 8, 16] {
        group.throughput(Throughput::Elements(2 * (rows * IN * OUT) as u64));
        let x = {
            use gradnet::rand::RngExt;
            Batch::<f32, IN>::from_vec(
                (0..rows * IN)
                    .map(|_| rng.random_range(-1.0..1.0))
                    .collect(),
            )
            .expect("finite data")
        };
        let mut y = Batch::new();
        group.bench_with_input(BenchmarkId::new("layer", rows), &rows, |b, _| {
            b.iter(|| layer.forward(black_box(&x), &mut y))
        });
        let mut yb = vec![0.0f32; rows * OUT];
        group.bench_with_input(BenchmarkId::new("gemm_alone", rows), &rows, |b, _| {
            b.iter(|| {
                gemm(
                    1.0,
                    MatRef::row_major(black_box(x.as_slice()), rows, IN),
                    MatRef::row_major(&w, OUT, IN).t(),
                    0.0,
                    MatMut::row_major(&mut yb, rows, OUT),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, dense, forward_by_rows);
criterion_main!(benches);
