//! The vanishing and the exploding gradient, measured: a 20-layer network on the
//! digits data in four configurations (five runs), each printing its gradient report
//! after the first step and its test accuracy after training.
//!
//! ```text
//! cargo run --release --example deep
//! ```
//!
//! 1. sigmoid, normal(0.01) init: the gradient shrinks about 50-fold per layer on its
//!    way down (sigmoid' <= 1/4 times weights of norm ~0.6); the first layer's
//!    gradient is ~1e-32 of the last's, the report flags it, and the network stays at
//!    chance (10%).
//! 2. ReLU, He init (the default rule): the gradient keeps its size through all 20
//!    layers and the network learns (~84%).
//! 3. ReLU with batch norm after every dense layer: learns best (~96%).
//! 4. ReLU, normal(1.0) init: every layer multiplies the signal by about
//!    sqrt(64 / 2) = 5.7, the gradient norm is ~3e15 and flagged as exploding; the
//!    first SGD step blows the weights up and the anomaly detector stops training at
//!    the first layer whose output is infinite...
//! 5. ...and the same with `clip: norm(1.0)`: each step is bounded, so training goes
//!    on (and the pre-clip norm stays visible in the report), though from such an
//!    initialization it learns little (~35%): clipping tames the update, not the
//!    network.
//!
//! All runs use the same split, SGD with momentum 0.9, learning rate 0.01, batch 32.

#[path = "common/digits.rs"]
mod digits;

use digits::{CLASSES, DEFAULT_PATH, PIXELS};
use gradnet::diagnostics::{GradientMonitor, Thresholds};
use gradnet::loss::accuracy;
use gradnet::optim::SgdConfig;
use gradnet::prelude::*;

const EPOCHS: usize = 30;
const BATCH: usize = 32;
const LR: f64 = 0.01;

network! {
    /// 19 sigmoid layers of 64 with tiny initial weights, then 10 logits.
    struct Sigmoid20 {
        input: PIXELS,
        repeat(19) { dense(64, init = normal(0.01)), sigmoid },
        dense(CLASSES, init = normal(0.01)),
        loss: cross_entropy,
    }
}

network! {
    /// 19 ReLU layers of 64 with He initialization (the default rule), then 10 logits.
    struct Relu20 {
        input: PIXELS,
        repeat(19) { dense(64), relu },
        dense(CLASSES),
        loss: cross_entropy,
    }
}

network! {
    /// 19 x (dense 64, batch norm, ReLU), then 10 logits.
    struct BatchNorm20 {
        input: PIXELS,
        repeat(19) { dense(64), batch_norm, relu },
        dense(CLASSES),
        loss: cross_entropy,
    }
}

network! {
    /// 19 ReLU layers of 64 with weights drawn from normal(1.0), then 10 logits.
    struct Exploding20 {
        input: PIXELS,
        repeat(19) { dense(64, init = normal(1.0)), relu },
        dense(CLASSES, init = normal(1.0)),
        loss: cross_entropy,
    }
}

network! {
    /// `Exploding20` with the total gradient norm clipped to 1.
    struct Clipped20 {
        input: PIXELS,
        repeat(19) { dense(64, init = normal(1.0)), relu },
        dense(CLASSES, init = normal(1.0)),
        loss: cross_entropy,
        clip: norm(1.0),
    }
}

/// The training and test parts, standardized with the training part's statistics.
struct Split {
    x_train: Batch<f32, PIXELS>,
    y_train: Vec<usize>,
    x_test: Batch<f32, PIXELS>,
    y_test: Vec<usize>,
}

/// Trains one configuration and prints its report; the same code for every network
/// type, through a macro because the generated types share no trait for training.
macro_rules! run {
    ($title:expr, $net:ident, $ws:ident, $split:expr) => {{
        let split: &Split = $split;
        println!("\n=== {} ===", $title);
        let mut rng = seeded(7);
        let mut net = $net::<f32>::new(&mut rng);
        let mut opt = SgdConfig::new(LR).momentum(0.9).build::<f32>()?;
        opt.track_update_norms(true);
        let mut ws = $ws::with_seed(7);
        ws.set_detect_anomaly(true);
        let mut grads = net.zero_grads();
        let mut monitor = GradientMonitor::new(Thresholds::default())?;
        let mut order: Vec<usize> = (0..split.y_train.len()).collect();
        let (mut xb, mut yb) = (Batch::new(), Vec::new());
        let mut step = 0;
        let mut failure = None;
        'training: for _ in 0..EPOCHS {
            gradnet::rng::shuffle(&mut order, &mut rng);
            for chunk in order.chunks(BATCH) {
                xb.gather_rows_from(&split.x_train, chunk)?;
                yb.clear();
                yb.extend(chunk.iter().map(|&i| split.y_train[i]));
                if let Err(e) = net.train_step(&xb, &yb, &mut opt, &mut ws, &mut grads) {
                    failure = Some((step, e));
                    break 'training;
                }
                let report = monitor.observe(&net, &grads, Some(opt.update_norms()), ws.pre_clip_norm())?;
                if step == 0 {
                    println!("gradient report after the first step:\n{report}");
                }
                step += 1;
            }
        }
        match failure {
            Some((step, e)) => println!("training stopped at step {step}: {e}"),
            None => {
                let mut logits = Batch::new();
                net.forward_into(&split.x_test, &mut ws, &mut logits)?;
                let acc = accuracy(&logits, &split.y_test)?;
                let last = monitor.report();
                println!(
                    "after {step} steps: test accuracy {:.1}%, gradient norm {:.3e}{}, first/last layer gradient ratio {:.3e}",
                    100.0 * acc,
                    last.pre_clip_norm().unwrap_or(last.total_grad_norm()),
                    if ws.pre_clip_norm().is_some() { " (before clipping)" } else { "" },
                    last.first_last_ratio().unwrap_or(f32::NAN),
                );
            }
        }
    }};
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = digits::load(DEFAULT_PATH)?;
    let (train, test) = digits::standardized_split(&data, 0.2, &mut seeded(0))?;
    let ((x_train, y_train), (x_test, y_test)) = (train.into_parts(), test.into_parts());
    let split = Split {
        x_train,
        y_train,
        x_test,
        y_test,
    };
    println!(
        "digits: {} training and {} test images; 20 dense layers of 64; SGD lr {LR}, momentum 0.9, batch {BATCH}, {EPOCHS} epochs",
        split.y_train.len(),
        split.y_test.len()
    );
    run!(
        "1. sigmoid, normal(0.01) init",
        Sigmoid20,
        Sigmoid20Workspace,
        &split
    );
    run!("2. relu, He init", Relu20, Relu20Workspace, &split);
    run!(
        "3. relu, batch norm",
        BatchNorm20,
        BatchNorm20Workspace,
        &split
    );
    run!(
        "4. relu, normal(1.0) init",
        Exploding20,
        Exploding20Workspace,
        &split
    );
    run!(
        "5. relu, normal(1.0) init, clip: norm(1.0)",
        Clipped20,
        Clipped20Workspace,
        &split
    );
    Ok(())
}
