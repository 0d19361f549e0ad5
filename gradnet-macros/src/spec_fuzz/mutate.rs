//! Invalid specs made from valid ones by mutating their token trees (numbers
//! replaced by zero, negatives, out-of-range and non-finite literals, wrong types;
//! words misspelled, unknown or swapped; arguments and items added, removed,
//! duplicated, renamed and reordered; blocks emptied or nested deep; stray tokens),
//! and token soup from the grammar's vocabulary.

use super::tape::Tape;
use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// A token tree as text: a leaf is one token (`->` and `::` are one leaf) or, when
/// inserted by a mutation, a snippet of several.
#[derive(Clone)]
pub(crate) enum Tt {
    Leaf(String),
    Group(Delimiter, Vec<Tt>),
}

/// The tree of tokenizable text.
pub(crate) fn tree(ts: TokenStream) -> Vec<Tt> {
    let mut out: Vec<Tt> = Vec::new();
    let mut joint = false;
    for tt in ts {
        let glue = std::mem::take(&mut joint);
        match tt {
            TokenTree::Group(g) => out.push(Tt::Group(g.delimiter(), tree(g.stream()))),
            TokenTree::Punct(p) => {
                joint = p.spacing() == Spacing::Joint;
                push(&mut out, p.as_char().to_string(), glue);
            }
            TokenTree::Ident(i) => push(&mut out, i.to_string(), glue),
            TokenTree::Literal(l) => push(&mut out, l.to_string(), glue),
        }
    }
    out
}

/// Appends a token, glued to the previous one when that was a joint punctuation.
fn push(out: &mut Vec<Tt>, s: String, glue: bool) {
    if glue {
        if let Some(Tt::Leaf(prev)) = out.last_mut() {
            prev.push_str(&s);
            return;
        }
    }
    out.push(Tt::Leaf(s));
}

pub(crate) fn render(tts: &[Tt]) -> String {
    let mut s = String::new();
    render_into(tts, &mut s);
    s
}

fn render_into(tts: &[Tt], s: &mut String) {
    for (i, tt) in tts.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        match tt {
            Tt::Leaf(l) => s.push_str(l),
            Tt::Group(d, inner) => {
                let (open, close) = match d {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{ ", " }"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                s.push_str(open);
                render_into(inner, s);
                s.push_str(close);
            }
        }
    }
}

/// What the macro's vocabulary is made of, for replacements, insertions and soup.
const WORDS: &[&str] = &[
    "dense",
    "relu",
    "identity",
    "none",
    "sigmoid",
    "tanh",
    "selu",
    "gelu",
    "gelu_tanh",
    "silu",
    "swish",
    "leaky_relu",
    "elu",
    "softplus",
    "hard_tanh",
    "prelu",
    "batch_norm",
    "layer_norm",
    "dropout",
    "residual",
    "repeat",
    "rnn",
    "lstm",
    "gru",
    "seq",
    "bidirectional",
    "sequence",
    "forget_bias_one",
    "nonlinearity",
    "hidden_size",
    "input",
    "loss",
    "clip",
    "norm",
    "value",
    "mse",
    "cross_entropy",
    "bce_with_logits",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "glorot_uniform",
    "xavier_normal",
    "lecun_normal",
    "orthogonal",
    "normal",
    "uniform",
    "zeros",
    "ones",
    "constant",
    "fan_in",
    "fan_out",
    "out",
    "init",
    "bias",
    "negative_slope",
    "alpha",
    "beta",
    "threshold",
    "min_val",
    "max_val",
    "num_parameters",
    "momentum",
    "eps",
    "affine",
    "elementwise_affine",
    "p",
    "times",
    "struct",
    "pub",
    "crate",
    "super",
    "in",
    "true",
    "false",
    "Net",
    "HIDDEN",
    "foo",
    "self",
    "Self",
    "r#type",
    "_",
    "type",
    "fn",
    "l0",
    "l1",
    "l2_0",
];

/// Words the grammar does not know, and keywords.
const ALIENS: &[&str] = &[
    "conv2d",
    "transformer",
    "softmax",
    "maxpool",
    "Dense",
    "RELU",
    "linear",
    "attention",
    "flatten",
    "fn",
    "type",
    "self",
    "Self",
    "super",
    "crate",
    "_",
    "struct",
    "pub",
    "in",
    "mut",
    "r#type",
    "r#dense",
    "dyn",
    "async",
    "\"relu\"",
    "1",
];

