//! The adding problem (Hochreiter & Schmidhuber 1997) for the examples: the three
//! networks (LSTM, GRU, tanh RNN), the data, and one training run per cell.
//!
//! Shared through `#[path = "common/adding.rs"] mod adding;` by `adding.rs` and
//! `vanishing.rs`, which also declare `mod flags;` (`common/flags.rs`).

#![allow(dead_code)] // each example uses part of this module

use gradnet::prelude::*;
use gradnet::rand::RngExt;
use gradnet::seq::Seq;
use gradnet::SeededRng;

/// Units of each recurrent layer.
pub const HIDDEN: usize = 32;

network! {
    /// LSTM, its last state read by a dense layer.
    pub struct LstmNet {
        input: seq(2),
        lstm(HIDDEN, forget_bias_one),
        dense(1),
        loss: mse,
        clip: norm(1.0),
    }
}

network! {
    /// GRU, its last state read by a dense layer.
    pub struct GruNet {
        input: seq(2),
        gru(HIDDEN),
        dense(1),
        loss: mse,
        clip: norm(1.0),
    }
}

network! {
    /// Elman RNN (tanh), its last state read by a dense layer.
    pub struct RnnNet {
        input: seq(2),
        rnn(HIDDEN),
        dense(1),
        loss: mse,
        clip: norm(1.0),
    }
}

/// The settings of a run.
pub struct Settings {
    pub length: usize,
    pub seed: u64,
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
}

impl Settings {
    /// The defaults, changed by `--length`, `--seed`, `--steps`, `--batch`, `--lr`.
    pub fn from_args() -> Result<Self, String> {
        let f = crate::flags::Flags::parse(&["--length", "--seed", "--steps", "--batch", "--lr"])?;
        let s = Settings {
            length: f.get("--length", 100)?,
            seed: f.get("--seed", 0)?,
            steps: f.get("--steps", 3000)?,
            batch: f.get("--batch", 64)?,
            lr: f.get("--lr", 3e-3)?,
        };
        if s.length < 2 {
            return Err("--length must be at least 2".into());
        }
        Ok(s)
    }
}

/// `rows` adding-problem sequences of `length` steps (time-major, features value and
/// marker) and their targets.
pub fn problems(rows: usize, length: usize, rng: &mut SeededRng) -> (Seq<f32, 2>, Batch<f32, 1>) {
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
pub struct Outcome {
    pub cell: &'static str,
    pub test_mse: f32,
    /// |dL/dx_1| / |dL/dx_T| at initialization and after training.
    pub ratio_init: f64,
    pub ratio_trained: f64,
    pub seconds: f64,
    /// |dL/dx_t| for every step t, at initialization and after training.
    pub steps_init: Vec<f64>,
    pub steps_trained: Vec<f64>,
}

/// Trains one network type: the same loop for every cell.
macro_rules! run_cell {
    ($cell:expr, $net:ident, $s:expr, $test:expr) => {{
        let s: &$crate::adding::Settings = $s;
        let (x_test, y_test) = $test;
        let mut rng = seeded(s.seed);
        let mut net = $net::<f32>::new(&mut rng);
        let mut opt: gradnet::optim::Adam<f32> = gradnet::optim::AdamConfig::new(s.lr).build()?;
        let mut ws = <$net<f32> as Network<f32>>::Workspace::default();
        let mut grads = net.zero_grads().with_input_grad();
        let mut data_rng = seeded(s.seed + 1);
        // How much the first and the last step matter to the loss: the gradient
        // report's norms of the input gradient per time step.
        let mut report = gradnet::diagnostics::GradientReport::new();
        let mut step_ratio = |net: &$net<f32>,
                              ws: &mut _,
                              grads: &mut _|
         -> Result<(f64, Vec<f64>), gradnet::Error> {
            net.eval_loss_and_grad(x_test, y_test, ws, grads)?;
            report.collect_into(net, grads, None)?;
            let g: &<$net<f32> as Parameters<f32>>::Grads = grads;
            report.set_input_steps(g.input.as_ref().expect("asked for"));
            Ok((
                report.first_last_step_ratio().unwrap_or(f64::NAN),
                report.input_step_norms().to_vec(),
            ))
        };
        let (ratio_init, steps_init) = step_ratio(&net, &mut ws, &mut grads)?;
        let bar = indicatif::ProgressBar::new(s.steps as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>5} [{bar:30}] {pos}/{len} steps, {msg} ({elapsed})",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix($cell);
        let start = std::time::Instant::now();
        let mut avg = 0.0f32;
        for step in 0..s.steps {
            let (x, y) = $crate::adding::problems(s.batch, s.length, &mut data_rng);
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
        let (ratio_trained, steps_trained) = step_ratio(&net, &mut ws, &mut grads)?;
        $crate::adding::Outcome {
            cell: $cell,
            test_mse,
            ratio_init,
            ratio_trained,
            seconds,
            steps_init,
            steps_trained,
        }
    }};
}
pub(crate) use run_cell;
