//! The stub emitted next to the errors of a spec that does not parse or check, once
//! its name has been read (thiserror's `fallback.rs`): the generated types, methods,
//! consts and trait impls by name, with bodies that never run (the
//! `compile_error!`s stop the build), so that the user's code below a mistake in a
//! spec gives no errors of its own.
//!
//! Without a stub, older compilers report every use of a name the macro did not
//! define; newer ones (rust-lang/rust#149484, merged January 2026; 1.95 has it) hide
//! unresolved names in a module with a `compile_error!`, and with a stub they check
//! the code against it instead: where the stub differs from the real items (it has
//! no layer fields, and a width it cannot read is 0), the user sees an error that a
//! bare `compile_error!` would not have shown.
//!
//! `INPUT` and `OUTPUT` are the spec's widths where it says them plainly (an integer
//! or a named const: `input:` or `input: seq(..)`, and the last dense or recurrent
//! layer's output, `repeat` blocks included, residual blocks keeping the width), and
//! 0 where it does not; the input and output types (the input gradient, `forward`'s
//! result, `train_output`) are batches of those widths, or sequences after
//! `input: seq(..)` and a last recurrent layer with `sequence`, so that code using
//! them checks. The arguments are generic (any type goes) except those of types the
//! stub knows (the RNG, workspace, gradients, the optimizer's bound, and
//! `forward_into`'s `out` when `OUTPUT` is known). A spec with a recurrent word gets
//! the state API too (`NameState`, `set_initial_state`, `final_state`, ...).

use crate::args::call_parts;
use crate::expand::rt;
use crate::parse::{Arg, Header, Item};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::{Expr, Lit};

