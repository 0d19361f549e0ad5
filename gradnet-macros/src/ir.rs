//! The checked network: what `check` produces and `graph`/`expand` consume. Every
//! node keeps the span of the user's token, so later stages can still point at it.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Attribute, Ident, Visibility};

/// A width: known to the macro (a literal) or only to rustc (a named const).
#[derive(Clone)]
pub enum Width {
    Lit(usize, Span),
    /// A named const (a path), or an expression of one (`2 * H`).
    Const(Box<syn::Expr>),
}

impl Width {
    /// The value, if the macro knows it.
    pub fn known(&self) -> Option<usize> {
        match self {
            Width::Lit(n, _) => Some(*n),
            Width::Const(_) => None,
        }
    }

    /// As a const-generic argument or a `usize` expression.
    pub fn tokens(&self) -> TokenStream {
        match self {
            Width::Lit(n, span) => {
                let lit = proc_macro2::Literal::usize_unsuffixed(*n);
                quote_spanned!(*span=> #lit)
            }
            Width::Const(p) => quote!({ #p }),
        }
    }

    /// How a message names this width.
    pub fn describe(&self) -> String {
        match self {
            Width::Lit(n, _) => n.to_string(),
            Width::Const(p) => quote!(#p).to_string().replace(' ', ""),
        }
    }
}

/// A number argument: an `f64` expression (a literal or a named const), and its value
/// when the macro can see it.
#[derive(Clone)]
pub struct Num {
    pub tokens: TokenStream,
    pub value: Option<f64>,
}

impl Num {
    pub fn lit(value: f64) -> Self {
        // A literal token must be finite; a non-finite value (refused by the checks,
        // but still carried until then) is spelled as a constant.
        let tokens = if value.is_finite() {
            quote!(#value)
        } else if value.is_nan() {
            quote!(::core::f64::NAN)
        } else if value > 0.0 {
            quote!(::core::f64::INFINITY)
        } else {
            quote!(::core::f64::NEG_INFINITY)
        };
        Num {
            tokens,
            value: Some(value),
        }
    }
}

/// The checked spec.
pub struct Net {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub input: Width,
    /// `input: seq(N)`: the network reads a `Seq`.
    pub input_seq: bool,
    pub output: Width,
    /// The output is a `Seq` (the last recurrent layer returns every step).
    pub output_seq: bool,
    pub layers: Vec<Layer>,
    pub loss: Loss,
    pub clip: Option<Clip>,
    /// Width equalities that involve named consts, checked by rustc at the span.
    pub asserts: Vec<WidthAssert>,
    /// Conditions on numbers given as named consts, checked by rustc at the span.
    pub value_asserts: Vec<ValueAssert>,
}

/// `cond` over the numbers `values` (bound to `v`, then `w`, as `f64`s), asserted in a
/// const spanned at the argument, with a message. With `in_scalar`, the numbers are
/// first converted to the network's scalar type (rounded to `f32` in an `f32`
/// network), and the assertion sits in the generic `new`, where that type is known:
/// it shows at `cargo build`, not at `cargo check`.
pub struct ValueAssert {
    pub values: Vec<TokenStream>,
    pub cond: TokenStream,
    pub span: Span,
    pub msg: String,
    pub in_scalar: bool,
}

/// `a == b`, asserted in a const item spanned at the layer, with a message.
pub struct WidthAssert {
    pub a: Width,
    pub b: Width,
    pub span: Span,
    pub msg: String,
}

/// One entry of the spec, in order, activations included (as in `nn.Sequential`).
pub struct Layer {
    /// The `state_dict` prefix: `"0"`, `"hidden"`, `"3.0"`.
    pub path: String,
    /// The struct field (for layers with parameters or settings).
    pub field: Ident,
    /// The layer's word, where errors and assertions point.
    pub span: Span,
    pub in_w: Width,
    pub out_w: Width,
    /// The layer's input is a sequence (a non-recurrent layer then acts per step).
    pub seq: bool,
    pub kind: Kind,
}

impl Layer {
    /// Whether the layer's output is a sequence.
    pub fn out_seq(&self) -> bool {
        match &self.kind {
            Kind::Recurrent(r) => r.sequence,
            _ => self.seq,
        }
    }
}

/// A recurrent layer's cell.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// `rnn(H)`, with relu instead of tanh when `relu`.
    Rnn {
        relu: bool,
    },
    Lstm,
    Gru,
}

/// `rnn(H)`, `lstm(H)`, `gru(H)` and their options.
#[derive(Clone)]
pub struct Recurrent {
    pub cell: Cell,
    pub hidden: Width,
    pub bias: bool,
    pub bidirectional: bool,
    /// Returns every step (PyTorch's `output`) instead of the final state.
    pub sequence: bool,
    /// Orthogonal recurrent weights.
    pub orthogonal: bool,
    /// LSTM: the forget gate's bias starts at 1.
    pub forget_bias_one: bool,
}

pub enum Kind {
    Dense {
        bias: bool,
        init: InitSpec,
        /// The factor the default init's weights are multiplied by: `1/B` for
        /// the last dense layer of each of the network's `B` residual blocks.
        residual_scale: Option<f64>,
    },
    Act(Act),
    PRelu {
        per_feature: bool,
        init: Num,
    },
    BatchNorm {
        momentum: Num,
        eps: Num,
        affine: bool,
        /// The initial scale (`gamma = x`); `None`: 1, or the residual scale.
        gamma: Option<Num>,
        /// The initial scale when it is the last scale-setting layer of one of the
        /// network's `B` residual blocks: 1/B (see `check::scale_residual_blocks`).
        residual_scale: Option<f64>,
    },
    LayerNorm {
        eps: Num,
        affine: bool,
        /// As for `BatchNorm`.
        gamma: Option<Num>,
        /// As for `BatchNorm`.
        residual_scale: Option<f64>,
    },
    Dropout {
        p: Num,
    },
    Residual {
        body: Vec<Layer>,
    },
    /// The learnable scale that ends a residual block by default (ReZero):
    /// `alpha * x`, `alpha` starting at 0. Not a word: the residual checker appends it.
    ReZero,
    Recurrent(Recurrent),
    /// `map(|x; beta = 1.0| ...)`: a function with learnable parameters (a field).
    Map(std::rc::Rc<MapFn>),
}

impl Kind {
    /// Whether the layer is a field of the network struct.
    pub fn has_field(&self) -> bool {
        match self {
            Kind::Act(_) | Kind::Residual { .. } => false,
            Kind::Dense { .. }
            | Kind::PRelu { .. }
            | Kind::BatchNorm { .. }
            | Kind::LayerNorm { .. }
            | Kind::Dropout { .. }
            | Kind::ReZero
            | Kind::Recurrent(_)
            | Kind::Map(_) => true,
        }
    }
}

/// A parameter-free elementwise activation with its arguments.
#[derive(Clone)]
pub struct Act {
    pub kind: ActKind,
    pub args: Vec<Num>,
    pub span: Span,
    /// `map(|x| ...)`: the function, derived (for `ActKind::Map` only).
    pub map: Option<std::rc::Rc<MapFn>>,
}

/// A `map` function with its derivatives, as the symbolic engine built them.
pub struct MapFn {
    /// The generated type (an activation, or a layer with parameters).
    pub ty: Ident,
    /// The summary's text: `map(|x| x * sigmoid(x))`.
    pub text: String,
    /// The learnable parameters, in order (variables 1.. of the graph).
    pub params: Vec<MapParam>,
    pub graph: crate::symbolic::Graph,
    /// The value, d/dx, and d/d(each parameter).
    pub f: crate::symbolic::Id,
    pub dx: crate::symbolic::Id,
    pub dparams: Vec<crate::symbolic::Id>,
}

/// A learnable parameter of a `map`: a scalar, or one per feature.
pub struct MapParam {
    pub name: String,
    pub per_feature: bool,
    pub init: Num,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ActKind {
    Identity,
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu,
    Elu,
    Selu,
    Gelu,
    GeluTanh,
    Silu,
    Softplus,
    HardTanh,
    /// `map(|x| ...)`, a user's function.
    Map,
}

/// What a dense layer's weight is drawn from.
#[derive(Clone)]
pub enum InitSpec {
    /// Not written: decided by the next activation (the documented default rule).
    Auto,
    He {
        uniform: bool,
        fan_out: bool,
        nonlinearity: Nonlinearity,
    },
    Glorot {
        uniform: bool,
        gain: Num,
    },
    LecunNormal,
    Orthogonal {
        gain: Num,
    },
    Normal {
        mean: Num,
        std: Num,
    },
    Uniform {
        a: Num,
        b: Num,
    },
    Constant(Num),
}

/// The nonlinearity whose gain a He initializer uses.
#[derive(Clone)]
pub enum Nonlinearity {
    /// Not written: the next activation's (relu's gain when it is not relu-like).
    Auto,
    Relu,
    LeakyRelu(Num),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    Mse,
    CrossEntropy,
    BceWithLogits,
}

#[derive(Clone)]
pub enum Clip {
    Norm(Num),
    Value(Num),
}
