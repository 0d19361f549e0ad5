//! Regression with `fit`: Friedman's benchmark function #1 (scikit-learn's
//! `make_friedman1`), 10 uniform features of which 5 matter,
//! `y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + N(0, 1)`.
//!
//! ```text
//! cargo run --release --example regression              # 2000 points, seed 0
//! cargo run --release --example regression -- --seed 3 --epochs 200
//! ```
//!
//! Targets are standardized with the training part's statistics; the network
//! trains with validation on a held-out fifth, early stopping on the validation
//! loss (the best epoch's weights restored), and is measured on a test part
//! nothing else reads. The history's curves go to `target/regression/history.svg`.

#[path = "common/flags.rs"]
mod flags;

use flags::Flags;
use gradnet::data::{Dataset, Standardizer};
use gradnet::fit::{EarlyStopping, ScheduleStep, Trainer};
use gradnet::metrics::{Mae, Metric, R2};
use gradnet::prelude::*;
use gradnet::schedule::CosineAnnealingLr;

network! {
    /// 10 features -> two hidden layers of 64 SiLU units -> 1 output.
    struct Friedman {
        input: 10,
        dense(64),
        silu,
        dense(64),
        silu,
        dense(1),
        loss: mse,
    }
}

const POINTS: usize = 2000;
const BATCH: usize = 32;
const LR: f64 = 3e-3;

type Data = Dataset<Batch<f32, 10>, Batch<f32, 1>>;

/// `n` points of Friedman #1 with unit noise.
fn friedman(n: usize, rng: &mut SeededRng) -> Result<Data, Box<dyn std::error::Error>> {
    let mut x = Batch::<f32, 10>::zeros(n);
    gradnet::rng::fill_uniform(x.as_mut_slice(), 0.0, 1.0, rng)?;
    let mut y = Vec::with_capacity(n);
    for r in x.iter_rows() {
        let r: Vec<f64> = r.iter().map(|&v| f64::from(v)).collect();
        let clean = 10.0 * (std::f64::consts::PI * r[0] * r[1]).sin()
            + 20.0 * (r[2] - 0.5).powi(2)
            + 10.0 * r[3]
            + 5.0 * r[4];
        y.push(clean + gradnet::rng::normal::<f64>(rng, 0.0, 1.0)?);
    }
    let y: Vec<f32> = y.iter().map(|&v| v as f32).collect();
    Ok(Dataset::new(x, Batch::from_vec(y)?)?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let f = Flags::parse(&["--seed", "--epochs"])?;
    let seed: u64 = f.get("--seed", 0)?;
    let epochs: usize = f.get("--epochs", 300)?;
    let mut rng = seeded(seed);
    let data = friedman(POINTS, &mut rng)?;
    let (train, test) = data.split(0.2, &mut rng)?;

    // Standardize the targets with the training part's statistics.
    let (x_train, y_train) = train.into_parts();
    let scale = Standardizer::fit(&y_train)?;
    let train = Dataset::new(x_train, scale.transform(&y_train)?)?;

    let mut net = Friedman::<f32>::new(&mut seeded(seed));
    let mut opt = AdamConfig::default().lr(LR).build()?;
    let schedule = CosineAnnealingLr::new(LR, epochs, 0.0)?;
    let history = Trainer::new(epochs, BATCH)
        .seed(seed)
        .print_summary(true)
        .schedule(schedule, ScheduleStep::Epoch)
        .metric(Mae)
        .metric(R2)
        .validation_split(0.2)
        .early_stopping(EarlyStopping::new("val_loss").patience(30))
        .fit(&mut net, &mut opt, &train)?;
    println!(
        "{:?} after {} epochs",
        history.stop_reason(),
        history.epochs()
    );

    // The test part, in the targets' own units.
    let mut pred = net.forward(test.x())?;
    scale.inverse_in_place(&mut pred);
    let mut sums = (Vec::new(), Vec::new());
    R2.update(&mut sums.0, &pred, test.y());
    Mae.update(&mut sums.1, &pred, test.y());
    let r2 = Metric::<Batch<f32, 1>, Batch<f32, 1>>::value(&R2, &sums.0);
    let mae = Metric::<Batch<f32, 1>, Batch<f32, 1>>::value(&Mae, &sums.1);
    println!(
        "test ({} points): R^2 {r2:.4}, mean absolute error {mae:.3} (the noise alone: 0.798)",
        test.len()
    );

    #[cfg(feature = "plot")]
    {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/regression/history.svg");
        gradnet::plot::save_history(&history, "Friedman #1", &path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
