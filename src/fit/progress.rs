//! Progress output of a fit: an `indicatif` bar on a terminal, one plain line per
//! epoch otherwise (CI logs), or nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::Instant;

/// How much a fit prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// A progress bar when standard output is a terminal, else one line per epoch.
    #[default]
    Auto,
    /// A progress bar when standard output is a terminal, else nothing (for runs
    /// of many short fits).
    Terminal,
    /// A progress bar over the whole fit, on standard error: the epoch, the batch,
    /// the loss and metrics (of the epoch so far), the last epoch's values,
    /// steps/s and the time left; one line with the last epoch's values at the end.
    Bar,
    /// One plain line per epoch.
    Lines,
    /// Nothing.
    Quiet,
}

/// A number as progress lines show it: 4 decimals in `[1e-3, 1e4)`, else 3
/// significant digits in scientific notation.
pub(crate) fn number(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-3..1e4).contains(&a) {
        format!("{v:.4}")
    } else if v.is_finite() {
        format!("{v:.3e}")
    } else {
        format!("{v}")
    }
}

/// `name value` pairs, two spaces apart.
pub(crate) fn pairs<'a>(values: impl IntoIterator<Item = (&'a str, f64)>) -> String {
    values
        .into_iter()
        .map(|(n, v)| format!("{n} {}", number(v)))
        .collect::<Vec<_>>()
        .join("  ")
}

enum Mode {
    Bar(ProgressBar),
    Lines,
    Quiet,
}

/// Where a fit's progress goes.
pub(crate) struct Progress {
    mode: Mode,
    out: Box<dyn Write>,
    epochs: usize,
    epoch: usize,
    epoch_start: Instant,
    last_epoch: String,
}

impl Progress {
    pub(crate) fn new(verbosity: Verbosity, out: Option<Box<dyn Write>>, epochs: usize) -> Self {
        let terminal = out.is_none() && std::io::stdout().is_terminal();
        let mode = match verbosity {
            Verbosity::Auto | Verbosity::Terminal if terminal => Mode::Bar(bar()),
            Verbosity::Bar => Mode::Bar(bar()),
            Verbosity::Auto | Verbosity::Lines => Mode::Lines,
            Verbosity::Terminal | Verbosity::Quiet => Mode::Quiet,
        };
        Progress {
            mode,
            out: out.unwrap_or_else(|| Box::new(std::io::stdout())),
            epochs,
            epoch: 0,
            epoch_start: Instant::now(),
            last_epoch: String::new(),
        }
    }

    /// A line outside the bar (a summary, a flag).
    pub(crate) fn message(&mut self, text: &str) {
        match &self.mode {
            Mode::Bar(bar) => bar.println(text),
            Mode::Lines => {
                // Progress output is best effort: a closed pipe must not stop training.
                let _ = writeln!(self.out, "{text}");
            }
            Mode::Quiet => {}
        }
    }

    /// Whether [`Progress::batch`] shows anything (a bar).
    pub(crate) fn shows_batches(&self) -> bool {
        matches!(self.mode, Mode::Bar(_))
    }

    /// The start of an epoch of `batches` batches, `done` of them already done (a
    /// resumed epoch).
    pub(crate) fn start_epoch(&mut self, epoch: usize, batches: usize, done: usize) {
        self.epoch = epoch;
        self.epoch_start = Instant::now();
        if let Mode::Bar(bar) = &self.mode {
            let total = (self.epochs * batches) as u64;
            if bar.length() != Some(total) {
                bar.set_length(total);
                bar.set_position((epoch * batches + done) as u64);
                bar.reset_eta();
            }
            bar.set_prefix(format!("epoch {}/{}", epoch + 1, self.epochs));
        }
    }

    pub(crate) fn batch(&mut self, loss: f64, metrics: &str) {
        if let Mode::Bar(bar) = &self.mode {
            let last = if self.last_epoch.is_empty() {
                String::new()
            } else {
                format!(" | last epoch: {}", self.last_epoch)
            };
            bar.set_message(format!("loss {}  {metrics}{last}", number(loss)));
            bar.inc(1);
        }
    }

    pub(crate) fn end_epoch(&mut self, steps: usize, summary: &str) {
        let secs = self.epoch_start.elapsed().as_secs_f64();
        let rate = steps as f64 / secs.max(1e-9);
        self.last_epoch = summary.to_string();
        if let Mode::Lines = self.mode {
            let _ = writeln!(
                self.out,
                "epoch {}/{}: {summary}  ({secs:.2} s, {rate:.0} steps/s)",
                self.epoch + 1,
                self.epochs
            );
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
            if !self.last_epoch.is_empty() {
                eprintln!(
                    "epoch {}/{}: {}",
                    self.epoch + 1,
                    self.epochs,
                    self.last_epoch
                );
            }
        }
        let _ = self.out.flush();
    }
}

/// A bar on standard error.
fn bar() -> ProgressBar {
    let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:25}] {pos}/{len} {msg} ({per_sec}, eta {eta})",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    b.set_style(style);
    b
}
