//! Data-parallel training over MPI (feature `mpi`), checked under `mpirun -np 2`.
//!
//! `cargo test --features mpi --test distributed` runs this binary without
//! arguments: it then launches jobs of itself with
//! `mpirun --allow-run-as-root --oversubscribe -np 2 <this binary> MODE` and checks
//! them:
//!
//! - `ranks`, twice: the checks below, on both ranks, each reporting its result; the
//!   two jobs must print the same digest of their final weights (two runs with the
//!   same seed are bit-identical);
//! - `fail pass` and `fail sync`: rank 1 is given a NaN (with per-rank and with
//!   synchronized batch norm); the job must exit non-zero with rank 1's error.
//!
//! The checks of `ranks`: for networks without batch norm and dropout, the
//! parameters after 20 steps of 2 ranks at global batch 16 (8 rows each) equal
//! those of one process at batch 16 to 1e-12 relative in f64 (per tensor, the
//! largest difference over the largest value), with Adam, and with SGD with
//! momentum and norm clipping; in f32, to the bound printed and asserted below;
//! with synchronized batch norm the same for a batch-norm network, its running
//! statistics included; with per-rank batch norm, the ranks stay equal to each
//! other; steps after the first make no Rust allocation; a failed step changes
//! nothing on any rank; `fit` gives one process's history and weights, writes
//! checkpoints from rank 0 only, and resumes on both ranks from rank 0's file to
//! the weights of a fit never stopped.

use gradnet::data::Dataset;
use gradnet::distributed::{BatchNormSync, DataParallel, DistError, Mpi};
use gradnet::fit::{Checkpoint, Trainer, Verbosity};
use gradnet::metrics::Accuracy;
use gradnet::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use gradnet::prelude::*;
use mpi::traits::{Communicator, Root};
use std::process::Command;

#[path = "common/counting.rs"]
mod counting;

/// The Rust allocations of steps 2 to 20 of `N` over the ranks (data made before).
fn allocations_after_first<N: Network<f64, Input = Batch<f64, 6>, Target = [usize]>>(
    mpi: &Mpi,
    sync: BatchNormSync,
) -> Result<usize, String> {
    let mut net = N::new(&mut seeded(3));
    let mut dp = DataParallel::<f64>::new(mpi, sync);
    dp.broadcast_model(&mut net);
    let mut opt = adam::<f64>();
    let (mut ws, mut grads) = (N::Workspace::default(), net.zero_grads());
    let batches: Vec<_> = (0..STEPS)
        .map(|s| {
            let (x, y) = global_batch::<f64>(s);
            shard(&x, &y, mpi.rank())
        })
        .collect();
    let mut count = 0;
    for (s, (xs, ys)) in batches.iter().enumerate() {
        let before = counting::allocations();
        dp.train_step(&mut net, xs, ys, &mut opt, &mut ws, &mut grads)
            .map_err(|e| e.to_string())?;
        let n = counting::allocations() - before;
        if s == 0 && n == 0 {
            // The first step grows every buffer: a counter that saw none is broken.
            return Err("the first step counted no allocation".into());
        }
        if s > 0 {
            count += n;
        }
    }
    Ok(count)
}