/// The stub of the network `header` names; `items` are its parsed items (none when
/// the body did not parse).
pub(crate) fn expand(header: &Header, items: &[Item]) -> TokenStream {
    let p = rt();
    let Header { attrs, vis, name } = header;
    let grads = format_ident!("{}Grads", name);
    let ws = format_ident!("{}Workspace", name);
    let (input, input_seq) = items
        .iter()
        .find_map(|item| match item {
            Item::Input { width, .. } => Some(match call_parts(width) {
                Some((f, args)) if f == "seq" => (args.first().and_then(|w| plain_width(w)), true),
                _ => (plain_width(width), false),
            }),
            _ => None,
        })
        .unwrap_or((None, false));
    let Flow {
        width: output,
        seq: output_seq,
    } = output_flow(
        items,
        Flow {
            width: input.clone(),
            seq: input_seq,
        },
    );
    let value = |w: &str, seq: bool| {
        let w = format_ident!("{}", w);
        match seq {
            true => quote!(#p::Seq<T, { <#name>::#w }>),
            false => quote!(#p::Batch<T, { <#name>::#w }>),
        }
    };
    let (in_value, out_value) = (value("INPUT", input_seq), value("OUTPUT", output_seq));
    // `forward_into`'s `out` is the one argument often made without a type
    // (`Batch::new()`): typed whenever the output width is known.
    let (out_generic, out_arg) = match output {
        Some(_) => (quote!(), quote!(&mut #out_value)),
        None => (quote!(, Out), quote!(Out)),
    };
    let (input, output) = (
        input.unwrap_or_else(|| quote!(0)),
        output.unwrap_or_else(|| quote!(0)),
    );
    let cross_entropy = items.iter().any(|item| match item {
        Item::Loss { value, .. } => value.to_token_stream().to_string() == "cross_entropy",
        _ => false,
    });
    let target = match (cross_entropy, output_seq) {
        (true, false) => quote!([usize]),
        (true, true) => quote!(#p::SeqClasses),
        (false, _) => out_value.clone(),
    };
    let result = |ty: TokenStream| quote!(::core::result::Result<#ty, #p::Error>);
    let (unit, loss) = (result(quote!(())), result(quote!(T)));
    let output_result = result(out_value.clone());
    let state = format_ident!("{}State", name);
    let recurrent = has_recurrent(items);
    let state_ty = match recurrent {
        true => quote!(#state<T>),
        false => quote!(()),
    };
    // Nothing here is used, documented, or run.
    let allow =
        quote!(#[allow(unused, missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]);
    let never = quote!(::core::unreachable!());
    let state_api = match recurrent {
        false => quote!(),
        true => quote! {
            #[derive(Clone, Debug, PartialEq)]
            #allow
            pub struct #state<T = f32> {
                __scalar: ::core::marker::PhantomData<T>,
            }

            #allow
            impl<T> ::core::default::Default for #state<T> {
                fn default() -> Self { #never }
            }

            #allow
            impl<T: #p::Real> #name<T> {
                pub fn final_state_into(&self, _: &#ws<T>, _: &mut #state<T>) { #never }
                pub fn final_state(&self, _: &#ws<T>) -> #state<T> { #never }
                pub fn carry_state(&self, _: &mut #ws<T>) { #never }
            }

            #allow
            impl<T: #p::Real> #ws<T> {
                pub fn set_initial_state(&mut self, _: ::core::option::Option<#state<T>>) { #never }
                pub fn initial_state(&self) -> ::core::option::Option<&#state<T>> { #never }
            }
        },
    };

    quote! {
        #(#attrs)*
        #[derive(Clone, Debug)]
        #allow
        #vis struct #name<T = f32> {
            __scalar: ::core::marker::PhantomData<T>,
        }

        #[derive(Clone, Debug)]
        #allow
        #vis struct #grads<T = f32> {
            pub input: ::core::option::Option<#in_value>,
        }

        #[derive(Clone, Debug)]
        #allow
        pub struct #ws<T = f32> {
            __scalar: ::core::marker::PhantomData<T>,
        }

        #allow
        impl #name {
            pub const INPUT: usize = #input;
            pub const OUTPUT: usize = #output;
        }

        #allow
        impl<T: #p::Real> #name<T> {
            pub fn new(_: &mut #p::SeededRng) -> Self { #never }
            pub fn forward<X>(&self, _: X) -> #output_result { #never }
            pub fn forward_into<X #out_generic>(&self, _: X, _: &mut #ws<T>, _: #out_arg) -> #unit { #never }
            pub fn loss_and_grad<X, Y>(&mut self, _: X, _: Y, _: &mut #ws<T>, _: &mut #grads<T>) -> #loss { #never }
            pub fn loss_and_grad_with<X, Y, R>(&mut self, _: X, _: Y, _: &mut #ws<T>, _: &mut #grads<T>, _: &mut R) -> #loss { #never }
            pub fn clip_grads(_: &mut #ws<T>, _: &mut #grads<T>) -> #unit { #never }
            pub fn train_step<X, Y, O: #p::optim::Optimizer<T>>(&mut self, _: X, _: Y, _: &mut O, _: &mut #ws<T>, _: &mut #grads<T>) -> #loss { #never }
            pub fn eval_loss_and_grad<X, Y>(&self, _: X, _: Y, _: &mut #ws<T>, _: &mut #grads<T>) -> #loss { #never }
            pub fn loss<X, Y>(&self, _: X, _: Y, _: &mut #ws<T>) -> #loss { #never }
            pub fn summary(&self) -> #p::summary::Summary { #never }
            pub fn zero_grads(&self) -> #grads<T> { #never }
        }

        #allow
        impl<T: #p::Real> #grads<T> {
            pub fn with_input_grad(self) -> Self { #never }
        }

        #allow
        impl<T: #p::Real> #ws<T> {
            pub fn new() -> Self { #never }
            pub fn with_seed(_: u64) -> Self { #never }
            pub fn set_detect_anomaly(&mut self, _: bool) { #never }
            pub fn detect_anomaly(&self) -> bool { #never }
            pub fn pre_clip_norm(&self) -> ::core::option::Option<T> { #never }
            pub fn train_output(&self) -> &#out_value { #never }
            pub fn eval_output(&self) -> &#out_value { #never }
            pub fn rng(&self) -> &#p::SeededRng { #never }
            pub fn rng_mut(&mut self) -> &mut #p::SeededRng { #never }
        }

        #allow
        impl<T: #p::Real> ::core::default::Default for #ws<T> {
            fn default() -> Self { #never }
        }

        #allow
        impl<T: #p::Real> #p::Parameters<T> for #name<T> {
            type Grads = #grads<T>;
            fn visit_params(&self, _: &mut impl FnMut(&'static str, &[T])) { #never }
            fn visit_params_mut(&mut self, _: &Self::Grads, _: &mut impl FnMut(#p::ParamMut<'_, T>)) { #never }
            fn zero_grads(&self) -> Self::Grads { #never }
        }

        #allow
        impl<T: #p::Real> #p::Gradients<T> for #grads<T> {
            fn visit_grads(&self, _: &mut impl FnMut(&'static str, &[T])) { #never }
            fn visit_grads_mut(&mut self, _: &mut impl FnMut(&'static str, &mut [T])) { #never }
        }

        #allow
        impl<T: #p::Real> #p::Network<T> for #name<T> {
            const INPUT: usize = <#name>::INPUT;
            const OUTPUT: usize = <#name>::OUTPUT;
            type Input = #in_value;
            type Output = #out_value;
            type Target = #target;
            type Workspace = #ws<T>;
            type State = #state_ty;
            fn new(_: &mut #p::SeededRng) -> Self { #never }
            fn forward_into(&self, _: &Self::Input, _: &mut Self::Workspace, _: &mut Self::Output) -> #unit { #never }
            fn loss_and_grad(&mut self, _: &Self::Input, _: &Self::Target, _: &mut Self::Workspace, _: &mut Self::Grads) -> #loss { #never }
            fn eval_loss_and_grad(&self, _: &Self::Input, _: &Self::Target, _: &mut Self::Workspace, _: &mut Self::Grads) -> #loss { #never }
            fn loss_and_grad_with<R: #p::reduce::Reducer<T>>(&mut self, _: &Self::Input, _: &Self::Target, _: &mut Self::Workspace, _: &mut Self::Grads, _: &mut R) -> #loss { #never }
            fn clip_grads(_: &mut Self::Workspace, _: &mut Self::Grads) -> #unit { #never }
            fn loss(&self, _: &Self::Input, _: &Self::Target, _: &mut Self::Workspace) -> #loss { #never }
            fn train_step<O: #p::optim::Optimizer<T>>(&mut self, _: &Self::Input, _: &Self::Target, _: &mut O, _: &mut Self::Workspace, _: &mut Self::Grads) -> #loss { #never }
            fn train_output(_: &Self::Workspace) -> &Self::Output { #never }
            fn eval_output(_: &Self::Workspace) -> &Self::Output { #never }
            fn rng(_: &Self::Workspace) -> &#p::SeededRng { #never }
            fn rng_mut(_: &mut Self::Workspace) -> &mut #p::SeededRng { #never }
            fn set_initial_state(_: &mut Self::Workspace, _: ::core::option::Option<Self::State>) { #never }
            fn final_state_into(&self, _: &Self::Workspace, _: &mut Self::State) { #never }
            fn summary(&self) -> #p::summary::Summary { #never }
        }

        #state_api
    }
}

/// What flows between the layers as the stub reads it: a width, if plain, and
/// whether it is a sequence.
struct Flow {
    width: Option<TokenStream>,
    seq: bool,
}

/// What comes out of `items`, given what goes in: the last dense layer's output or
/// the last recurrent layer's (its hidden width, twice that when bidirectional; a
/// sequence with `sequence`), `repeat` blocks walked, every other word taken to keep
/// what it is given.
fn output_flow(items: &[Item], mut flow: Flow) -> Flow {
    for item in items {
        let Item::Layer(layer) = item else { continue };
        let args = || layer.args.iter().flatten();
        if layer.word == "dense" {
            let out = args().find_map(|arg| match arg {
                Arg::Arrow { to, .. } => Some(to),
                Arg::Named { name, value } if name == "out" => Some(value),
                Arg::Positional(e) => Some(e),
                Arg::Named { .. } => None,
            });
            flow.width = out.and_then(plain_width);
        } else if RECURRENT.contains(&layer.word.to_string().as_str()) {
            let hidden = args().find_map(|arg| match arg {
                Arg::Arrow { to, .. } => Some(to),
                Arg::Named { name, value } if name == "hidden_size" => Some(value),
                Arg::Positional(e) if !bare(e).is_some_and(|w| FLAGS.contains(&w.as_str())) => {
                    Some(e)
                }
                _ => None,
            });
            let flag = |flag: &str| {
                args().any(|arg| match arg {
                    Arg::Positional(e) => bare(e).is_some_and(|w| w == flag),
                    Arg::Named { name, value } => {
                        name == flag && value.to_token_stream().to_string() == "true"
                    }
                    Arg::Arrow { .. } => false,
                })
            };
            flow.width = hidden.and_then(plain_width);
            if flag("bidirectional") {
                flow.width = flow.width.map(|w| quote!((2 * #w)));
            }
            flow.seq = flow.seq && flag("sequence");
        } else if layer.word == "repeat" {
            if let Some(block) = &layer.block {
                flow = output_flow(block, flow);
            }
        }
    }
    flow
}

/// The recurrent words.
const RECURRENT: [&str; 3] = ["rnn", "lstm", "gru"];

/// The words a recurrent layer takes bare, which are not its width.
const FLAGS: [&str; 5] = [
    "bidirectional",
    "sequence",
    "forget_bias_one",
    "tanh",
    "relu",
];

/// A bare one-segment identifier, as a string.
fn bare(e: &Expr) -> Option<String> {
    match e {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(|i| i.to_string()),
        _ => None,
    }
}

/// Whether a recurrent word is among `items`, blocks included.
fn has_recurrent(items: &[Item]) -> bool {
    items.iter().any(|item| match item {
        Item::Layer(l) => {
            RECURRENT.contains(&l.word.to_string().as_str())
                || l.block.as_deref().is_some_and(has_recurrent)
        }
        _ => false,
    })
}

/// A width as `check` would take it without complaint: an integer of at least 1
/// (unsuffixed, as a `usize`) or a path to a const (not `crate`, `self` and the
/// like alone).
fn plain_width(e: &Expr) -> Option<TokenStream> {
    match e {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => match i.base10_parse::<usize>() {
            Ok(n) if n > 0 => Some(Literal::usize_unsuffixed(n).into_token_stream()),
            _ => None,
        },
        Expr::Path(path) if path.qself.is_none() && !keyword(&path.path) => {
            Some(path.into_token_stream())
        }
        _ => None,
    }
}

/// `crate`, `super`, `self` or `Self` alone.
fn keyword(path: &syn::Path) -> bool {
    path.segments.len() == 1
        && matches!(
            path.segments[0].ident.to_string().as_str(),
            "crate" | "super" | "self" | "Self"
        )
}
