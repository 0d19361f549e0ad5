//! `Trainer::fit` against the hand-written loop it replaces, bit for bit; early
//! stopping; divergence; progress lines; and resuming from checkpoints (at an
//! epoch's end and within an epoch) with results identical to a run never stopped.

use gradnet::data::Dataset;
use gradnet::fit::{
    Callback, Checkpoint, Context, Control, EarlyStopping, FitError, ScheduleStep, StopReason,
    Trainer, Verbosity,
};
use gradnet::metrics::{Accuracy, Mse, TopK, R2};
use gradnet::optim::Adam;
use gradnet::prelude::*;
use gradnet::schedule::{CosineAnnealingLr, LrSchedule};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

network! {
    /// Dropout, batch norm and a schedule: every generator and buffer a resume needs.
    struct Clf {
        input: 4,
        dropout(0.1),
        dense(16),
        batch_norm,
        relu,
        dense(3),
        loss: cross_entropy,
    }
}

network! {
    /// A small regression network.
    struct Reg {
        input: 2,
        dense(8),
        tanh,
        dense(1),
        loss: mse,
    }
}

const EPOCHS: usize = 6;
const BATCH: usize = 8;
const SEED: u64 = 11;

/// 90 points of 3 classes (the class is the quadrant-ish sign pattern of a linear
/// map), with noise.
fn classes(n: usize, seed: u64) -> Dataset<Batch<f64, 4>, Vec<usize>> {
    let mut rng = seeded(seed);
    let mut x = Batch::<f64, 4>::zeros(n);
    gradnet::rng::fill_normal(x.as_mut_slice(), 0.0, 1.0, &mut rng).unwrap();
    let y = x
        .iter_rows()
        .map(|r| {
            let s = r[0] + 0.5 * r[1] - r[2];
            if s < -0.5 {
                0
            } else if s < 0.5 {
                1
            } else {
                2
            }
        })
        .collect();
    Dataset::new(x, y).unwrap()
}

fn adam() -> Adam<f64> {
    AdamConfig::adamw().lr(0.01).build().unwrap()
}

fn params<N: Parameters<f64>>(n: &N) -> Vec<u64> {
    let mut out = Vec::new();
    n.visit_params(&mut |_, v| out.extend(v.iter().map(|x| x.to_bits())));
    n.visit_buffers(&mut |_, v| out.extend(v.iter().map(|x| x.to_bits())));
    out
}

fn trainer() -> Trainer<f64, Clf<f64>, Adam<f64>> {
    trainer_for(EPOCHS)
}

fn trainer_for(epochs: usize) -> Trainer<f64, Clf<f64>, Adam<f64>> {
    Trainer::new(epochs, BATCH)
        .seed(SEED)
        .metric(Accuracy)
        .metric(TopK(2))
        .schedule(
            CosineAnnealingLr::new(0.01, EPOCHS, 0.0).unwrap(),
            ScheduleStep::Epoch,
        )
        .verbosity(Verbosity::Quiet)
}

#[test]
fn fit_equals_the_hand_written_loop_bit_for_bit() {
    let data = classes(90, 1);
    let mut net = Clf::<f64>::new(&mut seeded(3));
    let mut by_hand = net.clone();
    let mut opt = adam();
    let history = trainer().fit(&mut net, &mut opt, &data).unwrap();
    assert_eq!(*history.stop_reason(), StopReason::Completed);
    assert_eq!(history.epochs(), EPOCHS);

    // The loop fit documents: stream 1 of seeded(seed) shuffles 0..n each epoch;
    // the workspace's generator is seeded(seed).
    let mut opt2 = adam();
    let schedule = CosineAnnealingLr::new(0.01, EPOCHS, 0.0).unwrap();
    let mut shuffle = seeded(SEED);
    shuffle.set_stream(1);
    let mut ws = ClfWorkspace::with_seed(SEED);
    let mut grads = by_hand.zero_grads();
    let (mut xb, mut yb) = (Batch::new(), Vec::new());
    let mut losses = Vec::new();
    for epoch in 0..EPOCHS {
        schedule.apply(epoch, &mut opt2).unwrap();
        let mut order: Vec<usize> = (0..data.len()).collect();
        gradnet::rng::shuffle(&mut order, &mut shuffle);
        let (mut sum, mut rows) = (0.0, 0.0);
        for chunk in order.chunks(BATCH) {
            data.gather_into(chunk, &mut xb, &mut yb).unwrap();
            let loss = by_hand
                .train_step(&xb, &yb, &mut opt2, &mut ws, &mut grads)
                .unwrap();
            sum += loss * chunk.len() as f64;
            rows += chunk.len() as f64;
        }
        losses.push(sum / rows);
    }
    assert_eq!(params(&net), params(&by_hand));
    let fitted: Vec<u64> = history
        .get("loss")
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    let hand: Vec<u64> = losses.iter().map(|v| v.to_bits()).collect();
    assert_eq!(fitted, hand);
    let acc = history.get("accuracy").unwrap();
    let top2 = history.get("top2_accuracy").unwrap();
    assert!(acc
        .iter()
        .zip(top2)
        .all(|(a, t)| (0.0..=1.0).contains(a) && t >= a));
}

