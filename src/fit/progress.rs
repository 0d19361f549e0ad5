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
    /// A progress bar per epoch (epoch, batch, loss, metrics, steps/s, time left),
    /// on standard error.
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
    Bar(Option<ProgressBar>),
    Lines,
    Quiet,
}

/// Where a fit's progress goes.
pub(crate) struct Progress {
    mode: Mode,
    out: Box<dyn Write>,
    epochs: usize,
    epoch_start: Instant,
    steps_in_epoch: usize,
}

impl Progress {
    pub(crate) fn new(verbosity: Verbosity, out: Option<Box<dyn Write>>, epochs: usize) -> Self {
        let mode = match verbosity {
            Verbosity::Auto if out.is_none() && std::io::stdout().is_terminal() => {
                Mode::Bar(None)
            }
            Verbosity::Bar => Mode::Bar(None),
            Verbosity::Auto | Verbosity::Lines => Mode::Lines,
            Verbosity::Quiet => Mode::Quiet,
        };
        Progress {
            mode,
            out: out.unwrap_or_else(|| Box::new(std::io::stdout())),
            epochs,
            epoch_start: Instant::now(),
            steps_in_epoch: 0,
        }
    }

    /// A line outside the bar (a summary, a flag).
    pub(crate) fn message(&mut self, text: &str) {
        match &self.mode {
            Mode::Bar(Some(bar)) => bar.println(text),
            Mode::Bar(None) | Mode::Lines => {
                // Progress output is best effort: a closed pipe must not stop training.
                let _ = writeln!(self.out, "{text}");
            }
            Mode::Quiet => {}
        }
    }

    pub(crate) fn start_epoch(&mut self, epoch: usize, batches: usize, done: usize) {
        self.epoch_start = Instant::now();
        self.steps_in_epoch = 0;
        if let Mode::Bar(bar) = &mut self.mode {
            let b = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:25}] {pos}/{len} {msg} {per_sec} eta {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> ");
            b.set_style(style);
            b.set_prefix(format!("epoch {}/{}", epoch + 1, self.epochs));
            b.set_position(done as u64);
            b.reset_eta();
            *bar = Some(b);
        }
    }

    /// Whether [`Progress::batch`] shows anything (a bar).
    pub(crate) fn shows_batches(&self) -> bool {
        matches!(self.mode, Mode::Bar(_))
    }

    pub(crate) fn batch(&mut self, loss: f64, metrics: &str) {
        if let Mode::Bar(Some(bar)) = &self.mode {
            bar.set_message(format!("loss {}  {metrics}", number(loss)));
            bar.inc(1);
        }
    }

    pub(crate) fn end_epoch(&mut self, epoch: usize, steps: usize, summary: &str) {
        self.steps_in_epoch = steps;
        let secs = self.epoch_start.elapsed().as_secs_f64();
        let rate = self.steps_in_epoch as f64 / secs.max(1e-9);
        let line = format!(
            "epoch {}/{}: {summary}  ({secs:.2} s, {rate:.0} steps/s)",
            epoch + 1,
            self.epochs
        );
        match &mut self.mode {
            Mode::Bar(bar) => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                eprintln!("{line}");
            }
            Mode::Lines => {
                let _ = writeln!(self.out, "{line}");
            }
            Mode::Quiet => {}
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Mode::Bar(bar) = &mut self.mode {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
        }
        let _ = self.out.flush();
    }
}
