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
//! backward code).

extern crate proc_macro;

mod args;
mod check;
mod check_layers;
mod ctxt;
mod expand;
mod graph;
mod init_rule;
mod ir;
mod kinds;
mod parse;
mod passes;
#[cfg(test)]
mod spec_fuzz;

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
///        | loss: Loss                   mse | cross_entropy | bce_with_logits (required)
///        | clip: norm(x) | value(x)     gradient clipping in train_step (optional)
///        | (name:)? Layer               a layer, optionally named
/// Layer := dense(Width, init = Init, bias = bool) | dense(Width -> Width, ...)
///        | identity | sigmoid | tanh | relu | selu | gelu | gelu_tanh | silu
///        | leaky_relu(negative_slope = 0.01) | elu(alpha = 1.0)
///        | softplus(beta = 1.0, threshold = 20.0) | hard_tanh(min_val = -1.0, max_val = 1.0)
///        | prelu | prelu(num_parameters, init = 0.25)
///        | batch_norm(momentum = 0.1, eps = 1e-5, affine = true)
///        | layer_norm(eps = 1e-5, elementwise_affine = true)
///        | dropout(p = 0.5)
///        | residual { Item, ... }       output = input + the block's output
///        | repeat(n) { Item, ... }      the items written out n times, each copy with its own
///                                       parameters, numbered on (nn.Sequential(*[...] * n))
/// Width := an integer literal | a named const
/// Init  := he_normal | he_uniform | kaiming_normal | kaiming_uniform   (optionally (fan_out))
///        | glorot_normal | glorot_uniform | xavier_normal | xavier_uniform   (optionally (gain))
///        | lecun_normal | orthogonal | orthogonal(gain) | normal(std) | normal(mean, std)
///        | uniform(a, b) | zeros | ones | constant(c)
/// ```
///
/// Arguments are positional in the order shown or named (`dense(10, bias = false)`).
/// Numbers may be literals or named consts.
///
/// # Initialization
///
/// A dense layer without `init` takes it from the next activation, skipping layers
/// that are not activations: He normal (fan_in) for relu, leaky_relu and prelu (their
/// slope in the gain, as `calculate_gain("leaky_relu", slope)`), elu, gelu, gelu_tanh
/// and silu; LeCun normal for selu; Glorot uniform for tanh, sigmoid, softplus,
/// hard_tanh and when no activation follows. `he_*` written without a nonlinearity
/// takes its gain the same way. Biases start at zero.
///
/// # Names
///
/// Fields and parameter names follow `torch.nn.Sequential`: entries are numbered by
/// position, activations included. An unnamed dense layer at position 2 is the field
/// `l2` with parameters `2.weight` and `2.bias`; a named one (`hidden: dense(8)`) is
/// the field `hidden` with `hidden.weight`. Inside a residual block at position 3,
/// the first entry is `l3_0` with `3.0.weight`.
///
/// # What it generates
///
/// For `struct Net`: `Net<T: Real = f32>` with a public field per layer, `Net::INPUT`
/// and `Net::OUTPUT`; `NetGrads<T>` and `NetWorkspace<T>`; `Net::new(&mut rng)`,
/// `forward`, `forward_into` (evaluation mode), `loss_and_grad` and `train_step`
/// (training mode); `Parameters` and `Gradients` implementations.
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
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    run(input.into()).into()
}

/// The whole macro over `proc_macro2` tokens: parse, check, expand, or the spanned
/// errors as `compile_error!`s. Separate from the entry point so that tests can drive
/// every stage as a library.
pub(crate) fn run(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let spec = match syn::parse2::<parse::Spec>(input) {
        Ok(spec) => spec,
        Err(err) => return err.to_compile_error(),
    };
    let mut cx = ctxt::Ctxt::default();
    let net = check::check(spec, &mut cx);
    match (net, cx.finish()) {
        (Some(net), Ok(())) => expand::expand(&net),
        (_, Err(err)) => err.to_compile_error(),
        (None, Ok(())) => syn::Error::new(proc_macro2::Span::call_site(), "invalid network spec")
            .to_compile_error(),
    }
}
