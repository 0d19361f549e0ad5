//! Saving and loading the digits model: training with a checkpoint after every epoch
//! (an interrupted run resumes where it stopped, bit for bit), the trained weights
//! saved to a safetensors file, and loaded again in a fresh process.
//!
//! ```text
//! cargo run --release --example save_load -- train   # trains (or resumes), saves the weights
//! cargo run --release --example save_load -- eval    # a new process: loads them, measures them
//! ```
//!
//! The weights file loads into PyTorch as it is (`scripts/pytorch_interop.py` shows
//! how, for smaller networks).

#[path = "common/digits.rs"]
mod digits;

use std::path::PathBuf;

use digits::{CLASSES, DEFAULT_PATH, PIXELS};
use gradnet::loss::accuracy;
use gradnet::optim::{Adam, AdamConfig};
use gradnet::persist::{load_checkpoint, load_weights, save_checkpoint, save_weights, Progress};
use gradnet::prelude::*;
use gradnet::schedule::{CosineAnnealingLr, LrSchedule};

network! {
    /// The network of `examples/digits.rs`.
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

const EPOCHS: u64 = 30;
const BATCH: usize = 32;
const LR: f64 = 2e-3;

fn file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name)
}

/// The training and test parts of seed 0's split, standardized with the training
/// part's statistics (the same in both processes).
/// Standardized pixels and labels.
type Part = (Batch<f32, PIXELS>, Vec<usize>);

fn data() -> Result<(Part, Part), Box<dyn std::error::Error>> {
    let data = digits::load(DEFAULT_PATH)?;
    let (train, test) = digits::standardized_split(&data, 0.2, &mut seeded(0))?;
    Ok((train.into_parts(), test.into_parts()))
}

fn train() -> Result<(), Box<dyn std::error::Error>> {
    let ((x, labels), (x_test, test_labels)) = data()?;
    let mut rng = seeded(0);
    let mut net = DigitNet::<f32>::new(&mut rng);
    let mut opt: Adam<f32> = AdamConfig::adamw().lr(LR).weight_decay(1e-4).build()?;
    let schedule = CosineAnnealingLr::new(LR, EPOCHS as usize, 0.0)?;
    let (mut ws, mut grads) = (DigitNetWorkspace::with_seed(0), net.zero_grads());
    let checkpoint = file("digits.ckpt");
    let mut progress = Progress::default();
    if checkpoint.exists() {
        progress = load_checkpoint(
            &checkpoint,
            &mut net,
            &mut opt,
            &mut [ws.rng_mut(), &mut rng],
        )?;
        println!(
            "resumed after epoch {} (step {})",
            progress.epoch, progress.step
        );
    }
    let (mut xb, mut yb) = (Batch::new(), Vec::new());
    while progress.epoch < EPOCHS {
        schedule.apply(progress.epoch as usize, &mut opt)?;
        let mut order: Vec<usize> = (0..labels.len()).collect();
        gradnet::rng::shuffle(&mut order, &mut rng);
        for chunk in order.chunks(BATCH).filter(|c| c.len() > 1) {
            xb.gather_rows_from(&x, chunk)?;
            yb.clear();
            yb.extend(chunk.iter().map(|&i| labels[i]));
            net.train_step(&xb, &yb, &mut opt, &mut ws, &mut grads)?;
            progress.step += 1;
        }
        progress.epoch += 1;
        // Crash-safe: a run killed here, even mid-write, resumes from the last epoch.
        save_checkpoint(&checkpoint, &net, &opt, &[ws.rng(), &rng], progress)?;
    }
    save_weights(&net, file("digits.safetensors"))?;
    let acc = accuracy(&net.forward(&x_test)?, &test_labels)?;
    println!("trained {EPOCHS} epochs: test accuracy {:.1}%", 100.0 * acc);
    println!("saved target/digits.safetensors");
    Ok(())
}

fn eval() -> Result<(), Box<dyn std::error::Error>> {
    let (_, (x_test, test_labels)) = data()?;
    let mut net = DigitNet::<f32>::new(&mut seeded(1)); // other weights, replaced
    let report = load_weights(&mut net, file("digits.safetensors"))?;
    let acc = accuracy(&net.forward(&x_test)?, &test_labels)?;
    let from = report
        .network
        .as_deref()
        .unwrap_or("a file without gradnet metadata");
    println!("loaded {from}: test accuracy {:.1}%", 100.0 * acc);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("train") => train(),
        Some("eval") => eval(),
        _ => Err("usage: save_load train | eval".into()),
    }
}
