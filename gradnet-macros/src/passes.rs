//! The generated passes: the workspace that holds every buffer, the evaluation-mode
//! forward pass, and the training pass (forward, loss, and the backward in reverse,
//! with the opt-in NaN/Inf checks).

use crate::expand::{act_value, batch, rt};
use crate::graph::{Graph, Step};
use crate::ir::*;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub(crate) fn vfield(v: usize) -> syn::Ident {
    format_ident!("v{}", v)
}

/// The workspace struct: a buffer per value, a gradient buffer per distinct
/// gradient, pre-activations, caches and masks, and the dropout RNG.
pub(crate) fn workspace(g: &Graph, ws_name: &syn::Ident, doc: &str) -> TokenStream {
    let p = rt();
    let mut names = Vec::new();
    let mut tys = Vec::new();
    for (v, w) in g.widths.iter().enumerate().skip(1) {
        names.push(vfield(v));
        tys.push(batch(w));
    }
    for (v, w) in g.widths.iter().enumerate() {
        if g.grad_of(v) == v {
            names.push(format_ident!("d{}", v));
            tys.push(batch(w));
        }
    }
    for s in &g.steps {
        match s {
            Step::Dense {
                act: Some(_), y, ..
            } => {
                names.push(format_ident!("z{}", y));
                tys.push(batch(&g.widths[*y]));
            }
            Step::Layer { layer, y, .. } => {
                let w = layer.in_w.tokens();
                match layer.kind {
                    Kind::BatchNorm { .. } => {
                        names.push(format_ident!("c{}", y));
                        tys.push(quote!(#p::batch_norm::BatchNormCache<T, #w>));
                    }
                    Kind::LayerNorm { .. } => {
                        names.push(format_ident!("c{}", y));
                        tys.push(quote!(#p::layer_norm::LayerNormCache<T, #w>));
                    }
                    Kind::Dropout { .. } => {
                        names.push(format_ident!("m{}", y));
                        tys.push(batch(&g.widths[*y]));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug)]
        pub struct #ws_name<T: #p::Real = f32> {
            #( #names: #tys, )*
            /// Draws dropout masks; seeded when the workspace is made, so runs repeat.
            rng: #p::SeededRng,
            /// Whether training passes check every output and gradient for NaN/Inf.
            detect_anomaly: bool,
            /// The total gradient norm before the spec's `clip: norm(..)`, from the last
            /// `train_step`.
            pre_clip_norm: ::core::option::Option<T>,
        }

        impl<T: #p::Real> #ws_name<T> {
            /// Empty buffers (they grow on the first pass) and a dropout RNG seeded with 0.
            pub fn new() -> Self {
                Self::with_seed(0)
            }

            /// Empty buffers and a dropout RNG seeded with `seed`.
            pub fn with_seed(seed: u64) -> Self {
                #ws_name {
                    #( #names: ::core::default::Default::default(), )*
                    rng: #p::rng::seeded(seed),
                    detect_anomaly: false,
                    pre_clip_norm: ::core::option::Option::None,
                }
            }

            /// Turns NaN/Inf detection on or off (off by default), like
            /// `torch.autograd.set_detect_anomaly`: when on, `loss_and_grad` checks
            /// every layer's output in the forward pass and every gradient in the
            /// backward pass, and returns `Error::NonFiniteValue` naming the layer and
            /// the pass where a NaN or infinity first appeared. When off, the checks
            /// are skipped.
            pub fn set_detect_anomaly(&mut self, on: bool) {
                self.detect_anomaly = on;
            }

            /// The total gradient norm before clipping in the last `train_step`, for a
            /// spec with `clip: norm(..)` (`None` otherwise, or before the first step),
            /// as `torch.nn.utils.clip_grad_norm_` returns it.
            pub fn pre_clip_norm(&self) -> ::core::option::Option<T> {
                self.pre_clip_norm
            }

            /// Whether NaN/Inf detection is on.
            pub fn detect_anomaly(&self) -> bool {
                self.detect_anomaly
            }
        }

        impl<T: #p::Real> ::core::default::Default for #ws_name<T> {
            fn default() -> Self {
                Self::new()
            }
        }
    }
}

/// `x` for the input, `&ws.vN` for the others.
pub(crate) fn data(v: usize) -> TokenStream {
    if v == 0 {
        quote!(x)
    } else {
        let f = vfield(v);
        quote!(&ws.#f)
    }
}

pub(crate) fn eval_forward(g: &Graph) -> TokenStream {
    let p = rt();
    // Where each value's data is in evaluation mode (dropout passes its input on).
    let mut at: Vec<TokenStream> = (0..g.widths.len()).map(data).collect();
    let mut code = Vec::new();
    for s in &g.steps {
        let y = s.output();
        let yf = vfield(y);
        match s {
            Step::Dense { layer, act, x, .. } => {
                let f = &layer.field;
                let xd = &at[*x];
                let a = act
                    .as_ref()
                    .map_or_else(|| quote!(#p::activation::Identity), act_value);
                code.push(quote!(self.#f.forward_eval(#xd, #a, &mut ws.#yf);));
            }
            Step::Act { act, x, .. } => {
                let xd = &at[*x];
                let a = act_value(act);
                code.push(quote!(#p::ops::act_forward(#a, #xd, &mut ws.#yf);));
            }
            Step::Layer { layer, x, .. } => {
                let f = &layer.field;
                let xd = at[*x].clone();
                match layer.kind {
                    Kind::Dropout { .. } => {
                        at[y] = xd;
                        continue;
                    }
                    Kind::PRelu { .. } => code.push(quote!(self.#f.forward(#xd, &mut ws.#yf);)),
                    _ => code.push(quote!(self.#f.forward_eval(#xd, &mut ws.#yf);)),
                }
            }
            Step::Add { a, b, .. } => {
                let (ad, bd) = (&at[*a], &at[*b]);
                code.push(quote!(#p::ops::add(#ad, #bd, &mut ws.#yf);));
            }
        }
    }
    let out = &at[g.output];
    quote! {
        #(#code)*
        out.copy_from(#out);
    }
}

/// `if ws.detect_anomaly { check_finite(name, pass, buffer)?; }`: opt-in, a
/// predictable branch when off.
pub(crate) fn finite_check(name: &str, backward: bool, buf: TokenStream) -> TokenStream {
    let p = rt();
    let pass = if backward {
        quote!(#p::diagnostics::Pass::Backward)
    } else {
        quote!(#p::diagnostics::Pass::Forward)
    };
    quote! {
        if ws.detect_anomaly {
            #p::diagnostics::check_finite(#name, #pass, #buf.as_slice())?;
        }
    }
}

/// The same check over every gradient of a layer.
pub(crate) fn grads_check(name: &str, field: &syn::Ident) -> TokenStream {
    let p = rt();
    quote! {
        if ws.detect_anomaly {
            #p::diagnostics::check_finite_layer_grads(#name, &grads.#field)?;
        }
    }
}

/// `code`, or `if cond { code }` when `conditional`.
fn only_if(conditional: bool, cond: &TokenStream, code: TokenStream) -> TokenStream {
    if conditional {
        quote!(if #cond { #code })
    } else {
        code
    }
}

/// Training-mode forward, the loss, and the backward pass in reverse.
pub(crate) fn train_pass(g: &Graph, loss: &TokenStream) -> TokenStream {
    let p = rt();
    let write = |acc: bool| {
        if acc {
            quote!(#p::Write::Accumulate)
        } else {
            quote!(#p::Write::Overwrite)
        }
    };
    let mut fwd = Vec::new();
    for s in &g.steps {
        let yf = vfield(s.output());
        match s {
            Step::Dense {
                layer,
                act,
                act_layer,
                x,
                y,
            } => {
                let f = &layer.field;
                let xd = data(*x);
                match (act, act_layer) {
                    (Some(a), Some(al)) => {
                        let a = act_value(a);
                        let z = format_ident!("z{}", y);
                        fwd.push(quote!(self.#f.forward_act(#xd, #a, &mut ws.#z, &mut ws.#yf);));
                        fwd.push(finite_check(&layer.path, false, quote!(ws.#z)));
                        fwd.push(finite_check(&al.path, false, quote!(ws.#yf)));
                    }
                    _ => {
                        fwd.push(quote!(self.#f.forward(#xd, &mut ws.#yf);));
                        fwd.push(finite_check(&layer.path, false, quote!(ws.#yf)));
                    }
                }
            }
            Step::Act { layer, act, x, .. } => {
                let (xd, a) = (data(*x), act_value(act));
                fwd.push(quote!(#p::ops::act_forward(#a, #xd, &mut ws.#yf);));
                fwd.push(finite_check(&layer.path, false, quote!(ws.#yf)));
            }
            Step::Layer { layer, x, y } => {
                let f = &layer.field;
                let xd = data(*x);
                fwd.push(match layer.kind {
                    Kind::BatchNorm { .. } => {
                        let c = format_ident!("c{}", y);
                        quote!(self.#f.forward_train_stats(#xd, &mut ws.#yf, &mut ws.#c)?;)
                    }
                    Kind::LayerNorm { .. } => {
                        let c = format_ident!("c{}", y);
                        quote!(self.#f.forward_train(#xd, &mut ws.#yf, &mut ws.#c);)
                    }
                    Kind::Dropout { .. } => {
                        let m = format_ident!("m{}", y);
                        quote!(self.#f.forward_train(#xd, &mut ws.#yf, &mut ws.#m, &mut ws.rng);)
                    }
                    _ => quote!(self.#f.forward(#xd, &mut ws.#yf);),
                });
                fwd.push(finite_check(&layer.path, false, quote!(ws.#yf)));
            }
            Step::Add { a, b, .. } => {
                let (ad, bd) = (data(*a), data(*b));
                fwd.push(quote!(#p::ops::add(#ad, #bd, &mut ws.#yf);));
            }
        }
    }

    // The input's gradient goes straight into `grads.input` when its only reader is
    // a dense layer (which skips the product when it is not asked for); otherwise
    // through the scratch buffer `d0`, copied out at the end.
    let input_direct = g.uses(0) == 1 && matches!(g.steps.first(), Some(Step::Dense { .. }));
    // A value's gradient matters for training only when a layer with parameters lies
    // between the input and it; the others (the input, and what param-free layers such
    // as a leading dropout make of it) are computed only when the input's gradient is
    // asked for.
    let mut trained = vec![false; g.widths.len()];
    for s in &g.steps {
        let has_params = match s {
            Step::Dense { .. } => true,
            Step::Layer { layer, .. } => !matches!(layer.kind, Kind::Dropout { .. }),
            Step::Act { .. } | Step::Add { .. } => false,
        };
        trained[s.output()] = has_params || s.inputs().iter().any(|&v| trained[v]);
    }
    let asked = quote!(grads.input.is_some());
    // Where a step writes its input's gradient: always for a trained value, only when
    // the input's gradient is asked for otherwise.
    let grad_dest = |trained: bool, d: &syn::Ident| {
        if trained {
            quote!(::core::option::Option::Some(&mut ws.#d))
        } else {
            quote!(if #asked { ::core::option::Option::Some(&mut ws.#d) } else { ::core::option::Option::None })
        }
    };
    let mut written = vec![false; g.widths.len()];
    let out_grad = format_ident!("d{}", g.grad_of(g.output));
    written[g.grad_of(g.output)] = true;
    let mut bwd = Vec::new();
    let ow = vfield(g.output);
    let out_data = if g.output == 0 {
        quote!(x)
    } else {
        quote!(&ws.#ow)
    };
    let loss_check = finite_check("loss", true, quote!(ws.#out_grad));
    let loss_line = quote! {
        let loss = #p::loss::Loss::loss_and_grad(&#loss, #out_data, target, &mut ws.#out_grad)?;
        if ws.detect_anomaly {
            #p::diagnostics::check_finite("loss", #p::diagnostics::Pass::Forward, ::core::slice::from_ref(&loss))?;
        }
        #loss_check
    };
    for s in g.steps.iter().rev() {
        let y = s.output();
        let dy = format_ident!("d{}", g.grad_of(y));
        // The destination of the gradient w.r.t. a step input, and whether it adds.
        let mut dest = |v: usize| -> (usize, bool) {
            let b = g.grad_of(v);
            let acc = written[b];
            written[b] = true;
            (b, acc)
        };
        match s {
            Step::Dense {
                layer,
                act,
                act_layer,
                x,
                y,
            } => {
                let f = &layer.field;
                let xd = data(*x);
                let (b, acc) = dest(*x);
                let w = write(acc);
                let d = format_ident!("d{}", b);
                let direct = *x == 0 && input_direct;
                let dx = if direct {
                    quote!(grads.input.as_mut())
                } else {
                    grad_dest(trained[*x], &d)
                };
                let over = write(false);
                match (act, act_layer) {
                    (Some(a), Some(al)) => {
                        let a = act_value(a);
                        let z = format_ident!("z{}", y);
                        let yf = vfield(*y);
                        bwd.push(quote!(self.#f.backward_act(#a, #xd, &ws.#z, &ws.#yf, &mut ws.#dy, &mut grads.#f, #over, #dx, #w);));
                        // `dy` now holds the gradient w.r.t. the pre-activation.
                        bwd.push(finite_check(&al.path, true, quote!(ws.#dy)));
                    }
                    _ => bwd.push(
                        quote!(self.#f.backward(#xd, &ws.#dy, &mut grads.#f, #over, #dx, #w);),
                    ),
                }
                bwd.push(grads_check(&layer.path, f));
                if !direct {
                    bwd.push(only_if(
                        !trained[*x],
                        &asked,
                        finite_check(&layer.path, true, quote!(ws.#d)),
                    ));
                }
            }
            Step::Act { layer, act, x, y } => {
                let (xd, a) = (data(*x), act_value(act));
                let (b, acc) = dest(*x);
                let (d, w, yf) = (format_ident!("d{}", b), write(acc), vfield(*y));
                let check = finite_check(&layer.path, true, quote!(ws.#d));
                bwd.push(only_if(
                    !trained[*x],
                    &asked,
                    quote! {
                        #p::ops::act_backward(#a, #xd, &ws.#yf, &ws.#dy, &mut ws.#d, #w);
                        #check
                    },
                ));
            }
            Step::Layer { layer, x, y } => {
                let f = &layer.field;
                let xd = data(*x);
                let (b, acc) = dest(*x);
                let (d, w, over) = (format_ident!("d{}", b), write(acc), write(false));
                let dx = grad_dest(trained[*x], &d);
                let check = finite_check(&layer.path, true, quote!(ws.#d));
                bwd.push(match layer.kind {
                    Kind::BatchNorm { .. } => {
                        let c = format_ident!("c{}", y);
                        quote!(self.#f.backward(&mut ws.#c, &ws.#dy, &mut grads.#f, #over, #dx, #w);)
                    }
                    Kind::LayerNorm { .. } => {
                        let c = format_ident!("c{}", y);
                        quote!(self.#f.backward(&ws.#c, &ws.#dy, &mut grads.#f, #over, #dx, #w);)
                    }
                    Kind::Dropout { .. } => {
                        // No parameters: nothing to do unless its input's gradient counts.
                        let m = format_ident!("m{}", y);
                        only_if(!trained[*x], &asked, quote!(self.#f.backward(&ws.#m, &ws.#dy, ::core::option::Option::Some(&mut ws.#d), #w);))
                    }
                    _ => quote!(self.#f.backward(#xd, &ws.#dy, &mut grads.#f, #over, #dx, #w);),
                });
                if !matches!(layer.kind, Kind::Dropout { .. }) {
                    bwd.push(grads_check(&layer.path, f));
                }
                bwd.push(only_if(!trained[*x], &asked, check));
            }
            Step::Add { a, b: _, .. } => {
                // The body's output shares this gradient's buffer; the skip path gets a copy.
                let (b, acc) = dest(*a);
                let d = format_ident!("d{}", b);
                let pass_on = if acc {
                    quote!(#p::ops::add_assign(&mut ws.#d, &ws.#dy);)
                } else {
                    quote!(ws.#d.copy_from(&ws.#dy);)
                };
                bwd.push(only_if(!trained[*a], &asked, pass_on));
            }
        }
    }
    let copy_input = if input_direct {
        quote!()
    } else {
        quote! {
            if let ::core::option::Option::Some(gx) = grads.input.as_mut() {
                gx.copy_from(&ws.d0);
            }
        }
    };
    let out_w = g.widths[g.output].tokens();
    quote! {
        if x.is_empty() {
            return ::core::result::Result::Err(#p::Error::EmptyBatch);
        }
        x.check_finite()?;
        <#loss as #p::loss::Loss<T, #out_w>>::check_target(&#loss, x.rows(), target)?;
        #(#fwd)*
        #loss_line
        #(#bwd)*
        #copy_input
        ::core::result::Result::Ok(loss)
    }
}

/// Folds every batch norm's statistics of the last training pass into its running
/// statistics: what a training call does once it has succeeded.
pub(crate) fn commit_stats(g: &Graph) -> TokenStream {
    let code = g.steps.iter().filter_map(|s| match s {
        Step::Layer { layer, y, .. } if matches!(layer.kind, Kind::BatchNorm { .. }) => {
            let (f, c) = (&layer.field, format_ident!("c{}", y));
            Some(quote!(self.#f.update_running_stats(&ws.#c);))
        }
        _ => None,
    });
    quote!(#(#code)*)
}
