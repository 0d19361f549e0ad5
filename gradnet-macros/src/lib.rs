//! The `network!` macro of gradnet. Use it through the `gradnet` crate, which
//! re-exports it; the generated code reaches the runtime by the absolute path
//! `::gradnet::__private`.
//!
//! The pipeline, one module per stage: `parse` (spec text -> syntax tree), `check`
//! (words and widths; every mistake reported at its token, with `check_layers` for
//! the layers that take arguments, `args` reading the values inside a spec and
//! `init_rule` choosing default initializers), `graph` (a
//! straight-line program of steps and the plan of its reverse), `expand` (the
//! generated types and visitors) and `passes` (the generated forward, training and
//! backward code). A spec that does not check expands to its errors and a stub of
//! the generated types (`fallback`).

extern crate proc_macro;

mod args;
mod check;
mod check_layers;
mod check_map;
mod check_recurrent;
mod ctxt;
mod expand;
mod fallback;
mod grad_macro;
mod graph;
mod init_rule;
mod ir;
mod kinds;
mod map_code;
mod parse;
mod passes;
#[cfg(test)]
mod spec_fuzz;
mod symbolic;

use proc_macro::TokenStream;

/// Declares a neural network; generates its parameter struct, gradients, workspace,
/// and forward and backward passes as plain Rust.
///
/// # Grammar
///
/// ```text
/// network! {
///     Attr* Vis struct Name {
///         Item, Item, ...
///     }
/// }
/// Item  := input: Width                 the number of input features (required)
///        | input: seq(Width)            a sequence of steps of Width features each
///        | loss: Loss                   mse | cross_entropy | bce_with_logits (required)
///        | clip: norm(x) | value(x)     gradient clipping in train_step (optional)
///        | (name:)? Layer               a layer, optionally named
/// Layer := dense(Width, init = Init, bias = bool) | dense(Width -> Width, ...)
///        | identity | sigmoid | tanh | relu | selu | gelu | gelu_tanh | silu
///        | leaky_relu(negative_slope = 0.01) | elu(alpha = 1.0)
///        | softplus(beta = 1.0, threshold = 20.0) | hard_tanh(min_val = -1.0, max_val = 1.0)
///        | prelu | prelu(num_parameters, init = 0.25)
///        | batch_norm(momentum = 0.1, eps = 1e-5, affine = true, gamma = 1.0)
///        | layer_norm(eps = 1e-5, elementwise_affine = true, gamma = 1.0)
///                                       `gamma`: the initial scale (default 1)
///        | dropout(p = 0.5)
///        | map(|x| Expr)                an elementwise activation whose derivative the
///                                       macro derives (see below)
///        | map(|x; Param, ...| Expr)    the same with learnable parameters
///        | rnn(Width, Rec, ...) | lstm(Width, Rec, ...) | gru(Width, Rec, ...)
///                                       the hidden width H, or `Width -> Width` (the
///                                       width coming in, then H): nn.RNN/LSTM/GRU
///        | residual { Item, ... }       output = input + the block's output; in a network
///                                       of B blocks the last dense, batch-norm or
///                                       layer-norm layer of each starts scaled by 1/B
///                                       (a dense layer's default init, a norm's
///                                       gamma; an explicit `init` or `gamma` is kept),
///                                       so the network starts near the identity at
///                                       any depth
///        | residual(rezero = true) { Item, ... }
///                                       output = input + alpha * the block's output, a
///                                       learnable `alpha` starting at 0 (ReZero)
///        | repeat(n) { Item, ... }      the items written out n times, each copy with its own
///                                       parameters, numbered on (nn.Sequential(*[...] * n))
/// Rec   := bias = bool                  default true
///        | init = uniform | orthogonal  the recurrent weights: PyTorch's uniform
///                                       (default), or each gate's block orthogonal
///        | bidirectional                both directions, outputs concatenated (2H)
///        | sequence                     return every step, not the last state
///        | tanh | relu                  rnn only, also `nonlinearity = tanh | relu`
///        | forget_bias_one              lstm only: the forget gate's bias starts at 1
///                                       (needs the bias)
///                                       (the flags bare, or as `flag = bool`)
/// Param := name = Num                 a scalar parameter and its initial value
///        | name[Width] = Num            one per feature (Width = the width coming in)
/// Width := an integer literal | a named const
/// Init  := he_normal | he_uniform | kaiming_normal | kaiming_uniform   (optionally (fan_out))
///        | glorot_normal | glorot_uniform | xavier_normal | xavier_uniform   (optionally (gain))
///        | lecun_normal | orthogonal | orthogonal(gain) | normal(std) | normal(mean, std)
///        | uniform(a, b) | zeros | ones | constant(c)
/// ```
///
/// Arguments are positional in the order shown or named (`dense(10, bias = false)`,
/// `lstm(hidden_size = 64)`). Numbers may be literals or named consts.
///
/// # User-defined activations: `map`
///
/// `map(|x| EXPR)` is an elementwise activation written as an expression; the macro
/// differentiates it symbolically at compile time (the grammar of `EXPR` is
/// `grad!`'s: `+ - * /`, `exp ln sqrt sin cos tanh sigmoid softplus erf abs`, `powi`,
/// `powf` with a constant exponent, `max`/`min`, `if a < b { .. } else { .. }`, named
/// constants in upper case). The derivative is simplified and shares its
/// subexpressions with the function, and where it contains the function itself it
/// reads the forward pass's output (so `map(|x| tanh(x))`'s backward is `1 - y^2`).
/// After a dense layer it fuses into the dense layer's passes like a built-in
/// activation. With learnable parameters, `map(|x; beta = 1.0| x * sigmoid(beta * x))`
/// (Swish with a learned beta) or `map(|x; a[N] = 0.25| if x > 0.0 { x } else { a * x })`
/// (PReLU), it is a layer: its parameters are named `3.beta`, `3.a` (shapes `[1]`,
/// `[N]`), get gradients, and are seen by optimizers, clipping, reports and weights
/// files like any other. A mistake in the expression is a compile error at its token.
///
/// # Sequences and recurrent layers
///
/// With `input: seq(N)` the network reads a `gradnet::seq::Seq<T, N>` (steps x rows,
/// each step N features). A recurrent layer reads a sequence: the input, or the
/// sequence of a recurrent layer before it that has `sequence` (stacking), with any
/// per-step layers in between. By default it returns its final hidden state,
/// PyTorch's `h_n` (a `Batch` of H, or 2H when bidirectional), and what follows acts
/// on that batch as usual: another recurrent layer cannot follow it. With `sequence`
/// it returns every step's hidden state (a `Seq` of H or 2H), and `dense`, the
/// activations, `prelu`, `dropout`, `layer_norm`, `batch_norm` and `residual` blocks
/// after it act on every step (`batch_norm`'s statistics are over every step and
/// row); a residual block must return what it was given, a sequence or a batch.
/// Before the first recurrent layer, layers on a `seq` input act per step the same way.
///
/// The loss's target follows the output: a network that ends on a sequence takes a
/// `Seq<T, OUTPUT>` target for `mse` and `bce_with_logits`, and a
/// `gradnet::SeqClasses` (a class per step and row) for `cross_entropy`, with the mean
/// over every step and row; one that ends on a last state takes a `Batch` or `&[usize]`
/// as any other. `INPUT` and `OUTPUT` are the per-step widths.
///
/// # Initialization
///
/// A dense layer without `init` takes it from the next activation, skipping layers
/// that are not activations: He normal (fan_in) for relu, leaky_relu and prelu (their
/// slope in the gain, as `calculate_gain("leaky_relu", slope)`), elu, gelu, gelu_tanh
/// and silu; LeCun normal for selu; Glorot uniform for tanh, sigmoid, softplus,
/// hard_tanh, `map` and when no activation follows. The search stops at a recurrent
/// layer (its gates are sigmoids and tanh) and at a `map` with parameters: a dense
/// layer before one gets Glorot uniform.
/// `he_*` written without a nonlinearity takes its gain the same way. Biases start at
/// zero. A recurrent layer starts as PyTorch's, every parameter `U(-1/sqrt(H),
/// 1/sqrt(H))`, unless its `init` or `forget_bias_one` says otherwise.
///
/// # Names
///
/// Fields and parameter names follow `torch.nn.Sequential`: entries are numbered by
/// position, activations included. An unnamed dense layer at position 2 is the field
/// `l2` with parameters `2.weight` and `2.bias`; a named one (`hidden: dense(8)`) is
/// the field `hidden` with `hidden.weight`. Inside a residual block at position 3,
/// the first entry is `l3_0` with `3.0.weight` (and a ReZero block's scale is
/// `l3_alpha` with `3.alpha`, shape `[1]`). A recurrent layer at position 0 has
/// PyTorch's names below its own: `0.weight_ih_l0`, `0.weight_hh_l0`, `0.bias_ih_l0`,
/// `0.bias_hh_l0`, and the same with `_reverse` for the backward direction.
///
/// # What it generates
///
/// For `struct Net`: `Net<T: Real = f32>` with a public field per layer, `Net::INPUT`
/// and `Net::OUTPUT`; `NetGrads<T>` and `NetWorkspace<T>`; `Net::new(&mut rng)`,
/// `forward`, `forward_into` (evaluation mode), `loss_and_grad` and `train_step`
/// (training mode); `Parameters` and `Gradients` implementations.
///
/// With recurrent layers, also `NetState<T>`, a public field per recurrent layer
/// (named as the layer's field) holding its `gradnet::State` (`h`, and `c` for LSTM;
/// a pair, forward then backward, when bidirectional); `ws.set_initial_state(Some(s))`
/// (zeros when `None`, PyTorch's `h_0`/`c_0`) and `ws.initial_state()` on the
/// workspace; `net.final_state_into(&ws, &mut s)` and `net.final_state(&ws)`, the
/// state after the last step of the last pass (`h_n`/`c_n`); and
/// `net.carry_state(&mut ws)`, which makes that the next pass's initial state
/// (truncated backpropagation through time: the gradient stops there). Through the
/// `Network` trait: `type State` (`()` without recurrent layers), `set_initial_state`
/// and `final_state_into`.
///
/// A spec with a mistake expands to its errors and, once its name has been read, a
/// stub of these items with bodies that never run (no layer fields; `INPUT` and
/// `OUTPUT` where the spec gives them as an integer or a const, 0 otherwise), so that
/// the code using the network reports nothing of its own.
///
/// # Example
///
/// ```
/// use gradnet::prelude::*;
///
/// const HIDDEN: usize = 16;
///
/// gradnet::network! {
///     /// Every construct of the language, once.
///     pub struct Tour {
///         input: 4,
///         hidden: dense(HIDDEN, init = he_normal),
///         relu,
///         dense(HIDDEN -> 8, bias = false),
///         batch_norm(momentum = 0.1),
///         leaky_relu(0.1),
///         dropout(0.1),
///         residual {
///             dense(8, init = glorot_uniform),
///             prelu(8),
///             layer_norm,
///         },
///         repeat(2) { dense(8), tanh },
///         dense(3, init = normal(0.01)),
///         loss: cross_entropy,
///         clip: norm(1.0),
///     }
/// }
///
/// let mut rng = seeded(0);
/// let mut net = Tour::<f64>::new(&mut rng);
/// let x = Batch::<f64, 4>::from_rows(&[[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -1.0, 0.5]])?;
/// let (mut ws, mut grads) = (TourWorkspace::new(), net.zero_grads());
/// let loss = net.loss_and_grad(&x, &[2, 0], &mut ws, &mut grads)?;
/// assert!(loss > 0.0);
/// assert_eq!(Tour::INPUT, 4);
/// assert_eq!(net.forward(&x)?.rows(), 2);
/// # Ok::<(), gradnet::Error>(())
/// ```
///
/// Over sequences: a bidirectional LSTM returning every step, a dense layer per
/// step, a GRU's last state, a class per sequence; then a long stream in chunks.
///
/// ```
/// use gradnet::prelude::*;
/// use gradnet::seq::Seq;
///
/// gradnet::network! {
///     struct Tagger {
///         input: seq(3),
///         lstm(8, bidirectional, sequence, forget_bias_one),
///         dense(16 -> 4),
///         tanh,
///         gru(6, init = orthogonal),
///         dense(2),
///         loss: cross_entropy,
///     }
/// }
///
/// let mut net = Tagger::<f64>::new(&mut seeded(0));
/// // 5 steps of 2 sequences, batch-first: [row][step][feature].
/// let x = Seq::<f64, 3>::from_batch_first(&[0.1; 2 * 5 * 3], 5)?;
/// let (mut ws, mut grads) = (TaggerWorkspace::new(), net.zero_grads());
/// assert!(net.loss_and_grad(&x, &[1, 0], &mut ws, &mut grads)? > 0.0);
/// let state: TaggerState<f64> = net.final_state(&ws);
/// assert_eq!((state.l0.0.h.rows(), state.l3.h.rows()), (2, 2));
/// net.carry_state(&mut ws); // the next chunk starts where this one ended
/// assert!(ws.initial_state().is_some());
/// # Ok::<(), gradnet::Error>(())
/// ```
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    let (out, stub) = generate(input.into());
    quote::quote!(#out #stub).into()
}

