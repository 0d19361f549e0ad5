//! The check of the recurrent words, `rnn(H)`, `lstm(H)` and `gru(H)`: their
//! arguments, and what flows in and out. A recurrent layer reads a sequence (the
//! input `seq(N)`, or a recurrent layer before it with `sequence`); it gives its final
//! state (a batch) or, with `sequence`, every step.
//!
//! ```text
//! rnn(H), rnn(H, relu), lstm(IN -> H), gru(H, bidirectional, sequence)
//! options: bias = false, nonlinearity = tanh | relu (rnn), init = uniform | orthogonal,
//!          forget_bias_one (lstm), bidirectional, sequence (flags, or `= true/false`)
//! ```

use crate::args::*;
use crate::check::{Flow, Walker};
use crate::ir::*;
use crate::kinds::LayerCx;
use crate::parse::Arg;
use syn::spanned::Spanned;
use syn::Expr;

/// The flags a word takes bare (`bidirectional`) or as `name = bool`.
fn flags(cell: Cell) -> &'static [&'static str] {
    match cell {
        Cell::Lstm => &["bidirectional", "sequence", "forget_bias_one"],
        Cell::Rnn { .. } | Cell::Gru => &["bidirectional", "sequence"],
    }
}

/// The named options of a word.
fn options(cell: Cell) -> &'static [&'static str] {
    match cell {
        Cell::Rnn { .. } => &[
            "hidden_size",
            "nonlinearity",
            "bias",
            "init",
            "bidirectional",
            "sequence",
        ],
        Cell::Lstm => &[
            "hidden_size",
            "bias",
            "init",
            "bidirectional",
            "sequence",
            "forget_bias_one",
        ],
        Cell::Gru => &["hidden_size", "bias", "init", "bidirectional", "sequence"],
    }
}

/// The word of a cell, for the messages.
fn cell_word(cell: Cell) -> &'static str {
    match cell {
        Cell::Rnn { .. } => "rnn",
        Cell::Lstm => "lstm",
        Cell::Gru => "gru",
    }
}

/// The message for a flag or option of another cell, given to `cell`.
fn elsewhere(cell: Cell, name: &str) -> Option<String> {
    let word = cell_word(cell);
    match (cell, name) {
        (Cell::Rnn { .. } | Cell::Gru, "forget_bias_one") => Some(format!(
            "`{word}` has no `forget_bias_one`: only `lstm` has a forget gate"
        )),
        (Cell::Lstm | Cell::Gru, "tanh" | "relu" | "nonlinearity") => Some(format!(
            "`{word}` takes no nonlinearity: only `rnn` does (`rnn(64, relu)`)"
        )),
        _ => None,
    }
}

/// The flag (or, for `rnn`, the nonlinearity) a lowercase `word` is a misspelling
/// of, if it is close to one. An uppercase word is taken for a named const.
fn misspelled_flag(cell: Cell, word: &str) -> Option<&'static str> {
    if !word.starts_with(|c: char| c.is_ascii_lowercase()) {
        return None;
    }
    let rnn: &[&'static str] = match cell {
        Cell::Rnn { .. } => &["tanh", "relu"],
        _ => &[],
    };
    did_you_mean(word, flags(cell).iter().chain(rnn).copied())
}

/// An integer literal or a path that is not a lowercase word: what a second width
/// looks like.
fn looks_like_width(e: &Expr) -> bool {
    match e {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(_),
            ..
        }) => true,
        Expr::Path(p) => p.path.segments.last().is_some_and(|s| {
            !s.ident
                .to_string()
                .starts_with(|c: char| c.is_ascii_lowercase())
        }),
        _ => false,
    }
}

/// A bare one-segment identifier, as a string.
fn bare_word(e: &Expr) -> Option<String> {
    match e {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(|i| i.to_string()),
        _ => None,
    }
}

