//! SVG plots (feature `plot`, on by default), with `plotters`: a training
//! [`History`]'s curves ([`history`]), the gradient norm of each layer against
//! depth ([`depth_profile`], the picture of the vanishing gradient), the gradient
//! norm of each layer over training ([`gradients_over_training`]), and any
//! [`LineChart`].
//!
//! Every chart has labelled axes and a legend; the y axis is logarithmic when the
//! values are positive and span more than two decades. Non-finite values are left
//! out (a diverging run's curve ends where it diverged).
//!
//! ```
//! use gradnet::plot::LineChart;
//! let svg = LineChart::new("gradient norm by depth", "layer", "||dL/dW||")
//!     .series("sigmoid", (1..=5).map(|l| (l as f64, 10f64.powi(-l))))
//!     .series("relu", (1..=5).map(|l| (l as f64, 0.5)))
//!     .to_svg()?;
//! assert!(svg.starts_with("<svg") && svg.contains("sigmoid"));
//! # Ok::<(), gradnet::plot::PlotError>(())
//! ```

use crate::fit::History;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// What can go wrong drawing or writing a plot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// A chart without a single finite point.
    #[error("nothing to plot in {0:?}: no finite point")]
    Empty(String),
    /// The drawing backend failed.
    #[error("drawing {title:?}: {reason}")]
    Draw {
        /// The chart.
        title: String,
        /// What plotters said.
        reason: String,
    },
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// One line: a name for the legend and its points.
#[derive(Clone, Debug, PartialEq)]
struct Line {
    name: String,
    points: Vec<(f64, f64)>,
    dashed: bool,
}

/// Whether the y axis is logarithmic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Logarithmic when every value is positive and they span more than two
    /// decades, else linear.
    Auto,
    /// Linear.
    Linear,
    /// Logarithmic (non-positive values are left out).
    Log,
}

/// A chart of lines: a title, axis labels, and named series.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    title: String,
    x_label: String,
    y_label: String,
    lines: Vec<Line>,
    scale: Scale,
    size: (u32, u32),
}

/// The colours of the lines, in order: Okabe and Ito's colour-blind-safe palette,
/// then four darker tones, so that 12 lines are told apart.
const COLOURS: [RGBColor; 12] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
    RGBColor(128, 128, 128),
    RGBColor(136, 34, 85),
    RGBColor(17, 119, 51),
    RGBColor(51, 34, 136),
];

