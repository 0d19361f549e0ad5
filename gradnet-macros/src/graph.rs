//! Checked layers -> a straight-line program of steps over numbered values, and the
//! plan for its reverse: which gradient buffer each value's gradient lives in, and
//! whether a step's backward overwrites it or adds to it.
//!
//! Value 0 is the network's input. Each step reads values and makes one new value.
//! A dense layer followed by an activation becomes one fused step (bias and
//! activation in the pass over the product; the activation's derivative and the bias
//! gradient in one pass on the way back). A residual block becomes its body's steps
//! followed by an `Add`; the body's output gradient is the sum's gradient (the same
//! buffer, no copy).

use crate::ir::{Act, Kind, Layer, Width};

/// One step of the forward program.
pub enum Step<'a> {
    /// `y = act(x W^T + b)`; with an activation, the pre-activation is kept in `z{y}`.
    Dense {
        layer: &'a Layer,
        act: Option<Act>,
        x: usize,
        y: usize,
    },
    /// `y = act(x)` for an activation that does not follow a dense layer.
    Act { act: Act, x: usize, y: usize },
    /// A layer with its own kernel: prelu, batch norm, layer norm, dropout.
    Layer {
        layer: &'a Layer,
        x: usize,
        y: usize,
    },
    /// `y = a + b` (the end of a residual block).
    Add { a: usize, b: usize, y: usize },
}

impl Step<'_> {
    /// The value this step makes.
    pub fn output(&self) -> usize {
        match self {
            Step::Dense { y, .. }
            | Step::Act { y, .. }
            | Step::Layer { y, .. }
            | Step::Add { y, .. } => *y,
        }
    }

    /// The values this step reads.
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            Step::Dense { x, .. } | Step::Act { x, .. } | Step::Layer { x, .. } => vec![*x],
            Step::Add { a, b, .. } => vec![*a, *b],
        }
    }
}

/// The lowered program.
pub struct Graph<'a> {
    /// The width of each value.
    pub widths: Vec<Width>,
    pub steps: Vec<Step<'a>>,
    /// The network's output value.
    pub output: usize,
    /// The gradient buffer of each value (values share one where a gradient is passed
    /// through unchanged).
    pub grad_buf: Vec<usize>,
}

impl<'a> Graph<'a> {
    pub fn lower(input: &Width, layers: &'a [Layer]) -> Self {
        let mut g = Graph {
            widths: vec![input.clone()],
            steps: Vec::new(),
            output: 0,
            grad_buf: vec![0],
        };
        g.output = g.seq(layers, 0);
        g
    }

    fn value(&mut self, width: &Width) -> usize {
        self.widths.push(width.clone());
        let id = self.widths.len() - 1;
        self.grad_buf.push(id);
        id
    }

    fn seq(&mut self, layers: &'a [Layer], mut x: usize) -> usize {
        let mut i = 0;
        while i < layers.len() {
            let layer = &layers[i];
            x = match &layer.kind {
                Kind::Dense { .. } => {
                    let act = match layers.get(i + 1).map(|l| &l.kind) {
                        Some(Kind::Act(a)) => {
                            i += 1;
                            Some(a.clone())
                        }
                        _ => None,
                    };
                    let y = self.value(&layer.out_w);
                    self.steps.push(Step::Dense { layer, act, x, y });
                    y
                }
                Kind::Act(a) => {
                    let y = self.value(&layer.out_w);
                    self.steps.push(Step::Act {
                        act: a.clone(),
                        x,
                        y,
                    });
                    y
                }
                Kind::Residual { body } => {
                    let o = self.seq(body, x);
                    let y = self.value(&layer.out_w);
                    // The body's output has one reader, the sum, whose gradient it
                    // is: share the buffer.
                    self.grad_buf[o] = y;
                    self.steps.push(Step::Add { a: x, b: o, y });
                    y
                }
                _ => {
                    let y = self.value(&layer.out_w);
                    self.steps.push(Step::Layer { layer, x, y });
                    y
                }
            };
            i += 1;
        }
        x
    }

    /// Resolves a value's gradient buffer through the aliases.
    pub fn grad_of(&self, mut v: usize) -> usize {
        while self.grad_buf[v] != v {
            v = self.grad_buf[v];
        }
        v
    }

    /// How many steps read value `v`.
    pub fn uses(&self, v: usize) -> usize {
        self.steps
            .iter()
            .filter(|s| s.inputs().contains(&v))
            .count()
    }
}
