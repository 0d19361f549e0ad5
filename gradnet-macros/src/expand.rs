//! Checked network -> Rust: the parameter struct, its gradients, its workspace, and
//! the forward, training and visitor code, all straight-line.

use crate::graph::Graph;
use crate::ir::*;
use crate::kinds::{emit, Emit};
use crate::passes::{commit, eval_forward, grad_pass, workspace};
use proc_macro2::TokenStream;
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
            // Activations: values made at the call site.
            Kind::Act(_) => {}
            Kind::Dense { .. }
            | Kind::PRelu { .. }
            | Kind::BatchNorm { .. }
            | Kind::LayerNorm { .. }
            | Kind::Dropout { .. }
            | Kind::ReZero
            | Kind::Recurrent(_)
            | Kind::Map(_) => out.push(l),
        }
    }
    out
}

pub(crate) fn batch(w: &Width) -> TokenStream {
    let p = rt();
    let w = w.tokens();
    quote!(#p::Batch<T, #w>)
}

/// The initializer as a value of its core type.
pub(crate) fn init_value(init: &InitSpec) -> TokenStream {
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

pub fn expand(net: &Net) -> TokenStream {
    let p = rt();
    let Net {
        attrs,
        vis,
        name,
        input,
        input_seq,
        output,
        output_seq,
        layers,
        loss,
        clip,
        asserts,
        value_asserts,
    } = net;
    let graph = Graph::lower(input, *input_seq, layers);
    let name_str = name.to_string();
    let grads_name = format_ident!("{}Grads", name);
    let ws_name = format_ident!("{}Workspace", name);
    let fields = field_layers(layers);
    let emits: Vec<Emit> = fields.iter().map(|l| emit(l)).collect();
    let field_names: Vec<&syn::Ident> = fields.iter().map(|l| &l.field).collect();
    let (field_tys, field_inits): (Vec<TokenStream>, Vec<TokenStream>) = emits
        .iter()
        .map(|e| e.field.clone().unwrap_or_else(|| (quote!(()), quote!(()))))
        .unzip();
    let field_docs: Vec<String> = fields
        .iter()
        .map(|l| format!("Layer `{}`.", l.path))
        .collect();
    let (grad_fields, grad_tys): (Vec<&syn::Ident>, Vec<TokenStream>) = fields
        .iter()
        .zip(&field_tys)
        .zip(&emits)
        .filter(|(_, e)| !e.params.is_empty())
        .map(|((l, ty), _)| (&l.field, quote!(<#ty as #p::Parameters<T>>::Grads)))
        .unzip();
    let (in_w, out_w) = (input.tokens(), output.tokens());
    let (in_ty, out_ty) = (
        crate::passes::value_ty(input, *input_seq),
        crate::passes::value_ty(output, *output_seq),
    );
    let loss_trait = if *output_seq {
        quote!(#p::SeqLoss)
    } else {
        quote!(#p::loss::Loss)
    };

    let asserts = asserts.iter().map(|a| {
        let (x, y, msg) = (a.a.tokens(), a.b.tokens(), &a.msg);
        quote_spanned!(a.span=> const _: () = ::core::assert!(#x == #y, #msg);)
    });
    // A network whose fields do not mention `T` (no layer with parameters) still
    // needs to use it.
    let uses_t = emits.iter().any(|e| !e.params.is_empty());
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

    let target_unsized = match (loss, output_seq) {
        (Loss::CrossEntropy, false) => quote!([usize]),
        (Loss::CrossEntropy, true) => quote!(#p::SeqClasses),
        (Loss::Mse | Loss::BceWithLogits, _) => out_ty.clone(),
    };
    let target_ty = quote!(&#target_unsized);
    let loss_value = match loss {
        Loss::Mse => quote!(#p::loss::Mse),
        Loss::CrossEntropy => quote!(#p::loss::SoftmaxCrossEntropy),
        Loss::BceWithLogits => quote!(#p::loss::BceWithLogits),
    };

    let ws_doc = format!(
        "Every intermediate buffer of a [`{name_str}`] pass, grown to the largest batch seen and reused below it."
    );
    let state_name = format_ident!("{}State", name);
    let rec_steps: Vec<(&Layer, TokenStream, syn::Ident)> = graph
        .steps
        .iter()
        .filter(|s| crate::passes::recurrent(s).is_some())
        .filter_map(|s| {
            let l = s.field_layer()?;
            let ty = emit(l).field?.0;
            Some((l, ty, crate::passes::cfield(s.y)))
        })
        .collect();
    let has_state = !rec_steps.is_empty();
    let ws = workspace(&graph, &ws_name, &ws_doc, has_state.then_some(&state_name));
    let maps = crate::map_code::definitions(layers, vis);
    let state = state_code(name, &state_name, &ws_name, &rec_steps);
    let state_ty = if has_state {
        quote!(#state_name<T>)
    } else {
        quote!(())
    };
    let (state_set, state_into) = if has_state {
        (
            quote!(ws.set_initial_state(state);),
            quote!(#name::final_state_into(self, ws, out);),
        )
    } else {
        (quote!(let _ = (ws, state);), quote!(let _ = (ws, out);))
    };
    let eval = eval_forward(&graph);
    let grad_pass = grad_pass(&graph, &loss_value);
    let visitors = visitors(&fields, name, &grads_name);
    let summary = summary(layers, name, input);
    // The gradient norm before clipping (as `clip_grad_norm_` returns it), kept for
    // the report whichever way the spec clips.
    let clip_step = match clip {
        None => quote!(let _ = (ws, grads);),
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
    let commit = commit(&graph);
    let random = emits.iter().any(|e| e.random);
    let (save_rng, restore_rng) = if random {
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
            pub input: ::core::option::Option<#in_ty>,
        }

        #ws

        #state

        #maps

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
            pub fn forward(&self, x: &#in_ty) -> ::core::result::Result<#out_ty, #p::Error> {
                let mut ws = #ws_name::new();
                let mut out = ::core::default::Default::default();
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
            pub fn forward_into(&self, x: &#in_ty, ws: &mut #ws_name<T>, out: &mut #out_ty) -> ::core::result::Result<(), #p::Error> {
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
                x: &#in_ty,
                target: #target_ty,
                ws: &mut #ws_name<T>,
                grads: &mut #grads_name<T>,
            ) -> ::core::result::Result<T, #p::Error> {
                self.loss_and_grad_with(x, target, ws, grads, &mut #p::reduce::NoReduce)
            }

            /// `loss_and_grad` in one process of a data-parallel job: batch norm
            /// takes its batch statistics (and their backward terms) over the rows
            /// of every process `reducer` sums over (PyTorch's `SyncBatchNorm`);
            /// every other layer acts on this process's rows alone. With
            /// `NoReduce` this is `loss_and_grad`. Every process must make the
            /// same call (its reductions are collective).
            ///
            /// # Errors
            /// As `loss_and_grad`; a failed call leaves the network and the
            /// dropout RNG as they were.
            pub fn loss_and_grad_with<R: #p::reduce::Reducer<T>>(
                &mut self,
                x: &#in_ty,
                target: #target_ty,
                ws: &mut #ws_name<T>,
                grads: &mut #grads_name<T>,
                reducer: &mut R,
            ) -> ::core::result::Result<T, #p::Error> {
                #save_rng
                match self.grad_pass::<false, R>(x, target, ws, grads, reducer) {
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
                x: &#in_ty,
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
                x: &#in_ty,
                target: #target_ty,
                opt: &mut O,
                ws: &mut #ws_name<T>,
                grads: &mut #grads_name<T>,
            ) -> ::core::result::Result<T, #p::Error> {
                let loss = self.grad_pass::<false, #p::reduce::NoReduce>(x, target, ws, grads, &mut #p::reduce::NoReduce)?;
                // The pass noted whether every gradient was finite; only if one
                // was not (or the loss is not) is the full check needed, for its error.
                if !(ws.grads_finite && loss.is_finite()) {
                    #p::anomaly::check_update(loss, grads)?;
                }
                Self::clip_grads(ws, grads)?;
                opt.step(self, grads)?;
                ::core::result::Result::Ok(loss)
            }

            /// The spec's gradient clipping (`clip: norm(..)` or `clip: value(..)`;
            /// nothing without one) applied to `grads`, as `train_step` applies it
            /// between the pass and the update, with the norm before clipping kept
            /// for `ws.pre_clip_norm()`. For a step assembled by hand, such as a
            /// data-parallel one clipping the gradients summed over processes.
            ///
            /// # Errors
            /// `Error::NonFiniteGradNorm` for a NaN or infinite norm when clipping
            /// by norm; the gradients are then left as they were.
            pub fn clip_grads(ws: &mut #ws_name<T>, grads: &mut #grads_name<T>) -> ::core::result::Result<(), #p::Error> {
                #clip_step
                ::core::result::Result::Ok(())
            }

            /// Evaluation-mode forward and backward (`model.eval()` then `backward()`
            /// in PyTorch): the loss, and the gradients with batch norm's running
            /// statistics and no dropout, for fine-tuning with frozen normalization.
            /// Changes nothing in the network or the dropout RNG.
            ///
            /// # Errors
            /// As `loss_and_grad`.
            pub fn eval_loss_and_grad(
                &self,
                x: &#in_ty,
                target: #target_ty,
                ws: &mut #ws_name<T>,
                grads: &mut #grads_name<T>,
            ) -> ::core::result::Result<T, #p::Error> {
                self.grad_pass::<true, #p::reduce::NoReduce>(x, target, ws, grads, &mut #p::reduce::NoReduce)
            }

            /// The evaluation-mode loss of a batch (no gradients).
            ///
            /// # Errors
            /// As `forward_into`, and a target that does not fit the output.
            pub fn loss(
                &self,
                x: &#in_ty,
                target: #target_ty,
                ws: &mut #ws_name<T>,
            ) -> ::core::result::Result<T, #p::Error> {
                let mut out = ::core::mem::take(&mut ws.eval_out);
                let result = self
                    .forward_into(x, ws, &mut out)
                    .and_then(|()| #loss_trait::loss(&#loss_value, &out, target));
                ws.eval_out = out;
                result
            }

            /// The gradient pass: forward in training mode (or, `FROZEN`, in
            /// evaluation mode with caches), loss and backward. Changes nothing but
            /// the workspace and `grads`: batch norm's statistics are committed by
            /// the caller once the whole call has succeeded.
            fn grad_pass<const FROZEN: bool, R: #p::reduce::Reducer<T>>(
                &self,
                x: &#in_ty,
                target: #target_ty,
                ws: &mut #ws_name<T>,
                grads: &mut #grads_name<T>,
                reducer: &mut R,
            ) -> ::core::result::Result<T, #p::Error> {
                let _ = &reducer;
                #grad_pass
            }

            /// One line per layer (name, kind, output width, parameters and their
            /// shapes) and the totals, as Keras' `model.summary()`.
            pub fn summary(&self) -> #p::summary::Summary {
                #summary
            }

            /// Zeroed gradients of this network's shapes.
            pub fn zero_grads(&self) -> #grads_name<T> {
                <Self as #p::Parameters<T>>::zero_grads(self)
            }
        }

        impl<T: #p::Real> #p::Network<T> for #name<T> {
            const INPUT: usize = #in_w;
            const OUTPUT: usize = #out_w;
            type Input = #in_ty;
            type Output = #out_ty;
            type Target = #target_unsized;
            type Workspace = #ws_name<T>;
            type State = #state_ty;

            fn new(rng: &mut #p::SeededRng) -> Self {
                #name::new(rng)
            }

            fn forward_into(&self, x: &Self::Input, ws: &mut Self::Workspace, out: &mut Self::Output) -> ::core::result::Result<(), #p::Error> {
                #name::forward_into(self, x, ws, out)
            }

            fn loss_and_grad(&mut self, x: &Self::Input, target: &Self::Target, ws: &mut Self::Workspace, grads: &mut Self::Grads) -> ::core::result::Result<T, #p::Error> {
                #name::loss_and_grad(self, x, target, ws, grads)
            }

            fn eval_loss_and_grad(&self, x: &Self::Input, target: &Self::Target, ws: &mut Self::Workspace, grads: &mut Self::Grads) -> ::core::result::Result<T, #p::Error> {
                #name::eval_loss_and_grad(self, x, target, ws, grads)
            }

            fn loss_and_grad_with<R: #p::reduce::Reducer<T>>(&mut self, x: &Self::Input, target: &Self::Target, ws: &mut Self::Workspace, grads: &mut Self::Grads, reducer: &mut R) -> ::core::result::Result<T, #p::Error> {
                #name::loss_and_grad_with(self, x, target, ws, grads, reducer)
            }

            fn clip_grads(ws: &mut Self::Workspace, grads: &mut Self::Grads) -> ::core::result::Result<(), #p::Error> {
                #name::clip_grads(ws, grads)
            }

            fn loss(&self, x: &Self::Input, target: &Self::Target, ws: &mut Self::Workspace) -> ::core::result::Result<T, #p::Error> {
                #name::loss(self, x, target, ws)
            }

            fn train_step<O: #p::optim::Optimizer<T>>(&mut self, x: &Self::Input, target: &Self::Target, opt: &mut O, ws: &mut Self::Workspace, grads: &mut Self::Grads) -> ::core::result::Result<T, #p::Error> {
                #name::train_step(self, x, target, opt, ws, grads)
            }

            fn train_output(ws: &Self::Workspace) -> &Self::Output {
                ws.train_output()
            }

            fn eval_output(ws: &Self::Workspace) -> &Self::Output {
                ws.eval_output()
            }

            fn rng(ws: &Self::Workspace) -> &#p::SeededRng {
                ws.rng()
            }

            fn rng_mut(ws: &mut Self::Workspace) -> &mut #p::SeededRng {
                ws.rng_mut()
            }

            fn set_initial_state(ws: &mut Self::Workspace, state: ::core::option::Option<Self::State>) {
                #state_set
            }

            fn final_state_into(&self, ws: &Self::Workspace, out: &mut Self::State) {
                #state_into
            }

            fn summary(&self) -> #p::summary::Summary {
                #name::summary(self)
            }
        }

        impl<T: #p::Real> #grads_name<T> {
            /// Asks the next `loss_and_grad` for the gradient with respect to the input.
            pub fn with_input_grad(mut self) -> Self {
                self.input = ::core::option::Option::Some(::core::default::Default::default());
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
    let mut values_mut = Vec::new();
    let mut shapes = Vec::new();
    for l in fields {
        let f = &l.field;
        let e = emit(l);
        let full = |t: &str| format!("{}.{}", l.path, t);
        if !e.params.is_empty() {
            zero.push(quote!(#f: #p::Parameters::zero_grads(&self.#f),));
        }
        if e.delegate {
            // Through the layer's own visitors, its short names made full.
            let names = e.params.iter().map(|t| {
                let (short, full) = (t.name, full(t.name));
                quote!(#short => #full,)
            });
            let rename = quote!(match short { #(#names)* other => other });
            read.push(quote! {
                #p::Parameters::<T>::visit_params(&self.#f, &mut |short, v| f(#rename, v));
            });
            write.push(quote! {
                #p::Parameters::<T>::visit_params_mut(&mut self.#f, &grads.#f, &mut |pm: #p::ParamMut<'_, T>| {
                    let short = pm.name;
                    f(#p::ParamMut { name: #rename, value: pm.value, grad: pm.grad })
                });
            });
            grads_read.push(quote! {
                #p::Gradients::<T>::visit_grads(&self.#f, &mut |short, v| f(#rename, v));
            });
            grads_write.push(quote! {
                #p::Gradients::<T>::visit_grads_mut(&mut self.#f, &mut |short, v| f(#rename, v));
            });
            values_mut.push(quote! {
                #p::Parameters::<T>::visit_values_mut(&mut self.#f, &mut |short, v| f(#rename, v));
            });
        }
        for t in e.params.iter().filter(|_| !e.delegate) {
            let full = full(t.name);
            let s = format_ident!("{}", t.name);
            let s_mut = format_ident!("{}_mut", t.name);
            if t.optional {
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
                values_mut.push(quote!(if let ::core::option::Option::Some(v) = self.#f.#s_mut() { f(#full, v); }));
            } else {
                read.push(quote!(f(#full, self.#f.#s());));
                write.push(quote!(f(#p::ParamMut { name: #full, value: self.#f.#s_mut(), grad: grads.#f.#s() });));
                grads_read.push(quote!(f(#full, self.#f.#s());));
                grads_write.push(quote!(f(#full, self.#f.#s_mut());));
                values_mut.push(quote!(f(#full, self.#f.#s_mut());));
            }
        }
        for t in &e.buffers {
            let full = full(t.name);
            let s = format_ident!("{}", t.name);
            let s_mut = format_ident!("{}_mut", t.name);
            if t.scalar {
                bufs.push(quote!(f(#full, ::core::slice::from_ref(&self.#f.#s()));));
                bufs_mut.push(quote!(f(#full, ::core::slice::from_mut(self.#f.#s_mut()));));
            } else {
                bufs.push(quote!(f(#full, self.#f.#s());));
                bufs_mut.push(quote!(f(#full, self.#f.#s_mut());));
            }
        }
        // Shapes come from the layer, under its short names; the full names are
        // spelled here (visited for summaries and weights files, not per step).
        let names = e.params.iter().chain(&e.buffers).map(|t| {
            let (short, full) = (t.name, full(t.name));
            quote!(#short => #full,)
        });
        if !(e.params.is_empty() && e.buffers.is_empty()) {
            shapes.push(quote! {
                #p::Parameters::<T>::visit_shapes(&self.#f, &mut |short, kind, shape| {
                    let name: &'static str = match short { #(#names)* other => other };
                    f(name, kind, shape);
                });
            });
        }
    }
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

            fn visit_shapes(&self, f: &mut impl FnMut(&'static str, #p::params::TensorKind, #p::params::Shape)) {
                // Every parameter first, then every buffer, as the other visitors.
                let mut buffers = ::std::vec::Vec::new();
                {
                    let f = &mut |name: &'static str, kind: #p::params::TensorKind, shape: #p::params::Shape| match kind {
                        #p::params::TensorKind::Parameter => f(name, kind, shape),
                        #p::params::TensorKind::Buffer => buffers.push((name, shape)),
                    };
                    #(#shapes)*
                }
                for (name, shape) in buffers {
                    f(name, #p::params::TensorKind::Buffer, shape);
                }
            }

            fn visit_values_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
                #(#values_mut)*
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

/// The body of `summary()`: a line per spec entry, blocks after their line.
fn summary(layers: &[Layer], name: &syn::Ident, input: &Width) -> TokenStream {
    let p = rt();
    fn rows(layers: &[Layer], out: &mut Vec<TokenStream>) {
        for l in layers {
            let (path, text, w) = (&l.path, emit(l).text, l.out_w.tokens());
            let f = &l.field;
            out.push(if l.kind.has_field() {
                quote!(s.push::<T, _>(#path, #text, #w, ::core::option::Option::Some(&self.#f));)
            } else {
                quote!(s.push::<T, Self>(#path, #text, #w, ::core::option::Option::None);)
            });
            if let Kind::Residual { body } = &l.kind {
                rows(body, out);
            }
        }
    }
    let mut out = Vec::new();
    rows(layers, &mut out);
    let (n, i) = (name.to_string(), input.tokens());
    quote! {
        let mut s = #p::summary::Summary::new(#n, #i);
        #(#out)*
        s
    }
}

/// The recurrent state of a network with recurrent layers: its struct (a field per
/// recurrent layer, named as the layer's field) and the network's methods that read
/// it from a workspace. Nothing for a network without.
fn state_code(
    name: &syn::Ident,
    state_name: &syn::Ident,
    ws_name: &syn::Ident,
    rec: &[(&Layer, TokenStream, syn::Ident)],
) -> TokenStream {
    if rec.is_empty() {
        return quote!();
    }
    let p = rt();
    let doc = format!(
        "The state of every recurrent layer of a [`{name}`] (PyTorch's `h_n`/`c_n` of each): \
         read after a pass with `final_state_into`, given to the next with \
         `{ws_name}::set_initial_state`."
    );
    let fields: Vec<&syn::Ident> = rec.iter().map(|(l, _, _)| &l.field).collect();
    let docs: Vec<String> = rec
        .iter()
        .map(|(l, _, _)| format!("The state of layer `{}`.", l.path))
        .collect();
    let tys: Vec<TokenStream> = rec
        .iter()
        .map(|(l, ty, _)| {
            let i = l.in_w.tokens();
            quote!(<#ty as #p::rnn::Stateful<T, #i>>::State)
        })
        .collect();
    let reads = rec.iter().map(|(l, ty, c)| {
        let (f, i) = (&l.field, l.in_w.tokens());
        quote!(<#ty as #p::rnn::Stateful<T, #i>>::final_state_into(&self.#f, &ws.#c, &mut out.#f);)
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct #state_name<T: #p::Real = f32> {
            #( #[doc = #docs] pub #fields: #tys, )*
        }

        impl<T: #p::Real> #name<T> {
            /// The state after the last step of the last pass run with `ws` (either
            /// mode), into `out`, reusing its buffers: the next chunk's initial state
            /// in truncated backpropagation through time, or the state to go on
            /// generating from. Before any pass, empty (zeros).
            pub fn final_state_into(&self, ws: &#ws_name<T>, out: &mut #state_name<T>) {
                #(#reads)*
            }

            /// The final state of the last pass, as a new value (allocating).
            pub fn final_state(&self, ws: &#ws_name<T>) -> #state_name<T> {
                let mut out = ::core::default::Default::default();
                self.final_state_into(ws, &mut out);
                out
            }

            /// Makes the final state of the last pass the initial state of the next,
            /// reusing the buffers (no allocation after the first call): one line per
            /// chunk of truncated backpropagation through time.
            pub fn carry_state(&self, ws: &mut #ws_name<T>) {
                let mut s = ws.initial.take().unwrap_or_default();
                self.final_state_into(ws, &mut s);
                ws.initial = ::core::option::Option::Some(s);
            }
        }
    }
}