network! {
    /// No batch norm, no dropout.
    struct Mlp {
        input: 6,
        dense(16),
        tanh,
        dense(12),
        relu,
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// The same with the spec's norm clipping, applied to the reduced gradients.
    struct Clipped {
        input: 6,
        dense(16),
        tanh,
        dense(12),
        relu,
        dense(3),
        loss: cross_entropy,
        clip: norm(0.05),
    }
}

network! {
    /// Two batch norm layers, each after a dense layer without bias, as PyTorch
    /// practice has it: a bias before batch norm has a gradient that is zero but
    /// for rounding, so its value would be rounding noise (which Adam's
    /// `1 / (sqrt(v) + eps)` scales up a hundred million times), in one process and
    /// in two alike, and no relative comparison of it could mean anything.
    struct Bn {
        input: 6,
        dense(16, bias = false),
        batch_norm,
        relu,
        dense(16, bias = false),
        batch_norm,
        relu,
        dense(3),
        loss: cross_entropy,
    }
}

const RANKS: usize = 2;
const GLOBAL: usize = 16;
const STEPS: usize = 20;

/// Step `s`'s global batch: `GLOBAL` rows of 6 features, 3 classes.
fn global_batch<T: Real>(s: usize) -> (Batch<T, 6>, Vec<usize>) {
    let mut x = Vec::with_capacity(GLOBAL * 6);
    let mut y = Vec::with_capacity(GLOBAL);
    for r in 0..GLOBAL {
        let mut sum = 0.0;
        for c in 0..6 {
            let v = ((s * 131 + r * 17 + c * 7) as f64 * 0.618).sin() * 1.5;
            sum += v * (c as f64 - 2.5);
            x.push(T::of(v));
        }
        y.push(if sum > 1.0 {
            0
        } else if sum < -1.0 {
            1
        } else {
            2
        });
    }
    (Batch::from_slice(&x).expect("rows of 6"), y)
}

/// This rank's strided shard of a global batch (rows `rank, rank + RANKS, ...`).
fn shard<T: Real>(x: &Batch<T, 6>, y: &[usize], rank: usize) -> (Batch<T, 6>, Vec<usize>) {
    let rows: Vec<usize> = (rank..x.rows()).step_by(RANKS).collect();
    let mut xs = Vec::new();
    for &r in &rows {
        xs.extend_from_slice(x.row(r));
    }
    let ys = rows.iter().map(|&r| y[r]).collect();
    (Batch::from_slice(&xs).expect("rows of 6"), ys)
}

/// Every parameter, then every buffer, as f64.
fn flat<T: Real, N: Parameters<T>>(net: &N) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    net.visit_params(&mut |_, v| out.push(v.iter().map(|x| x.as_f64()).collect()));
    net.visit_buffers(&mut |_, v| out.push(v.iter().map(|x| x.as_f64()).collect()));
    out
}

/// The largest, over tensors, of the largest difference over the largest value.
fn rel_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
            let d = a
                .iter()
                .zip(b)
                .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
            d / scale
        })
        .fold(0.0, f64::max)
}

/// 20 steps of 2 ranks against 20 steps of one process at the global batch: the
/// relative difference of the weights (and buffers).
fn versus_one_process<T, N, O>(
    mpi: &Mpi,
    sync: BatchNormSync,
    make_opt: impl Fn() -> O,
) -> Result<f64, String>
where
    T: Real + mpi::datatype::Equivalence,
    N: Network<T, Input = Batch<T, 6>, Target = [usize]>,
    O: gradnet::optim::Optimizer<T>,
{
    let rank = mpi.rank();
    // A different initialization on rank 1, so that the broadcast matters.
    let mut net = N::new(&mut seeded(7 + rank as u64));
    let mut dp = DataParallel::<T>::new(mpi, sync);
    dp.broadcast_model(&mut net);
    let mut one = N::new(&mut seeded(7));
    if rel_diff(&flat(&net), &flat(&one)) != 0.0 {
        return Err("the broadcast did not give rank 0's weights".into());
    }
    let (mut opt, mut opt1) = (make_opt(), make_opt());
    let (mut ws, mut grads) = (N::Workspace::default(), net.zero_grads());
    let (mut ws1, mut grads1) = (N::Workspace::default(), one.zero_grads());
    for s in 0..STEPS {
        let (x, y) = global_batch::<T>(s);
        let (xs, ys) = shard(&x, &y, rank);
        let loss = dp
            .train_step(&mut net, &xs, &ys, &mut opt, &mut ws, &mut grads)
            .map_err(|e| format!("step {s}: {e}"))?;
        let loss1 = one
            .train_step(&x, &y, &mut opt1, &mut ws1, &mut grads1)
            .map_err(|e| format!("step {s}, one process: {e}"))?;
        let dl = (loss.as_f64() - loss1.as_f64()).abs() / loss1.as_f64().abs();
        if dl > if T::IS_F32 { 1e-4 } else { 1e-12 } {
            return Err(format!("step {s}: loss {loss} against {loss1}"));
        }
    }
    Ok(rel_diff(&flat(&net), &flat(&one)))
}

