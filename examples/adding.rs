//! The adding problem (Hochreiter & Schmidhuber 1997), the classic test of whether a
//! recurrent network can carry information across many steps: each step holds a
//! value in [0, 1] and a marker; exactly two steps are marked (one in each half of
//! the sequence), and the target is the sum of the two marked values. Always
//! answering 1 gives a mean squared error of 1/6 = 0.167 (the variance of the sum);
//! doing better means remembering a value for up to `length` steps.
//!
//! ```text
//! cargo run --release --example adding                     # length 100, seed 0
//! cargo run --release --example adding -- --length 50 --seed 3 --steps 1500
//! ```
//!
//! For each cell (LSTM, GRU, tanh RNN; one layer of 32 units, then a dense layer) it
//! trains on fresh random sequences with Adam and gradient clipping, then prints the
//! test MSE on 1000 held-out sequences, and the gradient norm of the loss with
//! respect to the input at the first and at the last step (at initialization and
//! after training): the vanishing gradient over time, measured. The gated cells
//! reach a test MSE below 0.01 at length 100; the tanh RNN stays near the baseline.
//! It exits with an error if a gated cell misses 0.01.

use gradnet::diagnostics::GradientReport;
use gradnet::optim::{Adam, AdamConfig};
use gradnet::prelude::*;
use gradnet::rand::RngExt;
use gradnet::seq::Seq;
use gradnet::SeededRng;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

/// Units of each recurrent layer.
const HIDDEN: usize = 32;

network! {
    /// LSTM, its last state read by a dense layer.
    struct LstmNet {
        input: seq(2),
        lstm(HIDDEN, forget_bias_one),
        dense(1),
        loss: mse,
        clip: norm(1.0),
    }
}

network! {
    /// GRU, its last state read by a dense layer.
    struct GruNet {
        input: seq(2),
        gru(HIDDEN),
        dense(1),
        loss: mse,
        clip: norm(1.0),
    }
}

network! {
    /// Elman RNN (tanh), its last state read by a dense layer.
    struct RnnNet {
        input: seq(2),
        rnn(HIDDEN),
        dense(1),
        loss: mse,
        clip: norm(1.0),
    }
}

/// The settings, from the command line.
struct Settings {
    length: usize,
    seed: u64,
    steps: usize,
    batch: usize,
    lr: f64,
}

impl Settings {
    fn from_args() -> Result<Self, String> {
        let mut s = Settings {
            length: 100,
            seed: 0,
            steps: 3000,
            batch: 64,
            lr: 3e-3,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
            match flag.as_str() {
                "--length" => s.length = value.parse().map_err(|e| bad(&e))?,
                "--seed" => s.seed = value.parse().map_err(|e| bad(&e))?,
                "--steps" => s.steps = value.parse().map_err(|e| bad(&e))?,
                "--batch" => s.batch = value.parse().map_err(|e| bad(&e))?,
                "--lr" => s.lr = value.parse().map_err(|e| bad(&e))?,
                _ => {
                    return Err(format!(
                        "unknown flag {flag}; expected --length, --seed, --steps, --batch, --lr"
                    ))
                }
            }
        }
        if s.length < 2 {
            return Err("--length must be at least 2".into());
        }
        Ok(s)
    }
}

/// `rows` adding-problem sequences of `length` steps (time-major, features value and
/// marker) and their targets.
fn problems(rows: usize, length: usize, rng: &mut SeededRng) -> (Seq<f32, 2>, Batch<f32, 1>) {
    let mut x = Seq::zeros(length, rows);
    let mut y = Batch::zeros(rows);
    let half = length / 2;
    for r in 0..rows {
        let first = rng.random_range(0..half);
        let second = rng.random_range(half..length);
        let mut sum = 0.0;
        for t in 0..length {
            let v: f32 = rng.random_range(0.0..1.0);
            let marked = t == first || t == second;
            let step = x.step_mut(t);
            step[2 * r] = v;
            step[2 * r + 1] = if marked { 1.0 } else { 0.0 };
            if marked {
                sum += v;
            }
        }
        y.row_mut(r)[0] = sum;
    }
    (x, y)
}