/// A function's value and gradient, derived symbolically at compile time: the
/// expression is parsed, differentiated by rule, simplified, its common
/// subexpressions shared between the value and the derivatives, and written out as a
/// generic function over `T: Real` (f32 or f64), with no tape and no closure.
///
/// ```text
/// grad!(|x, y| EXPR)                  a fn (x: T, y: T) -> (T, [T; 2]): value and gradient
/// grad!(|x| EXPR)                     (x: T) -> (T, T): value and derivative
/// grad!(|x, y| EXPR, hessian)         also the second derivatives: (T, [T; 2], [[T; 2]; 2])
/// grad!(pub fn name(x, y) = EXPR)     the same as a named item, generic over T
///
/// EXPR := EXPR (+ | - | * | /) EXPR | -EXPR | (EXPR) | a number | a variable
///       | a named constant (UPPER_CASE or a path; an f64 in scope)
///       | f(EXPR) or EXPR.f()  for f in exp, ln, sqrt, sin, cos, tanh, sigmoid,
///                              softplus, erf, abs
///       | powi(EXPR, integer) | powf(EXPR, constant) | max(EXPR, EXPR) | min(EXPR, EXPR)
///         (or as methods: EXPR.powi(2), EXPR.max(EXPR))
///       | if EXPR (< | <= | > | >=) EXPR { EXPR } else { EXPR }
/// ```
///
/// At a kink (`abs`, `max`, `min`, `if`) the derivative is that of the branch taken
/// (`abs'(0) = 1`). A name that is not a variable, a function outside the list, or
/// another construct is a compile error at its token, naming what is supported.
///
/// ```
/// use gradnet::grad;
///
/// // Rosenbrock's function: value and gradient in one call.
/// let rosen = grad!(|x, y| (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2));
/// let (v, g) = rosen(1.0f64, 1.0);
/// assert_eq!((v, g), (0.0, [0.0, 0.0]));
/// let (_, g) = rosen(0.0f64, 1.0);
/// assert_eq!(g, [-2.0, 200.0]);
///
/// // One variable: (value, derivative).
/// let swish = grad!(|x| x * sigmoid(x));
/// let (y, dy) = swish(0.0f32);
/// assert_eq!((y, dy), (0.0, 0.5));
///
/// // Second derivatives too; a named, generic item used at both precisions.
/// grad!(fn bowl(x, y) = x * x * y + exp(y), hessian);
/// let (_, _, h) = bowl(2.0f64, 0.0);
/// assert_eq!(h, [[0.0, 4.0], [4.0, 1.0]]);
/// let (v32, _, _) = bowl(2.0f32, 0.0);
/// assert_eq!(v32, 1.0);
///
/// // Piecewise: the branch taken.
/// let huber = grad!(|x| if abs(x) <= 1.0 { 0.5 * x * x } else { abs(x) - 0.5 });
/// assert_eq!(huber(3.0f64), (2.5, 1.0));
/// assert_eq!(huber(-0.5f64), (0.125, -0.5));
/// ```
#[proc_macro]
pub fn grad(input: TokenStream) -> TokenStream {
    grad_macro::expand(input.into()).into()
}

