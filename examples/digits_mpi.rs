//! Data-parallel training over MPI (cargo feature `mpi`): the digits network of
//! `examples/digits.rs` fitted on K ranks, and the throughput of the workloads W1 and
//! W3 (`benches/workloads.rs`) at K ranks.
//!
//! ```text
//! cargo build --release --features mpi --example digits_mpi
//! mpirun -np 2 target/release/examples/digits_mpi                 # fit digits on 2 ranks
//! mpirun -np 2 target/release/examples/digits_mpi --bench w1      # W1 steps per second
//! mpirun -np 2 target/release/examples/digits_mpi --bench w3 --bn sync
//! ```
//!
//! (As root add `--allow-run-as-root`; with more ranks than cores, `--oversubscribe`.
//! Without `mpirun` it runs as one rank.)
//!
//! The fit: one stratified 80/20 split (seed `--seed`), AdamW with a cosine
//! schedule as in `digits.rs`, global batch 32 (32 / K rows per rank), batch norm
//! synchronized across the ranks (`--bn local` for per-rank statistics with rank 0's
//! running statistics broadcast, DDP's default). Rank 0 prints the progress and the
//! test accuracy.
//!
//! `--bench w1|w3|wide`: `--steps` SGD steps (after 10 unmeasured) at the workload's
//! global batch (W1: MLP 784-256-128-10, ReLU, cross-entropy, batch 64; W3: input
//! 256, 20 x (dense 256, batch norm, ReLU), dense 10, batch 128; wide: MLP
//! 784-1024-1024-10 at batch 64) on synthetic data, split over the ranks, through
//! `DataParallel::train_step`. Rank 0 prints the global examples per second, the
//! time per step, and the share of it spent in collective operations (the gradient
//! allreduce, the buffers' broadcast, synchronized batch norm's reductions, and the
//! wait for the slower rank). With one rank it also times the plain `train_step`
//! for comparison. `--bench allreduce`: the allreduce alone (after a barrier, so no
//! waiting), of as many f32 as each of those networks has parameters, `--steps`
//! times.

#[path = "common/digits.rs"]
mod digits;
#[path = "common/flags.rs"]
mod flags;

use digits::{CLASSES, DEFAULT_PATH, PIXELS};
use gradnet::distributed::{BatchNormSync, DataParallel, Mpi};
use gradnet::fit::{ScheduleStep, Trainer, Verbosity};
use gradnet::loss::accuracy;
use gradnet::metrics::Accuracy;
use gradnet::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use gradnet::prelude::*;
use gradnet::schedule::CosineAnnealingLr;
use std::time::Instant;

network! {
    /// 64 pixels -> two hidden layers (batch norm, ReLU, dropout) -> 10 logits, as
    /// in `digits.rs`.
    struct DigitNet {
        input: PIXELS,
        dropout(0.2),
        dense(512),
        batch_norm,
        relu,
        dropout(0.3),
        dense(256),
        batch_norm,
        relu,
        dropout(0.3),
        dense(CLASSES),
        loss: cross_entropy,
    }
}

