//! The generated passes: the workspace that holds every buffer, the evaluation-mode
//! forward pass, and the gradient pass (forward, loss, and the backward in reverse,
//! with the opt-in NaN/Inf checks). Every step is driven through the runtime's
//! `Layer` protocol with the same five calls; what differs between steps is only how
//! the layer is reached (`Op`), which the graph decides.

use crate::expand::{batch, rt};
use crate::graph::{Graph, Op, Step};
use crate::ir::{Kind, Layer};
use crate::kinds::{act_tokens, emit};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub(crate) fn vfield(v: usize) -> syn::Ident {
    format_ident!("v{}", v)
}

pub(crate) fn cfield(y: usize) -> syn::Ident {
    format_ident!("c{}", y)
}

fn dfield(v: usize) -> syn::Ident {
    format_ident!("d{}", v)
}

/// The type of value `v`: a `Seq` or a `Batch` of its width.
pub(crate) fn vty(g: &Graph, v: usize) -> TokenStream {
    value_ty(&g.widths[v], g.seqs[v])
}

/// A `Seq` or a `Batch` of width `w`.
pub(crate) fn value_ty(w: &crate::ir::Width, seq: bool) -> TokenStream {
    let p = rt();
    if seq {
        let w = w.tokens();
        quote!(#p::Seq<T, #w>)
    } else {
        batch(w)
    }
}

/// Whether the step is a recurrent layer.
pub(crate) fn recurrent<'a>(s: &Step<'a>) -> Option<&'a crate::ir::Recurrent> {
    match &s.op {
        Op::Field(l) => match &l.kind {
            Kind::Recurrent(r) => Some(r),
            _ => None,
        },
        _ => None,
    }
}

