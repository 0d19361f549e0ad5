//! Zero-allocation proof: a counting global allocator shows that training steps after
//! the first, and `forward_into` after the first call, allocate nothing in gradnet's
//! own code, at a fixed batch size and for a smaller batch after a larger one.
//!
//! Dense layers use direct loops for batches of at most `DIRECT_MAX_ROWS` (8) rows
//! and for products of at most `DIRECT_MAX_MACS` (8192) multiply-adds; larger ones
//! call `gradnet::gemm::gemm`, whose packing buffers are the thread's own, grown on
//! the first product of a size and kept. So every network, on either path, in f32
//! and f64, allocates exactly 0 times per step after the first, GEMM included.
//!
//! This is its own test binary without the libtest harness (`harness = false`), so
//! no other test's thread allocates while it counts: `main` runs the checks one after
//! another on one thread.

use gradnet::gemm::{gemm, MatMut, MatRef};
use gradnet::optim::SgdConfig;
use gradnet::prelude::*;

#[path = "common/counting.rs"]
mod counting;

/// Runs `f` and returns how many allocations it made, and its result.
fn counted<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = counting::allocations();
    let r = f();
    (counting::allocations() - before, r)
}

type Check = Result<(), String>;

/// A check and its name.
type NamedCheck = (&'static str, fn() -> Check);

/// Fails with `what` unless `found == expected`.
fn expect(what: &str, found: usize, expected: usize) -> Check {
    if found == expected {
        Ok(())
    } else {
        Err(format!("{what}: {found} allocations, expected {expected}"))
    }
}

/// A batch of `rows` pseudo-random values in [-1, 1), made before counting.
fn data<const D: usize>(rows: usize, seed: u64) -> Batch<f32, D> {
    use gradnet::rand::RngExt;
    let mut rng = seeded(seed);
    Batch::from_vec((0..rows * D).map(|_| rng.random_range(-1.0..1.0)).collect())
        .expect("finite data")
}

/// Class labels `0..classes` cycling over `rows` rows.
fn labels(rows: usize, classes: usize) -> Vec<usize> {
    (0..rows).map(|i| (i * 7 + 3) % classes).collect()
}

network! {
    /// W2 of the benchmarks, every layer on the direct path up to batch 32
    /// (32 * 16 * 16 = 8192 multiply-adds).
    struct Small {
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
    /// Batch norm, layer norm, dropout, PReLU, a residual block and gradient clipping,
    /// all within the direct range at batch 32.
    struct Norms {
        input: 6,
        dense(16),
        batch_norm,
        relu,
        dropout(0.25),
        residual {
            dense(16),
            layer_norm,
            prelu(16),
            dropout(0.1),
            residual {
                leaky_relu(0.05),
                dense(16),
            },
        },
        gelu,
        dense(8),
        batch_norm(affine = false),
        dense(3),
        loss: cross_entropy,
        clip: norm(1.0),
    }
}

network! {
    /// W1 of the benchmarks: 784-256-128-10, every layer on the GEMM path at batch 64.
    struct Large {
        input: 784,
        dense(256),
        relu,
        dense(128),
        relu,
        dense(10),
        loss: cross_entropy,
    }
}

/// The small MLP with SGD (momentum): 0 allocations per step after the first, at a
/// fixed batch, then at a smaller batch, then at the larger one again.
fn small_mlp_training() -> Check {
    let big_x = data::<2>(32, 1);
    let big_y = data::<1>(32, 2);
    let small_x = data::<2>(5, 3);
    let small_y = data::<1>(5, 4);
    let mut net = Small::<f32>::new(&mut seeded(0));
    let mut opt = SgdConfig::new(0.05)
        .momentum(0.9)
        .build::<f32>()
        .map_err(|e| e.to_string())?;
    let (mut ws, mut grads) = (SmallWorkspace::new(), net.zero_grads());
    let mut step = |x: &Batch<f32, 2>, y: &Batch<f32, 1>| {
        net.train_step(x, y, &mut opt, &mut ws, &mut grads)
            .expect("a valid step")
    };
    let (first, _) = counted(|| step(&big_x, &big_y));
    if first == 0 {
        return Err(
            "the first step should allocate (workspace, optimizer state); is the counter on?"
                .into(),
        );
    }
    let (n, _) = counted(|| {
        (0..20).for_each(|_| {
            step(&big_x, &big_y);
        })
    });
    expect("20 steps at batch 32", n, 0)?;
    let (n, _) = counted(|| {
        (0..20).for_each(|_| {
            step(&small_x, &small_y);
        })
    });
    expect("20 steps at batch 5 after batch 32", n, 0)?;
    let (n, _) = counted(|| {
        (0..5).for_each(|_| {
            step(&big_x, &big_y);
        })
    });
    expect("5 steps at batch 32 again", n, 0)
}

/// `forward_into` and `loss_and_grad` with the input's gradient.
fn small_mlp_inference_and_input_grad() -> Check {
    let big_x = data::<2>(32, 5);
    let small_x = data::<2>(1, 6);
    let y = data::<1>(32, 7);
    let mut net = Small::<f32>::new(&mut seeded(1));
    let (mut ws, mut out) = (SmallWorkspace::new(), Batch::new());
    net.forward_into(&big_x, &mut ws, &mut out).unwrap();
    let (n, _) = counted(|| {
        for _ in 0..10 {
            net.forward_into(&big_x, &mut ws, &mut out).unwrap();
            net.forward_into(&small_x, &mut ws, &mut out).unwrap();
        }
    });
    expect("forward_into at batch 32 and 1", n, 0)?;
    let mut grads = net.zero_grads().with_input_grad();
    net.loss_and_grad(&big_x, &y, &mut ws, &mut grads)
        .map_err(|e| e.to_string())?;
    let (n, r) = counted(|| {
        (0..10).try_for_each(|_| {
            net.loss_and_grad(&big_x, &y, &mut ws, &mut grads)
                .map(|_| ())
        })
    });
    r.map_err(|e| e.to_string())?;
    expect("loss_and_grad with the input gradient", n, 0)
}

/// Batch norm, layer norm, dropout, PReLU, residual blocks and clipping, with AdamW
/// (AMSGrad, so every Adam buffer is in use): 0 allocations after the first step, at
/// batch 32 and then 7, and in `forward_into`.
fn norms_dropout_residual() -> Check {
    let big_x = data::<6>(32, 8);
    let big_t = labels(32, 3);
    let small_x = data::<6>(7, 9);
    let small_t = labels(7, 3);
    let mut net = Norms::<f32>::new(&mut seeded(2));
    let mut opt = AdamConfig::adamw()
        .lr(1e-3)
        .amsgrad(true)
        .build::<f32>()
        .map_err(|e| e.to_string())?;
    let (mut ws, mut grads) = (NormsWorkspace::with_seed(3), net.zero_grads());
    let mut step = |net: &mut Norms<f32>, x: &Batch<f32, 6>, t: &[usize]| {
        net.train_step(x, t, &mut opt, &mut ws, &mut grads)
            .expect("a valid step")
    };
    step(&mut net, &big_x, &big_t);
    let (n, _) = counted(|| {
        (0..20).for_each(|_| {
            step(&mut net, &big_x, &big_t);
        })
    });
    expect("20 steps at batch 32", n, 0)?;
    let (n, _) = counted(|| {
        (0..20).for_each(|_| {
            step(&mut net, &small_x, &small_t);
        })
    });
    expect("20 steps at batch 7 after batch 32", n, 0)?;
    let (mut ews, mut out) = (NormsWorkspace::new(), Batch::new());
    net.forward_into(&big_x, &mut ews, &mut out).unwrap();
    let (n, _) = counted(|| {
        net.forward_into(&big_x, &mut ews, &mut out).unwrap();
        net.forward_into(&small_x, &mut ews, &mut out).unwrap();
    });
    expect("forward_into", n, 0)
}

network! {
    /// Recurrent layers of every cell, stacked, with per-step layers between them and
    /// gradient clipping; at 4 rows of 10 steps every product takes direct loops
    /// (the largest, the LSTM's `dW_hh`, is 40 x 24 x 6 = 5760 multiply-adds).
    struct Recurrent {
        input: seq(3),
        lstm(6, sequence),
        layer_norm,
        dense(4),
        tanh,
        rnn(5, sequence),
        gru(6, bidirectional),
        dense(3),
        loss: cross_entropy,
        clip: norm(1.0),
    }
}

/// A sequence of `steps x rows` pseudo-random values, made before counting.
fn seq_data<const D: usize>(steps: usize, rows: usize, seed: u64) -> gradnet::seq::Seq<f32, D> {
    gradnet::seq::Seq::from_time_major(data::<D>(steps * rows, seed).into_vec(), steps)
        .expect("finite data")
}

/// Recurrent training steps (backpropagation through time) allocate nothing after
/// the first, for a shorter sequence after a longer one, and with an initial state
/// carried from chunk to chunk (truncated BPTT); nor does `forward_into`.
fn recurrent_training() -> Check {
    let long = seq_data::<3>(10, 4, 11);
    let short = seq_data::<3>(6, 4, 12);
    let t = labels(4, 3);
    let mut net = Recurrent::<f32>::new(&mut seeded(4));
    let mut opt = SgdConfig::new(1e-2)
        .momentum(0.9)
        .build::<f32>()
        .map_err(|e| e.to_string())?;
    let (mut ws, mut grads) = (RecurrentWorkspace::new(), net.zero_grads());
    let mut step = |net: &mut Recurrent<f32>, ws: &mut RecurrentWorkspace<f32>, x| {
        net.train_step(x, &t, &mut opt, ws, &mut grads)
            .expect("a valid step");
        net.carry_state(ws);
    };
    // The first step starts from zeros, the second from a carried state (whose
    // gradient buffers grow then).
    step(&mut net, &mut ws, &long);
    step(&mut net, &mut ws, &long);
    let (n, _) = counted(|| (0..10).for_each(|_| step(&mut net, &mut ws, &long)));
    expect("10 steps of 10 time steps, state carried", n, 0)?;
    let (n, _) = counted(|| (0..10).for_each(|_| step(&mut net, &mut ws, &short)));
    expect("10 steps of 6 time steps after 10", n, 0)?;
    let mut out = Batch::new();
    net.forward_into(&long, &mut ws, &mut out).unwrap();
    let (n, _) = counted(|| {
        net.forward_into(&long, &mut ws, &mut out).unwrap();
        net.forward_into(&short, &mut ws, &mut out).unwrap();
    });
    expect("forward_into of sequences", n, 0)
}

/// A batch of `rows` pseudo-random values in [-1, 1) in any scalar type.
fn data_in<T: Real, const D: usize>(rows: usize, seed: u64) -> Batch<T, D> {
    Batch::from_vec(
        data::<D>(rows, seed)
            .into_vec()
            .into_iter()
            .map(|v| T::of(v as f64))
            .collect(),
    )
    .expect("finite data")
}

/// The GEMM alone allocates nothing after its first call, in each of the three
/// shapes of a dense layer's products (`X W^T`, `dY^T X`, `dY W`) and for smaller
/// products after the larger ones.
fn gemm_allocates_nothing<T: Real>() -> Check {
    let (m, k, n) = (64, 784, 256);
    let x = vec![T::of(0.5); m * k];
    let w = vec![T::of(0.25); n * k];
    let (mut y, mut dw, mut dx) = (
        vec![T::zero(); m * n],
        vec![T::zero(); n * k],
        vec![T::zero(); m * k],
    );
    let mut step = |rows: usize| {
        let x = MatRef::row_major(&x[..rows * k], rows, k);
        let w = MatRef::row_major(&w, n, k);
        gemm(
            T::one(),
            x,
            w.t(),
            T::zero(),
            MatMut::row_major(&mut y[..rows * n], rows, n),
        );
        let dy = MatRef::row_major(&y[..rows * n], rows, n);
        gemm(
            T::one(),
            dy.t(),
            x,
            T::zero(),
            MatMut::row_major(&mut dw, n, k),
        );
        gemm(
            T::one(),
            dy,
            w,
            T::zero(),
            MatMut::row_major(&mut dx[..rows * k], rows, k),
        );
    };
    step(m);
    let (count, _) = counted(|| {
        for rows in [64, 33, 9, 64, 1] {
            step(rows);
        }
    });
    expect("15 products at 64, 33, 9, 64 and 1 rows", count, 0)
}

/// The 784-256-128-10 network at batch 64 (all on the GEMM path), then 16, then 2
/// (all direct: at most `DIRECT_MAX_ROWS` rows): no allocation per step on either
/// path, nor per `forward_into`.
fn large_mlp<T: Real>() -> Check {
    let xs = [
        data_in::<T, 784>(64, 10),
        data_in::<T, 784>(16, 11),
        data_in::<T, 784>(2, 12),
    ];
    let ts = [labels(64, 10), labels(16, 10), labels(2, 10)];
    let mut net = Large::<T>::new(&mut seeded(4));
    let mut opt = SgdConfig::new(0.01)
        .momentum(0.9)
        .build::<T>()
        .map_err(|e| e.to_string())?;
    let (mut ws, mut grads) = (LargeWorkspace::new(), net.zero_grads());
    net.train_step(&xs[0], &ts[0], &mut opt, &mut ws, &mut grads)
        .map_err(|e| e.to_string())?;
    for (x, t) in xs.iter().zip(&ts) {
        let steps = 5;
        let (n, r) = counted(|| {
            (0..steps).try_for_each(|_| {
                net.train_step(x, t, &mut opt, &mut ws, &mut grads)
                    .map(|_| ())
            })
        });
        r.map_err(|e| e.to_string())?;
        expect(&format!("{steps} steps at batch {}", x.rows()), n, 0)?;
    }
    let (mut ews, mut out) = (LargeWorkspace::new(), Batch::new());
    net.forward_into(&xs[0], &mut ews, &mut out).unwrap();
    for x in &xs {
        let (n, _) = counted(|| net.forward_into(x, &mut ews, &mut out).unwrap());
        expect(&format!("forward_into at batch {}", x.rows()), n, 0)?;
    }
    let one = data_in::<T, 784>(1, 13);
    let (n, _) = counted(|| net.forward_into(&one, &mut ews, &mut out).unwrap());
    expect("forward_into at batch 1", n, 0)
}

/// The data loader: after the first epoch has sized its buffers, a whole epoch
/// (the shuffle and every minibatch gathered) allocates nothing, for rows and for
/// sequences.
fn loader_epochs() -> Check {
    use gradnet::data::{Dataset, Loader};
    use gradnet::{Seq, SeqClasses};
    let x = Batch::<f32, 8>::zeros(100);
    let data = Dataset::new(x, (0..100).map(|i| i % 3).collect::<Vec<usize>>()).unwrap();
    let mut loader = Loader::new(16).unwrap().shuffle(1);
    let epoch = |l: &mut Loader<_, _>| {
        l.start_epoch(data.len());
        let mut rows = 0;
        while let Some((xb, _)) = l.next_batch(&data) {
            rows += Batch::rows(xb);
        }
        rows
    };
    epoch(&mut loader);
    let (n, rows) = counted(|| epoch(&mut loader));
    expect("an epoch of row batches", n, 0)?;
    expect("rows seen", rows, 100)?;

    let s = Seq::<f32, 4>::zeros(5, 30);
    let c = SeqClasses::from_time_major(vec![0; 150], 5).unwrap();
    let seqs = Dataset::new(s, c).unwrap();
    let mut loader = Loader::new(8).unwrap().shuffle(2);
    let epoch = |l: &mut Loader<_, _>| {
        l.start_epoch(seqs.len());
        while l.next_batch(&seqs).is_some() {}
    };
    epoch(&mut loader);
    let (n, ()) = counted(|| epoch(&mut loader));
    expect("an epoch of sequence batches", n, 0)
}

/// `fit` adds nothing per step to the step's own zero: a fit of twice the steps
/// per epoch (twice the data) allocates as often as one of half (the per-epoch
/// history and values, the buffers sized once), give or take the formatting. Cross-entropy network with
/// batch norm and dropout, a metric, validation and a gradient report per epoch.
fn fit_allocates_nothing_per_step() -> Check {
    use gradnet::data::Dataset;
    use gradnet::fit::{Trainer, Verbosity};
    use gradnet::metrics::{Accuracy, TopK};
    let run = |rows: usize| {
        let data = Dataset::new(
            Batch::<f32, 6>::zeros(rows),
            (0..rows).map(|i| i % 3).collect::<Vec<usize>>(),
        )
        .unwrap();
        let val = data.subset(&[0, 1, 2, 3]).unwrap();
        let mut net = Norms::<f32>::new(&mut seeded(0));
        let mut opt = SgdConfig::new(0.01).build().unwrap();
        let mut trainer = Trainer::new(3, 8)
            .metric(Accuracy)
            .metric(TopK(2))
            .gradient_report_every((rows / 8) as u64)
            .verbosity(Verbosity::Quiet);
        // Everything is built: count the fit alone.
        counted(|| {
            trainer
                .fit_validated(&mut net, &mut opt, &data, &val)
                .unwrap()
        })
        .0
    };
    // 24 more steps: one allocation per step would add 24. The formatting of the
    // epochs' values (their digits) may differ by a few reallocations.
    let (short, long) = (run(64), run(128));
    if long.abs_diff(short) <= 4 {
        Ok(())
    } else {
        Err(format!(
            "a fit of 48 steps allocates {long} times, one of 24 steps {short} times"
        ))
    }
}

fn main() {
    let checks: [NamedCheck; 10] = [
        (
            "fit_allocates_nothing_per_step",
            fit_allocates_nothing_per_step,
        ),
        ("loader_epochs", loader_epochs),
        ("gemm_allocates_nothing_f32", gemm_allocates_nothing::<f32>),
        ("gemm_allocates_nothing_f64", gemm_allocates_nothing::<f64>),
        ("small_mlp_training", small_mlp_training),
        (
            "small_mlp_inference_and_input_grad",
            small_mlp_inference_and_input_grad,
        ),
        ("norms_dropout_residual", norms_dropout_residual),
        ("recurrent_training", recurrent_training),
        ("large_mlp_f32", large_mlp::<f32>),
        ("large_mlp_f64", large_mlp::<f64>),
    ];
    let mut failed = 0;
    for (name, check) in checks {
        match check() {
            Ok(()) => println!("test {name} ... ok"),
            Err(msg) => {
                failed += 1;
                println!("test {name} ... FAILED: {msg}");
            }
        }
    }
    println!("alloc: {} passed, {failed} failed", checks.len() - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
