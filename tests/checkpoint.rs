//! Checkpoints of generated networks: resuming gives bit for bit what training
//! without a stop gives (dropout, batch norm, AdamW with a cosine schedule, a
//! shuffling generator), and a writer killed at random points leaves the previous
//! checkpoint loadable and intact.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gradnet::optim::Adam;
use gradnet::persist::{load_checkpoint, save_checkpoint, Progress};
use gradnet::prelude::*;
use gradnet::rand::RngExt;
use gradnet::schedule::{CosineAnnealingLr, LrSchedule};

network! {
    /// Every kind of state a step changes: weights, running statistics, the
    /// dropout stream.
    struct Net {
        input: 4,
        dense(16),
        batch_norm,
        relu,
        dropout(0.3),
        dense(8),
        relu,
        dropout(0.2),
        dense(3),
        loss: cross_entropy,
    }
}

const BATCHES: usize = 4;
const STEPS_PER_EPOCH: u64 = 3;

fn batches() -> Vec<(Batch<f32, 4>, Vec<usize>)> {
    let mut rng = seeded(5);
    (0..BATCHES)
        .map(|_| {
            let rows: Vec<[f32; 4]> = (0..8)
                .map(|_| core::array::from_fn(|_| rng.random_range(-2.0..2.0)))
                .collect();
            let labels = rows
                .iter()
                .map(|r| usize::from(r[0] > 0.0) + usize::from(r[1] > r[2]))
                .collect();
            (Batch::from_rows(&rows).unwrap(), labels)
        })
        .collect()
}

fn adamw() -> Adam<f32> {
    AdamConfig::adamw()
        .lr(0.01)
        .weight_decay(0.05)
        .build()
        .unwrap()
}

/// The training loop: each step picks a batch with `pick`, each epoch starts by
/// setting the rate from the schedule. Returns the losses, as bits.
#[allow(clippy::too_many_arguments)]
fn train(
    net: &mut Net<f32>,
    opt: &mut Adam<f32>,
    ws: &mut NetWorkspace<f32>,
    pick: &mut SeededRng,
    progress: &mut Progress,
    steps: u64,
    data: &[(Batch<f32, 4>, Vec<usize>)],
) -> Vec<u32> {
    let schedule = CosineAnnealingLr::new(0.01, 5, 1e-4).unwrap();
    let mut grads = net.zero_grads();
    let mut losses = Vec::new();
    for _ in 0..steps {
        if progress.step % STEPS_PER_EPOCH == 0 {
            schedule.apply(progress.epoch as usize, opt).unwrap();
        }
        let (x, y) = &data[pick.random_range(0..BATCHES)];
        let loss = net.train_step(x, y, opt, ws, &mut grads).unwrap();
        losses.push(loss.to_bits());
        progress.step += 1;
        if progress.step % STEPS_PER_EPOCH == 0 {
            progress.epoch += 1;
        }
    }
    losses
}

/// Every parameter and buffer, as bits.
fn bits(net: &Net<f32>) -> Vec<(&'static str, Vec<u32>)> {
    let mut out = Vec::new();
    net.visit_params(&mut |n, v| out.push((n, v.iter().map(|x| x.to_bits()).collect())));
    net.visit_buffers(&mut |n, v| out.push((n, v.iter().map(|x| x.to_bits()).collect())));
    out
}

fn tmp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn resuming_from_a_checkpoint_is_bit_identical_to_not_stopping() {
    const N: u64 = 7; // mid-epoch: the schedule's rate comes from the checkpoint
    let data = batches();
    let start = Net::<f32>::new(&mut seeded(1));

    let (mut net, mut opt) = (start.clone(), adamw());
    let (mut ws, mut pick) = (NetWorkspace::with_seed(2), seeded(3));
    let mut progress = Progress::default();
    let straight = train(
        &mut net,
        &mut opt,
        &mut ws,
        &mut pick,
        &mut progress,
        2 * N,
        &data,
    );

    let (mut first, mut opt1) = (start.clone(), adamw());
    let (mut ws1, mut pick1) = (NetWorkspace::with_seed(2), seeded(3));
    let mut p1 = Progress::default();
    let mut losses = train(
        &mut first, &mut opt1, &mut ws1, &mut pick1, &mut p1, N, &data,
    );
    let dir = tmp_dir("resume");
    let path = dir.join("run.ckpt");
    save_checkpoint(&path, &first, &opt1, &[&ws1.rng, &pick1], p1).unwrap();
    drop((first, opt1, ws1, pick1));

    // A new process would start here: other weights, other seeds.
    let mut resumed = Net::<f32>::new(&mut seeded(99));
    let mut opt2 = adamw();
    let (mut ws2, mut pick2) = (NetWorkspace::with_seed(98), seeded(97));
    let mut p2 = load_checkpoint(
        &path,
        &mut resumed,
        &mut opt2,
        &mut [&mut ws2.rng, &mut pick2],
    )
    .unwrap();
    assert_eq!(
        p2,
        Progress {
            step: N,
            epoch: N / STEPS_PER_EPOCH
        }
    );
    losses.extend(train(
        &mut resumed,
        &mut opt2,
        &mut ws2,
        &mut pick2,
        &mut p2,
        N,
        &data,
    ));

    assert_eq!(losses, straight, "every loss, bit for bit");
    assert_eq!(
        bits(&resumed),
        bits(&net),
        "every parameter and buffer, bit for bit"
    );
    assert_eq!(
        opt2.learning_rate().to_bits(),
        opt.learning_rate().to_bits()
    );
    assert_eq!(ws2.rng(), ws.rng());
    assert_eq!(p2, progress);

    // Without the generators, the run is not the same: the test can tell.
    let mut other = Net::<f32>::new(&mut seeded(99));
    let mut opt3 = adamw();
    let (mut ws3, mut pick3) = (NetWorkspace::with_seed(98), seeded(97));
    let mut p3 = load_checkpoint(
        &path,
        &mut other,
        &mut opt3,
        &mut [&mut seeded(0), &mut seeded(0)],
    )
    .unwrap();
    train(
        &mut other, &mut opt3, &mut ws3, &mut pick3, &mut p3, N, &data,
    );
    assert_ne!(bits(&other), bits(&net));
    std::fs::remove_dir_all(&dir).unwrap();
}