/// Replacements for a number. The last ones are large counts that the macro accepts
/// and writes out (not used for `repeat` counts: see the module doc of `spec_fuzz`).
const NUMBERS: &[&str] = &[
    "0",
    "00",
    "-1",
    "-0",
    "-0.0",
    "0.0",
    "1e400",
    "-1e400",
    "1e-400",
    "1e308",
    "5e-324",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1.5",
    "0.5",
    "2",
    "1",
    "\"8\"",
    "true",
    "false",
    "'x'",
    "b'x'",
    "NAN",
    "f64::NAN",
    "f64::INFINITY",
    "usize::MAX",
    "(8)",
    "(-1)",
    "-(1)",
    "!1",
    "1 + 1",
    "[8]",
    "8u8",
    "8i32",
    "8.0",
    "1e5",
    "0b0",
    "0x0",
    "--1",
    "- -1.0",
    "1.0e400f64",
    "0e0",
    "-1e-400",
    "((((((((((((((((8))))))))))))))))",
    "8usize",
    "4294967296",
    "18446744073709551615",
    "1_000_000_000",
];

/// How many of `NUMBERS`, from the end, are large counts.
const LARGE_COUNTS: usize = 3;

/// Stray tokens and snippets to insert.
const STRAYS: &[&str] = &[
    ",",
    ";",
    ":",
    "::",
    "->",
    "=",
    "==",
    "=>",
    "-",
    ">",
    "<",
    "#",
    "!",
    "?",
    "@",
    "..",
    ".",
    "*",
    "&",
    "'a",
    "()",
    "[]",
    "{}",
    "(,)",
    "{ , }",
    "#[doc = \"x\"]",
    "input: 4",
    "loss: mse",
    "clip: norm(1.0)",
    "struct",
    "pub",
    "relu",
    "dense(4)",
    "residual",
    "repeat(2)",
    "x = 1",
    "1",
    "\"s\"",
    "( ( ) )",
    "4 -> 4",
    "dense(4 -> )",
    "residual { , }",
    "/// doc",
    "pub(crate)",
    "r#relu",
    "_:",
    "Net { }",
];

/// Arguments to add.
const ARGS: &[&str] = &[
    "3",
    "foo = 1",
    "init = zeros",
    "bias = false",
    "p = 0.5",
    "eps = 1e-5",
    "8 -> 8",
    "true",
    "he_normal",
    "momentum = 0.1",
    "out = 4",
    "times = 2",
    "num_parameters = 1",
    "init = 0.25",
    "alpha = 1.0",
    "-0.0",
    "1e400",
];

/// Misspells a word: a letter dropped, doubled or swapped, a case changed, a suffix.
fn misspell(t: &mut Tape, w: &str) -> String {
    let chars: Vec<char> = w.chars().collect();
    if chars.is_empty() {
        return "x".into();
    }
    let i = t.below(chars.len());
    let mut c = chars.clone();
    match t.below(5) {
        0 => {
            c.remove(i);
        }
        1 => c.insert(i, chars[i]),
        2 if i + 1 < c.len() => c.swap(i, i + 1),
        3 => c[i] = c[i].to_ascii_uppercase(),
        _ => c.push('s'),
    }
    let s: String = c.into_iter().collect();
    if s.is_empty() {
        "x".into()
    } else {
        s
    }
}

/// The groups and leaves of a tree in pre-order, as paths of child indices.
fn paths(
    tts: &[Tt],
    prefix: &mut Vec<usize>,
    groups: &mut Vec<Vec<usize>>,
    leaves: &mut Vec<Vec<usize>>,
) {
    for (i, tt) in tts.iter().enumerate() {
        prefix.push(i);
        match tt {
            Tt::Leaf(_) => leaves.push(prefix.clone()),
            Tt::Group(_, inner) => {
                groups.push(prefix.clone());
                paths(inner, prefix, groups, leaves);
            }
        }
        prefix.pop();
    }
}

/// The node at `path`.
fn node<'a>(root: &'a [Tt], path: &[usize]) -> &'a Tt {
    let (last, init) = path.split_last().expect("paths are never empty");
    let mut list = root;
    for &i in init {
        list = match &list[i] {
            Tt::Group(_, inner) => inner,
            Tt::Leaf(_) => unreachable!("a path only goes through groups"),
        };
    }
    &list[*last]
}

/// The list holding the node at `path`, and the node's index in it.
fn parent<'a>(root: &'a mut Vec<Tt>, path: &[usize]) -> (&'a mut Vec<Tt>, usize) {
    let (last, init) = path.split_last().expect("paths are never empty");
    let mut list = root;
    for &i in init {
        list = match &mut list[i] {
            Tt::Group(_, inner) => inner,
            Tt::Leaf(_) => unreachable!("a path only goes through groups"),
        };
    }
    (list, *last)
}