/// Whether `v` is bit for bit rank 0's on every rank (the verdict the same on all).
fn same_as_rank0(mpi: &Mpi, v: &[Vec<f64>]) -> bool {
    let mine: Vec<f64> = v.iter().flatten().copied().collect();
    let mut theirs = mine.clone();
    mpi.world()
        .process_at_rank(0)
        .broadcast_into(&mut theirs[..]);
    let differs = mine
        .iter()
        .zip(&theirs)
        .any(|(a, b)| a.to_bits() != b.to_bits());
    let mut flag = [f64::from(u8::from(differs))];
    mpi.all_reduce_sum(&mut flag, &mut Vec::new());
    flag[0] == 0.0
}

/// 20 steps of `N` over 2 ranks from seed 3: the final weights.
fn run_seeded<N: Network<f64, Input = Batch<f64, 6>, Target = [usize]>>(
    mpi: &Mpi,
    sync: BatchNormSync,
) -> Result<Vec<Vec<f64>>, String> {
    let mut net = N::new(&mut seeded(3));
    let mut dp = DataParallel::<f64>::new(mpi, sync);
    dp.broadcast_model(&mut net);
    let mut opt: Adam<f64> = AdamConfig::default()
        .lr(0.01)
        .build()
        .map_err(|e| e.to_string())?;
    let (mut ws, mut grads) = (N::Workspace::default(), net.zero_grads());
    for s in 0..STEPS {
        let (x, y) = global_batch::<f64>(s);
        let (xs, ys) = shard(&x, &y, mpi.rank());
        dp.train_step(&mut net, &xs, &ys, &mut opt, &mut ws, &mut grads)
            .map_err(|e| e.to_string())?;
    }
    Ok(flat(&net))
}

fn adam<T: Real>() -> Adam<T> {
    AdamConfig::default()
        .lr(0.01)
        .build()
        .expect("valid settings")
}

fn sgd<T: Real>() -> Sgd<T> {
    SgdConfig::new(0.1)
        .momentum(0.9)
        .build()
        .expect("valid settings")
}

/// A check on every rank; passes when it passes on all.
struct Checks<'a> {
    mpi: &'a Mpi,
    passed: usize,
    failed: usize,
}

impl Checks<'_> {
    fn run(&mut self, name: &str, check: impl FnOnce() -> Result<String, String>) {
        let result = check();
        let mut flag = [f64::from(u8::from(result.is_err()))];
        self.mpi.all_reduce_sum(&mut flag, &mut Vec::new());
        let rank = self.mpi.rank();
        match &result {
            Ok(detail) if flag[0] == 0.0 => {
                if rank == 0 {
                    println!("check {name}: ok ({detail})");
                }
            }
            Ok(_) => {}
            Err(why) => eprintln!("check {name}: FAILED on rank {rank}: {why}"),
        }
        if flag[0] == 0.0 {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }
}

