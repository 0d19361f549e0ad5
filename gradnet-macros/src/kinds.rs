//! Every layer kind of the language in one place: the table of DSL words (each with
//! its argument schema or checker), and what generated code needs of each kind (its
//! struct field, constructor, parameter and buffer names, summary text). The passes
//! drive every layer through the runtime's `Layer` protocol and need nothing else.
//!
//! Adding a layer kind: its file in gradnet-core (with a `Layer` impl), a `Kind`
//! variant, one entry in [`WORDS`] with its checker, and one arm in [`emit`] (the
//! match is exhaustive, so the compiler asks for it).

use crate::check::Walker;
use crate::expand::{init_value, rt};
use crate::ir::*;
use crate::parse::LayerItem;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

/// What a word does when the walk meets it.
pub(crate) enum WordKind {
    /// A parameter-free activation with its named numeric arguments and defaults.
    Act(ActKind, &'static [(&'static str, f64)]),
    /// A layer checked by its own checker.
    Layer(Checker),
    /// `repeat(n) { ... }`, written out before the walk.
    Repeat,
}

/// A layer's checker: reads the arguments of `item` given the width coming in,
/// reports mistakes, sets the width going out, and returns the kind.
pub(crate) type Checker = for<'w, 'c> fn(&mut Walker<'w>, &LayerCx<'c>) -> Option<(Kind, Width)>;

// The checkers (in check_layers.rs and check.rs), as functions of any walk.
fn dense(w: &mut Walker<'_>, cx: &LayerCx<'_>) -> Option<(Kind, Width)> {
    w.dense(cx)
}
fn batch_norm(w: &mut Walker<'_>, cx: &LayerCx<'_>) -> Option<(Kind, Width)> {
    w.batch_norm(cx)
}
fn layer_norm(w: &mut Walker<'_>, cx: &LayerCx<'_>) -> Option<(Kind, Width)> {
    w.layer_norm(cx)
}
fn dropout(w: &mut Walker<'_>, cx: &LayerCx<'_>) -> Option<(Kind, Width)> {
    w.dropout(cx)
}
fn prelu(w: &mut Walker<'_>, cx: &LayerCx<'_>) -> Option<(Kind, Width)> {
    w.prelu(cx)
}
fn residual(w: &mut Walker<'_>, cx: &LayerCx<'_>) -> Option<(Kind, Width)> {
    w.residual(cx)
}
fn map(w: &mut Walker<'_>, cx: &LayerCx<'_>) -> Option<(Kind, Width)> {
    w.map(cx)
}
fn rnn(w: &mut Walker<'_>, cx: &LayerCx<'_>) -> Option<(Kind, Width)> {
    w.recurrent(cx, Cell::Rnn { relu: false })
}
fn lstm(w: &mut Walker<'_>, cx: &LayerCx<'_>) -> Option<(Kind, Width)> {
    w.recurrent(cx, Cell::Lstm)
}
fn gru(w: &mut Walker<'_>, cx: &LayerCx<'_>) -> Option<(Kind, Width)> {
    w.recurrent(cx, Cell::Gru)
}

/// What a checker is given about the entry it checks.
pub(crate) struct LayerCx<'a> {
    pub item: &'a LayerItem,
    pub width: &'a Width,
    pub path: &'a str,
    pub field: &'a Ident,
}

/// One word of the language.
pub(crate) struct Word {
    pub word: &'static str,
    pub kind: WordKind,
    /// Whether the word takes a `{ ... }` block.
    pub block: bool,
}