fn children<'a>(root: &'a mut Vec<Tt>, path: &[usize]) -> &'a mut Vec<Tt> {
    let (list, i) = parent(root, path);
    match &mut list[i] {
        Tt::Group(_, inner) => inner,
        Tt::Leaf(_) => unreachable!("a group path names a group"),
    }
}

/// Whether the leaf at `path` is a `repeat` count: inside the parentheses after
/// `repeat`.
fn is_repeat_count(root: &[Tt], path: &[usize]) -> bool {
    let Some((_, group_path)) = path.split_last() else {
        return false;
    };
    let Some((&g, outer)) = group_path.split_last() else {
        return false;
    };
    let mut list = root;
    for &i in outer {
        match &list[i] {
            Tt::Group(_, inner) => list = inner,
            Tt::Leaf(_) => return false,
        }
    }
    g > 0 && matches!(&list[g - 1], Tt::Leaf(w) if w == "repeat")
}

/// The comma-separated segments of a list, as index ranges.
fn segments(list: &[Tt]) -> Vec<(usize, usize)> {
    let mut segs = Vec::new();
    let mut start = 0;
    for (i, tt) in list.iter().enumerate() {
        if matches!(tt, Tt::Leaf(l) if l == ",") {
            segs.push((start, i));
            start = i + 1;
        }
    }
    if start < list.len() {
        segs.push((start, list.len()));
    }
    segs
}

fn leaf(s: &str) -> Tt {
    Tt::Leaf(s.to_string())
}

/// Applies one random mutation.
pub(crate) fn mutate(t: &mut Tape, root: &mut Vec<Tt>) {
    let (mut groups, mut leaves) = (Vec::new(), Vec::new());
    paths(root, &mut Vec::new(), &mut groups, &mut leaves);
    match t.weighted(&[20, 15, 8, 8, 25, 8, 4]) {
        0 => {
            // A number replaced.
            let nums: Vec<&Vec<usize>> = leaves
                .iter()
                .filter(|p| matches!(node(root, p), Tt::Leaf(l) if l.starts_with(|c: char| c.is_ascii_digit())))
                .collect();
            if nums.is_empty() {
                return;
            }
            let p = t.pick(&nums).clone();
            let pool = match is_repeat_count(root, &p) {
                true => &NUMBERS[..NUMBERS.len() - LARGE_COUNTS],
                false => NUMBERS,
            };
            let new = t.pick(pool).to_string();
            let (list, i) = parent(root, &p);
            list[i] = Tt::Leaf(new);
        }
        1 => {
            // A word misspelled, replaced by an unknown one or by another of the grammar.
            let words: Vec<&Vec<usize>> = leaves
                .iter()
                .filter(|p| matches!(node(root, p), Tt::Leaf(l) if l.starts_with(|c: char| c.is_alphabetic() || c == '_')))
                .collect();
            if words.is_empty() {
                return;
            }
            let p = (t.pick(&words)).clone();
            let (list, i) = parent(root, &p);
            let Tt::Leaf(old) = &list[i] else { return };
            let new = match t.below(3) {
                0 => misspell(t, old),
                1 => t.pick(ALIENS).to_string(),
                _ => t.pick(WORDS).to_string(),
            };
            list[i] = Tt::Leaf(new);
        }
        2 => {
            // A token deleted.
            if leaves.is_empty() {
                return;
            }
            let p = t.pick_ref(&leaves).clone();
            let (list, i) = parent(root, &p);
            list.remove(i);
        }
        3 => {
            // A stray token inserted.
            let p = match groups.is_empty() || t.chance(20) {
                true => Vec::new(),
                false => t.pick_ref(&groups).clone(),
            };
            let list = if p.is_empty() {
                &mut *root
            } else {
                children(root, &p)
            };
            let at = t.below(list.len() + 1);
            list.insert(at, leaf(t.pick(STRAYS)));
        }
        4 => {
            // Arguments or items: removed, duplicated, swapped, moved last, added,
            // renamed; or the group emptied.
            if groups.is_empty() {
                return;
            }
            let p = t.pick_ref(&groups).clone();
            let list = children(root, &p);
            let segs = segments(list);
            let op = t.below(7);
            if segs.is_empty() || op == 6 {
                match t.chance(50) {
                    true => list.clear(),
                    false => list.push(leaf(t.pick(ARGS))),
                }
                return;
            }
            let (a, b) = t.pick(&segs);
            let seg: Vec<Tt> = list[a..b].to_vec();
            match op {
                0 => {
                    list.drain(a..(b + 1).min(list.len()));
                }
                1 => {
                    let at = t.below(list.len() + 1);
                    let mut copy = seg;
                    copy.push(leaf(","));
                    list.splice(at..at, copy);
                }
                2 => {
                    let (c, d) = t.pick(&segs);
                    if (c, d) != (a, b) {
                        let other: Vec<Tt> = list[c..d].to_vec();
                        let (first, second) = if a < c {
                            ((a, b), (c, d))
                        } else {
                            ((c, d), (a, b))
                        };
                        let (fv, sv) = if a < c { (seg, other) } else { (other, seg) };
                        list.splice(second.0..second.1, fv);
                        list.splice(first.0..first.1, sv);
                    }
                }
                3 => {
                    list.drain(a..(b + 1).min(list.len()));
                    if !matches!(list.last(), Some(Tt::Leaf(l)) if l == ",") && !list.is_empty() {
                        list.push(leaf(","));
                    }
                    list.extend(seg);
                }
                4 => {
                    let at = t.below(segs.len() + 1);
                    let pos = segs.get(at).map_or(list.len(), |s| s.0);
                    list.splice(pos..pos, [leaf(t.pick(ARGS)), leaf(",")]);
                }
                _ => {
                    // A named argument's or item's key renamed.
                    if let Some(Tt::Leaf(k)) = list.get(a) {
                        let new = match t.chance(50) {
                            true => misspell(t, k),
                            false => t.pick(WORDS).to_string(),
                        };
                        list[a] = Tt::Leaf(new);
                    }
                }
            }
        }
        5 => {
            // An item wrapped in blocks, nested deep.
            let braces: Vec<&Vec<usize>> = groups
                .iter()
                .filter(|p| matches!(node(root, p), Tt::Group(Delimiter::Brace, _)))
                .collect();
            if braces.is_empty() {
                return;
            }
            let p = t.pick(&braces).clone();
            let list = children(root, &p);
            let segs = segments(list);
            if segs.is_empty() {
                return;
            }
            let (a, b) = t.pick(&segs);
            let mut inner: Vec<Tt> = list[a..b].to_vec();
            let depth = 1 + t.below(40);
            let repeat = t.chance(20);
            for _ in 0..depth {
                let mut wrapped = match repeat {
                    true => vec![
                        leaf("repeat"),
                        Tt::Group(Delimiter::Parenthesis, vec![leaf("1")]),
                    ],
                    false => vec![leaf("residual")],
                };
                wrapped.push(Tt::Group(Delimiter::Brace, inner));
                inner = wrapped;
            }
            list.splice(a..b, inner);
        }
        _ => {
            // A group's delimiters changed.
            if groups.is_empty() {
                return;
            }
            let p = t.pick_ref(&groups).clone();
            let (list, i) = parent(root, &p);
            if let Tt::Group(d, inner) = &list[i] {
                let new = t.pick(&[Delimiter::Parenthesis, Delimiter::Brace, Delimiter::Bracket]);
                if new != *d {
                    list[i] = Tt::Group(new, inner.clone());
                }
            }
        }
    }
}

