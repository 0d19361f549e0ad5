//! Checked layers -> a straight-line program of steps over numbered values, and the
//! plan for its reverse: which gradient buffer each value's gradient lives in.
//!
//! Value 0 is the network's input. Each step runs one layer through the runtime's
//! `Layer` protocol: it reads a value and makes a new one. Two decisions are the
//! graph's, as optimizations: a dense layer or batch norm followed by an activation
//! becomes one fused step (for dense, bias and activation in the pass over the
//! product, and the activation's derivative and the bias gradient in one pass on the
//! way back; for batch norm, the activation in the normalizing pass, and its
//! derivative in the pass that sums over rows), and a residual
//! block becomes its body's steps followed by a sum whose output gradient is the
//! body's (the same buffer, no copy).

use crate::ir::{Act, Kind, Layer, Width};

/// How a step's layer is reached.
pub enum Op<'a> {
    /// A layer that is a struct field, called as it is.
    Field(&'a Layer),
    /// A dense or batch norm layer (a field) and the activation after it
    /// (`act_layer`, its own entry, for names in diagnostics).
    Fused {
        layer: &'a Layer,
        act: Act,
        act_layer: &'a Layer,
    },
    /// An activation that does not follow a dense layer.
    Act { layer: &'a Layer, act: Act },
    /// The end of a residual block: the step's input plus the block's output `block`.
    Sum { block: usize },
}

/// One step of the forward program: `y = op(x)`.
pub struct Step<'a> {
    pub op: Op<'a>,
    pub x: usize,
    pub y: usize,
}

impl Step<'_> {
    /// The values this step reads.
    pub fn inputs(&self) -> Vec<usize> {
        match self.op {
            Op::Sum { block } => vec![self.x, block],
            Op::Field(_) | Op::Fused { .. } | Op::Act { .. } => vec![self.x],
        }
    }

    /// The spec entry whose name a diagnostic of this step's output uses.
    pub fn out_name(&self) -> Option<&str> {
        match &self.op {
            Op::Field(l) | Op::Act { layer: l, .. } => Some(&l.path),
            Op::Fused { act_layer, .. } => Some(&act_layer.path),
            Op::Sum { .. } => None,
        }
    }

    /// The struct field holding this step's parameters, if any.
    pub fn field_layer(&self) -> Option<&Layer> {
        match &self.op {
            Op::Field(l) | Op::Fused { layer: l, .. } => Some(l),
            Op::Act { .. } | Op::Sum { .. } => None,
        }
    }
}

/// The lowered program.
pub struct Graph<'a> {
    /// The width of each value.
    pub widths: Vec<Width>,
    /// Whether each value is a sequence (`Seq`) rather than a batch.
    pub seqs: Vec<bool>,
    pub steps: Vec<Step<'a>>,
    /// The network's output value.
    pub output: usize,
    /// The gradient buffer of each value (values share one where a gradient is passed
    /// through unchanged).
    pub grad_buf: Vec<usize>,
}

impl<'a> Graph<'a> {
    pub fn lower(input: &Width, input_seq: bool, layers: &'a [Layer]) -> Self {
        let mut g = Graph {
            widths: vec![input.clone()],
            seqs: vec![input_seq],
            steps: Vec::new(),
            output: 0,
            grad_buf: vec![0],
        };
        g.output = g.seq(layers, 0);
        g
    }

    fn value(&mut self, width: &Width, seq: bool) -> usize {
        self.widths.push(width.clone());
        self.seqs.push(seq);
        let id = self.widths.len() - 1;
        self.grad_buf.push(id);
        id
    }

    fn seq(&mut self, layers: &'a [Layer], mut x: usize) -> usize {
        let mut i = 0;
        while i < layers.len() {
            let layer = &layers[i];
            let op = match &layer.kind {
                Kind::Dense { .. } | Kind::BatchNorm { .. } => match layers.get(i + 1) {
                    Some(
                        next @ Layer {
                            kind: Kind::Act(a), ..
                        },
                    ) => {
                        i += 1;
                        Op::Fused {
                            layer,
                            act: a.clone(),
                            act_layer: next,
                        }
                    }
                    _ => Op::Field(layer),
                },
                Kind::Act(a) => Op::Act {
                    layer,
                    act: a.clone(),
                },
                Kind::Residual { body } => {
                    let block = self.seq(body, x);
                    let y = self.value(&layer.out_w, layer.seq);
                    // The body's output has one reader, the sum, whose gradient it
                    // is: share the buffer.
                    self.grad_buf[block] = y;
                    self.steps.push(Step {
                        op: Op::Sum { block },
                        x,
                        y,
                    });
                    x = y;
                    i += 1;
                    continue;
                }
                Kind::PRelu { .. }
                | Kind::LayerNorm { .. }
                | Kind::Dropout { .. }
                | Kind::ReZero
                | Kind::Recurrent(_)
                | Kind::Map(_) => Op::Field(layer),
            };
            let y = self.value(&layer_out(&op), layer_out_seq(&op));
            self.steps.push(Step { op, x, y });
            x = y;
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

/// Whether an op makes a sequence.
fn layer_out_seq(op: &Op) -> bool {
    match op {
        Op::Field(l) | Op::Act { layer: l, .. } => l.out_seq(),
        Op::Fused { act_layer, .. } => act_layer.out_seq(),
        Op::Sum { .. } => false,
    }
}

/// The width an op makes.
fn layer_out(op: &Op) -> Width {
    match op {
        Op::Field(l) | Op::Act { layer: l, .. } => l.out_w.clone(),
        Op::Fused { act_layer, .. } => act_layer.out_w.clone(),
        // A sum's value is made where the block is lowered, with the block's width.
        Op::Sum { .. } => crate::args::unknown_width(),
    }
}