impl LineChart {
    /// An empty chart, 800 x 480 pixels.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            lines: Vec::new(),
            scale: Scale::Auto,
            size: (800, 480),
        }
    }

    /// Adds a solid line.
    pub fn series(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.push(name.into(), points, false);
        self
    }

    /// Adds a dashed line (validation curves beside their training curves).
    pub fn dashed(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.push(name.into(), points, true);
        self
    }

    fn push(&mut self, name: String, points: impl IntoIterator<Item = (f64, f64)>, dashed: bool) {
        self.lines.push(Line {
            name,
            points: points.into_iter().collect(),
            dashed,
        });
    }

    /// The y axis' scale.
    pub fn scale(mut self, scale: Scale) -> Self {
        self.scale = scale;
        self
    }

    /// The size in pixels.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    /// The names of the lines, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(|l| l.name.as_str())
    }

    /// Whether the y axis comes out logarithmic.
    pub fn is_log(&self) -> bool {
        let ys = || self.lines.iter().flat_map(|l| &l.points).map(|p| p.1);
        match self.scale {
            Scale::Linear => false,
            Scale::Log => true,
            Scale::Auto => {
                let finite: Vec<f64> = ys().filter(|y| y.is_finite()).collect();
                let (lo, hi) = bounds(finite.iter().copied());
                !finite.is_empty() && lo > 0.0 && hi / lo > 100.0
            }
        }
    }

    /// The chart as an SVG document.
    ///
    /// # Errors
    /// [`PlotError::Empty`] if no line has a finite point, [`PlotError::Draw`].
    pub fn to_svg(&self) -> Result<String, PlotError> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            self.draw_on(&root)?;
            root.present().map_err(|e| self.draw_error(e))?;
        }
        Ok(svg)
    }

    /// Writes [`LineChart::to_svg`] to `path`.
    ///
    /// # Errors
    /// As [`LineChart::to_svg`], and [`PlotError::Io`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), PlotError> {
        let svg = self.to_svg()?;
        write(path.as_ref(), &svg)
    }

    fn draw_error<E: std::fmt::Debug>(&self, e: E) -> PlotError {
        PlotError::Draw {
            title: self.title.clone(),
            reason: format!("{e:?}"),
        }
    }

    fn draw_on<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), PlotError> {
        let log = self.is_log();
        let keep = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!log || y > 0.0);
        let points = || {
            self.lines
                .iter()
                .flat_map(|l| l.points.iter().filter(|p| keep(p)))
        };
        if points().next().is_none() {
            return Err(PlotError::Empty(self.title.clone()));
        }
        let (x0, x1) = pad(bounds(points().map(|p| p.0)), false);
        let (y0, y1) = pad(bounds(points().map(|p| p.1)), log);
        area.fill(&WHITE).map_err(|e| self.draw_error(e))?;
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(72);
        if log {
            let mut chart = builder
                .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                .map_err(|e| self.draw_error(e))?;
            self.mesh_and_lines(&mut chart, keep)
        } else {
            let mut chart = builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| self.draw_error(e))?;
            self.mesh_and_lines(&mut chart, keep)
        }
    }

    fn mesh_and_lines<'a, DB, Y>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
        keep: impl Fn(&(f64, f64)) -> bool,
    ) -> Result<(), PlotError>
    where
        DB: DrawingBackend + 'a,
        Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
    {
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .x_label_formatter(&|v| axis_number(*v))
            .y_label_formatter(&|v| axis_number(*v))
            .draw()
            .map_err(|e| self.draw_error(e))?;
        for (i, line) in self.lines.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let style = ShapeStyle::from(colour).stroke_width(2);
            let pts: Vec<(f64, f64)> = line.points.iter().copied().filter(|p| keep(p)).collect();
            let series = if line.dashed {
                chart.draw_series(DashedLineSeries::new(pts, 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(pts, style))
            };
            // The legend's sample: solid, or dashed as the line.
            let (dash, gap) = if line.dashed { (6, 4) } else { (22, 0) };
            series
                .map_err(|e| self.draw_error(e))?
                .label(line.name.clone())
                .legend(move |(x, y)| {
                    plotters::element::DashedPathElement::new(
                        vec![(x, y), (x + 22, y)],
                        dash,
                        gap,
                        style,
                    )
                });
        }
        chart
            .configure_series_labels()
            .position(self.legend_position())
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| self.draw_error(e))
    }
}

impl LineChart {
    /// The legend goes where the lines end low if they end high (a rising
    /// accuracy), else in the upper right corner (a falling loss).
    fn legend_position(&self) -> SeriesLabelPosition {
        let ends: Vec<f64> = self
            .lines
            .iter()
            .filter_map(|l| l.points.iter().rev().find(|p| p.1.is_finite()).map(|p| p.1))
            .collect();
        let all = self
            .lines
            .iter()
            .flat_map(|l| &l.points)
            .map(|p| p.1)
            .filter(|y| y.is_finite());
        let (lo, hi) = bounds(all);
        let mid = if self.is_log() && lo > 0.0 {
            (lo * hi).sqrt()
        } else {
            (lo + hi) / 2.0
        };
        if !ends.is_empty() && ends.iter().all(|&e| e > mid) {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        }
    }
}

fn write(path: &Path, svg: &str) -> Result<(), PlotError> {
    let io = |source| PlotError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, svg).map_err(io)
}

/// The smallest and largest value (`(inf, -inf)` for none).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// A range a little wider than the data (a decade's tenth on a log axis), and
/// never empty.
fn pad((lo, hi): (f64, f64), log: bool) -> (f64, f64) {
    if log {
        let (a, b) = (lo.log10(), hi.log10());
        let m = ((b - a) * 0.05).max(0.05);
        (10f64.powf(a - m), 10f64.powf(b + m))
    } else if hi > lo {
        let m = (hi - lo) * 0.05;
        (lo - m, hi + m)
    } else {
        let m = lo.abs().max(1.0) * 0.05;
        (lo - m, hi + m)
    }
}

