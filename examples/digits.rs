//! Handwritten digits (8x8 pixels, 10 classes) with a `network!` MLP, beside
//! scikit-learn's `MLPClassifier(hidden_layer_sizes=(128, 64))` (97.5% on average).
//!
//! For each of 5 seeds: a stratified 80/20 train/test split, features standardized
//! with statistics of the training part only, minibatch training with Adam, and the
//! accuracy on the test part, which nothing else ever reads.
//!
//! ```text
//! cargo run --release --example digits              # the benchmark: test accuracy
//! cargo run --release --example digits -- --validate  # tuning: test part untouched
//! ```
//!
//! `--validate` splits each training part again, 80/20 stratified, trains on the
//! first and reports the accuracy on the second (the validation part). The settings
//! below were chosen with it.

#[path = "common/digits.rs"]
mod digits;

use digits::{Digits, CLASSES, DEFAULT_PATH, PIXELS};
use gradnet::fit::{ScheduleStep, Trainer, Verbosity};
use gradnet::loss::accuracy;
use gradnet::metrics::Accuracy;
use gradnet::optim::{Adam, AdamConfig};
use gradnet::prelude::*;
use gradnet::schedule::CosineAnnealingLr;
use std::time::{Duration, Instant};

network! {
    /// 64 pixels -> two hidden layers (batch norm, ReLU, dropout) -> 10 logits.
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

const SEEDS: u64 = 5;
const EPOCHS: usize = 100;
const BATCH: usize = 32;
const LR: f64 = 2e-3;
const WEIGHT_DECAY: f64 = 1e-4;

/// What one seed's run gives.
struct Run {
    accuracy: f32,
    hits: usize,
    total: usize,
    last_loss: f64,
    time: Duration,
}

/// The accuracy of any network from 64 pixels to 10 logits, written once over the
/// `Network` trait.
fn test_accuracy<N>(net: &N, x: &Batch<f32, PIXELS>, labels: &[usize]) -> Result<f32, Error>
where
    N: Network<f32, Input = Batch<f32, PIXELS>, Output = Batch<f32, CLASSES>>,
{
    let (mut ws, mut logits) = (N::Workspace::default(), Batch::new());
    net.forward_into(x, &mut ws, &mut logits)?;
    accuracy(&logits, labels)
}

/// Trains a fresh network on `train` (already standardized) and measures it on
/// `eval`.
fn run(train: &Digits, eval: &Digits, seed: u64) -> Result<Run, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut net = DigitNet::<f32>::new(&mut seeded(seed));
    let mut opt: Adam<f32> = AdamConfig::adamw()
        .lr(LR)
        .weight_decay(WEIGHT_DECAY)
        .build()?;
    let history = Trainer::new(EPOCHS, BATCH)
        .seed(seed)
        .schedule(
            CosineAnnealingLr::new(LR, EPOCHS, 0.0)?,
            ScheduleStep::Epoch,
        )
        .metric(Accuracy)
        // Batch norm needs two rows (PyTorch raises too): 1437 % 32 = 29, never one.
        .drop_last(false)
        .verbosity(Verbosity::Terminal)
        .fit(&mut net, &mut opt, train)?;
    let time = start.elapsed();

    let acc = test_accuracy(&net, eval.x(), eval.y())?;
    Ok(Run {
        accuracy: acc,
        hits: (acc * eval.len() as f32).round() as usize,
        total: eval.len(),
        last_loss: history.last("loss").unwrap_or(f64::NAN),
        time,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let validate = std::env::args().any(|a| a == "--validate");
    let data = digits::load(DEFAULT_PATH)?;
    let part = if validate { "validation" } else { "test" };
    println!(
        "{} images of {PIXELS} pixels; {SEEDS} seeds, {EPOCHS} epochs, batch {BATCH}, AdamW lr {LR} (cosine), weight decay {WEIGHT_DECAY}",
        data.len()
    );
    println!("{}\n", DigitNet::<f32>::new(&mut seeded(0)).summary());
    let (mut sum, mut time) = (0.0, Duration::ZERO);
    for seed in 0..SEEDS {
        let (train, eval) = if validate {
            // Split the training part again; the test part is not looked at.
            let (train, _test) = data.stratified_split(0.2, &mut seeded(seed))?;
            digits::standardized_split(&train, 0.2, &mut seeded(1000 + seed))?
        } else {
            digits::standardized_split(&data, 0.2, &mut seeded(seed))?
        };
        let r = run(&train, &eval, seed)?;
        println!(
            "seed {seed}: {part} accuracy {:.1}% ({}/{}), final training loss {:.4}, {:.2} s",
            100.0 * r.accuracy,
            r.hits,
            r.total,
            r.last_loss,
            r.time.as_secs_f64()
        );
        sum += r.accuracy;
        time += r.time;
    }
    println!("mean {part} accuracy: {:.1}%", 100.0 * sum / SEEDS as f32);
    println!(
        "training time: {:.2} s for {SEEDS} seeds ({:.2} s per seed)",
        time.as_secs_f64(),
        time.as_secs_f64() / SEEDS as f64
    );
    Ok(())
}

/// The README's Rust blocks are excerpts of the examples: each block's lines appear
/// consecutively in one of the examples in `SOURCES`, shifted by one common
/// indentation.
#[cfg(test)]
mod readme {
    const README: &str = include_str!("../README.md");
    const SOURCES: [(&str, &str); 8] = [
        ("examples/digits.rs", include_str!("digits.rs")),
        ("examples/digits_mpi.rs", include_str!("digits_mpi.rs")),
        ("examples/xor.rs", include_str!("xor.rs")),
        ("examples/adding.rs", include_str!("adding.rs")),
        ("examples/save_load.rs", include_str!("save_load.rs")),
        ("examples/custom.rs", include_str!("custom.rs")),
        ("examples/regression.rs", include_str!("regression.rs")),
        (
            "examples/common/adding.rs",
            include_str!("common/adding.rs"),
        ),
    ];

    /// The ```rust blocks of a markdown text.
    fn rust_blocks(text: &str) -> Vec<Vec<&str>> {
        let mut blocks = Vec::new();
        let mut current: Option<Vec<&str>> = None;
        for line in text.lines() {
            match (&mut current, line.trim_end()) {
                (None, "```rust") => current = Some(Vec::new()),
                (Some(_), "```") => blocks.extend(current.take()),
                (Some(block), l) => block.push(l),
                (None, _) => {}
            }
        }
        blocks
    }

    /// Whether `block` matches consecutive lines of `source` with one added indent.
    fn is_excerpt(block: &[&str], source: &str) -> bool {
        let lines: Vec<&str> = source.lines().collect();
        (0..lines.len()).any(|start| {
            let Some(first) = lines[start].strip_suffix(block[0]) else {
                return false;
            };
            let indent = first;
            !indent.contains(|c| c != ' ')
                && block.iter().enumerate().all(|(j, want)| {
                    lines.get(start + j).is_some_and(|have| {
                        (want.is_empty() && have.is_empty())
                            || have.strip_prefix(indent) == Some(want)
                    })
                })
        })
    }

    #[test]
    fn readme_rust_blocks_are_excerpts_of_the_examples() {
        let blocks = rust_blocks(README);
        assert!(blocks.len() >= 2, "expected the README's Rust blocks");
        for block in &blocks {
            assert!(
                SOURCES.iter().any(|(_, src)| is_excerpt(block, src)),
                "this README block is in no example:\n{}",
                block.join("\n")
            );
        }
    }

    /// The fields and constants the README names.
    #[test]
    fn generated_names_are_as_the_readme_says() {
        use gradnet::prelude::*;
        let net = super::DigitNet::<f32>::new(&mut seeded(0));
        let _: &gradnet::Dense<f32, 64, 512> = &net.l1;
        let _: &gradnet::batch_norm::BatchNorm<f32, 512> = &net.l2;
        assert_eq!((super::DigitNet::INPUT, super::DigitNet::OUTPUT), (64, 10));
        let mut names = Vec::new();
        net.visit_params(&mut |n, _| names.push(n));
        assert_eq!(&names[..3], ["1.weight", "1.bias", "2.weight"]);
        let mut buffers = Vec::new();
        net.visit_buffers(&mut |n, _| buffers.push(n));
        assert_eq!(buffers[0], "2.running_mean");
    }

    #[test]
    fn a_changed_block_is_caught() {
        let block = &rust_blocks(README)[0];
        let mut changed = block.clone();
        changed[3] = "        input: 65,";
        assert!(!SOURCES.iter().any(|(_, src)| is_excerpt(&changed, src)));
    }
}