fn ranks() -> i32 {
    let mpi = Mpi::init().expect("MPI starts once");
    if mpi.size() != RANKS {
        eprintln!("run under mpirun -np {RANKS}, not {}", mpi.size());
        return 1;
    }
    let mut c = Checks {
        mpi: &mpi,
        passed: 0,
        failed: 0,
    };
    let bound = |d: f64, b: f64| {
        if d <= b {
            Ok(format!("relative difference {d:.2e} <= {b:.0e}"))
        } else {
            Err(format!("relative difference {d:.2e} > {b:.0e}"))
        }
    };
    c.run("f64 mlp, adam: 2 ranks = one process", || {
        bound(
            versus_one_process::<f64, Mlp<f64>, _>(&mpi, BatchNormSync::BroadcastBuffers, adam)?,
            1e-12,
        )
    });
    c.run(
        "f64 mlp, sgd momentum, clip norm: 2 ranks = one process",
        || {
            bound(
                versus_one_process::<f64, Clipped<f64>, _>(
                    &mpi,
                    BatchNormSync::BroadcastBuffers,
                    sgd,
                )?,
                1e-12,
            )
        },
    );
    c.run(
        "f64 batch norm, synchronized: 2 ranks = one process",
        || {
            bound(
                versus_one_process::<f64, Bn<f64>, _>(&mpi, BatchNormSync::Synchronized, adam)?,
                1e-12,
            )
        },
    );
    c.run("f32 mlp, adam: 2 ranks ~ one process", || {
        bound(
            versus_one_process::<f32, Mlp<f32>, _>(&mpi, BatchNormSync::BroadcastBuffers, adam)?,
            1e-5,
        )
    });
    c.run(
        "f32 batch norm, synchronized: 2 ranks ~ one process",
        || {
            bound(
                versus_one_process::<f32, Bn<f32>, _>(&mpi, BatchNormSync::Synchronized, adam)?,
                1e-5,
            )
        },
    );
    c.run("per-rank batch norm: the ranks stay equal", || {
        let w = run_seeded::<Bn<f64>>(&mpi, BatchNormSync::BroadcastBuffers)?;
        // Parameters only: the buffers are each rank's until the next broadcast.
        let params = &w[..w.len() - 6];
        if !same_as_rank0(&mpi, params) {
            return Err("the parameters differ between ranks".into());
        }
        Ok("parameters bit-identical across ranks".into())
    });
    let mut digest = 0u64;
    c.run("same seed twice: bit-identical", || {
        let a = run_seeded::<Mlp<f64>>(&mpi, BatchNormSync::BroadcastBuffers)?;
        let b = run_seeded::<Mlp<f64>>(&mpi, BatchNormSync::BroadcastBuffers)?;
        let sa = run_seeded::<Bn<f64>>(&mpi, BatchNormSync::Synchronized)?;
        let sb = run_seeded::<Bn<f64>>(&mpi, BatchNormSync::Synchronized)?;
        let bits = |w: &[Vec<f64>]| w.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
        if bits(&a) != bits(&b) || bits(&sa) != bits(&sb) {
            return Err("two runs differ".into());
        }
        for v in bits(&a).into_iter().chain(bits(&sa)) {
            digest = digest.rotate_left(5) ^ v;
        }
        Ok("mlp and synchronized batch norm".into())
    });
    c.run("no allocation per step after the first", || {
        let a = allocations_after_first::<Mlp<f64>>(&mpi, BatchNormSync::BroadcastBuffers)?;
        let b = allocations_after_first::<Bn<f64>>(&mpi, BatchNormSync::BroadcastBuffers)?;
        let c = allocations_after_first::<Bn<f64>>(&mpi, BatchNormSync::Synchronized)?;
        if a + b + c > 0 {
            return Err(format!("{a}, {b} and {c} allocations in 19 steps"));
        }
        Ok("mlp; batch norm, per rank and synchronized: 0 Rust allocations in steps 2-20".into())
    });
    c.run("a failed step changes nothing on any rank", || {
        let mut net = Bn::<f64>::new(&mut seeded(1));
        let mut dp = DataParallel::<f64>::new(&mpi, BatchNormSync::BroadcastBuffers);
        dp.broadcast_model(&mut net);
        let mut opt = adam::<f64>();
        let (mut ws, mut grads) = (BnWorkspace::new(), net.zero_grads());
        let (x, y) = global_batch::<f64>(0);
        let (mut xs, ys) = shard(&x, &y, mpi.rank());
        dp.train_step(&mut net, &xs, &ys, &mut opt, &mut ws, &mut grads)
            .map_err(|e| e.to_string())?;
        dp.broadcast_buffers(&mut net);
        let before = flat(&net);
        if mpi.rank() == 1 {
            xs.as_mut_slice()[3] = f64::NAN;
        }
        let r = dp.train_step(&mut net, &xs, &ys, &mut opt, &mut ws, &mut grads);
        match (mpi.rank(), &r) {
            (
                1,
                Err(DistError::Pass {
                    rank: 1,
                    source: Error::NonFinite { .. },
                }),
            ) => {}
            (0, Err(DistError::PeerFailed { failed: 1, size: 2 })) => {}
            _ => return Err(format!("unexpected result {r:?}")),
        }
        if rel_diff(&flat(&net), &before) != 0.0 {
            return Err("the network changed".into());
        }
        Ok("rank 1 its error, rank 0 PeerFailed, weights and buffers as before".into())
    });
    c.run("fit: 2 ranks = one process (history and weights)", || {
        fit_check(&mpi)
    });
    c.run("fit: rank-0 checkpoints, resume on both ranks", || {
        resume_check(&mpi)
    });
    if mpi.rank() == 0 {
        println!("digest {digest:016x}");
        println!("ranks: {} passed, {} failed", c.passed, c.failed);
    }
    i32::from(c.failed > 0)
}