network! {
    /// Large enough (about 130k parameters, 1.6 MB with Adam's moments) that writing
    /// a checkpoint takes a while.
    struct Big {
        input: 256,
        dense(256),
        relu,
        dense(256),
        relu,
        dense(10),
        loss: mse,
    }
}

const CHILD: &str = "GRADNET_CHECKPOINT_WRITER";

/// The two checkpoints the writer alternates between: a model and an optimizer
/// after one step, different for even and odd steps.
fn writer_state(parity: u64) -> (Big<f32>, Adam<f32>) {
    let mut net = Big::<f32>::new(&mut seeded(parity));
    let mut opt = AdamConfig::default().build().unwrap();
    let x = Batch::from_rows(&[[0.5f32; 256], [-0.25; 256]]).unwrap();
    let y = Batch::from_rows(&[[1.0f32; 10], [0.0; 10]]).unwrap();
    let (mut ws, mut grads) = (BigWorkspace::new(), net.zero_grads());
    net.train_step(&x, &y, &mut opt, &mut ws, &mut grads)
        .unwrap();
    (net, opt)
}

/// The child: saves checkpoint after checkpoint over one path until killed (or,
/// should the parent be gone, for at most a minute).
fn writer(dir: &Path) {
    let states = [writer_state(0), writer_state(1)];
    let start = Instant::now();
    for step in 0.. {
        let (net, opt) = &states[(step % 2) as usize];
        save_checkpoint(
            dir.join("run.ckpt"),
            net,
            opt,
            &[],
            Progress { step, epoch: 0 },
        )
        .unwrap();
        if start.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
}

#[test]
fn a_writer_killed_at_random_points_leaves_the_previous_checkpoint_intact() {
    if let Some(dir) = std::env::var_os(CHILD) {
        writer(Path::new(&dir));
        return;
    }
    let expected = [writer_state(0), writer_state(1)];
    let expected_bits: Vec<_> = expected
        .iter()
        .map(|(net, _)| {
            let mut v = Vec::new();
            net.visit_params(&mut |_, p| v.extend(p.iter().map(|x| x.to_bits())));
            v
        })
        .collect();
    let exe = std::env::current_exe().unwrap();
    let mut delays = seeded(2024);
    let (mut trials, mut mid_write) = (0, 0);
    // Half the kills at random points of the writer's loop, half while a temporary
    // file exists (the write is under way), until at least 3 kills left a temporary
    // file behind: killed mid-write. Every kill must leave a loadable, intact
    // checkpoint.
    while trials < 12 || mid_write < 3 {
        assert!(trials < 40, "none of {trials} kills fell mid-write");
        trials += 1;
        let dir = tmp_dir(&format!("killed-{trials}"));
        let path = dir.join("run.ckpt");
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "a_writer_killed_at_random_points_leaves_the_previous_checkpoint_intact",
                "--test-threads=1",
            ])
            .env(CHILD, &dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let waited = Instant::now();
        while !path.exists() {
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "the writer wrote nothing"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        if trials % 2 == 0 {
            // At a random point of the writer's loop.
            std::thread::sleep(Duration::from_micros(delays.random_range(0..150_000)));
        } else {
            // In the middle of a write: once its temporary file is there, a little later.
            while std::fs::read_dir(&dir).unwrap().count() < 2 {
                assert!(
                    waited.elapsed() < Duration::from_secs(60),
                    "no second write"
                );
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_micros(delays.random_range(0..500)));
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let mut net = Big::<f32>::new(&mut seeded(7));
        let mut opt = AdamConfig::default().build::<f32>().unwrap();
        let progress = load_checkpoint(&path, &mut net, &mut opt, &mut [])
            .unwrap_or_else(|e| panic!("trial {trials}: the checkpoint does not load: {e}"));
        let mut got = Vec::new();
        net.visit_params(&mut |_, p| got.extend(p.iter().map(|x| x.to_bits())));
        assert!(
            got == expected_bits[(progress.step % 2) as usize],
            "trial {trials}: the checkpoint of step {} holds other values",
            progress.step
        );
        assert_eq!(gradnet::optim::OptimizerState::steps(&opt), 1);
        let leftovers = std::fs::read_dir(&dir).unwrap().count() - 1;
        if leftovers > 0 {
            mid_write += 1;
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!("{trials} writers killed, {mid_write} in the middle of a write");
}