/// Keeps the parameters after every epoch.
struct Snapshots(Rc<RefCell<Vec<Vec<u64>>>>);

impl<N: Network<f64>, O> Callback<f64, N, O> for Snapshots {
    fn on_epoch_end(&mut self, cx: &Context<'_, f64, N, O>) -> Result<Control, FitError> {
        self.0.borrow_mut().push(params(cx.net));
        Ok(Control::Continue)
    }
}

#[test]
fn early_stopping_restores_the_best_epochs_weights() {
    let data = classes(120, 2);
    let (train, val) = data.split(0.3, &mut seeded(0)).unwrap();
    let mut net = Clf::<f64>::new(&mut seeded(4));
    // A rate high enough that the validation loss turns up within 40 epochs.
    let mut opt: Adam<f64> = AdamConfig::default().lr(0.05).build().unwrap();
    let snaps = Rc::new(RefCell::new(Vec::new()));
    let history = Trainer::new(40, BATCH)
        .seed(SEED)
        .metric(Accuracy)
        .early_stopping(EarlyStopping::new("val_loss").patience(3))
        .callback(Snapshots(snaps.clone()))
        .verbosity(Verbosity::Quiet)
        .fit_validated(&mut net, &mut opt, &train, &val)
        .unwrap();
    let val_loss = history.get("val_loss").unwrap();
    let best = (0..val_loss.len())
        .min_by(|&a, &b| val_loss[a].total_cmp(&val_loss[b]))
        .unwrap();
    assert_eq!(history.best_epoch(), Some(best));
    assert!(
        matches!(history.stop_reason(), StopReason::EarlyStopped { best_epoch, .. } if *best_epoch == best),
        "{:?} after {} epochs",
        history.stop_reason(),
        history.epochs()
    );
    assert_eq!(
        history.epochs(),
        best + 4,
        "3 epochs of patience after the best"
    );
    let snaps = snaps.borrow();
    assert_ne!(snaps[best], *snaps.last().unwrap());
    assert_eq!(params(&net), snaps[best]);
}

#[test]
fn a_diverging_fit_returns_its_history_with_the_reason() {
    let data = classes(64, 3);
    let mut net = Clf::<f64>::new(&mut seeded(5));
    let mut opt = SgdConfig::new(1e300).build().unwrap();
    let history = Trainer::new(5, BATCH)
        .verbosity(Verbosity::Quiet)
        .fit(&mut net, &mut opt, &data)
        .unwrap();
    assert!(history.diverged(), "{:?}", history.stop_reason());
    let StopReason::Diverged { epoch, .. } = history.stop_reason() else {
        unreachable!()
    };
    assert_eq!(
        history.epochs(),
        *epoch,
        "every epoch before the failing one"
    );
}

/// A writer into a shared buffer.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_run_not_on_a_terminal_prints_one_line_per_epoch() {
    let data = classes(40, 4);
    let out = Shared::default();
    let mut net = Clf::<f64>::new(&mut seeded(6));
    Trainer::new(3, BATCH)
        .metric(Accuracy)
        .validation_split(0.25)
        .log_to(out.clone())
        .fit(&mut net, &mut adam(), &data)
        .unwrap();
    let text = String::from_utf8(out.0.borrow().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("epoch {}/3: loss ", i + 1)), "{l}");
        assert!(
            l.contains(" accuracy ") && l.contains("val_loss") && l.contains("steps/s"),
            "{l}"
        );
    }

    let quiet = Shared::default();
    Trainer::<f64, Clf<f64>, Adam<f64>>::new(2, BATCH)
        .verbosity(Verbosity::Quiet)
        .log_to(quiet.clone())
        .fit(&mut net, &mut adam(), &data)
        .unwrap();
    assert!(quiet.0.borrow().is_empty());
}