/// Rows of 6 features and their classes.
type Data = Dataset<Batch<f64, 6>, Vec<usize>>;

/// A data set of 100 rows and a validation set of 30.
fn datasets() -> (Data, Data) {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in 0..9 {
        let (x, y) = global_batch::<f64>(100 + s);
        xs.extend_from_slice(x.as_slice());
        ys.extend(y);
    }
    let x = Batch::<f64, 6>::from_slice(&xs[..130 * 6]).expect("rows");
    let d = Dataset::new(x, ys[..130].to_vec()).expect("same rows");
    let train = d.subset(&(0..100).collect::<Vec<_>>()).expect("in range");
    let val = d.subset(&(100..130).collect::<Vec<_>>()).expect("in range");
    (train, val)
}

fn fit_check(mpi: &Mpi) -> Result<String, String> {
    let (train, val) = datasets();
    let trainer = || {
        Trainer::<f64, Bn<f64>, Adam<f64>>::new(3, GLOBAL)
            .seed(5)
            .metric(Accuracy)
            .verbosity(Verbosity::Quiet)
    };
    let mut one = Bn::<f64>::new(&mut seeded(2));
    let mut net = one.clone();
    let h1 = trainer()
        .fit_validated(&mut one, &mut adam(), &train, &val)
        .map_err(|e| e.to_string())?;
    let dp = DataParallel::new(mpi, BatchNormSync::Synchronized);
    let h2 = trainer()
        .data_parallel(dp)
        .fit_validated(&mut net, &mut adam(), &train, &val)
        .map_err(|e| e.to_string())?;
    let mut worst = 0.0f64;
    for name in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        let (a, b) = (h1.get(name).unwrap_or(&[]), h2.get(name).unwrap_or(&[]));
        if a.len() != 3 || a.len() != b.len() {
            return Err(format!("{name}: {a:?} against {b:?}"));
        }
        for (x, y) in a.iter().zip(b) {
            worst = worst.max((x - y).abs() / x.abs().max(1e-300));
        }
    }
    let w = rel_diff(&flat(&net), &flat(&one));
    if worst > 1e-12 || w > 1e-12 {
        return Err(format!("history {worst:.2e}, weights {w:.2e}"));
    }
    Ok(format!(
        "synchronized batch norm, 3 epochs: history {worst:.2e}, weights {w:.2e}"
    ))
}

fn resume_check(mpi: &Mpi) -> Result<String, String> {
    let (train, val) = datasets();
    // One directory for the job (rank 0's pid), a subdirectory per rank.
    let mut id = [i64::from(std::process::id())];
    mpi.world().process_at_rank(0).broadcast_into(&mut id[..]);
    let base = std::env::temp_dir().join(format!("gradnet-distributed-{}", id[0]));
    let mine = base.join(format!("rank{}", mpi.rank()));
    let trainer = |epochs| {
        Trainer::<f64, Mlp<f64>, Adam<f64>>::new(epochs, GLOBAL)
            .seed(9)
            .metric(Accuracy)
            .verbosity(Verbosity::Quiet)
            .data_parallel(DataParallel::new(mpi, BatchNormSync::BroadcastBuffers))
    };
    let fresh = Mlp::<f64>::new(&mut seeded(4));
    let mut whole = fresh.clone();
    trainer(4)
        .fit_validated(&mut whole, &mut adam(), &train, &val)
        .map_err(|e| e.to_string())?;
    let mut first = fresh.clone();
    trainer(2)
        .callback(Checkpoint::new(&mine))
        .fit_validated(&mut first, &mut adam(), &train, &val)
        .map_err(|e| e.to_string())?;
    mpi.barrier();
    let written = mine.join("last.ckpt").exists();
    if written != (mpi.rank() == 0) {
        return Err(format!("rank {} wrote a checkpoint: {written}", mpi.rank()));
    }
    // Every rank resumes from rank 0's file, from a network it never trained.
    let mut resumed = Mlp::<f64>::new(&mut seeded(50 + mpi.rank() as u64));
    let h = trainer(4)
        .resume_from(base.join("rank0").join("last.ckpt"))
        .fit_validated(&mut resumed, &mut adam(), &train, &val)
        .map_err(|e| e.to_string())?;
    mpi.barrier();
    if mpi.rank() == 0 {
        let _ = std::fs::remove_dir_all(&base);
    }
    if h.get("loss").map(<[f64]>::len) != Some(4) {
        return Err(format!(
            "the resumed history has {:?} losses",
            h.get("loss")
        ));
    }
    if rel_diff(&flat(&resumed), &flat(&whole)) != 0.0 {
        return Err("the resumed fit differs from the whole one".into());
    }
    Ok("resumed weights bit-identical to a fit never stopped".into())
}