/// What one cell's run gives.
struct Outcome {
    cell: &'static str,
    test_mse: f32,
    /// |dL/dx_1| / |dL/dx_T| at initialization and after training.
    ratio_init: f64,
    ratio_trained: f64,
    seconds: f64,
}

/// Trains one network type: the same loop for every cell.
macro_rules! run_cell {
    ($cell:expr, $net:ident, $s:expr, $test:expr) => {{
        let s: &Settings = $s;
        let (x_test, y_test) = $test;
        let mut rng = seeded(s.seed);
        let mut net = $net::<f32>::new(&mut rng);
        let mut opt: Adam<f32> = AdamConfig::new(s.lr).build()?;
        let mut ws = <$net<f32> as Network<f32>>::Workspace::default();
        let mut grads = net.zero_grads().with_input_grad();
        let mut data_rng = seeded(s.seed + 1);
        // How much the first and the last step matter to the loss: the gradient
        // report's norms of the input gradient per time step.
        let mut report = GradientReport::new();
        let mut step_ratio = |net: &$net<f32>, ws: &mut _, grads: &mut _| -> Result<f64, Error> {
            net.eval_loss_and_grad(x_test, y_test, ws, grads)?;
            report.collect_into(net, grads, None)?;
            let g: &<$net<f32> as Parameters<f32>>::Grads = grads;
            report.set_input_steps(g.input.as_ref().expect("asked for"));
            Ok(report.first_last_step_ratio().unwrap_or(f64::NAN))
        };
        let ratio_init = step_ratio(&net, &mut ws, &mut grads)?;
        let bar = ProgressBar::new(s.steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>5} [{bar:30}] {pos}/{len} steps, {msg} ({elapsed})",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix($cell);
        let start = Instant::now();
        let mut avg = 0.0f32;
        for step in 0..s.steps {
            let (x, y) = problems(s.batch, s.length, &mut data_rng);
            let loss = net.train_step(&x, &y, &mut opt, &mut ws, &mut grads)?;
            avg = if step == 0 {
                loss
            } else {
                0.95 * avg + 0.05 * loss
            };
            if step % 10 == 0 {
                bar.set_message(format!("training MSE {avg:.4}"));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let seconds = start.elapsed().as_secs_f64();
        let test_mse = net.loss(x_test, y_test, &mut ws)?;
        let ratio_trained = step_ratio(&net, &mut ws, &mut grads)?;
        Outcome {
            cell: $cell,
            test_mse,
            ratio_init,
            ratio_trained,
            seconds,
        }
    }};
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let s = Settings::from_args()?;
    println!(
        "adding problem: length {}, {} steps of batch {}, Adam lr {}, clip norm 1, {HIDDEN} units, seed {}",
        s.length, s.steps, s.batch, s.lr, s.seed
    );
    println!("baseline (always 1): MSE 1/6 = 0.167\n");
    let (x_test, y_test) = problems(1000, s.length, &mut seeded(s.seed + 1_000_000));
    let test = (&x_test, &y_test);
    let outcomes = [
        run_cell!("lstm", LstmNet, &s, test),
        run_cell!("gru", GruNet, &s, test),
        run_cell!("rnn", RnnNet, &s, test),
    ];
    println!("| cell | test MSE | |dL/dx_1| / |dL/dx_T| at init | after training | time |");
    println!("|---|---:|---:|---:|---:|");
    for o in &outcomes {
        println!(
            "| {} | {:.4} | {:.2e} | {:.2e} | {:.0} s |",
            o.cell, o.test_mse, o.ratio_init, o.ratio_trained, o.seconds
        );
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.cell != "rnn" && (o.test_mse.is_nan() || o.test_mse >= 0.01))
        .map(|o| o.cell)
        .collect();
    if !failed.is_empty() {
        return Err(format!("test MSE of {} not below 0.01", failed.join(", ")).into());
    }
    Ok(())
}