#[test]
fn settings_that_cannot_run_are_errors_before_any_step() {
    let data = classes(40, 5);
    let mut net = Clf::<f64>::new(&mut seeded(7));
    let before = params(&net);
    let err = Trainer::new(3, BATCH)
        .early_stopping(EarlyStopping::new("val_accuracy"))
        .verbosity(Verbosity::Quiet)
        .fit(&mut net, &mut adam(), &data)
        .unwrap_err();
    assert!(
        matches!(&err, FitError::UnknownSeries { name, known } if name == "val_accuracy" && known == &["loss"]),
        "{err}"
    );
    let err = Trainer::new(3, 0)
        .verbosity(Verbosity::Quiet)
        .fit(&mut net, &mut adam(), &data)
        .unwrap_err();
    assert!(matches!(
        err,
        FitError::Data(gradnet::data::DataError::ZeroBatchSize)
    ));
    assert_eq!(params(&net), before);
}

/// Stops the fit after `at` steps.
struct StopAt(u64);

impl<N: Network<f64>, O> Callback<f64, N, O> for StopAt {
    fn on_batch_end(&mut self, cx: &Context<'_, f64, N, O>) -> Result<Control, FitError> {
        Ok(if cx.state.step() == self.0 {
            Control::Stop
        } else {
            Control::Continue
        })
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gradnet-fit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn resuming_from_a_checkpoint_gives_the_run_never_stopped() {
    let data = classes(90, 6);
    let (train, val) = data.split(0.2, &mut seeded(1)).unwrap();
    let early = || EarlyStopping::new("val_loss").patience(100);
    let mut whole = Clf::<f64>::new(&mut seeded(8));
    let start = whole.clone();
    let mut opt = adam();
    let expected = trainer()
        .early_stopping(early())
        .gradient_report_every(4)
        .fit_validated(&mut whole, &mut opt, &train, &val)
        .unwrap();

    // Stopped at the end of epoch 3 (a fit of 3 epochs), or after step 17 (in
    // the second epoch of 9 steps; a checkpoint after every step).
    for name in ["epoch", "step"] {
        let dir = temp_dir(name);
        let (ckpt, part) = if name == "epoch" {
            let ckpt = Checkpoint::new(&dir).every_epochs(1);
            (ckpt.clone(), trainer_for(3).callback(ckpt))
        } else {
            let ckpt = Checkpoint::new(&dir).every_epochs(0).every_steps(1);
            (ckpt.clone(), trainer().callback(ckpt).callback(StopAt(17)))
        };
        let mut first = start.clone();
        let mut opt1 = adam();
        let part = part
            .early_stopping(early())
            .gradient_report_every(4)
            .fit_validated(&mut first, &mut opt1, &train, &val)
            .unwrap();
        assert_eq!(part.epochs(), if name == "epoch" { 3 } else { 1 });

        // A fresh process: another initialization, a fresh optimizer.
        let mut resumed = Clf::<f64>::new(&mut seeded(99));
        let mut opt2 = adam();
        let history = trainer()
            .early_stopping(early())
            .gradient_report_every(4)
            .resume_from(ckpt.last_path())
            .fit_validated(&mut resumed, &mut opt2, &train, &val)
            .unwrap();
        assert_eq!(params(&resumed), params(&whole), "resumed after a {name}");
        assert_eq!(history, expected, "resumed after a {name}");
        assert_eq!(format!("{opt2:?}"), format!("{opt:?}"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_checkpoint_of_another_fit_is_refused_and_changes_nothing() {
    let data = classes(40, 7);
    let dir = temp_dir("mismatch");
    let ckpt = Checkpoint::new(&dir);
    let mut net = Clf::<f64>::new(&mut seeded(9));
    trainer()
        .callback(ckpt.clone())
        .fit(&mut net, &mut adam(), &data)
        .unwrap();
    let mut other = Clf::<f64>::new(&mut seeded(10));
    let before = params(&other);
    let mut opt = adam();
    let err = Trainer::new(EPOCHS, BATCH)
        .verbosity(Verbosity::Quiet)
        .resume_from(ckpt.last_path())
        .fit(&mut other, &mut opt, &data)
        .unwrap_err();
    assert!(matches!(err, FitError::StateMismatch { .. }), "{err}");
    assert_eq!(params(&other), before);
    assert_eq!(gradnet::optim::OptimizerState::steps(&opt), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_best_checkpoint_holds_the_best_epoch() {
    let data = classes(80, 8);
    let (train, val) = data.split(0.25, &mut seeded(2)).unwrap();
    let dir = temp_dir("best");
    let ckpt = Checkpoint::new(&dir).every_epochs(0).best("val_accuracy");
    let snaps = Rc::new(RefCell::new(Vec::new()));
    let mut net = Clf::<f64>::new(&mut seeded(12));
    let history = trainer()
        .callback(ckpt.clone())
        .callback(Snapshots(snaps.clone()))
        .fit_validated(&mut net, &mut adam(), &train, &val)
        .unwrap();
    let acc = history.get("val_accuracy").unwrap();
    // The first epoch reaching the maximum (later ties do not count as better).
    let best = (0..acc.len())
        .find(|&i| acc[i] == acc.iter().cloned().fold(f64::MIN, f64::max))
        .unwrap();
    let mut loaded = Clf::<f64>::new(&mut seeded(0));
    let mut opt = adam();
    let mut rngs = [seeded(0), seeded(0)];
    let [a, b] = &mut rngs;
    gradnet::persist::load_checkpoint(ckpt.best_path(), &mut loaded, &mut opt, &mut [a, b])
        .unwrap();
    assert_eq!(params(&loaded), snaps.borrow()[best]);
    assert!(!ckpt.last_path().exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn regression_metrics_and_a_batch_schedule() {
    let mut rng = seeded(13);
    let mut x = Batch::<f64, 2>::zeros(128);
    gradnet::rng::fill_uniform(x.as_mut_slice(), -1.0, 1.0, &mut rng).unwrap();
    let y: Vec<f64> = x
        .iter_rows()
        .map(|r| (r[0] * 2.0).sin() + r[1] * r[1])
        .collect();
    let data = Dataset::new(x, Batch::<f64, 1>::from_vec(y).unwrap()).unwrap();
    let mut net = Reg::<f64>::new(&mut seeded(14));
    let mut opt: Adam<f64> = AdamConfig::default().lr(0.02).build().unwrap();
    let history = Trainer::new(60, 16)
        .metric(Mse)
        .metric(R2)
        .schedule(
            CosineAnnealingLr::new(0.02, 60 * 8, 0.0).unwrap(),
            ScheduleStep::Batch,
        )
        .validation_split(0.25)
        .verbosity(Verbosity::Quiet)
        .fit(&mut net, &mut opt, &data)
        .unwrap();
    // The loss of an MSE network is its MSE metric on the validation data
    // (evaluation mode, no dropout), up to rounding.
    let (l, m) = (
        history.last("val_loss").unwrap(),
        history.last("val_mse").unwrap(),
    );
    assert!((l - m).abs() <= 1e-12 * l.max(1e-300), "{l} vs {m}");
    // R^2 is 1 - MSE / Var(y) on the validation part (the last quarter).
    let (_, val) = data.split_last(0.25).unwrap();
    let ys = val.y().as_slice();
    let mean = ys.iter().sum::<f64>() / ys.len() as f64;
    let var = ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / ys.len() as f64;
    let r2 = history.last("val_r2").unwrap();
    assert!(
        (r2 - (1.0 - m / var)).abs() < 1e-9,
        "{r2} vs {}",
        1.0 - m / var
    );
    assert!(r2 > 0.8, "{history}");
    // The batch schedule ran to its end: the last step's rate.
    let last = CosineAnnealingLr::new(0.02, 60 * 8, 0.0)
        .unwrap()
        .lr_at(60 * 6 - 1);
    assert_eq!(opt.learning_rate(), last);
}