/// The step's cache type and the layer as a value (at its call sites); `at` says
/// where each value's data is. A recurrent layer is run from the workspace's
/// initial state (`Start`), every step of it read through `Steps`; any other layer
/// over a sequence acts per step (`PerStep`), with the cache of its batch form.
fn layer_of(g: &Graph, s: &Step, at: &[TokenStream]) -> (TokenStream, TokenStream) {
    let p = rt();
    let (ty, value) = match &s.op {
        Op::Field(l) => {
            let f = &l.field;
            let ty = emit(l).field.map_or_else(|| quote!(()), |(ty, _)| ty);
            if let Kind::Recurrent(r) = &l.kind {
                let i = g.widths[s.x].tokens();
                let start = quote!(#p::rnn::Start(&self.#f, ws.initial.as_ref().map(|s| &s.#f)));
                let value = if r.sequence {
                    quote!(#p::rnn::Steps(&#start))
                } else {
                    start
                };
                return (quote!(<#ty as #p::rnn::Stateful<T, #i>>::Cache), value);
            }
            (ty, quote!(self.#f))
        }
        Op::Fused { layer, act, .. } => {
            let f = &layer.field;
            let dty = emit(layer).field.map_or_else(|| quote!(()), |(ty, _)| ty);
            let (aty, a) = act_tokens(act);
            (
                quote!(#p::layer::Fused<'static, #dty, #aty>),
                quote!(#p::layer::Fused(&self.#f, #a)),
            )
        }
        Op::Act { act, .. } => {
            let (aty, a) = act_tokens(act);
            (
                quote!(#p::layer::Activate<#aty>),
                quote!(#p::layer::Activate(#a)),
            )
        }
        Op::Sum { block } => {
            let w = g.widths[*block].tokens();
            let b = &at[*block];
            let b = if g.seqs[*block] {
                quote!((#b).as_batch())
            } else {
                b.clone()
            };
            (
                quote!(#p::layer::Sum<'static, T, #w>),
                quote!(#p::layer::Sum(#b)),
            )
        }
    };
    let x = batch(&g.widths[s.x]);
    let cache = quote!(<#ty as #p::Layer<T, #x>>::Cache);
    if g.seqs[s.x] {
        (cache, quote!(#p::layer::PerStep(&#value)))
    } else {
        (cache, value)
    }
}

/// Where the step's parameter gradients go: the field's gradients, or nothing.
fn grads_of(s: &Step) -> TokenStream {
    let p = rt();
    match s.field_layer() {
        Some(l) if !emit(l).params.is_empty() => {
            let f = &l.field;
            quote!(&mut grads.#f)
        }
        _ => quote!(&mut #p::NoGrads),
    }
}

fn has_params(s: &Step) -> bool {
    s.field_layer().is_some_and(|l| !emit(l).params.is_empty())
}

/// The workspace struct: a buffer per value, a gradient buffer per distinct
/// gradient, every step's cache, and the dropout RNG.
pub(crate) fn workspace(
    g: &Graph,
    ws_name: &syn::Ident,
    doc: &str,
    state: Option<&syn::Ident>,
) -> TokenStream {
    let p = rt();
    let mut names = Vec::new();
    let mut tys = Vec::new();
    for v in 1..g.widths.len() {
        names.push(vfield(v));
        tys.push(vty(g, v));
    }
    for v in 0..g.widths.len() {
        if g.grad_of(v) == v {
            names.push(dfield(v));
            tys.push(vty(g, v));
        }
    }
    let at: Vec<TokenStream> = (0..g.widths.len()).map(data).collect();
    for s in &g.steps {
        let (cache, _) = layer_of(g, s, &at);
        names.push(cfield(s.y));
        tys.push(cache);
    }
    let out = vty(g, g.output);
    let out_f = vfield(g.output);
    let (state_field, state_init, state_methods) = match state {
        None => (quote!(), quote!(), quote!()),
        Some(st) => (
            quote! {
                /// The state the recurrent layers start from (zeros if `None`).
                initial: ::core::option::Option<#st<T>>,
            },
            quote!(initial: ::core::option::Option::None,),
            quote! {
                /// Sets the state every recurrent layer starts from in the passes
                /// that follow (`None`: zeros, the default), as PyTorch's `h_0`
                /// (and `c_0`) argument. The passes read it and never change it:
                /// the gradient stops there.
                pub fn set_initial_state(&mut self, state: ::core::option::Option<#st<T>>) {
                    self.initial = state;
                }

                /// The state the recurrent layers start from, if one is set.
                pub fn initial_state(&self) -> ::core::option::Option<&#st<T>> {
                    self.initial.as_ref()
                }
            },
        ),
    };
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug)]
        pub struct #ws_name<T: #p::Real = f32> {
            #( #names: #tys, )*
            /// The output of `loss`'s evaluation pass.
            eval_out: #out,
            /// Draws dropout masks; seeded when the workspace is made, so runs repeat.
            rng: #p::SeededRng,
            /// Whether training passes check every output and gradient for NaN/Inf.
            detect_anomaly: bool,
            /// Whether every parameter gradient of the last gradient pass was finite,
            /// as each layer's backward left it (read while it is still in cache), so
            /// that the check before an update need not read them all again.
            grads_finite: bool,
            /// The total gradient norm before the spec's clipping, from the last
            /// `train_step`.
            pre_clip_norm: ::core::option::Option<T>,
            #state_field
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
                    eval_out: ::core::default::Default::default(),
                    rng: #p::rng::seeded(seed),
                    detect_anomaly: false,
                    grads_finite: false,
                    pre_clip_norm: ::core::option::Option::None,
                    #state_init
                }
            }

            #state_methods

            /// Turns NaN/Inf detection on or off (off by default), like
            /// `torch.autograd.set_detect_anomaly`: when on, `loss_and_grad` checks
            /// every layer's output in the forward pass and every gradient in the
            /// backward pass, and returns `Error::NonFiniteValue` naming the layer and
            /// the pass where a NaN or infinity first appeared. When off, the checks
            /// are skipped. (`train_step` checks the loss and the gradients before
            /// updating either way.)
            pub fn set_detect_anomaly(&mut self, on: bool) {
                self.detect_anomaly = on;
            }

            /// The total gradient norm before clipping in the last `train_step`, for a
            /// spec with `clip: norm(..)` or `clip: value(..)` (`None` otherwise, or
            /// before the first step), as `torch.nn.utils.clip_grad_norm_` returns it.
            /// Give it to a gradient report (`set_pre_clip_norm`) so that its flags
            /// judge the gradient before clipping.
            pub fn pre_clip_norm(&self) -> ::core::option::Option<T> {
                self.pre_clip_norm
            }

            /// Whether NaN/Inf detection is on.
            pub fn detect_anomaly(&self) -> bool {
                self.detect_anomaly
            }

            /// The RNG dropout draws from (and a trainer may shuffle with): to save
            /// in a checkpoint and restore, so a resumed run draws the same masks.
            pub fn rng(&self) -> &#p::SeededRng {
                &self.rng
            }

            /// The dropout RNG, mutably (to restore it from a checkpoint, or reseed).
            pub fn rng_mut(&mut self) -> &mut #p::SeededRng {
                &mut self.rng
            }

            /// The network's output in the last pass that computed gradients with
            /// this workspace (`loss_and_grad`, `train_step`, `eval_loss_and_grad`):
            /// what the loss saw. Evaluation-mode forward passes do not touch it.
            pub fn train_output(&self) -> &#out {
                &self.#out_f
            }

            /// The network's output in the last `loss` call with this workspace
            /// (evaluation mode): what that loss saw. Empty before the first.
            pub fn eval_output(&self) -> &#out {
                &self.eval_out
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

/// The evaluation-mode forward pass. The last step writes straight into `out`;
/// a layer that is the identity in evaluation (dropout) passes its input's buffer on.
pub(crate) fn eval_forward(g: &Graph) -> TokenStream {
    let p = rt();
    let mut at: Vec<TokenStream> = (0..g.widths.len()).map(data).collect();
    let mut code = Vec::new();
    let last = g.steps.len().saturating_sub(1);
    let mut wrote_out = false;
    for (i, s) in g.steps.iter().enumerate() {
        if let Op::Field(l) = &s.op {
            if emit(l).eval_identity {
                at[s.y] = at[s.x].clone();
                continue;
            }
        }
        let (_, layer) = layer_of(g, s, &at);
        let xd = &at[s.x];
        let dest = if i == last && s.y == g.output {
            wrote_out = true;
            quote!(out)
        } else {
            let yf = vfield(s.y);
            quote!(&mut ws.#yf)
        };
        // A recurrent layer keeps its steps in the workspace's cache (no allocation,
        // and the final state is there to read); it is the same in both modes.
        code.push(if recurrent(s).is_some() {
            let cf = cfield(s.y);
            quote!(#p::Layer::forward_frozen(&#layer, #xd, #dest, &mut ws.#cf)?;)
        } else {
            quote!(#p::Layer::forward_eval(&#layer, #xd, #dest);)
        });
    }
    let copy = if wrote_out {
        quote!()
    } else {
        let o = &at[g.output];
        quote!(out.copy_from(#o);)
    };
    quote! {
        #(#code)*
        #copy
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
/// Without detection, the layer's gradients are only noted in `ws.grads_finite`
/// (the check before an update names the first non-finite one from there).
fn grads_check(name: &str, field: &syn::Ident) -> TokenStream {
    let p = rt();
    quote! {
        if ws.detect_anomaly {
            #p::diagnostics::check_finite_layer_grads(#name, &grads.#field)?;
        } else {
            ws.grads_finite &= #p::anomaly::grads_finite(&grads.#field);
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

/// The gradient pass: forward (training mode, or with `FROZEN` evaluation mode with
/// caches), the loss, and the backward in reverse. Changes nothing but the
/// workspace and the gradients.
pub(crate) fn grad_pass(g: &Graph, loss: &TokenStream) -> TokenStream {
    let p = rt();
    let write = |acc: bool| {
        if acc {
            quote!(#p::Write::Accumulate)
        } else {
            quote!(#p::Write::Overwrite)
        }
    };
    let at: Vec<TokenStream> = (0..g.widths.len()).map(data).collect();
    let mut fwd = Vec::new();
    for s in &g.steps {
        let (yf, cf, xd) = (vfield(s.y), cfield(s.y), &at[s.x]);
        let (_, layer) = layer_of(g, s, &at);
        fwd.push(quote! {
            if FROZEN {
                #p::Layer::forward_frozen(&#layer, #xd, &mut ws.#yf, &mut ws.#cf)?;
            } else {
                #p::Layer::forward_train_with(&#layer, #xd, &mut ws.#yf, &mut ws.#cf, &mut ws.rng, reducer)?;
            }
        });
        match &s.op {
            // The pre-activation (the cache) under the dense layer's name, the
            // output under the activation's. Batch norm keeps no pre-activation:
            // with a finite input (checked where it was made), its output is finite
            // exactly when the batch variance is (the deviations from the mean are
            // then bounded by it) and its parameters are.
            Op::Fused { layer, .. } => {
                let kept = match layer.kind {
                    Kind::BatchNorm { .. } => quote!(ws.#cf.var),
                    _ => quote!(ws.#cf),
                };
                fwd.push(finite_check(&layer.path, false, kept));
            }
            Op::Field(_) | Op::Act { .. } | Op::Sum { .. } => {}
        }
        if let Some(name) = s.out_name() {
            fwd.push(finite_check(name, false, quote!(ws.#yf)));
        }
    }

    // The input's gradient goes straight into `grads.input` when its only reader is
    // a dense layer's first step; otherwise through the scratch buffer `d0`.
    let input_direct = g.uses(0) == 1
        && g.steps.first().is_some_and(|s| {
            s.x == 0
                && s.field_layer()
                    .is_some_and(|l| matches!(l.kind, crate::ir::Kind::Dense { .. }))
        });
    // A value's gradient matters for training only when a layer with parameters lies
    // between the input and it; the others are computed only when the input's
    // gradient is asked for.
    let mut trained = vec![false; g.widths.len()];
    for s in &g.steps {
        trained[s.y] = has_params(s) || s.inputs().iter().any(|&v| trained[v]);
    }
    let asked = quote!(grads.input.is_some());
    let grad_dest = |trained: bool, d: &syn::Ident| {
        if trained {
            quote!(::core::option::Option::Some(&mut ws.#d))
        } else {
            quote!(if #asked { ::core::option::Option::Some(&mut ws.#d) } else { ::core::option::Option::None })
        }
    };
    let mut written = vec![false; g.widths.len()];
    let out_grad = dfield(g.grad_of(g.output));
    written[g.grad_of(g.output)] = true;
    let out_w = g.widths[g.output].tokens();
    let out_data = &at[g.output];
    let loss_check = finite_check("loss", true, quote!(ws.#out_grad));
    let out_seq = g.seqs[g.output];
    let loss_trait = if out_seq {
        quote!(#p::SeqLoss)
    } else {
        quote!(#p::loss::Loss)
    };
    let loss_line = quote! {
        let loss = #loss_trait::loss_and_grad(&#loss, #out_data, target, &mut ws.#out_grad)?;
        if ws.detect_anomaly {
            #p::diagnostics::check_finite("loss", #p::diagnostics::Pass::Forward, ::core::slice::from_ref(&loss))?;
        }
        #loss_check
    };
    let mut bwd = Vec::new();
    for s in g.steps.iter().rev() {
        let (yf, cf, xd) = (vfield(s.y), cfield(s.y), &at[s.x]);
        let dy = dfield(g.grad_of(s.y));
        let b = g.grad_of(s.x);
        let acc = written[b];
        written[b] = true;
        let (w, over, d) = (write(acc), write(false), dfield(b));
        let direct = s.x == 0 && input_direct;
        let dx = if direct {
            quote!(grads.input.as_mut())
        } else {
            grad_dest(trained[s.x], &d)
        };
        let (_, layer) = layer_of(g, s, &at);
        let grads = grads_of(s);
        bwd.push(quote! {
            #p::Layer::backward_with(&#layer, #xd, &ws.#yf, &mut ws.#cf, &mut ws.#dy, #grads, #over, #dx, #w, reducer);
        });
        if let Op::Fused { act_layer, .. } = &s.op {
            // `dy` now holds the gradient w.r.t. the pre-activation.
            bwd.push(finite_check(&act_layer.path, true, quote!(ws.#dy)));
        }
        if let Some(l) = s.field_layer() {
            if has_params(s) {
                bwd.push(grads_check(&l.path, &l.field));
            }
        }
        if !direct {
            if let Some(name) = s
                .field_layer()
                .map(|l| l.path.as_str())
                .or_else(|| s.out_name())
            {
                bwd.push(only_if(
                    !trained[s.x],
                    &asked,
                    finite_check(name, true, quote!(ws.#d)),
                ));
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
    let check_target = if out_seq {
        quote!(<#loss as #p::SeqLoss<T, #out_w>>::check_target(&#loss, x.steps(), x.rows(), target)?;)
    } else {
        quote!(<#loss as #p::loss::Loss<T, #out_w>>::check_target(&#loss, x.rows(), target)?;)
    };
    quote! {
        if x.is_empty() {
            return ::core::result::Result::Err(#p::Error::EmptyBatch);
        }
        x.check_finite()?;
        #check_target
        #(#fwd)*
        #loss_line
        ws.grads_finite = true;
        #(#bwd)*
        #copy_input
        ::core::result::Result::Ok(loss)
    }
}

/// Keeps what every field layer's training forward deferred (batch norm's running
/// statistics): what a training call does once it has succeeded.
pub(crate) fn commit(g: &Graph) -> TokenStream {
    let p = rt();
    let code = g.steps.iter().filter_map(|s| match &s.op {
        // A recurrent layer keeps nothing (its state is read from the cache).
        Op::Field(l) if matches!(l.kind, Kind::Recurrent(_)) => None,
        // Batch norm fused with its activation keeps batch norm's own cache.
        Op::Field(l)
        | Op::Fused {
            layer:
                l @ Layer {
                    kind: Kind::BatchNorm { .. },
                    ..
                },
            ..
        } => {
            let ty = emit(l).field.map(|(ty, _)| ty)?;
            let (f, c, x) = (&l.field, cfield(s.y), batch(&g.widths[s.x]));
            Some(quote!(<#ty as #p::Layer<T, #x>>::commit(&mut self.#f, &ws.#c);))
        }
        Op::Fused { .. } | Op::Act { .. } | Op::Sum { .. } => None,
    });
    quote!(#(#code)*)
}