const fn act(word: &'static str, kind: ActKind, args: &'static [(&'static str, f64)]) -> Word {
    Word {
        word,
        kind: WordKind::Act(kind, args),
        block: false,
    }
}

const fn layer(word: &'static str, check: Checker, block: bool) -> Word {
    Word {
        word,
        kind: WordKind::Layer(check),
        block,
    }
}

/// The words of the language, in the order the docs list them. Aliases are entries
/// of their own (`none` for `identity`, `swish` for `silu`).
pub(crate) const WORDS: &[Word] = &[
    layer("dense", dense, false),
    layer("batch_norm", batch_norm, false),
    layer("layer_norm", layer_norm, false),
    layer("dropout", dropout, false),
    layer("prelu", prelu, false),
    layer("residual", residual, true),
    layer("map", map, false),
    layer("rnn", rnn, false),
    layer("lstm", lstm, false),
    layer("gru", gru, false),
    Word {
        word: "repeat",
        kind: WordKind::Repeat,
        block: true,
    },
    act("identity", ActKind::Identity, &[]),
    act("sigmoid", ActKind::Sigmoid, &[]),
    act("tanh", ActKind::Tanh, &[]),
    act("relu", ActKind::Relu, &[]),
    act(
        "leaky_relu",
        ActKind::LeakyRelu,
        &[("negative_slope", 0.01)],
    ),
    act("elu", ActKind::Elu, &[("alpha", 1.0)]),
    act("selu", ActKind::Selu, &[]),
    act("gelu", ActKind::Gelu, &[]),
    act("gelu_tanh", ActKind::GeluTanh, &[]),
    act("silu", ActKind::Silu, &[]),
    act(
        "softplus",
        ActKind::Softplus,
        &[("beta", 1.0), ("threshold", 20.0)],
    ),
    act(
        "hard_tanh",
        ActKind::HardTanh,
        &[("min_val", -1.0), ("max_val", 1.0)],
    ),
    act("none", ActKind::Identity, &[]),
    act("swish", ActKind::Silu, &[]),
];

/// The entry of `word`, if it is a word of the language.
pub(crate) fn lookup(word: &str) -> Option<&'static Word> {
    WORDS.iter().find(|w| w.word == word)
}

/// The words for messages ("expected one of: ..."), aliases left out.
pub(crate) fn word_list() -> String {
    WORDS
        .iter()
        .filter(|w| !matches!(w.word, "none" | "swish"))
        .map(|w| w.word)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A parameter or buffer of a layer kind, by its short `state_dict` name; the
/// generated visitors reach it through the core type's accessors `name()` and
/// `name_mut()`.
pub(crate) struct Tensor {
    pub name: &'static str,
    /// The accessor returns an `Option` (a bias that may be absent).
    pub optional: bool,
    /// A scalar buffer (`num_batches_tracked`), visited as a one-element slice.
    pub scalar: bool,
}

const fn t(name: &'static str, optional: bool) -> Tensor {
    Tensor {
        name,
        optional,
        scalar: false,
    }
}

/// What the generated code needs of a layer kind.
pub(crate) struct Emit {
    /// The struct field's type and constructor, for a layer that is a field.
    pub field: Option<(TokenStream, TokenStream)>,
    pub params: Vec<Tensor>,
    pub buffers: Vec<Tensor>,
    /// Evaluation mode passes the input on unchanged (dropout): the graph shares the
    /// buffer instead of copying.
    pub eval_identity: bool,
    /// The training forward draws from the workspace's RNG (dropout): a failed call
    /// rewinds it.
    pub random: bool,
    /// The summary's text for the kind, with its settings.
    pub text: String,
    /// The visitors go through the layer's own `Parameters` impl (under the names in
    /// `params`, prefixed), not through accessors per tensor.
    pub delegate: bool,
}

/// `field: None` and no tensors: for the kinds that are not struct fields.
fn fieldless(text: String) -> Emit {
    Emit {
        field: None,
        params: Vec::new(),
        buffers: Vec::new(),
        eval_identity: false,
        random: false,
        text,
        delegate: false,
    }
}

/// The generated code's view of a layer. Exhaustive: a new kind needs its arm here.
pub(crate) fn emit(l: &Layer) -> Emit {
    let p = rt();
    let (i, o) = (l.in_w.tokens(), l.out_w.tokens());
    let span = l.span;
    let num = |n: &Num| match n.value {
        Some(v) => format!("{v}"),
        None => n.tokens.to_string().replace(' ', ""),
    };
    match &l.kind {
        Kind::Dense {
            bias,
            init,
            residual_scale,
        } => {
            let init = init_value(init);
            let ctor = match residual_scale {
                None => quote_spanned!(span=> #p::Dense::new(&#init, #bias, rng)),
                Some(f) => quote_spanned! {span=> {
                    let mut dense = #p::Dense::new(&#init, #bias, rng);
                    for w in dense.weight_mut() {
                        *w *= <T as #p::Real>::of(#f);
                    }
                    dense
                }},
            };
            Emit {
                field: Some((quote!(#p::Dense<T, #i, #o>), ctor)),
                params: vec![t("weight", false), t("bias", true)],
                buffers: Vec::new(),
                eval_identity: false,
                random: false,
                text: format!(
                    "dense({} -> {}){}{}",
                    l.in_w.describe(),
                    l.out_w.describe(),
                    if *bias { "" } else { ", no bias" },
                    match residual_scale {
                        Some(f) => format!(", init x {f:.3}"),
                        None => String::new(),
                    }
                ),
                delegate: false,
            }
        }
        Kind::PRelu { per_feature, init } => {
            let v = &init.tokens;
            let ctor = if *per_feature {
                quote!(per_feature)
            } else {
                quote!(shared)
            };
            Emit {
                field: Some((
                    quote!(#p::prelu::PRelu<T, #i>),
                    quote_spanned!(span=> #p::prelu::PRelu::#ctor(#v)),
                )),
                params: vec![t("weight", false)],
                buffers: Vec::new(),
                eval_identity: false,
                random: false,
                text: if *per_feature {
                    format!("prelu({})", l.in_w.describe())
                } else {
                    "prelu".to_string()
                },
                delegate: false,
            }
        }
        Kind::BatchNorm {
            momentum,
            eps,
            affine,
            gamma,
            residual_scale,
        } => {
            let (m, e) = (&momentum.tokens, &eps.tokens);
            let ctor = quote_spanned! {span=>
                #p::batch_norm::BatchNorm::from_checked_config(#p::batch_norm::BatchNormConfig {
                    affine: #affine,
                    momentum: ::core::option::Option::Some(#m),
                    eps: #e,
                })
            };
            Emit {
                field: Some((
                    quote!(#p::batch_norm::BatchNorm<T, #i>),
                    with_gamma(ctor, gamma, *residual_scale, span),
                )),
                params: vec![t("weight", true), t("bias", true)],
                buffers: vec![
                    t("running_mean", false),
                    t("running_var", false),
                    Tensor {
                        name: "num_batches_tracked",
                        optional: false,
                        scalar: true,
                    },
                ],
                eval_identity: false,
                random: false,
                text: format!(
                    "batch_norm(momentum = {}, eps = {}){}",
                    num(momentum),
                    num(eps),
                    gamma_text(gamma, *residual_scale, &num)
                ),
                delegate: false,
            }
        }
        Kind::LayerNorm {
            eps,
            affine,
            gamma,
            residual_scale,
        } => {
            let e = &eps.tokens;
            let ctor = quote_spanned! {span=>
                #p::layer_norm::LayerNorm::from_checked_config(#p::layer_norm::LayerNormConfig {
                    eps: #e,
                    elementwise_affine: #affine,
                    bias: #affine,
                })
            };
            Emit {
                field: Some((
                    quote!(#p::layer_norm::LayerNorm<T, #i>),
                    with_gamma(ctor, gamma, *residual_scale, span),
                )),
                params: vec![t("weight", true), t("bias", true)],
                buffers: Vec::new(),
                eval_identity: false,
                random: false,
                text: format!(
                    "layer_norm(eps = {}){}",
                    num(eps),
                    gamma_text(gamma, *residual_scale, &num)
                ),
                delegate: false,
            }
        }
        Kind::Dropout { p: prob } => {
            let v = &prob.tokens;
            Emit {
                field: Some((
                    quote!(#p::dropout::Dropout),
                    quote_spanned!(span=> #p::dropout::Dropout::from_checked_p(#v)),
                )),
                params: Vec::new(),
                buffers: Vec::new(),
                eval_identity: true,
                random: true,
                text: format!("dropout({})", num(prob)),
                delegate: false,
            }
        }
        Kind::Act(Act { map: Some(m), .. }) => fieldless(m.text.clone()),
        Kind::Act(a) => {
            let args: Vec<String> = a.args.iter().map(num).collect();
            let word = act_word(a.kind);
            fieldless(if args.is_empty() {
                word.to_string()
            } else {
                format!("{word}({})", args.join(", "))
            })
        }
        Kind::Residual { .. } => fieldless("residual".to_string()),
        Kind::ReZero => Emit {
            field: Some((
                quote!(#p::rezero::ReZero<T>),
                quote_spanned!(span=> #p::rezero::ReZero::new(0.0)),
            )),
            params: vec![t("alpha", false)],
            buffers: Vec::new(),
            eval_identity: false,
            random: false,
            text: "rezero scale (alpha = 0)".to_string(),
            delegate: false,
        },
        Kind::Recurrent(r) => recurrent(l, r),
        Kind::Map(m) => {
            let ty = &m.ty;
            Emit {
                field: Some((quote!(#ty<T>), quote_spanned!(span=> #ty::new()))),
                // The names live as long as the macro's process: leaked, a few bytes
                // per parameter, to fit the table's `&'static str`.
                params: m
                    .params
                    .iter()
                    .map(|p| t(Box::leak(p.name.clone().into_boxed_str()), false))
                    .collect(),
                buffers: Vec::new(),
                eval_identity: false,
                random: false,
                text: m.text.clone(),
                delegate: true,
            }
        }
    }
}

/// The DSL word of an activation kind (the first of its table entries).
pub(crate) fn act_word(kind: ActKind) -> &'static str {
    if kind == ActKind::Map {
        return "map";
    }
    WORDS
        .iter()
        .find(|w| matches!(w.kind, WordKind::Act(k, _) if k == kind))
        .map_or("activation", |w| w.word)
}

/// The activation's type and its value, in the core's `activation` module.
pub(crate) fn act_tokens(a: &Act) -> (TokenStream, TokenStream) {
    let p = rt();
    let args: Vec<TokenStream> = a.args.iter().map(|n| n.tokens.clone()).collect();
    let span = a.span;
    let unit = |name: TokenStream| {
        (
            quote!(#p::activation::#name),
            quote_spanned!(span=> #p::activation::#name),
        )
    };
    let with_args = |name: TokenStream| {
        (
            quote!(#p::activation::#name<T>),
            quote_spanned!(span=> #p::activation::#name::<T>::new(#(#args),*)),
        )
    };
    match a.kind {
        ActKind::Identity => unit(quote!(Identity)),
        ActKind::Sigmoid => unit(quote!(Sigmoid)),
        ActKind::Tanh => unit(quote!(Tanh)),
        ActKind::Relu => unit(quote!(Relu)),
        ActKind::Selu => unit(quote!(Selu)),
        ActKind::Gelu => unit(quote!(Gelu)),
        ActKind::GeluTanh => unit(quote!(GeluTanh)),
        ActKind::Silu => unit(quote!(Silu)),
        ActKind::LeakyRelu => with_args(quote!(LeakyRelu)),
        ActKind::Elu => with_args(quote!(Elu)),
        ActKind::Softplus => with_args(quote!(Softplus)),
        ActKind::HardTanh => with_args(quote!(HardTanh)),
        ActKind::Map => match &a.map {
            Some(m) => {
                let ty = &m.ty;
                (quote!(#ty), quote_spanned!(span=> #ty))
            }
            // The checker makes every map with its function; should one come without,
            // the spec gets an error at the word, not a panicking macro.
            None => {
                let e = quote_spanned!(span=> ::core::compile_error!("`map` without its function"));
                (e.clone(), e)
            }
        },
    }
}

/// A recurrent layer's field, tensors and text.
fn recurrent(l: &Layer, r: &Recurrent) -> Emit {
    let p = rt();
    let (i, h, o) = (l.in_w.tokens(), r.hidden.tokens(), l.out_w.tokens());
    let span = l.span;
    let (cell_ty, cell, word) = match r.cell {
        Cell::Rnn { relu } => {
            let nl = if relu { quote!(Relu) } else { quote!(Tanh) };
            (
                quote!(#p::rnn::RnnCell),
                quote!(#p::rnn::RnnCell { nonlinearity: #p::rnn::RnnNonlinearity::#nl }),
                if relu { "rnn(relu)" } else { "rnn" },
            )
        }
        Cell::Lstm => (quote!(#p::rnn::LstmCell), quote!(#p::rnn::LstmCell), "lstm"),
        Cell::Gru => (quote!(#p::rnn::GruCell), quote!(#p::rnn::GruCell), "gru"),
    };
    let ty = if r.bidirectional {
        quote!(#p::rnn::Bidirectional<T, #cell_ty, #i, #h, #o>)
    } else {
        quote!(#p::rnn::Recurrent<T, #cell_ty, #i, #h>)
    };
    let (bias, fb) = (r.bias, r.forget_bias_one);
    let init = if r.orthogonal {
        quote!(#p::rnn::RecurrentInit::Orthogonal)
    } else {
        quote!(#p::rnn::RecurrentInit::Uniform)
    };
    let ctor = quote_spanned! {span=>
        <#ty>::with_cell(#cell, &#p::rnn::RecurrentConfig {
            bias: #bias,
            recurrent_init: #init,
            forget_bias_one: #fb,
        }, rng)
    };
    // PyTorch's names: the forward direction's four, then the backward's.
    const NAMES: [(&str, bool); 8] = [
        ("weight_ih_l0", false),
        ("weight_hh_l0", false),
        ("bias_ih_l0", true),
        ("bias_hh_l0", true),
        ("weight_ih_l0_reverse", false),
        ("weight_hh_l0_reverse", false),
        ("bias_ih_l0_reverse", true),
        ("bias_hh_l0_reverse", true),
    ];
    let directions = if r.bidirectional { 8 } else { 4 };
    let params = NAMES[..directions]
        .iter()
        .filter(|(_, is_bias)| !is_bias || r.bias)
        .map(|(name, _)| t(name, false))
        .collect();
    let mut text = format!("{word}({} -> {})", l.in_w.describe(), r.hidden.describe());
    for (on, what) in [
        (r.bidirectional, "bidirectional"),
        (r.sequence, "sequence"),
        (!r.bias, "no bias"),
        (r.orthogonal, "orthogonal"),
        (r.forget_bias_one, "forget bias 1"),
    ] {
        if on {
            text.push_str(", ");
            text.push_str(what);
        }
    }
    Emit {
        field: Some((ty, ctor)),
        params,
        buffers: Vec::new(),
        eval_identity: false,
        random: false,
        text,
        delegate: true,
    }
}

/// A normalization's constructor followed by setting its initial scale (`gamma`):
/// the one written, or a residual block's `1/B`; the constructor alone otherwise.
fn with_gamma(
    ctor: TokenStream,
    gamma: &Option<Num>,
    scale: Option<f64>,
    span: Span,
) -> TokenStream {
    let p = rt();
    let value = match (gamma, scale) {
        (Some(g), _) => {
            let g = &g.tokens;
            quote!(#g)
        }
        (None, Some(f)) => quote!(#f),
        (None, None) => return ctor,
    };
    quote_spanned! {span=> {
        let mut norm = #ctor;
        if let ::core::option::Option::Some(gamma) = norm.weight_mut() {
            gamma.fill(<T as #p::Real>::of(#value));
        }
        norm
    }}
}

/// How the summary shows a normalization's initial scale, when it is not 1.
fn gamma_text(gamma: &Option<Num>, scale: Option<f64>, num: &dyn Fn(&Num) -> String) -> String {
    match (gamma, scale) {
        (Some(g), _) => format!(", gamma = {}", num(g)),
        (None, Some(f)) => format!(", gamma = {f:.3}"),
        (None, None) => String::new(),
    }
}
