//! The values inside a spec: widths, numbers, booleans, initializers, losses and
//! clipping, each read from its expression with a spanned error when it is not what
//! its place expects; and the helpers that word those errors ("did you mean").

use crate::ctxt::Ctxt;
use crate::ir::*;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, UnOp};

/// The number as the nearest `f32`, as an `f32` network would hold it.
pub(crate) fn as_f32(v: f64) -> f64 {
    v as f32 as f64
}

/// Checks a number against a rule: at once for a literal (an error at `at` naming the
/// value), through const assertions spanned at `at` for a named const. The rule must
/// also hold after conversion to the network's scalar type (an `eps` of `1e-50` is 0
/// in `f32`): a literal that passes in `f64` but fails in `f32`, and every named const,
/// get an assertion in the generic `new`. `cond` is the rule over `v: f64`. Returns
/// whether a literal passed (true for consts).
pub(crate) fn check_num(
    cx: &mut Ctxt,
    asserts: &mut Vec<ValueAssert>,
    num: &Num,
    at: Span,
    ok: impl Fn(f64) -> bool,
    cond: TokenStream,
    msg: &str,
) -> bool {
    check_values(cx, asserts, &[num], at, true, |v| ok(v[0]), cond, msg)
}

/// [`check_num`] for a setting kept as an `f64` whatever the scalar type (dropout's
/// probability): no check after conversion.
pub(crate) fn check_f64_num(
    cx: &mut Ctxt,
    asserts: &mut Vec<ValueAssert>,
    num: &Num,
    at: Span,
    ok: impl Fn(f64) -> bool,
    cond: TokenStream,
    msg: &str,
) -> bool {
    check_values(cx, asserts, &[num], at, false, |v| ok(v[0]), cond, msg)
}

/// [`check_num`] for a rule over two numbers (`v` and `w` in `cond`).
pub(crate) fn check_pair(
    cx: &mut Ctxt,
    asserts: &mut Vec<ValueAssert>,
    (a, b): (&Num, &Num),
    at: Span,
    ok: impl Fn(f64, f64) -> bool,
    cond: TokenStream,
    msg: &str,
) -> bool {
    check_values(
        cx,
        asserts,
        &[a, b],
        at,
        true,
        |v| ok(v[0], v[1]),
        cond,
        msg,
    )
}

#[allow(clippy::too_many_arguments)]
fn check_values(
    cx: &mut Ctxt,
    asserts: &mut Vec<ValueAssert>,
    nums: &[&Num],
    at: Span,
    scalar: bool,
    ok: impl Fn(&[f64]) -> bool,
    cond: TokenStream,
    msg: &str,
) -> bool {
    let known: Option<Vec<f64>> = nums.iter().map(|n| n.value).collect();
    let assert = |in_scalar| ValueAssert {
        values: nums.iter().map(|n| n.tokens.clone()).collect(),
        cond: cond.clone(),
        span: at,
        msg: msg.to_string(),
        in_scalar,
    };
    match known {
        Some(vs) if !ok(&vs) => {
            let found: Vec<String> = vs.iter().map(|v| format!("{v:?}")).collect();
            cx.error(at, format!("{msg}, found {}", found.join(" and ")));
            false
        }
        Some(vs) => {
            let in_f32: Vec<f64> = vs.iter().map(|&v| as_f32(v)).collect();
            if scalar && !ok(&in_f32) {
                asserts.push(assert(true));
            }
            true
        }
        None => {
            asserts.push(assert(false));
            if scalar {
                asserts.push(assert(true));
            }
            true
        }
    }
}

/// `check_num` with the rule every number of a spec obeys: finite.
pub(crate) fn check_finite_num(
    cx: &mut Ctxt,
    asserts: &mut Vec<ValueAssert>,
    num: &Num,
    at: Span,
    what: &str,
) -> bool {
    check_num(
        cx,
        asserts,
        num,
        at,
        f64::is_finite,
        quote!(v > f64::NEG_INFINITY && v < f64::INFINITY),
        &format!("{what} must be finite"),
    )
}

/// `crate`, `super`, `self` or `Self` alone: a path, but not to a const.
fn is_keyword_path(path: &syn::Path) -> bool {
    path.segments.len() == 1
        && matches!(
            path.segments[0].ident.to_string().as_str(),
            "crate" | "super" | "self" | "Self"
        )
}

