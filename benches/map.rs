//! A `map` activation against the built-in activation it mirrors, in the same run:
//! silu and `map(|x| x * sigmoid(x))`, and tanh and `map(|x| tanh(x))`, each fused
//! after a dense layer (256 -> 256, batch 64) and alone (after layer norm), in
//! networks of their own, timed over a training pass (`loss_and_grad`: forward and
//! backward). The summary prints
//! each map's median over its built-in's: the macro's derived code should cost the
//! same (within 5%).
//!
//! `cargo bench --bench map`

use criterion::{criterion_group, BenchmarkId, Criterion};
use gradnet::prelude::*;
use std::hint::black_box;
use std::time::Duration;

mod common;

macro_rules! nets {
    ($($fused:ident, $alone:ident: $act:tt $(($($arg:tt)*))? ;)*) => {$(
        network! {
            /// The activation fused after a dense layer.
            struct $fused {
                input: 256,
                dense(256, init = glorot_uniform),
                $act $(($($arg)*))?,
                dense(10),
                loss: cross_entropy,
            }
        }
        network! {
            /// The activation alone (after layer norm, not a dense layer).
            struct $alone {
                input: 256,
                layer_norm,
                $act $(($($arg)*))?,
                dense(10),
                loss: cross_entropy,
            }
        }
    )*};
}

nets! {
    FusedSilu, AloneSilu: silu;
    FusedMapSilu, AloneMapSilu: map(|x| x * sigmoid(x));
    FusedTanh, AloneTanh: tanh;
    FusedMapTanh, AloneMapTanh: map(|x| tanh(x));
}

const ROWS: usize = 64;

fn data() -> (Batch<f32, 256>, Vec<usize>) {
    use gradnet::rand::RngExt;
    let mut rng = seeded(1);
    let x = Batch::from_vec(
        (0..ROWS * 256)
            .map(|_| rng.random_range(-2.0..2.0))
            .collect(),
    )
    .expect("finite");
    (x, (0..ROWS).map(|i| i % 10).collect())
}

macro_rules! bench_net {
    ($group:expr, $net:ident, $label:expr, $x:expr, $t:expr) => {{
        let mut net = $net::<f32>::new(&mut seeded(0));
        let mut ws = <$net<f32> as Network<f32>>::Workspace::default();
        let mut grads = net.zero_grads();
        $group.bench_function(BenchmarkId::new($label, "loss_and_grad"), |b| {
            b.iter(|| {
                net.loss_and_grad(black_box($x), $t, &mut ws, &mut grads)
                    .expect("a valid pass")
            })
        });
    }};
}

fn activations(c: &mut Criterion) {
    let (x, t) = data();
    let mut group = c.benchmark_group("map_vs_builtin_256_b64");
    bench_net!(group, FusedSilu, "fused_silu", &x, &t);
    bench_net!(group, FusedMapSilu, "fused_map_silu", &x, &t);
    bench_net!(group, AloneSilu, "alone_silu", &x, &t);
    bench_net!(group, AloneMapSilu, "alone_map_silu", &x, &t);
    bench_net!(group, FusedTanh, "fused_tanh", &x, &t);
    bench_net!(group, FusedMapTanh, "fused_map_tanh", &x, &t);
    bench_net!(group, AloneTanh, "alone_tanh", &x, &t);
    bench_net!(group, AloneMapTanh, "alone_map_tanh", &x, &t);
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
    targets = activations
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    println!("\nsummary (criterion medians of loss_and_grad):");
    for (builtin, map) in [
        ("fused_silu", "fused_map_silu"),
        ("alone_silu", "alone_map_silu"),
        ("fused_tanh", "fused_map_tanh"),
        ("alone_tanh", "alone_map_tanh"),
    ] {
        let median = |f: &str| common::median_ns("map_vs_builtin_256_b64", f, "loss_and_grad");
        if let (Some(b), Some(m)) = (median(builtin), median(map)) {
            println!(
                "  {map}: {:.1} us, {builtin}: {:.1} us, map / built-in = {:.3}",
                m / 1e3,
                b / 1e3,
                m / b
            );
        }
    }
}