/// Rank 1 gets a NaN; `exit_on_error` must end the job with its error.
fn fail(mode: &str) -> i32 {
    let mpi = Mpi::init().expect("MPI starts once");
    let sync = if mode == "sync" {
        BatchNormSync::Synchronized
    } else {
        BatchNormSync::BroadcastBuffers
    };
    let mut net = Bn::<f64>::new(&mut seeded(1));
    let mut dp = DataParallel::<f64>::new(&mpi, sync);
    dp.broadcast_model(&mut net);
    let mut opt = adam::<f64>();
    let (mut ws, mut grads) = (BnWorkspace::new(), net.zero_grads());
    for s in 0..3 {
        let (x, y) = global_batch::<f64>(s);
        let (mut xs, ys) = shard(&x, &y, mpi.rank());
        if s == 2 && mpi.rank() == 1 {
            xs.as_mut_slice()[5] = f64::NAN;
        }
        mpi.exit_on_error(dp.train_step(&mut net, &xs, &ys, &mut opt, &mut ws, &mut grads));
    }
    0
}

/// Runs `mpirun -np 2` on this binary with `args`: its status and output.
fn mpirun(args: &[&str]) -> (bool, String, String) {
    let me = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new("mpirun");
    cmd.args(["--allow-run-as-root", "--oversubscribe", "-np"])
        .arg(RANKS.to_string())
        .arg(me)
        .args(args);
    println!("$ {cmd:?}");
    let out = cmd
        .output()
        .expect("mpirun runs (apt-get install openmpi-bin libopenmpi-dev)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    (out.status.success(), stdout, stderr)
}

fn launcher() -> i32 {
    let (mut passed, mut failed) = (0, 0);
    let mut verdict = |name: &str, ok: bool, why: String| {
        if ok {
            passed += 1;
            println!("test {name} ... ok");
        } else {
            failed += 1;
            println!("test {name} ... FAILED\n{why}");
        }
    };
    let mut digests = Vec::new();
    for run in 0..2 {
        let (ok, out, err) = mpirun(&["ranks"]);
        print!("{out}");
        let digest = out
            .lines()
            .find_map(|l| l.strip_prefix("digest "))
            .map(str::to_owned);
        verdict(
            &format!("ranks (job {})", run + 1),
            ok && out.contains(", 0 failed"),
            format!("{out}{err}"),
        );
        digests.push(digest);
    }
    verdict(
        "two jobs with the same seed are bit-identical",
        digests[0].is_some() && digests[0] == digests[1],
        format!("digests {digests:?}"),
    );
    for mode in ["pass", "sync"] {
        let (ok, out, err) = mpirun(&["fail", mode]);
        let reported = err.contains("rank 1: error:") && err.contains("non-finite value");
        verdict(
            &format!("a failing rank ends the job ({mode})"),
            !ok && reported,
            format!("exit ok: {ok}\n{out}{err}"),
        );
    }
    println!("distributed: {passed} passed, {failed} failed");
    i32::from(failed > 0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        Some("ranks") => ranks(),
        Some("fail") => fail(args.get(2).map_or("pass", String::as_str)),
        _ => launcher(),
    };
    std::process::exit(code);
}