fn axis_number(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-2..1e4).contains(&a) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

/// The history's curves, one chart per quantity (the loss, then each metric),
/// training solid and validation dashed, stacked in one SVG document.
///
/// # Errors
/// [`PlotError::Empty`] for a history of no epoch, [`PlotError::Draw`].
pub fn history(history: &History, title: &str) -> Result<String, PlotError> {
    let charts = history_charts(history, title);
    if charts.is_empty() {
        return Err(PlotError::Empty(title.to_string()));
    }
    let (w, h) = (800, 360);
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (w, h * charts.len() as u32)).into_drawing_area();
        let areas = root.split_evenly((charts.len(), 1));
        for (chart, area) in charts.iter().zip(&areas) {
            chart.draw_on(area)?;
        }
        root.present().map_err(|e| PlotError::Draw {
            title: title.to_string(),
            reason: format!("{e:?}"),
        })?;
    }
    Ok(svg)
}

/// [`history`] written to `path`.
///
/// # Errors
/// As [`history`], and [`PlotError::Io`].
pub fn save_history(h: &History, title: &str, path: impl AsRef<Path>) -> Result<(), PlotError> {
    write(path.as_ref(), &history(h, title)?)
}

/// The charts of [`history`]: per quantity, its training and validation series
/// against the epoch (from 1).
pub fn history_charts(history: &History, title: &str) -> Vec<LineChart> {
    let epochs = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, &y)| ((i + 1) as f64, y))
            .collect()
    };
    history
        .series()
        .iter()
        .filter(|s| !s.name.starts_with("val_"))
        .map(|s| {
            let mut chart = LineChart::new(format!("{title}: {}", s.name), "epoch", s.name.clone())
                .series(format!("train {}", s.name), epochs(&s.values));
            if let Some(v) = history.get(&format!("val_{}", s.name)) {
                chart = chart.dashed(format!("validation {}", s.name), epochs(v));
            }
            chart
        })
        .collect()
}

/// The gradient norm of each weight against its depth (1 = the first layer), one
/// line per configuration: how the gradient shrinks (or grows) on its way back.
/// Each configuration gives its per-layer norms, first layer first.
///
/// # Errors
/// As [`LineChart::to_svg`].
pub fn depth_profile<'a>(
    title: &str,
    configurations: impl IntoIterator<Item = (&'a str, &'a [f64])>,
) -> Result<LineChart, PlotError> {
    let mut chart =
        LineChart::new(title, "layer (1 = first)", "gradient norm ||dL/dW||").scale(Scale::Log);
    for (name, norms) in configurations {
        chart = chart.series(
            name,
            norms.iter().enumerate().map(|(i, &n)| ((i + 1) as f64, n)),
        );
    }
    Ok(chart)
}

/// The gradient norm of each weight over training, from the history's gradient
/// snapshots ([`crate::fit::Trainer::gradient_report_every`]): one line per
/// weight, against the step.
///
/// # Errors
/// [`PlotError::Empty`] if the history holds no snapshot.
pub fn gradients_over_training(history: &History, title: &str) -> Result<LineChart, PlotError> {
    let snaps = history.gradients();
    let first = snaps
        .first()
        .ok_or_else(|| PlotError::Empty(title.to_string()))?;
    let mut chart = LineChart::new(title, "step", "gradient norm").scale(Scale::Log);
    for (j, (name, _)) in first.norms.iter().enumerate() {
        if !name
            .rsplit('.')
            .next()
            .is_some_and(|s| s.starts_with("weight"))
        {
            continue;
        }
        let points = snaps
            .iter()
            .filter_map(|s| s.norms.get(j).map(|&(_, n)| (s.step as f64, n)));
        chart = chart.series(name.clone(), points);
    }
    Ok(chart)
}