/// Damage that may leave the text untokenizable: a lone delimiter, quote or comment
/// opener inserted at a random character boundary.
pub(crate) fn damage(t: &mut Tape, text: &mut String) {
    let bounds: Vec<usize> = (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    let at = t.pick(&bounds);
    text.insert_str(
        at,
        t.pick(&[
            "(", "]", "}", "\"", "'", "/*", "\\", "r#", "1.", "'a'", "b\"",
        ]),
    );
}

/// Random tokens from the grammar's vocabulary, nested at most `depth` deep.
pub(crate) fn soup(t: &mut Tape, depth: usize) -> Vec<Tt> {
    let mut out = Vec::new();
    let n = t.below(if depth == 0 { 6 } else { 30 });
    for _ in 0..n {
        let tt = match t.weighted(&[50, 15, 25, if depth > 0 { 10 } else { 0 }]) {
            0 => leaf(t.pick(WORDS)),
            1 => leaf(t.pick(&[
                "0",
                "1",
                "2",
                "3",
                "4",
                "8",
                "16",
                "0.5",
                "1e-5",
                "-1",
                "1e400",
                "-0.0",
                "\"s\"",
                "'c'",
                "b'x'",
                "18446744073709551616",
                "1.5e308",
                "0x10",
                "1u8",
                "2.0f32",
            ])),
            2 => leaf(t.pick(&[
                ":", ",", ",", ",", "->", "=", "-", ".", "::", ";", "#", "!", "=>", "==", "..",
                "*", "+", "/", "&", "|", "?", "@", "'a",
            ])),
            _ => {
                let d = t.pick(&[Delimiter::Parenthesis, Delimiter::Brace, Delimiter::Bracket]);
                Tt::Group(d, soup(t, depth - 1))
            }
        };
        out.push(tt);
    }
    out
}