impl Walker<'_> {
    pub(crate) fn recurrent(&mut self, cx: &LayerCx, mut cell: Cell) -> Option<(Kind, Width)> {
        let (item, width) = (cx.item, cx.width);
        let word = item.word.to_string();
        let span = item.word.span();
        match &self.flow {
            Flow::Seq => {}
            Flow::Batch => {
                self.cx.error(
                    span,
                    format!(
                        "`{word}` reads a sequence, but it is given a batch: make the input a sequence, `input: seq({})`",
                        self.input.describe()
                    ),
                );
                return None;
            }
            Flow::LastState { path, word: before } => {
                let msg = format!(
                    "`{word}` reads a sequence, but layer `{path}` ({before}) before it returns only its last state; give it `sequence` to stack recurrent layers: `{before}(.., sequence)`"
                );
                self.cx.error(span, msg);
                return None;
            }
        }
        let mut r = Recurrent {
            cell,
            hidden: unknown_width(),
            bias: true,
            bidirectional: false,
            sequence: false,
            orthogonal: false,
            forget_bias_one: false,
        };
        let mut hidden: Option<Width> = None;
        let mut ok = true;
        let mut seen: Vec<String> = Vec::new();
        // The width came as `IN -> H`.
        let mut arrow = false;
        let args: Vec<&Arg> = item.args.iter().flatten().collect();
        for arg in args {
            let (name, value): (String, Option<&Expr>) = match arg {
                Arg::Arrow { from, to } => {
                    if hidden.is_some() {
                        self.cx
                            .error(arg.span(), format!("`{word}` takes one width"));
                        ok = false;
                        continue;
                    }
                    if let Some(from_w) = expect_width(self.cx, from) {
                        self.same_width(&from_w, width, from.span(), &word);
                    }
                    hidden = expect_width(self.cx, to);
                    ok &= hidden.is_some();
                    arrow = true;
                    seen.push("hidden_size".into());
                    continue;
                }
                Arg::Positional(e) => match bare_word(e) {
                    Some(w) if flags(cell).contains(&w.as_str()) => (w, None),
                    Some(w) if matches!(cell, Cell::Rnn { .. }) && (w == "tanh" || w == "relu") => {
                        ("nonlinearity".into(), Some(e))
                    }
                    Some(w) if elsewhere(cell, &w).is_some() => {
                        let msg = elsewhere(cell, &w).unwrap_or_default();
                        self.cx.error(e.span(), msg);
                        ok = false;
                        continue;
                    }
                    // A lowercase word next to a flag is a misspelled flag, not a const.
                    Some(w) if misspelled_flag(cell, &w).is_some() => {
                        let p = misspelled_flag(cell, &w).unwrap_or_default();
                        self.cx.error(
                            e.span(),
                            format!("unknown flag `{w}` for `{word}`; did you mean `{p}`?"),
                        );
                        ok = false;
                        continue;
                    }
                    _ if hidden.is_none() => ("hidden_size".into(), Some(e)),
                    _ => {
                        let msg = match (&hidden, looks_like_width(e)) {
                            (Some(h), true) if !arrow => format!(
                                "`{word}` takes one width, its hidden size; to state the width coming in too, write `{word}({} -> {})`",
                                h.describe(),
                                quote::quote!(#e)
                            ),
                            (_, true) => format!("`{word}` takes one width"),
                            _ => {
                                let mut allowed = flags(cell).join(", ");
                                if matches!(cell, Cell::Rnn { .. }) {
                                    allowed.push_str(", tanh, relu");
                                }
                                format!("unexpected argument to `{word}` after its width; expected one of: {allowed}, or a named option")
                            }
                        };
                        self.cx.error(e.span(), msg);
                        ok = false;
                        continue;
                    }
                },
                Arg::Named { name, value } => (name.to_string(), Some(value)),
            };
            let at = match (arg, value) {
                (Arg::Named { name, .. }, _) => name.span(),
                (_, Some(v)) => v.span(),
                _ => arg.span(),
            };
            if seen.contains(&name) {
                self.cx.error(at, format!("`{name}` is given twice"));
                ok = false;
                continue;
            }
            if !options(cell).contains(&name.as_str()) {
                let msg = match elsewhere(cell, &name) {
                    Some(msg) => msg,
                    None => match did_you_mean(&name, options(cell).iter().copied()) {
                        Some(p) => {
                            format!("unknown option `{name}` for `{word}`; did you mean `{p}`?")
                        }
                        None => format!(
                            "unknown option `{name}` for `{word}`; expected one of: {}",
                            options(cell).join(", ")
                        ),
                    },
                };
                self.cx.error(at, msg);
                ok = false;
                continue;
            }
            seen.push(name.clone());
            let flag = |w: &mut Walker<'_>| match value {
                None => Some(true),
                Some(e) => expect_bool(w.cx, e),
            };
            match name.as_str() {
                "hidden_size" => {
                    hidden = value.and_then(|e| expect_width(self.cx, e));
                    ok &= hidden.is_some();
                }
                "nonlinearity" => match value.and_then(bare_word).as_deref() {
                    Some("tanh") => cell = Cell::Rnn { relu: false },
                    Some("relu") => cell = Cell::Rnn { relu: true },
                    _ => {
                        self.cx
                            .error(at, "the nonlinearity of `rnn` is `tanh` or `relu`");
                        ok = false;
                    }
                },
                "init" => match value.and_then(bare_word).as_deref() {
                    Some("uniform") => r.orthogonal = false,
                    Some("orthogonal") => r.orthogonal = true,
                    _ => {
                        self.cx.error(
                            at,
                            format!("the `init` of `{word}` is `uniform` (PyTorch's, the default) or `orthogonal` (the recurrent weights)"),
                        );
                        ok = false;
                    }
                },
                _ => match flag(self) {
                    Some(v) => match name.as_str() {
                        "bias" => r.bias = v,
                        "bidirectional" => r.bidirectional = v,
                        "sequence" => r.sequence = v,
                        _ => r.forget_bias_one = v,
                    },
                    None => ok = false,
                },
            }
        }
        if r.forget_bias_one && !r.bias {
            self.cx.error(
                span,
                "`forget_bias_one` sets a bias: it needs `bias = true`",
            );
            ok = false;
        }
        let Some(hidden) = hidden else {
            if ok {
                self.cx.error(
                    item.args_span.unwrap_or(span),
                    format!("`{word}` needs its hidden width: `{word}(64)` or `{word}(32 -> 64)`"),
                );
            }
            return None;
        };
        if !ok {
            return None;
        }
        r.cell = cell;
        r.hidden = hidden.clone();
        let out = if r.bidirectional {
            match &hidden {
                Width::Lit(n, s) => match n.checked_mul(2) {
                    Some(two_n) => Width::Lit(two_n, *s),
                    None => {
                        self.cx.error(
                            *s,
                            format!("a bidirectional layer gives twice its width, and 2 x {n} overflows"),
                        );
                        return None;
                    }
                },
                Width::Const(e) => Width::Const(Box::new(syn::parse_quote!(2 * #e))),
            }
        } else {
            hidden
        };
        self.flow = if r.sequence {
            Flow::Seq
        } else {
            Flow::LastState {
                path: cx.path.to_string(),
                word: word.clone(),
            }
        };
        Some((Kind::Recurrent(r), out))
    }
}
