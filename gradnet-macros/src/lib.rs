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
mod check_recurrent;
mod ctxt;
mod expand;
mod fallback;
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
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    let (out, stub) = generate(input.into());
    quote::quote!(#out #stub).into()
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
    fn no_stub_without_a_name_or_without_an_error() {
        assert_eq!(stub_of("struct { input: 4 }"), (true, None));
        assert_eq!(stub_of("fn net() {}"), (true, None));
        assert_eq!(
            stub_of("struct Net { input: 4, dense(1), loss: mse }"),
            (false, None)
        );
    }
}