/// The macro as the property test sees it: the expansion, or the errors alone.
#[cfg(test)]
pub(crate) fn run(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    generate(input).0
}

/// The whole macro over `proc_macro2` tokens: parse, check, expand; or the spanned
/// errors as `compile_error!`s and, when the spec got as far as its name, a stub of
/// the generated types (`fallback`), so that the user's code below the mistake gives
/// no follow-on errors. Separate from the entry point so that tests can drive every
/// stage as a library.
fn generate(
    input: proc_macro2::TokenStream,
) -> (proc_macro2::TokenStream, Option<proc_macro2::TokenStream>) {
    let mut header = None;
    let spec = match parse::Spec::parse(input, &mut header) {
        Ok(spec) => spec,
        Err(err) => {
            let stub = header.map(|h| fallback::expand(&h, &[]));
            return (err.into_compile_error(), stub);
        }
    };
    // Made before `check`, which takes the spec; used only if it fails.
    let stub = header.map(|h| fallback::expand(&h, &spec.items));
    let mut cx = ctxt::Ctxt::default();
    let net = check::check(spec, &mut cx);
    match (net, cx.finish()) {
        (Some(net), Ok(())) => (expand::expand(&net), None),
        (_, Err(err)) => (err.into_compile_error(), stub),
        (None, Ok(())) => {
            let err = syn::Error::new(proc_macro2::Span::call_site(), "invalid network spec");
            (err.into_compile_error(), stub)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::generate;

    /// The output for `spec`: whether it has errors, and the stub's text.
    fn stub_of(spec: &str) -> (bool, Option<String>) {
        let (out, stub) = generate(spec.parse().unwrap());
        let errors = out.to_string().contains("compile_error");
        let stub = stub.map(|s| {
            syn::parse2::<syn::File>(s.clone()).expect("the stub parses as Rust");
            s.to_string()
        });
        (errors, stub)
    }

    #[test]
    fn a_spec_that_does_not_check_gets_a_stub_with_its_widths() {
        let (errors, stub) = stub_of(
            "/// Doc.\npub(crate) struct Net { input: 4, dense(8), rellu, repeat(2) { dense(HIDDEN) }, loss: mse }",
        );
        let stub = stub.expect("a stub");
        assert!(errors);
        assert!(!stub.contains("compile_error"));
        assert!(stub.starts_with("# [doc = \" Doc.\"]"), "{stub}");
        assert!(
            stub.contains("pub (crate) struct Net < T = f32 >"),
            "{stub}"
        );
        for item in [
            "struct NetGrads",
            "struct NetWorkspace",
            "fn train_step",
            "fn with_input_grad",
        ] {
            assert!(stub.contains(item), "no `{item}` in {stub}");
        }
        assert!(stub.contains("const INPUT : usize = 4 ;"), "{stub}");
        assert!(stub.contains("const OUTPUT : usize = HIDDEN ;"), "{stub}");
    }

    #[test]
    fn widths_the_checks_would_refuse_are_left_out_of_the_stub() {
        let (_, stub) =
            stub_of("struct Net { input: 4u8, dense(8), dense(1.5, he_normal), loss: mse }");
        let stub = stub.expect("a stub");
        assert!(stub.contains("const INPUT : usize = 4 ;"), "{stub}");
        assert!(stub.contains("const OUTPUT : usize = 0 ;"), "{stub}");
        assert!(!stub.contains("he_normal"), "{stub}");
    }

    #[test]
    fn a_body_that_does_not_parse_still_gets_a_stub() {
        let (errors, stub) = stub_of("struct Net { input: 4, dense(8) relu, loss: mse }");
        let stub = stub.expect("a stub");
        assert!(errors);
        assert!(stub.contains("const INPUT : usize = 0 ;"), "{stub}");
    }

    #[test]
    fn a_recurrent_spec_gets_a_stub_with_sequences_and_the_state_api() {
        let (errors, stub) = stub_of(
            "struct Net { input: seq(4), lstm(8, sequence, bias = flase), gru(H, bidirectional, sequence), loss: mse }",
        );
        let stub = stub.expect("a stub");
        assert!(errors);
        assert!(stub.contains("const INPUT : usize = 4 ;"), "{stub}");
        assert!(stub.contains("const OUTPUT : usize = (2 * H) ;"), "{stub}");
        assert!(
            stub.contains("type Input = :: gradnet :: __private :: Seq"),
            "{stub}"
        );
        assert!(
            stub.contains("type Output = :: gradnet :: __private :: Seq"),
            "{stub}"
        );
        for item in [
            "struct NetState",
            "type State = NetState < T >",
            "fn set_initial_state",
            "fn initial_state",
            "fn final_state_into",
            "fn final_state",
            "fn carry_state",
        ] {
            assert!(stub.contains(item), "no `{item}` in {stub}");
        }
        // The last state of a recurrent layer is a batch; no state API without one.
        let (_, stub) = stub_of("struct Net { input: seq(4), rnn(8, relu), loss: mse, x }");
        let stub = stub.expect("a stub");
        assert!(
            stub.contains("type Output = :: gradnet :: __private :: Batch"),
            "{stub}"
        );
        assert!(stub.contains("const OUTPUT : usize = 8 ;"), "{stub}");
        let (_, stub) = stub_of("struct Net { input: 4, dense(2), loss: mse, x }");
        let stub = stub.expect("a stub");
        assert!(stub.contains("type State = ()"), "{stub}");
        assert!(!stub.contains("NetState"), "{stub}");
    }

    /// The errors of `spec`, as their messages.
    fn errors_of(spec: &str) -> Vec<String> {
        let (out, _) = generate(spec.parse().unwrap());
        let out: Vec<proc_macro2::TokenTree> = out.into_iter().collect();
        out.chunks(8)
            .filter_map(|c| match c.get(7)? {
                proc_macro2::TokenTree::Group(g) => syn::parse2::<syn::LitStr>(g.stream()).ok(),
                _ => None,
            })
            .map(|s| s.value())
            .collect()
    }

    #[test]
    fn an_input_that_does_not_check_gives_recurrent_layers_no_follow_on_errors() {
        for spec in [
            "struct Net { input: sq(4), lstm(8), loss: mse }",
            "struct Net { input: seq(0), lstm(8), loss: mse }",
            "struct Net { lstm(8), loss: mse }",
        ] {
            let errors = errors_of(spec);
            assert_eq!(errors.len(), 1, "{spec}: {errors:?}");
            assert!(
                !errors[0].contains("reads a sequence"),
                "{spec}: {errors:?}"
            );
        }
    }

    #[test]
    fn no_stub_without_a_name_or_without_an_error() {
        assert_eq!(stub_of("struct { input: 4 }"), (true, None));
        assert_eq!(stub_of("fn net() {}"), (true, None));
        assert_eq!(
            stub_of("struct Net { input: 4, dense(1), loss: mse }"),
            (false, None)
        );
    }
}