network! {
    /// W1: 784-256-128-10 with ReLU.
    struct W1 {
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
    /// W3: 20 x (dense 256, batch norm, ReLU), then 10 logits.
    struct W3 {
        input: 256,
        repeat(20) {
            dense(256),
            batch_norm,
            relu,
        },
        dense(10),
        loss: cross_entropy,
    }
}

network! {
    /// W1 made wide: 784-1024-1024-10 with ReLU (2.9 M parameters).
    struct Wide {
        input: 784,
        dense(1024),
        relu,
        dense(1024),
        relu,
        dense(10),
        loss: cross_entropy,
    }
}

const EPOCHS: usize = 100;
const BATCH: usize = 32;
const LR: f64 = 2e-3;
const WEIGHT_DECAY: f64 = 1e-4;

type BoxError = Box<dyn std::error::Error>;

fn bn_mode(flags: &flags::Flags, default: &str) -> Result<BatchNormSync, BoxError> {
    match flags.get("--bn", default.to_string())?.as_str() {
        "sync" => Ok(BatchNormSync::Synchronized),
        "local" => Ok(BatchNormSync::BroadcastBuffers),
        other => Err(format!("--bn {other}: expected sync or local").into()),
    }
}

/// Fits digits on every rank; rank 0 prints.
fn fit(mpi: &Mpi, flags: &flags::Flags) -> Result<(), BoxError> {
    let seed: u64 = flags.get("--seed", 0)?;
    let sync = bn_mode(flags, "sync")?;
    let data = digits::load(DEFAULT_PATH)?;
    let (train, test) = digits::standardized_split(&data, 0.2, &mut seeded(seed))?;
    if mpi.is_root() {
        println!(
            "{} training images on {} ranks ({} each, the rest dropped), global batch {BATCH}, batch norm {sync:?}",
            train.len(),
            mpi.size(),
            train.len() / mpi.size()
        );
    }
    let mut net = DigitNet::<f32>::new(&mut seeded(seed));
    let mut opt: Adam<f32> = AdamConfig::adamw()
        .lr(LR)
        .weight_decay(WEIGHT_DECAY)
        .build()?;
    let start = Instant::now();
    let history = Trainer::new(EPOCHS, BATCH)
        .seed(seed)
        .schedule(
            CosineAnnealingLr::new(LR, EPOCHS, 0.0)?,
            ScheduleStep::Epoch,
        )
        .metric(Accuracy)
        .verbosity(Verbosity::Terminal)
        .data_parallel(DataParallel::new(mpi, sync))
        .fit(&mut net, &mut opt, &train)?;
    let time = start.elapsed().as_secs_f64();
    if sync == BatchNormSync::BroadcastBuffers {
        // Evaluate with rank 0's running statistics on every rank.
        DataParallel::<f32>::new(mpi, sync).broadcast_buffers(&mut net);
    }
    let (mut ws, mut logits) = (DigitNetWorkspace::new(), Batch::new());
    net.forward_into(test.x(), &mut ws, &mut logits)?;
    let acc = accuracy(&logits, test.y())?;
    if mpi.is_root() {
        println!(
            "test accuracy {:.1}% ({} images), final training loss {:.4}, {time:.2} s ({:.1} ms per epoch)",
            100.0 * acc,
            test.len(),
            history.last("loss").unwrap_or(f64::NAN),
            1e3 * time / EPOCHS as f64
        );
    }
    Ok(())
}

/// Synthetic rows of width `D` and labels, the same on every rank.
fn synthetic<const D: usize>(rows: usize) -> (Batch<f32, D>, Vec<usize>) {
    let x: Vec<f32> = (0..rows * D)
        .map(|i| (i as f64 * 0.618_033).sin() as f32)
        .collect();
    let y = (0..rows).map(|r| r % 10).collect();
    (Batch::from_slice(&x).expect("rows of D"), y)
}

/// `steps` data-parallel SGD steps of `N` at global batch `global`: rank 0 prints
/// the figures.
fn bench<const D: usize, N>(
    mpi: &Mpi,
    name: &str,
    global: usize,
    steps: usize,
    sync: BatchNormSync,
) -> Result<(), BoxError>
where
    N: Network<f32, Input = Batch<f32, D>, Target = [usize]>,
{
    let k = mpi.size();
    if global % k != 0 {
        return Err(format!("batch {global} does not split over {k} ranks").into());
    }
    let (x, y) = synthetic::<D>(global);
    // This rank's strided rows.
    let mine: Vec<usize> = (mpi.rank()..global).step_by(k).collect();
    let xs: Vec<f32> = mine.iter().flat_map(|&r| x.row(r).to_vec()).collect();
    let xs = Batch::<f32, D>::from_slice(&xs)?;
    let ys: Vec<usize> = mine.iter().map(|&r| y[r]).collect();
    let mut net = N::new(&mut seeded(0));
    let mut opt: Sgd<f32> = SgdConfig::new(0.01).build()?;
    let mut dp = DataParallel::<f32>::new(mpi, sync);
    dp.broadcast_model(&mut net);
    let (mut ws, mut grads) = (N::Workspace::default(), net.zero_grads());
    for _ in 0..10 {
        dp.train_step(&mut net, &xs, &ys, &mut opt, &mut ws, &mut grads)?;
    }
    mpi.barrier();
    dp.reset_timing();
    let start = Instant::now();
    for _ in 0..steps {
        dp.train_step(&mut net, &xs, &ys, &mut opt, &mut ws, &mut grads)?;
    }
    let wall = start.elapsed().as_secs_f64();
    let (comm, step) = dp.timing();
    // The slowest rank's figures.
    let mut t = [comm, step, wall];
    let mut s = Vec::new();
    mpi.all_reduce_sum(&mut t, &mut s);
    if mpi.is_root() {
        let per = wall / steps as f64;
        println!(
            "{name}: {k} rank(s), global batch {global}, {} parameters: {:.0} examples/s, {:.3} ms/step, collectives {:.1}% of a step (mean over ranks), batch norm {sync:?}",
            net.num_params(),
            global as f64 / per,
            1e3 * per,
            100.0 * t[0] / t[1],
        );
        if k == 1 {
            // The same steps without DataParallel.
            let start = Instant::now();
            for _ in 0..steps {
                net.train_step(&xs, &ys, &mut opt, &mut ws, &mut grads)?;
            }
            let per = start.elapsed().as_secs_f64() / steps as f64;
            println!(
                "{name}: plain train_step, batch {global}: {:.0} examples/s, {:.3} ms/step",
                global as f64 / per,
                1e3 * per
            );
        }
    }
    Ok(())
}

/// The allreduce alone: `MPI_Allreduce` (sum) of as many f32 as W1, W3 and the wide
/// MLP have parameters, after a barrier, so that no rank waits for another's
/// compute: rank 0 prints the mean time of one.
fn allreduce(mpi: &Mpi, repeats: usize) -> Result<(), BoxError> {
    let mut scratch = Vec::new();
    for (name, n) in [("W1", 235_146usize), ("W3", 1_328_650), ("wide", 1_863_690)] {
        let mut v = vec![1.0f32; n];
        mpi.all_reduce_sum(&mut v, &mut scratch);
        let mut total = 0.0;
        for _ in 0..repeats {
            mpi.barrier();
            let t = Instant::now();
            mpi.all_reduce_sum(&mut v, &mut scratch);
            total += t.elapsed().as_secs_f64();
        }
        if mpi.is_root() {
            let per = total / repeats as f64;
            println!(
                "allreduce of {name}'s {n} f32 ({:.2} MB) over {} rank(s): {:.3} ms ({:.2} GB/s of buffer)",
                4.0 * n as f64 / 1e6,
                mpi.size(),
                1e3 * per,
                4.0 * n as f64 / per / 1e9
            );
        }
    }
    Ok(())
}

fn run(mpi: &Mpi) -> Result<(), BoxError> {
    let flags = flags::Flags::parse(&["--bench", "--steps", "--bn", "--seed"])?;
    let steps: usize = flags.get("--steps", 200)?;
    match flags.get("--bench", String::new())?.as_str() {
        "" => fit(mpi, &flags),
        "w1" => bench::<784, W1<f32>>(mpi, "W1", 64, steps, bn_mode(&flags, "local")?),
        "w3" => bench::<256, W3<f32>>(mpi, "W3", 128, steps, bn_mode(&flags, "local")?),
        "wide" => bench::<784, Wide<f32>>(mpi, "wide", 64, steps, bn_mode(&flags, "local")?),
        "allreduce" => allreduce(mpi, steps),
        other => Err(format!("--bench {other}: expected w1, w3, wide or allreduce").into()),
    }
}

fn main() {
    let mpi = match Mpi::init() {
        Ok(mpi) => mpi,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let result = run(&mpi);
    mpi.exit_on_error(result);
}
