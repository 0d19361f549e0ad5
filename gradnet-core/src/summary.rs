//! A network's summary, as Keras' `model.summary()` or torchinfo print it: one line
//! per layer with its name, kind, output width, parameter count and the shapes of its
//! parameters, and the totals. Generated networks build it in `summary()`.
//!
//! ```
//! use gradnet_core::{summary::Summary, Dense, init::Init, rng::seeded};
//! let dense = Dense::<f32, 4, 3>::new(&Init::glorot_uniform(), true, &mut seeded(0));
//! let mut s = Summary::new("Net", 4);
//! s.push("0", "dense(4 -> 3)", 3, Some(&dense));
//! s.push::<f32, Dense<f32, 4, 3>>("1", "relu", 3, None);
//! assert_eq!(s.total_params(), 15);
//! assert_eq!(s.rows()[0].shapes[0].1.dims(), &[3, 4]);
//! let text = s.to_string();
//! assert!(text.contains("weight [3, 4]") && text.contains("15 parameters"));
//! ```

use core::fmt;

use crate::params::{Parameters, Shape, TensorKind};
use crate::real::Real;

/// One layer's line.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// The layer's `state_dict` prefix (`0`, `hidden`, `3.1`).
    pub name: String,
    /// The layer's kind with its settings, as written (`dense(64 -> 10)`, `relu`).
    pub kind: String,
    /// The width of the layer's output.
    pub output: usize,
    /// Number of scalar parameters.
    pub params: usize,
    /// Number of scalar buffer values (batch norm's running statistics).
    pub buffers: usize,
    /// Each parameter's short name and shape (`weight`, `[10, 64]`).
    pub shapes: Vec<(&'static str, Shape)>,
}

/// A network's summary; `Display` prints it as a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    name: String,
    input: usize,
    rows: Vec<SummaryRow>,
}

impl Summary {
    /// An empty summary of the network `name` taking `input` features.
    pub fn new(name: &str, input: usize) -> Self {
        Summary {
            name: name.to_string(),
            input,
            rows: Vec::new(),
        }
    }

    /// Adds a layer's line; `layer` gives its parameters and buffers (`None` for a
    /// layer without any, such as an activation).
    pub fn push<T: Real, P: Parameters<T>>(
        &mut self,
        name: &str,
        kind: &str,
        output: usize,
        layer: Option<&P>,
    ) {
        let (mut params, mut buffers, mut shapes) = (0, 0, Vec::new());
        if let Some(l) = layer {
            l.visit_shapes(&mut |n, k, s| match k {
                TensorKind::Parameter => {
                    params += s.numel();
                    shapes.push((short(n), s));
                }
                TensorKind::Buffer => buffers += s.numel(),
            });
        }
        self.rows.push(SummaryRow {
            name: name.to_string(),
            kind: kind.to_string(),
            output,
            params,
            buffers,
            shapes,
        });
    }

    /// The lines, in spec order.
    pub fn rows(&self) -> &[SummaryRow] {
        &self.rows
    }

    /// Total number of scalar parameters.
    pub fn total_params(&self) -> usize {
        self.rows.iter().map(|r| r.params).sum()
    }

    /// Total number of scalar buffer values.
    pub fn total_buffers(&self) -> usize {
        self.rows.iter().map(|r| r.buffers).sum()
    }
}

/// The part of a name after its last `.` (`weight` of `3.0.weight`).
fn short(name: &'static str) -> &'static str {
    name.rsplit('.').next().unwrap_or(name)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shapes = |r: &SummaryRow| {
            r.shapes
                .iter()
                .map(|(n, s)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let w_name = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let w_kind = self
            .rows
            .iter()
            .map(|r| r.kind.len())
            .max()
            .unwrap_or(0)
            .max(4);
        writeln!(f, "{} ({} inputs)", self.name, self.input)?;
        writeln!(
            f,
            "{:<w_name$}  {:<w_kind$}  {:>6}  {:>10}  shapes",
            "layer", "kind", "output", "params"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<w_name$}  {:<w_kind$}  {:>6}  {:>10}  {}",
                r.name,
                r.kind,
                r.output,
                r.params,
                shapes(r)
            )?;
        }
        write!(
            f,
            "total: {} parameters, {} buffer values",
            self.total_params(),
            self.total_buffers()
        )
    }
}
