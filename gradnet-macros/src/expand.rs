//! Checked network -> Rust: the parameter struct, its gradients, its workspace, and
//! the forward, training and visitor code, all straight-line.

use crate::graph::Graph;
use crate::ir::*;
use crate::passes::{commit_stats, eval_forward, train_pass, workspace};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

/// Where the runtime lives, reached by an absolute path.
pub(crate) fn rt() -> TokenStream {
    quote!(::gradnet::__private)
}

/// Every layer that is a struct field, blocks flattened, in spec order.
fn field_layers(layers: &[Layer]) -> Vec<&Layer> {
    let mut out = Vec::new();
    for l in layers {
        match &l.kind {
            Kind::Residual { body } => out.extend(field_layers(body)),
            k if k.has_field() => out.push(l),
            _ => {}
        }
    }
    out
}

pub(crate) fn batch(w: &Width) -> TokenStream {
    let p = rt();
    let w = w.tokens();
    quote!(#p::Batch<T, #w>)
}

/// The activation as a value of its core type.
pub(crate) fn act_value(a: &Act) -> TokenStream {
    let p = rt();
    let args: Vec<TokenStream> = a.args.iter().map(|n| n.tokens.clone()).collect();
    let span = a.span;
    match a.kind {
        ActKind::Identity => quote_spanned!(span=> #p::activation::Identity),
        ActKind::Sigmoid => quote_spanned!(span=> #p::activation::Sigmoid),
        ActKind::Tanh => quote_spanned!(span=> #p::activation::Tanh),
        ActKind::Relu => quote_spanned!(span=> #p::activation::Relu),
        ActKind::Selu => quote_spanned!(span=> #p::activation::Selu),
        ActKind::Gelu => quote_spanned!(span=> #p::activation::Gelu),
        ActKind::GeluTanh => quote_spanned!(span=> #p::activation::GeluTanh),
        ActKind::Silu => quote_spanned!(span=> #p::activation::Silu),
        ActKind::LeakyRelu => {
            quote_spanned!(span=> #p::activation::LeakyRelu::<T>::new(#(#args),*))
        }
        ActKind::Elu => quote_spanned!(span=> #p::activation::Elu::<T>::new(#(#args),*)),
        ActKind::Softplus => quote_spanned!(span=> #p::activation::Softplus::<T>::new(#(#args),*)),
        ActKind::HardTanh => quote_spanned!(span=> #p::activation::HardTanh::<T>::new(#(#args),*)),
    }
}

fn init_value(init: &InitSpec) -> TokenStream {
    let p = rt();
    let i = quote!(#p::init::Init);
    let nl = |n: &Nonlinearity| match n {
        Nonlinearity::LeakyRelu(s) => {
            let s = &s.tokens;
            quote!(#p::init::Nonlinearity::LeakyRelu(#s))
        }
        Nonlinearity::Relu | Nonlinearity::Auto => quote!(#p::init::Nonlinearity::Relu),
    };
    match init {
        InitSpec::Auto => quote!(#i::glorot_uniform()),
        InitSpec::He {
            uniform,
            fan_out,
            nonlinearity,
        } => {
            let mode = if *fan_out {
                quote!(#p::init::FanMode::FanOut)
            } else {
                quote!(#p::init::FanMode::FanIn)
            };
            let nl = nl(nonlinearity);
            if *uniform {
                quote!(#i::he_uniform_with(#mode, #nl))
            } else {
                quote!(#i::he_normal_with(#mode, #nl))
            }
        }
        InitSpec::Glorot { uniform, gain } => {
            let g = &gain.tokens;
            if *uniform {
                quote!(#i::glorot_uniform_with_gain(#g))
            } else {
                quote!(#i::glorot_normal_with_gain(#g))
            }
        }
        InitSpec::LecunNormal => quote!(#i::lecun_normal()),
        InitSpec::Orthogonal { gain } => {
            let g = &gain.tokens;
            quote!(#i::orthogonal_with_gain(#g))
        }
        InitSpec::Normal { mean, std } => {
            let (m, s) = (&mean.tokens, &std.tokens);
            quote!(#i::normal_with_mean(#m, #s))
        }
        InitSpec::Uniform { a, b } => {
            let (a, b) = (&a.tokens, &b.tokens);
            quote!(#i::uniform(#a, #b))
        }
        InitSpec::Constant(c) => {
            let c = &c.tokens;
            quote!(#i::constant(#c))
        }
    }
}

/// The field's type, its gradients' type (if it has parameters), and its constructor.
struct FieldInfo {
    ty: TokenStream,
    grads_ty: Option<TokenStream>,
    init: TokenStream,
}

fn field_info(l: &Layer) -> FieldInfo {
    let p = rt();
    let (i, o) = (l.in_w.tokens(), l.out_w.tokens());
    let span = l.span;
    match &l.kind {
        Kind::Dense { bias, init } => {
            let init = init_value(init);
            FieldInfo {
                ty: quote!(#p::Dense<T, #i, #o>),
                grads_ty: Some(quote!(#p::DenseGrads<T, #i, #o>)),
                init: quote_spanned!(span=> #p::Dense::new(&#init, #bias, rng)),
            }
        }
        Kind::PRelu { per_feature, init } => {
            let v = &init.tokens;
            let ctor = if *per_feature {
                quote!(per_feature)
            } else {
                quote!(shared)
            };
            FieldInfo {
                ty: quote!(#p::prelu::PRelu<T, #i>),
                grads_ty: Some(quote!(#p::prelu::PReluGrads<T, #i>)),
                init: quote_spanned!(span=> #p::prelu::PRelu::#ctor(#v)),
            }
        }
        Kind::BatchNorm {
            momentum,
            eps,
            affine,
        } => {
            let (m, e) = (&momentum.tokens, &eps.tokens);
            FieldInfo {
                ty: quote!(#p::batch_norm::BatchNorm<T, #i>),
                grads_ty: Some(quote!(#p::batch_norm::BatchNormGrads<T, #i>)),
                init: quote_spanned! {span=>
                    #p::batch_norm::BatchNorm::from_checked_config(#p::batch_norm::BatchNormConfig {
                        affine: #affine,
                        momentum: ::core::option::Option::Some(#m),
                        eps: #e,
                    })
                },
            }
        }
        Kind::LayerNorm { eps, affine } => {
            let e = &eps.tokens;
            FieldInfo {
                ty: quote!(#p::layer_norm::LayerNorm<T, #i>),
                grads_ty: Some(quote!(#p::layer_norm::LayerNormGrads<T, #i>)),
                init: quote_spanned! {span=>
                    #p::layer_norm::LayerNorm::from_checked_config(#p::layer_norm::LayerNormConfig {
                        eps: #e,
                        elementwise_affine: #affine,
                        bias: #affine,
                    })
                },
            }
        }
        Kind::Dropout { p: prob } => {
            let v = &prob.tokens;
            FieldInfo {
                ty: quote!(#p::dropout::Dropout),
                grads_ty: None,
                init: quote_spanned!(span=> #p::dropout::Dropout::from_checked_p(#v)),
            }
        }
        Kind::Act(_) | Kind::Residual { .. } => FieldInfo {
            ty: quote!(()),
            grads_ty: None,
            init: quote!(()),
        },
    }
}

/// Names of a layer's parameters and buffers, as `state_dict` keys.
/// `(short name, state_dict key)` pairs.
type Names = Vec<(&'static str, String)>;

fn param_names(l: &Layer) -> (Names, Names) {
    let k = |s: &'static str| (s, format!("{}.{}", l.path, s));
    match &l.kind {
        Kind::Dense { .. } | Kind::LayerNorm { .. } => (vec![k("weight"), k("bias")], vec![]),
        Kind::PRelu { .. } => (vec![k("weight")], vec![]),
        Kind::BatchNorm { .. } => (
            vec![k("weight"), k("bias")],
            vec![
                k("running_mean"),
                k("running_var"),
                k("num_batches_tracked"),
            ],
        ),
        _ => (vec![], vec![]),
    }
}

pub fn expand(net: &Net) -> TokenStream {
    let p = rt();
    let Net {
        attrs,
        vis,
        name,
        input,
        output,
        layers,
        loss,
        clip,
        asserts,
        value_asserts,
    } = net;
    let graph = Graph::lower(input, layers);
    let name_str = name.to_string();
    let grads_name = format_ident!("{}Grads", name);
    let ws_name = format_ident!("{}Workspace", name);
    let fields = field_layers(layers);
    let infos: Vec<FieldInfo> = fields.iter().map(|l| field_info(l)).collect();
    let field_names: Vec<&syn::Ident> = fields.iter().map(|l| &l.field).collect();
    let field_tys: Vec<&TokenStream> = infos.iter().map(|i| &i.ty).collect();
    let field_inits: Vec<&TokenStream> = infos.iter().map(|i| &i.init).collect();
    let field_docs: Vec<String> = fields
        .iter()
        .map(|l| format!("Layer `{}`.", l.path))
        .collect();
    let (grad_fields, grad_tys): (Vec<&syn::Ident>, Vec<&TokenStream>) = fields
        .iter()
        .zip(&infos)
        .filter_map(|(l, i)| i.grads_ty.as_ref().map(|t| (&l.field, t)))
        .unzip();
    let (in_w, out_w) = (input.tokens(), output.tokens());

    let asserts = asserts.iter().map(|a| {
        let (x, y, msg) = (a.a.tokens(), a.b.tokens(), &a.msg);
        quote_spanned!(a.span=> const _: () = ::core::assert!(#x == #y, #msg);)
    });
    // A network whose fields do not mention `T` (no layer with parameters) still
    // needs to use it.
    let uses_t = fields
        .iter()
        .any(|l| !matches!(l.kind, Kind::Dropout { .. }));
    let (marker_field, marker_init) = if uses_t {
        (quote!(), quote!())
    } else {
        (
            quote!(__scalar: ::core::marker::PhantomData<T>,),
            quote!(__scalar: ::core::marker::PhantomData,),
        )
    };
    let binds = |a: &ValueAssert, scalar: bool| -> Vec<TokenStream> {
        let names = [format_ident!("v"), format_ident!("w")];
        a.values
            .iter()
            .zip(&names)
            .map(|(value, n)| {
                if scalar {
                    quote!(let #n: f64 = if <T as #p::Real>::IS_F32 { (#value) as f32 as f64 } else { #value };)
                } else {
                    quote!(let #n: f64 = #value;)
                }
            })
            .collect()
    };
    let value_asserts: Vec<TokenStream> = value_asserts
        .iter()
        .filter(|a| !a.in_scalar)
        .map(|a| {
            let (lets, cond, msg) = (binds(a, false), &a.cond, &a.msg);
            quote_spanned!(a.span=> #[allow(clippy::float_cmp)] const _: () = {
                #(#lets)*
                ::core::assert!(#cond, #msg);
            };)
        })
        .collect();
    let scalar_asserts: Vec<TokenStream> = net
        .value_asserts
        .iter()
        .filter(|a| a.in_scalar)
        .map(|a| {
            let (lets, cond) = (binds(a, true), &a.cond);
            let msg = format!("{} in the network's scalar type (f32 rounds it)", a.msg);
            quote_spanned!(a.span=> const {
                #(#lets)*
                ::core::assert!(#cond, #msg);
            };)
        })
        .collect();

    let (target_ty, loss_value) = match loss {
        Loss::Mse => (quote!(&#p::Batch<T, #out_w>), quote!(#p::loss::Mse)),
        Loss::CrossEntropy => (quote!(&[usize]), quote!(#p::loss::SoftmaxCrossEntropy)),
        Loss::BceWithLogits => (
            quote!(&#p::Batch<T, #out_w>),
            quote!(#p::loss::BceWithLogits),
        ),
    };

    let ws_doc = format!(
        "Every intermediate buffer of a [`{name_str}`] pass, grown to the largest batch seen and reused below it."
    );
    let ws = workspace(&graph, &ws_name, &ws_doc);
    let eval = eval_forward(&graph);
    let train = train_pass(&graph, &loss_value);
    let visitors = visitors(&fields, name, &grads_name);
    // The gradient norm before clipping (as `clip_grad_norm_` returns it), kept for
    // the report whichever way the spec clips.
    let clip_step = match clip {
        None => quote!(),
        Some(Clip::Norm(n)) => {
            let n = &n.tokens;
            quote!(ws.pre_clip_norm = ::core::option::Option::Some(#p::clip::clip_grad_norm(grads, T::of(#n))?);)
        }
        Some(Clip::Value(n)) => {
            let n = &n.tokens;
            quote! {
                ws.pre_clip_norm = ::core::option::Option::Some(T::of(#p::clip::grad_norm(grads)));
                #p::clip::clip_grad_value(grads, T::of(#n))?;
            }
        }
    };
    // What a training pass defers until it has succeeded: batch norm's running
    // statistics; and what it restores when it fails: the dropout RNG.
    let commit = commit_stats(&graph);
    let has_dropout = graph.steps.iter().any(|s| {
        matches!(s, crate::graph::Step::Layer { layer, .. } if matches!(layer.kind, Kind::Dropout { .. }))
    });
    let (save_rng, restore_rng) = if has_dropout {
        (
            quote!(let rng_before = ws.rng.clone();),
            quote!(ws.rng = rng_before;),
        )
    } else {
        (quote!(), quote!())
    };
    let grads_doc = format!("The gradients of a [`{name_str}`], one buffer per parameter.");

    quote! {
        #(#attrs)*
        #[derive(Clone, Debug)]
        #vis struct #name<T: #p::Real = f32> {
            #( #[doc = #field_docs] pub #field_names: #field_tys, )*
            #marker_field
        }

        #[doc = #grads_doc]
        #[derive(Clone, Debug)]
        #vis struct #grads_name<T: #p::Real = f32> {
            #( #[doc = "Gradients of the layer of the same name."] pub #grad_fields: #grad_tys, )*
            /// The gradient with respect to the input batch, computed only when this
            /// is `Some` (like `x.requires_grad` in PyTorch); see `with_input_grad`.
            pub input: ::core::option::Option<#p::Batch<T, #in_w>>,
        }

        #ws

        #(#asserts)*
        #(#value_asserts)*

        impl #name {
            /// Number of input features.
            pub const INPUT: usize = #in_w;
            /// Number of outputs.
            pub const OUTPUT: usize = #out_w;
        }

        impl<T: #p::Real> #name<T> {
            /// A network initialized as its spec says, drawing from `rng`.
            ///
            /// Settings that would not survive conversion to `T` (an `eps` that is 0 in
            /// `f32`) are refused by const assertions here, when the network is built
            /// for that type (they show at `cargo build`, not at `cargo check`).
            pub fn new(rng: &mut #p::SeededRng) -> Self {
                #(#scalar_asserts)*
                #name { #( #field_names: #field_inits, )* #marker_init }
            }

            /// Evaluation-mode forward pass into a new batch (allocating; see
            /// `forward_into`).
            ///
            /// # Errors
            /// As `forward_into`.
            pub fn forward(&self, x: &#p::Batch<T, #in_w>) -> ::core::result::Result<#p::Batch<T, #out_w>, #p::Error> {
                let mut ws = #ws_name::new();
                let mut out = #p::Batch::new();
                self.forward_into(x, &mut ws, &mut out)?;
                ::core::result::Result::Ok(out)
            }

            /// Evaluation-mode forward pass (`model.eval()`): batch norm uses its
            /// running statistics and dropout is the identity. Allocates nothing once
            /// `ws` and `out` have held a batch this large.
            ///
            /// # Errors
            /// `Error::EmptyBatch` for a batch of no rows, `Error::NonFinite` for a NaN
            /// or infinity in `x` (one vectorized pass); `out` is then left as it was.
            pub fn forward_into(&self, x: &#p::Batch<T, #in_w>, ws: &mut #ws_name<T>, out: &mut #p::Batch<T, #out_w>) -> ::core::result::Result<(), #p::Error> {
                if x.is_empty() {
                    return ::core::result::Result::Err(#p::Error::EmptyBatch);
                }
                x.check_finite()?;
                #eval
                ::core::result::Result::Ok(())
            }

            /// Training-mode forward and backward pass: returns the loss and writes
            /// every parameter's gradient into `grads` (and the input's, if
            /// `grads.input` is `Some`). Batch norm updates its running statistics.
            ///
            /// # Errors
            /// An empty batch, a non-finite input, a target that does not fit the
            /// output (checked before the forward pass), a batch norm layer given one
            /// row, or a NaN/infinity found by anomaly detection. A failed call leaves
            /// the network (parameters and buffers) and the workspace's dropout RNG
            /// exactly as they were.
            pub fn loss_and_grad(
                &mut self,
                x: &#p::Batch<T, #in_w>,
                target: #target_ty,
                ws: &mut #ws_name<T>,
                grads: &mut #grads_name<T>,
            ) -> ::core::result::Result<T, #p::Error> {
                #save_rng
                match self.train_pass(x, target, ws, grads) {
                    ::core::result::Result::Ok(loss) => {
                        #commit
                        ::core::result::Result::Ok(loss)
                    }
                    ::core::result::Result::Err(e) => {
                        #restore_rng
                        ::core::result::Result::Err(e)
                    }
                }
            }

            /// One training step: `loss_and_grad`, the spec's gradient clipping if
            /// any, and the optimizer's update. Returns the loss.
            ///
            /// The loss and every gradient are checked finite before any parameter
            /// is touched, whether anomaly detection is on or not: no update is ever
            /// applied from a NaN or an infinity.
            ///
            /// # Errors
            /// As `loss_and_grad`; `Error::NonFiniteLoss` or
            /// `Error::NonFiniteGradient` (naming the parameter) for a non-finite loss
            /// or gradient; and the optimizer's errors. Each leaves the network, the
            /// optimizer's state and the dropout RNG as they were, except
            /// `Error::ParametersDiverged`: an update from finite gradients overflowed
            /// (a learning rate far too large), and the parameters are no longer
            /// finite.
            pub fn train_step<O: #p::optim::Optimizer<T>>(
                &mut self,
                x: &#p::Batch<T, #in_w>,
                target: #target_ty,
                opt: &mut O,
                ws: &mut #ws_name<T>,
                grads: &mut #grads_name<T>,
            ) -> ::core::result::Result<T, #p::Error> {
                #save_rng
                match self.update(x, target, opt, ws, grads) {
                    ::core::result::Result::Ok(loss) => {
                        #commit
                        ::core::result::Result::Ok(loss)
                    }
                    ::core::result::Result::Err(e) => {
                        #restore_rng
                        ::core::result::Result::Err(e)
                    }
                }
            }

            /// The fallible part of `train_step`: the pass, the checks, clipping and
            /// the update, with the running statistics not yet committed.
            fn update<O: #p::optim::Optimizer<T>>(
                &mut self,
                x: &#p::Batch<T, #in_w>,
                target: #target_ty,
                opt: &mut O,
                ws: &mut #ws_name<T>,
                grads: &mut #grads_name<T>,
            ) -> ::core::result::Result<T, #p::Error> {
                let loss = self.train_pass(x, target, ws, grads)?;
                #p::anomaly::check_update(loss, grads)?;
                #clip_step
                opt.step(self, grads)?;
                ::core::result::Result::Ok(loss)
            }

            /// Training-mode forward, loss and backward. Changes nothing but the
            /// workspace and `grads`: batch norm's statistics are committed by the
            /// caller once the whole call has succeeded.
            fn train_pass(
                &self,
                x: &#p::Batch<T, #in_w>,
                target: #target_ty,
                ws: &mut #ws_name<T>,
                grads: &mut #grads_name<T>,
            ) -> ::core::result::Result<T, #p::Error> {
                #train
            }

            /// Zeroed gradients of this network's shapes.
            pub fn zero_grads(&self) -> #grads_name<T> {
                <Self as #p::Parameters<T>>::zero_grads(self)
            }
        }

        impl<T: #p::Real> #grads_name<T> {
            /// Asks the next `loss_and_grad` for the gradient with respect to the input.
            pub fn with_input_grad(mut self) -> Self {
                self.input = ::core::option::Option::Some(#p::Batch::new());
                self
            }
        }

        #visitors
    }
}

fn visitors(fields: &[&Layer], name: &syn::Ident, grads_name: &syn::Ident) -> TokenStream {
    let p = rt();
    let mut read = Vec::new();
    let mut write = Vec::new();
    let mut bufs = Vec::new();
    let mut bufs_mut = Vec::new();
    let mut grads_read = Vec::new();
    let mut grads_write = Vec::new();
    let mut zero = Vec::new();
    for l in fields {
        let f = &l.field;
        let (params, buffers) = param_names(l);
        if !params.is_empty() {
            zero.push(quote!(#f: #p::Parameters::zero_grads(&self.#f),));
        }
        for (short, full) in params {
            let s = format_ident!("{}", short);
            let s_mut = format_ident!("{}_mut", short);
            let optional = short == "bias"
                || matches!(l.kind, Kind::BatchNorm { .. } | Kind::LayerNorm { .. });
            if optional {
                read.push(
                    quote!(if let ::core::option::Option::Some(v) = self.#f.#s() { f(#full, v); }),
                );
                write.push(quote! {
                    if let (::core::option::Option::Some(value), ::core::option::Option::Some(grad)) = (self.#f.#s_mut(), grads.#f.#s()) {
                        f(#p::ParamMut { name: #full, value, grad });
                    }
                });
                grads_read.push(
                    quote!(if let ::core::option::Option::Some(v) = self.#f.#s() { f(#full, v); }),
                );
                grads_write.push(quote!(if let ::core::option::Option::Some(v) = self.#f.#s_mut() { f(#full, v); }));
            } else {
                read.push(quote!(f(#full, self.#f.#s());));
                write.push(quote!(f(#p::ParamMut { name: #full, value: self.#f.#s_mut(), grad: grads.#f.#s() });));
                grads_read.push(quote!(f(#full, self.#f.#s());));
                grads_write.push(quote!(f(#full, self.#f.#s_mut());));
            }
        }
        for (short, full) in buffers {
            let s = format_ident!("{}", short);
            let s_mut = format_ident!("{}_mut", short);
            if short == "num_batches_tracked" {
                bufs.push(quote!(f(#full, ::core::slice::from_ref(&self.#f.#s()));));
                bufs_mut.push(quote!(f(#full, ::core::slice::from_mut(self.#f.#s_mut()));));
            } else {
                bufs.push(quote!(f(#full, self.#f.#s());));
                bufs_mut.push(quote!(f(#full, self.#f.#s_mut());));
            }
        }
    }
    let _ = Span::call_site();
    quote! {
        impl<T: #p::Real> #p::Parameters<T> for #name<T> {
            type Grads = #grads_name<T>;

            fn visit_params(&self, f: &mut impl FnMut(&'static str, &[T])) {
                #(#read)*
            }

            fn visit_params_mut(&mut self, grads: &Self::Grads, f: &mut impl FnMut(#p::ParamMut<'_, T>)) {
                #(#write)*
            }

            fn visit_buffers(&self, f: &mut impl FnMut(&'static str, &[T])) {
                #(#bufs)*
            }

            fn visit_buffers_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
                #(#bufs_mut)*
            }

            fn zero_grads(&self) -> Self::Grads {
                #grads_name {
                    #(#zero)*
                    input: ::core::option::Option::None,
                }
            }
        }

        impl<T: #p::Real> #p::Gradients<T> for #grads_name<T> {
            fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[T])) {
                #(#grads_read)*
            }

            fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
                #(#grads_write)*
            }
        }
    }
}
