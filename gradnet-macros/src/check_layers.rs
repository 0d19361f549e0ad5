//! The checks of the layers with arguments: dense (widths, `in -> out`, init, bias),
//! the parameterized activations, prelu, batch norm, layer norm and dropout. Each
//! reads its arguments, reports what is wrong at its token, and returns the layer's
//! kind; widths and numbers only rustc can check become const assertions.

use crate::args::*;
use crate::check::Walker;
use crate::ir::*;
use crate::kinds::LayerCx;
use crate::parse::{Arg, LayerItem};
use proc_macro2::Span;
use quote::quote;
use syn::spanned::Spanned;
use syn::Expr;

impl Walker<'_> {
    pub(crate) fn act_with(
        &mut self,
        item: &LayerItem,
        kind: ActKind,
        params: &[(&str, f64)],
    ) -> Option<Kind> {
        let names: Vec<&str> = params.iter().map(|p| p.0).collect();
        let slots = self.bind(item, &names)?;
        let mut args = Vec::new();
        let mut ok = true;
        for (slot, (name, default)) in slots.iter().zip(params) {
            let n = match slot {
                Some(e) => expect_num(self.cx, e)?,
                None => Num::lit(*default),
            };
            let at = slot.map_or(item.word.span(), |e| e.span());
            ok &= match (kind, *name) {
                (ActKind::Softplus, "beta") => self.check(
                    &n,
                    at,
                    |b| b != 0.0 && b.is_finite(),
                    quote!(v != 0.0 && v > f64::NEG_INFINITY && v < f64::INFINITY),
                    "softplus needs a finite, nonzero beta",
                ),
                _ => check_finite_num(
                    self.cx,
                    &mut self.value_asserts,
                    &n,
                    at,
                    &format!("`{name}` of `{}`", item.word),
                ),
            };
            args.push(n);
        }
        if kind == ActKind::HardTanh && ok {
            check_pair(
                self.cx,
                &mut self.value_asserts,
                (&args[0], &args[1]),
                item.word.span(),
                |lo, hi| lo < hi,
                quote!(v < w),
                "hard_tanh needs min_val < max_val",
            );
        }
        Some(Kind::Act(Act {
            kind,
            args,
            span: item.word.span(),
            map: None,
        }))
    }

    pub(crate) fn dense(&mut self, cx: &LayerCx) -> Option<(Kind, Width)> {
        let (item, width) = (cx.item, cx.width);
        let span = item.word.span();
        // Pull out an `a -> b` argument before binding the rest.
        let mut arrow = None;
        if let Some(args) = &item.args {
            for arg in args {
                if let Arg::Arrow { from, to } = arg {
                    if arrow.is_some() {
                        self.cx
                            .error(arg.span(), "dense takes one `in -> out` pair");
                    } else {
                        arrow = Some((from, to));
                    }
                }
            }
        }
        let without_arrow = LayerItem {
            name: None,
            word: item.word.clone(),
            args: item.args.as_ref().map(|a| {
                a.iter()
                    .filter(|a| !matches!(a, Arg::Arrow { .. }))
                    .map(|a| match a {
                        Arg::Positional(e) => Arg::Positional(e.clone()),
                        Arg::Named { name, value } => Arg::Named {
                            name: name.clone(),
                            value: value.clone(),
                        },
                        Arg::Arrow { .. } => unreachable_arrow(),
                    })
                    .collect()
            }),
            args_span: item.args_span,
            block: None,
            map: None,
        };
        let params: &[&str] = if arrow.is_some() {
            &["init", "bias"]
        } else {
            &["out", "init", "bias"]
        };
        let slots = self.bind(&without_arrow, params)?;
        let (out, init, bias) = if arrow.is_some() {
            (None, slots[0], slots[1])
        } else {
            (slots[0], slots[1], slots[2])
        };
        let out = match (arrow, out) {
            (Some((from, to)), _) => {
                let from_w = expect_width(self.cx, from);
                if let Some(from_w) = from_w {
                    self.same_width(&from_w, width, from.span(), "dense");
                }
                expect_width(self.cx, to)
            }
            (None, Some(e)) => expect_width(self.cx, e),
            (None, None) => {
                self.cx.error(
                    item.args_span.unwrap_or(span),
                    "dense needs its output width: `dense(64)` or `dense(32 -> 64)`",
                );
                None
            }
        };
        let bias = match bias {
            Some(e) => expect_bool(self.cx, e)?,
            None => true,
        };
        let init = match init {
            Some(e) => Some(parse_init(self.cx, &mut self.value_asserts, e)?),
            None => None,
        };
        Some((
            Kind::Dense {
                bias,
                init: init.unwrap_or(InitSpec::Auto),
                residual_scale: None,
            },
            out?,
        ))
    }

    /// Reports a mismatch between a width the spec states and the width coming in:
    /// at once when both are literals, through a const assertion otherwise.
    pub(crate) fn same_width(&mut self, stated: &Width, incoming: &Width, span: Span, what: &str) {
        let msg = format!(
            "{what} expects {} inputs, but the layer before gives {}",
            stated.describe(),
            incoming.describe()
        );
        match (stated.known(), incoming.known()) {
            (Some(a), Some(b)) if a != b => self.cx.error(span, msg),
            (Some(_), Some(_)) => {}
            _ => self.asserts.push(WidthAssert {
                a: stated.clone(),
                b: incoming.clone(),
                span,
                msg,
            }),
        }
    }

    pub(crate) fn prelu(&mut self, cx: &LayerCx) -> Option<(Kind, Width)> {
        let (item, width) = (cx.item, cx.width);
        let slots = self.bind(item, &["num_parameters", "init"])?;
        let per_feature = match slots[0] {
            None => false,
            Some(e) => match expect_width(self.cx, e)? {
                Width::Lit(1, _) => false,
                Width::Lit(n, span) => {
                    if let Some(w) = width.known() {
                        if n != w {
                            self.cx.error(
                                span,
                                format!("prelu takes 1 or {w} parameters (the width coming in), found {n}"),
                            );
                            return None;
                        }
                    }
                    true
                }
                Width::Const(p) => {
                    let msg = format!(
                        "prelu takes 1 or {} parameters (the width coming in), found {}",
                        width.describe(),
                        quote!(#p).to_string().replace(' ', "")
                    );
                    self.asserts.push(WidthAssert {
                        a: Width::Const(p.clone()),
                        b: width.clone(),
                        span: e.span(),
                        msg,
                    });
                    true
                }
            },
        };
        let init = match slots[1] {
            Some(e) => expect_num(self.cx, e)?,
            None => Num::lit(0.25),
        };
        let at = slots[1].map_or(item.word.span(), |e| e.span());
        check_finite_num(
            self.cx,
            &mut self.value_asserts,
            &init,
            at,
            "the initial slope of `prelu`",
        )
        .then(|| (Kind::PRelu { per_feature, init }, width.clone()))
    }

    pub(crate) fn batch_norm(&mut self, cx: &LayerCx) -> Option<(Kind, Width)> {
        let item = cx.item;
        let slots = self.bind(item, &["momentum", "eps", "affine", "gamma"])?;
        let momentum = opt_num(self.cx, slots[0], 0.1)?;
        let eps = opt_num(self.cx, slots[1], 1e-5)?;
        let affine = match slots[2] {
            Some(e) => expect_bool(self.cx, e)?,
            None => true,
        };
        let gamma = self.gamma(slots[3], affine, "affine")?;
        let at = slots[0].map_or(item.word.span(), |e| e.span());
        self.check(
            &momentum,
            at,
            |m| (0.0..=1.0).contains(&m),
            quote!(v >= 0.0 && v <= 1.0),
            "momentum must be in [0, 1]",
        );
        self.positive_eps(&eps, slots[1], item)?;
        Some((
            Kind::BatchNorm {
                momentum,
                eps,
                affine,
                gamma,
                residual_scale: None,
            },
            cx.width.clone(),
        ))
    }

    pub(crate) fn layer_norm(&mut self, cx: &LayerCx) -> Option<(Kind, Width)> {
        let item = cx.item;
        let slots = self.bind(item, &["eps", "elementwise_affine", "gamma"])?;
        let eps = opt_num(self.cx, slots[0], 1e-5)?;
        let affine = match slots[1] {
            Some(e) => expect_bool(self.cx, e)?,
            None => true,
        };
        let gamma = self.gamma(slots[2], affine, "elementwise_affine")?;
        self.positive_eps(&eps, slots[0], item)?;
        Some((
            Kind::LayerNorm {
                eps,
                affine,
                gamma,
                residual_scale: None,
            },
            cx.width.clone(),
        ))
    }

    /// A normalization's `gamma = x` (its initial scale), which needs its affine
    /// parameters: `Some(None)` when not given, `None` after an error.
    fn gamma(&mut self, slot: Option<&Expr>, affine: bool, flag: &str) -> Option<Option<Num>> {
        let Some(e) = slot else {
            return Some(None);
        };
        let gamma = expect_num(self.cx, e)?;
        if !check_finite_num(
            self.cx,
            &mut self.value_asserts,
            &gamma,
            e.span(),
            "the initial scale `gamma`",
        ) {
            return None;
        }
        if !affine {
            self.cx.error(
                e.span(),
                format!("`gamma` sets the initial scale, which `{flag} = false` removes"),
            );
            return None;
        }
        Some(Some(gamma))
    }

    pub(crate) fn positive_eps(
        &mut self,
        eps: &Num,
        at: Option<&Expr>,
        item: &LayerItem,
    ) -> Option<()> {
        let at = at.map_or(item.word.span(), |e| e.span());
        self.check(
            eps,
            at,
            |e| e > 0.0 && e.is_finite(),
            quote!(v > 0.0 && v < f64::INFINITY),
            "eps must be positive and finite",
        )
        .then_some(())
    }

    /// [`check_num`] with this walk's error sink and assertions.
    pub(crate) fn check(
        &mut self,
        num: &Num,
        at: Span,
        ok: impl Fn(f64) -> bool,
        cond: proc_macro2::TokenStream,
        msg: &str,
    ) -> bool {
        check_num(self.cx, &mut self.value_asserts, num, at, ok, cond, msg)
    }

    pub(crate) fn dropout(&mut self, cx: &LayerCx) -> Option<(Kind, Width)> {
        let item = cx.item;
        let slots = self.bind(item, &["p"])?;
        let p = opt_num(self.cx, slots[0], 0.5)?;
        let at = slots[0].map_or(item.word.span(), |e| e.span());
        check_f64_num(
            self.cx,
            &mut self.value_asserts,
            &p,
            at,
            |v| (0.0..1.0).contains(&v),
            quote!(v >= 0.0 && v < 1.0),
            "dropout probability must be in [0, 1)",
        )
        .then(|| (Kind::Dropout { p }, cx.width.clone()))
    }
}

fn unreachable_arrow() -> Arg {
    // Filtered out just before; kept total so the macro never panics.
    Arg::Positional(syn::parse_quote!(0))
}