/// A width: a positive integer literal or a path to a const.
pub(crate) fn expect_width(cx: &mut Ctxt, e: &Expr) -> Option<Width> {
    match e {
        Expr::Lit(l) => match &l.lit {
            Lit::Int(i) => match i.base10_parse::<usize>() {
                Ok(0) => {
                    cx.error(i.span(), "a width must be at least 1, found 0");
                    None
                }
                Ok(n) => Some(Width::Lit(n, i.span())),
                Err(err) => {
                    cx.push(err);
                    None
                }
            },
            other => {
                cx.error(
                    other.span(),
                    format!(
                        "expected a width (an integer or a named const), found `{}`",
                        quote!(#other)
                    ),
                );
                None
            }
        },
        Expr::Path(p) if p.qself.is_none() && !is_keyword_path(&p.path) => {
            Some(Width::Const(Box::new(Expr::Path(p.clone()))))
        }
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => {
            let inner = &u.expr;
            cx.error(
                u.span(),
                format!("a width must be at least 1, found -{}", quote!(#inner)),
            );
            None
        }
        Expr::Paren(p) => expect_width(cx, &p.expr),
        Expr::Group(g) => expect_width(cx, &g.expr),
        other => {
            cx.error(
                other.span(),
                format!(
                    "expected a width (an integer or a named const), found `{}`",
                    quote!(#other)
                ),
            );
            None
        }
    }
}

/// A number: a literal (maybe negative) or a path to a const, as an `f64` expression.
pub(crate) fn expect_num(cx: &mut Ctxt, e: &Expr) -> Option<Num> {
    match e {
        Expr::Lit(l) => {
            let v = match &l.lit {
                Lit::Float(f) => f.base10_parse::<f64>().ok(),
                Lit::Int(i) => i.base10_parse::<f64>().ok(),
                _ => None,
            };
            match v {
                Some(v) => Some(Num::lit(v)),
                None => {
                    let lit = &l.lit;
                    cx.error(
                        l.span(),
                        format!("expected a number, found `{}`", quote!(#lit)),
                    );
                    None
                }
            }
        }
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => {
            let inner = expect_num(cx, &u.expr)?;
            Some(Num {
                value: inner.value.map(|v| -v),
                tokens: {
                    let t = inner.tokens;
                    quote!(-(#t))
                },
            })
        }
        Expr::Path(p) if p.qself.is_none() && !is_keyword_path(&p.path) => {
            let path = &p.path;
            Some(Num {
                tokens: quote!((#path as f64)),
                value: None,
            })
        }
        Expr::Paren(p) => expect_num(cx, &p.expr),
        Expr::Group(g) => expect_num(cx, &g.expr),
        other => {
            cx.error(
                other.span(),
                format!("expected a number, found `{}`", quote!(#other)),
            );
            None
        }
    }
}

pub(crate) fn opt_num(cx: &mut Ctxt, e: Option<&Expr>, default: f64) -> Option<Num> {
    match e {
        Some(e) => expect_num(cx, e),
        None => Some(Num::lit(default)),
    }
}

pub(crate) fn expect_bool(cx: &mut Ctxt, e: &Expr) -> Option<bool> {
    match e {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(b), ..
        }) => Some(b.value),
        other => {
            cx.error(
                other.span(),
                format!("expected `true` or `false`, found `{}`", quote!(#other)),
            );
            None
        }
    }
}

/// `name` or `name(args)` as a word and its arguments.
pub(crate) fn call_parts(e: &Expr) -> Option<(&Ident, Vec<&Expr>)> {
    match e {
        Expr::Path(p) => p.path.get_ident().map(|i| (i, Vec::new())),
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => p.path.get_ident().map(|i| (i, c.args.iter().collect())),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn arity(
    cx: &mut Ctxt,
    word: &Ident,
    args: &[&Expr],
    min: usize,
    max: usize,
) -> Option<()> {
    if args.len() < min || args.len() > max {
        // Too many: at the first extra argument; too few: at the word.
        let at = args.get(max).map_or(word.span(), |a| a.span());
        cx.error(at, count_msg(word, min, max, args.len()));
        return None;
    }
    Some(())
}

/// "`normal` takes 1 or 2 arguments, found 0".
pub(crate) fn count_msg(word: &Ident, min: usize, max: usize, found: usize) -> String {
    let s = |n: usize| if n == 1 { "" } else { "s" };
    let expected = match (min, max) {
        (0, 0) => "no arguments".to_string(),
        (0, m) => format!("at most {m} argument{}", s(m)),
        (a, b) if a == b => format!("{a} argument{}", s(a)),
        (a, b) if a + 1 == b => format!("{a} or {b} arguments"),
        (a, b) => format!("{a} to {b} arguments"),
    };
    format!("`{word}` takes {expected}, found {found}")
}

/// "unknown loss `mean_squared`; expected one of: mse, ..." or, when a known word is
/// one or two edits away, "unknown loss `mes`; did you mean `mse`?".
pub(crate) fn unknown(what: &str, word: &str, known: &str) -> String {
    match did_you_mean(word, known.split(',').map(str::trim)) {
        Some(k) => format!("unknown {what} `{word}`; did you mean `{k}`?"),
        None => format!("unknown {what} `{word}`; expected one of: {known}"),
    }
}

/// The known word closest to `word`, if it is at most two edits away.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    known: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, k)| *d <= 2 && *d < k.len().min(word.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, for "did you mean" suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

pub(crate) fn is_layer_word(word: &str) -> bool {
    crate::kinds::lookup(word).is_some()
}

/// The width after a mistake (a missing input, a failed dense layer): a placeholder
/// that compares with nothing, so no follow-on errors. Never reaches the generated
/// code, because a spec with errors is not expanded.
pub(crate) fn unknown_width() -> Width {
    Width::Const(Box::new(syn::parse_quote!(__gradnet_unknown_width)))
}

/// Who has a field name: a written layer name (where) or an unnamed layer (its path).
pub(crate) enum Taken {
    Named(Span),
    Auto(String),
}

pub(crate) const INIT_WORDS: &str = "he_normal, he_uniform, kaiming_normal, kaiming_uniform, glorot_normal, \
    glorot_uniform, xavier_normal, xavier_uniform, lecun_normal, orthogonal, normal, uniform, zeros, \
    ones, constant";

pub(crate) fn parse_init(
    cx: &mut Ctxt,
    asserts: &mut Vec<ValueAssert>,
    e: &Expr,
) -> Option<InitSpec> {
    let Some((word, args)) = call_parts(e) else {
        cx.error(
            e.span(),
            format!("expected an initializer, one of: {INIT_WORDS}"),
        );
        return None;
    };
    let name = word.to_string();
    // Every number finite (also in the network's scalar type).
    let nums =
        |cx: &mut Ctxt, asserts: &mut Vec<ValueAssert>, args: &[&Expr]| -> Option<Vec<Num>> {
            let nums: Vec<Option<Num>> = args.iter().map(|a| expect_num(cx, a)).collect();
            let mut ok = true;
            for (n, a) in nums.iter().zip(args) {
                if let Some(n) = n {
                    ok &= check_finite_num(
                        cx,
                        asserts,
                        n,
                        a.span(),
                        &format!("an argument of `{word}`"),
                    );
                }
            }
            let nums: Option<Vec<Num>> = nums.into_iter().collect();
            nums.filter(|_| ok)
        };
    Some(match name.as_str() {
        "he_normal" | "he_uniform" | "kaiming_normal" | "kaiming_uniform" => {
            arity(cx, word, &args, 0, 1)?;
            let fan_out = match args.first() {
                None => false,
                Some(a) => match call_parts(a).map(|(w, _)| w.to_string()).as_deref() {
                    Some("fan_in") => false,
                    Some("fan_out") => true,
                    _ => {
                        cx.error(
                            a.span(),
                            format!("expected `fan_in` or `fan_out`, found `{}`", quote!(#a)),
                        );
                        return None;
                    }
                },
            };
            InitSpec::He {
                uniform: name.ends_with("uniform"),
                fan_out,
                nonlinearity: Nonlinearity::Auto,
            }
        }
        "glorot_normal" | "glorot_uniform" | "xavier_normal" | "xavier_uniform" => {
            arity(cx, word, &args, 0, 1)?;
            let gain = nums(cx, asserts, &args)?.pop().unwrap_or(Num::lit(1.0));
            InitSpec::Glorot {
                uniform: name.ends_with("uniform"),
                gain,
            }
        }
        "lecun_normal" => {
            arity(cx, word, &args, 0, 0)?;
            InitSpec::LecunNormal
        }
        "orthogonal" => {
            arity(cx, word, &args, 0, 1)?;
            InitSpec::Orthogonal {
                gain: nums(cx, asserts, &args)?.pop().unwrap_or(Num::lit(1.0)),
            }
        }
        "normal" => {
            arity(cx, word, &args, 1, 2)?;
            let mut n = nums(cx, asserts, &args)?;
            let std = n.pop()?;
            check_num(
                cx,
                asserts,
                &std,
                args[args.len() - 1].span(),
                |s| s >= 0.0,
                quote!(v >= 0.0),
                "a standard deviation must not be negative",
            );
            InitSpec::Normal {
                mean: n.pop().unwrap_or(Num::lit(0.0)),
                std,
            }
        }
        "uniform" => {
            arity(cx, word, &args, 2, 2)?;
            let mut n = nums(cx, asserts, &args)?;
            let b = n.pop()?;
            let a = n.pop()?;
            check_pair(
                cx,
                asserts,
                (&a, &b),
                e.span(),
                |x, y| x <= y,
                quote!(v <= w),
                "uniform(a, b) needs a <= b",
            );
            InitSpec::Uniform { a, b }
        }
        "zeros" => {
            arity(cx, word, &args, 0, 0)?;
            InitSpec::Constant(Num::lit(0.0))
        }
        "ones" => {
            arity(cx, word, &args, 0, 0)?;
            InitSpec::Constant(Num::lit(1.0))
        }
        "constant" => {
            arity(cx, word, &args, 1, 1)?;
            InitSpec::Constant(nums(cx, asserts, &args)?.pop()?)
        }
        _ => {
            cx.error(word.span(), unknown("initializer", &name, INIT_WORDS));
            return None;
        }
    })
}

pub(crate) fn parse_loss(cx: &mut Ctxt, e: &Expr) -> Option<Loss> {
    let word = match e {
        Expr::Path(p) => p.path.get_ident(),
        _ => None,
    };
    match word.map(|w| w.to_string()).as_deref() {
        Some("mse") => Some(Loss::Mse),
        Some("cross_entropy" | "softmax_cross_entropy") => Some(Loss::CrossEntropy),
        Some("bce_with_logits" | "binary_cross_entropy_with_logits") => Some(Loss::BceWithLogits),
        _ => {
            cx.error(
                e.span(),
                unknown(
                    "loss",
                    &quote!(#e).to_string(),
                    "mse, cross_entropy, bce_with_logits",
                ),
            );
            None
        }
    }
}

pub(crate) fn parse_clip(cx: &mut Ctxt, asserts: &mut Vec<ValueAssert>, e: &Expr) -> Option<Clip> {
    let Some((word, args)) = call_parts(e) else {
        cx.error(e.span(), "expected `norm(max_norm)` or `value(clip_value)`");
        return None;
    };
    let make: fn(Num) -> Clip = match word.to_string().as_str() {
        "norm" => Clip::Norm,
        "value" => Clip::Value,
        other => {
            let msg = match did_you_mean(other, ["norm", "value"].into_iter()) {
                Some(k) => format!("unknown clipping `{other}`; did you mean `{k}`?"),
                None => format!(
                    "unknown clipping `{other}`; expected `norm(max_norm)` or `value(clip_value)`"
                ),
            };
            cx.error(word.span(), msg);
            return None;
        }
    };
    arity(cx, word, &args, 1, 1)?;
    let n = expect_num(cx, args[0])?;
    check_num(
        cx,
        asserts,
        &n,
        args[0].span(),
        |v| v > 0.0 && v.is_finite(),
        quote!(v > 0.0 && v < f64::INFINITY),
        "a clipping threshold must be positive and finite",
    )
    .then(|| make(n))
}

pub(crate) fn check_loss_fits(cx: &mut Ctxt, loss: Loss, output: &Width, span: Span) {
    match (loss, output.known()) {
        (Loss::BceWithLogits, Some(w)) if w != 1 => cx.error(
            span,
            format!("bce_with_logits needs an output of width 1, but the network gives {w}"),
        ),
        (Loss::CrossEntropy, Some(1)) => cx.error(
            span,
            "cross_entropy needs at least 2 classes, but the network gives 1; use bce_with_logits",
        ),
        _ => {}
    }
}
