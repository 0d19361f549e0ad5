//! Grammar-aware generation of specs: valid ones, which use every construct of the
//! grammar in `network!`'s documentation (widths as literals in several notations or
//! as named consts, positional and named arguments in any order, every initializer,
//! activation and layer with and without settings, nested `residual` and `repeat`
//! blocks, layer names, attributes, visibilities, items in any order; `input: seq(N)`
//! with the recurrent words and their options, stacked with `sequence`, per-step
//! layers before, between and after them), tracking the width and what flows (a
//! batch, a sequence, a last state) at every point so that every width and flow rule
//! holds; and specs built from them to break exactly one documented rule, which must
//! be rejected.

use super::tape::Tape;

/// What the macro must do with a generated spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A valid spec: accepted.
    Accept,
    /// Built to break the named rule: rejected.
    Reject(&'static str),
    /// A random mutation or token soup: either, but never a panic.
    Either,
}

/// Width consts a spec may name, with the values the generator assumes for them
/// (the macro cannot see them; rustc checks them in the generated code).
const WIDTH_CONSTS: &[(&str, usize)] = &[
    ("HIDDEN", 16),
    ("WIDE", 32),
    ("ONE", 1),
    ("CLASSES", 10),
    ("sizes::FEATURES", 8),
    ("crate::TWO", 2),
];

/// Widths to draw from; the first is the simplest.
const WIDTHS: &[usize] = &[4, 1, 2, 3, 8, 10, 16, 32, 64, 100, 784, 4096];

/// Layer names; none looks like an automatic field name (`l3`, `l3_0`).
const NAMES: &[&str] = &[
    "hidden", "encoder", "head", "proj", "gate", "stem", "trunk", "neck", "mixer", "skip",
    "r#type", "r#match", "relu", "dense", "Block", "x", "_tmp", "h2",
];

/// A width as the spec states it: its value, and whether the macro sees that value
/// (a literal) or only rustc does (a named const).
#[derive(Clone, Copy)]
pub(crate) struct W {
    value: usize,
    seen: bool,
}

/// Where a number must lie for its place to accept it.
#[derive(Clone, Copy)]
enum Range {
    Any,
    Pos,
    NonNeg,
    Closed01,
    Open01,
    NonZero,
}

impl Range {
    fn values(self) -> &'static [f64] {
        match self {
            Range::Any => &[
                0.1, 0.0, 0.01, 0.5, 1.0, 2.0, -1.0, -0.5, 1e-3, 20.0, 1e300, -0.0,
            ],
            Range::Pos => &[1.0, 1e-8, 1e-5, 0.01, 0.1, 0.5, 5.0, 1e10],
            Range::NonNeg => &[0.01, 0.0, 1.0, 3.0, 1e-4],
            Range::Closed01 => &[0.1, 0.0, 0.01, 0.5, 0.9, 1.0],
            Range::Open01 => &[0.5, 0.0, 0.1, 0.2, 0.9, 0.999],
            Range::NonZero => &[1.0, 0.5, 2.0, -1.0, 1e-3, 100.0],
        }
    }

    /// Named consts whose (assumed) values lie in the range.
    fn consts(self) -> &'static [&'static str] {
        match self {
            Range::Any => &["SLOPE", "GAIN", "cfg::ALPHA"],
            Range::Pos => &["EPS", "MAX_NORM"],
            Range::NonNeg => &["STD", "EPS"],
            Range::Closed01 => &["MOMENTUM", "P_DROP"],
            Range::Open01 => &["P_DROP"],
            Range::NonZero => &["BETA"],
        }
    }
}

/// A sequence of entries and what it does to the width.
struct Seq {
    items: Vec<String>,
    /// The width before each entry.
    before: Vec<W>,
    out: W,
    /// Whether the output width is set by a dense layer (else it is the input's).
    fixed: bool,
    /// Whether some entry states the sequence's input width (`in -> out`, `prelu(n)`,
    /// a residual body ending at it), so that the sequence is valid for that width only.
    constrained: bool,
}

/// One generated entry.
struct Entry {
    text: String,
    out: W,
    fixed: bool,
    constrained: bool,
}

/// What flows at a point of the top-level sequence of entries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// A batch: the input without `seq`.
    Batch,
    /// A sequence: `input: seq(N)`, or a recurrent layer with `sequence`.
    Seq,
    /// The last state of a recurrent layer (a batch): no recurrent layer may follow.
    Last,
}

struct Gen<'t, 'a> {
    t: &'t mut Tape<'a>,
    names: Vec<String>,
    /// Entries left to write, counting every copy of a repeat.
    budget: usize,
    /// What flows into the next top-level entry. Recurrent layers are written at the
    /// top level only, so blocks never change it.
    flow: Flow,
    /// Whether the input is `seq(N)`.
    seq_input: bool,
}

/// A spec and what the macro must do with it: valid when `violate` is false, else
/// broken in one documented rule.
pub(crate) fn spec(t: &mut Tape, violate: bool) -> (String, Expect) {
    let mut g = Gen {
        t,
        names: Vec::new(),
        budget: 12,
        flow: Flow::Batch,
        seq_input: false,
    };
    g.spec(violate)
}

impl Gen<'_, '_> {
    fn spec(&mut self, violate: bool) -> (String, Expect) {
        let mut head = String::new();
        for _ in 0..self.t.below(3) {
            head.push_str(self.t.pick(&[
                "/// A network.\n",
                "#[doc = \"x\"]\n",
                "#[allow(dead_code)]\n",
                "#[must_use]\n",
                "#[doc(hidden)]\n",
                "/** Block doc. */\n",
            ]));
        }
        head.push_str(self.t.pick(&[
            "",
            "pub ",
            "pub(crate) ",
            "pub(super) ",
            "pub(in crate::nets) ",
        ]));
        let name = self
            .t
            .pick(&["Net", "Mlp", "Tour", "r#Net", "Classifier", "N2", "_Net"]);
        let input = self.width(false);
        self.seq_input = self.t.chance(30);
        let mut input_text = match self.seq_input {
            true => format!("input: seq({})", input.0),
            false => format!("input: {}", input.0),
        };
        self.flow = match self.seq_input {
            true => Flow::Seq,
            false => Flow::Batch,
        };
        let count = 1 + self.t.below(5);
        let mut body = self.seq(input.1, 0, false, count);
        // The loss, and the layer that gives it the width it needs if there is none.
        let out = body.out;
        let (loss, extra) = match (self.t.below(5), out.value) {
            (0, _) => (self.t.pick(&["mse"]), None),
            (1, _) => ("bce_with_logits", Some("dense(1)")),
            (2, _) => ("cross_entropy", Some("dense(CLASSES)")),
            (_, 1) => (
                self.t
                    .pick(&["bce_with_logits", "mse", "binary_cross_entropy_with_logits"]),
                None,
            ),
            _ => (
                self.t
                    .pick(&["cross_entropy", "mse", "softmax_cross_entropy"]),
                None,
            ),
        };
        if let Some(extra) = extra {
            body.items.push(extra.to_string());
            body.before.push(out);
            body.out = W {
                value: if extra == "dense(1)" { 1 } else { 10 },
                seen: extra == "dense(1)",
            };
        }
        let mut loss_text = Some(format!("loss: {loss}"));
        let mut clip_text = if self.t.chance(30) {
            let kind = self.t.pick(&["norm", "value"]);
            Some(format!("clip: {kind}({})", self.num(Range::Pos)))
        } else {
            None
        };
        let mut input_opt = Some(std::mem::take(&mut input_text));
        let mut extra_top: Vec<String> = Vec::new();
        let expect = if violate {
            Expect::Reject(self.violate(
                &mut body,
                &mut input_opt,
                &mut loss_text,
                &mut clip_text,
                &mut extra_top,
            ))
        } else {
            Expect::Accept
        };
        // Items in the documented order, or with `input` anywhere and `clip` before
        // `loss`: layers come before `loss:` and `clip:`, the rest is in any order.
        let mut items = body.items;
        let at = match self.t.chance(20) {
            true => self.t.below(items.len() + 1),
            false => 0,
        };
        if let Some(input) = input_opt {
            items.insert(at, input);
        }
        let mut tail: Vec<String> = [loss_text, clip_text].into_iter().flatten().collect();
        if self.t.chance(20) {
            tail.reverse();
        }
        items.extend(tail);
        for k in extra_top {
            let keyed = ["input:", "loss:", "clip:"]
                .iter()
                .any(|p| k.starts_with(p));
            match keyed && self.t.chance(20) {
                true => items.insert(0, k),
                false => items.push(k),
            }
        }
        let mut text = format!("{head}struct {name} {{\n");
        let n = items.len();
        for (i, item) in items.into_iter().enumerate() {
            if self.t.chance(5) {
                text.push_str(self.t.pick(&["    // a comment\n", "    /* a comment */ "]));
            }
            text.push_str("    ");
            text.push_str(&item);
            if i + 1 < n || self.t.chance(60) {
                text.push(',');
            }
            text.push('\n');
        }
        text.push('}');
        (text, expect)
    }

    /// A width as text, for `input:` and `dense(out)` (`atom`: for `a -> b`, where
    /// only integer literals and paths are allowed).
    fn width_text(&mut self, value: usize, atom: bool) -> (String, bool) {
        let consts: Vec<&str> = WIDTH_CONSTS
            .iter()
            .filter(|c| c.1 == value)
            .map(|c| c.0)
            .collect();
        if !consts.is_empty() && self.t.chance(30) {
            return (self.t.pick(&consts).to_string(), false);
        }
        let text = match self.t.below(if atom { 5 } else { 6 }) {
            1 if self.t.chance(30) => format!("{value}usize"),
            2 if self.t.chance(30) => format!("{value:#x}"),
            3 if self.t.chance(30) => format!("{value:#o}"),
            4 if self.t.chance(30) => format!("{value:#b}"),
            5 if self.t.chance(30) => format!("({value})"),
            _ => value.to_string(),
        };
        (text, true)
    }

    /// A fresh width, as text and as the macro will see it.
    fn width(&mut self, atom: bool) -> (String, W) {
        let value = self.t.pick(WIDTHS);
        let value = if self.t.chance(15) {
            self.t
                .pick(&WIDTH_CONSTS.iter().map(|c| c.1).collect::<Vec<_>>())
        } else {
            value
        };
        let (text, seen) = self.width_text(value, atom);
        (text, W { value, seen })
    }

    /// A number in `r`, in one of Rust's notations or as a named const.
    fn num(&mut self, r: Range) -> String {
        if self.t.chance(15) {
            return self.t.pick(r.consts()).to_string();
        }
        let v = self.t.pick(r.values());
        self.num_text(v)
    }

    fn num_text(&mut self, v: f64) -> String {
        match self.t.below(8) {
            1 if v.fract() == 0.0 && v.abs() < 1e15 && v.to_bits() != (-0.0f64).to_bits() => {
                format!("{}", v as i64)
            }
            2 => format!("{v:e}"),
            3 => format!("{v:E}"),
            4 => format!("{v:?}f64"),
            5 if v.abs() < 1e30 => format!("{v:?}f32"),
            6 => format!("({v:?})"),
            _ => format!("{v:?}"),
        }
    }

    /// A normalization's `gamma` (any number), sometimes, and only where its
    /// affine parameters are not switched off.
    fn gamma(&mut self, affine: &Option<String>) -> Option<String> {
        if affine.as_deref() == Some("false") {
            None
        } else {
            self.opt_num(20, Range::Any)
        }
    }

    fn bool_text(&mut self) -> String {
        self.t.pick(&["true", "false"]).to_string()
    }

    /// `word(args)`: the given values of the first parameters positionally, the rest
    /// by name in a shuffled order; parameters without a value are left out. `bare`:
    /// without any value, the word alone (else `word()`, rarely).
    fn call(&mut self, word: &str, params: Vec<(&str, Option<String>)>, bare: bool) -> String {
        let leading = params.iter().take_while(|p| p.1.is_some()).count();
        let positional = self.t.below(leading + 1);
        let mut args: Vec<String> = params[..positional]
            .iter()
            .map(|p| p.1.clone().unwrap_or_default())
            .collect();
        let mut named: Vec<String> = params[positional..]
            .iter()
            .filter_map(|(n, v)| v.as_ref().map(|v| format!("{n} = {v}")))
            .collect();
        for i in (1..named.len()).rev() {
            let j = self.t.below(i + 1);
            named.swap(i, j);
        }
        args.extend(named);
        if args.is_empty() && bare && !self.t.chance(5) {
            return word.to_string();
        }
        format!("{word}({})", args.join(", "))
    }

    fn opt_num(&mut self, pct: usize, r: Range) -> Option<String> {
        self.t.chance(pct).then(|| self.num(r))
    }

    /// `n` or more entries (fewer if the budget runs out, but at least one) from width
    /// `w`.
    fn seq(&mut self, w: W, depth: usize, in_repeat: bool, n: usize) -> Seq {
        let mut s = Seq {
            items: Vec::new(),
            before: Vec::new(),
            out: w,
            fixed: false,
            constrained: false,
        };
        for i in 0..n {
            if i > 0 && self.budget == 0 {
                break;
            }
            let e = self.entry(s.out, depth, in_repeat);
            s.before.push(s.out);
            s.constrained |= e.constrained && !s.fixed;
            s.fixed |= e.fixed;
            s.out = e.out;
            s.items.push(e.text);
        }
        s
    }

    fn name_prefix(&mut self, in_repeat: bool) -> String {
        if in_repeat || !self.t.chance(12) {
            return String::new();
        }
        let name = format!("{}: ", self.fresh_name());
        name
    }

    fn fresh_name(&mut self) -> String {
        let mut name = self.t.pick(NAMES).to_string();
        while self.names.contains(&name) {
            name.push_str("_b");
        }
        self.names.push(name.clone());
        name
    }

    fn entry(&mut self, w: W, depth: usize, in_repeat: bool) -> Entry {
        self.budget = self.budget.saturating_sub(1);
        let blocks = depth < 3 && self.budget >= 2;
        let kind = self.t.weighted(&[
            30,
            25,
            5,
            6,
            5,
            6,
            if blocks { 8 } else { 0 },
            if blocks { 6 } else { 0 },
            if depth == 0 && self.flow == Flow::Seq {
                25
            } else {
                0
            },
        ]);
        let name = self.name_prefix(in_repeat);
        let same = |text: String, constrained: bool| Entry {
            text,
            out: w,
            fixed: false,
            constrained,
        };
        let mut e = match kind {
            0 => self.dense(w),
            1 => same(self.activation(), false),
            2 => {
                let (text, constrained) = self.prelu(w);
                same(text, constrained)
            }
            3 => {
                let affine = self.t.chance(30).then(|| self.bool_text());
                let gamma = self.gamma(&affine);
                let p = vec![
                    ("momentum", self.opt_num(30, Range::Closed01)),
                    ("eps", self.opt_num(30, Range::Pos)),
                    ("affine", affine),
                    ("gamma", gamma),
                ];
                same(self.call("batch_norm", p, true), false)
            }
            4 => {
                let affine = self.t.chance(30).then(|| self.bool_text());
                let gamma = self.gamma(&affine);
                let p = vec![
                    ("eps", self.opt_num(30, Range::Pos)),
                    ("elementwise_affine", affine),
                    ("gamma", gamma),
                ];
                same(self.call("layer_norm", p, true), false)
            }
            5 => {
                let p = vec![("p", self.opt_num(50, Range::Open01))];
                same(self.call("dropout", p, true), false)
            }
            6 => self.residual(w, depth, in_repeat),
            7 => self.repeat(w, depth),
            _ => self.recurrent(w),
        };
        if kind != 7 {
            e.text.insert_str(0, &name);
        } else if !name.is_empty() {
            // A repeat cannot be named; the name is not used.
            self.names.pop();
        }
        e
    }

    fn dense(&mut self, w: W) -> Entry {
        let (out_text, out) = self.width(false);
        let init = self.t.chance(40).then(|| self.init());
        let bias = self.t.chance(25).then(|| self.bool_text());
        if self.t.chance(20) {
            let (from, _) = self.width_text(w.value, true);
            let (to, _) = self.width_text(out.value, true);
            let rest = self.call("", vec![("init", init), ("bias", bias)], true);
            let rest = rest.strip_prefix('(').unwrap_or(&rest);
            let rest = rest.strip_suffix(')').unwrap_or(rest);
            let sep = if rest.is_empty() { "" } else { ", " };
            let to_w = W {
                value: out.value,
                seen: !WIDTH_CONSTS.iter().any(|c| c.0 == to),
            };
            return Entry {
                text: format!("dense({from} -> {to}{sep}{rest})"),
                out: to_w,
                fixed: true,
                constrained: true,
            };
        }
        let text = self.call(
            "dense",
            vec![("out", Some(out_text)), ("init", init), ("bias", bias)],
            false,
        );
        Entry {
            text,
            out,
            fixed: true,
            constrained: false,
        }
    }

    /// A recurrent layer over a sequence of width `w`, with any of its options; sets
    /// what flows next.
    fn recurrent(&mut self, w: W) -> Entry {
        let cell = self.t.pick(&["rnn", "lstm", "gru"]);
        let (h_text, h) = self.width(false);
        let mut args = Vec::new();
        // The width first (positional, or `IN -> H`), or named anywhere.
        let mut named_width = None;
        let mut h = h;
        let arrow = match self.t.below(5) {
            0..=2 => {
                args.push(h_text.clone());
                false
            }
            3 => {
                let (from, _) = self.width_text(w.value, true);
                let (to, seen) = self.width_text(h.value, true);
                args.push(format!("{from} -> {to}"));
                h.seen = seen;
                true
            }
            _ => {
                named_width = Some(format!("hidden_size = {h_text}"));
                false
            }
        };
        let mut rest: Vec<String> = named_width.into_iter().collect();
        let flag =
            |t: &mut Tape, name: &str, on: bool, rest: &mut Vec<String>| match (on, t.below(4)) {
                (true, 0) => rest.push(format!("{name} = true")),
                (true, _) => rest.push(name.to_string()),
                (false, 0) => rest.push(format!("{name} = false")),
                (false, _) => {}
            };
        let bidirectional = self.t.chance(25);
        let sequence = self.t.chance(50);
        flag(self.t, "bidirectional", bidirectional, &mut rest);
        flag(self.t, "sequence", sequence, &mut rest);
        let bias = match self.t.chance(25) {
            true => {
                let b = self.t.chance(50);
                rest.push(format!("bias = {b}"));
                b
            }
            false => true,
        };
        if self.t.chance(25) {
            let init = self.t.pick(&["uniform", "orthogonal"]);
            rest.push(format!("init = {init}"));
        }
        match cell {
            "rnn" if self.t.chance(40) => {
                let nl = self.t.pick(&["tanh", "relu"]);
                match self.t.chance(50) {
                    true => rest.push(format!("nonlinearity = {nl}")),
                    false => rest.push(nl.to_string()),
                }
            }
            "lstm" if self.t.chance(30) => flag(self.t, "forget_bias_one", bias, &mut rest),
            _ => {}
        }
        for i in (1..rest.len()).rev() {
            let j = self.t.below(i + 1);
            rest.swap(i, j);
        }
        args.extend(rest);
        self.flow = match sequence {
            true => Flow::Seq,
            false => Flow::Last,
        };
        let out = W {
            value: if bidirectional { 2 * h.value } else { h.value },
            seen: h.seen,
        };
        Entry {
            text: format!("{cell}({})", args.join(", ")),
            out,
            fixed: true,
            constrained: arrow,
        }
    }

    fn init(&mut self) -> String {
        match self.t.below(7) {
            0 => {
                let word = self.t.pick(&[
                    "he_normal",
                    "he_uniform",
                    "kaiming_normal",
                    "kaiming_uniform",
                ]);
                let mode = self.t.pick(&["", "(fan_in)", "(fan_out)", "()"]);
                format!("{word}{mode}")
            }
            1 => {
                let word = self.t.pick(&[
                    "glorot_uniform",
                    "glorot_normal",
                    "xavier_normal",
                    "xavier_uniform",
                ]);
                match self.t.chance(50) {
                    true => format!("{word}({})", self.num(Range::Any)),
                    false => word.to_string(),
                }
            }
            2 => "lecun_normal".to_string(),
            3 => match self.t.chance(50) {
                true => format!("orthogonal({})", self.num(Range::Any)),
                false => "orthogonal".to_string(),
            },
            4 => match self.t.chance(50) {
                true => format!(
                    "normal({}, {})",
                    self.num(Range::Any),
                    self.num(Range::NonNeg)
                ),
                false => format!("normal({})", self.num(Range::NonNeg)),
            },
            5 => {
                let a = self.t.pick(Range::Any.values());
                let b = self.t.pick(Range::Any.values());
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                format!("uniform({}, {})", self.num_text(a), self.num_text(b))
            }
            _ => match self.t.below(3) {
                0 => "zeros".to_string(),
                1 => "ones".to_string(),
                _ => format!("constant({})", self.num(Range::Any)),
            },
        }
    }

    fn activation(&mut self) -> String {
        match self.t.below(5) {
            0 => {
                let word = self.t.pick(&[
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
                ]);
                self.call(word, vec![], true)
            }
            1 => {
                let p = vec![("negative_slope", self.opt_num(50, Range::Any))];
                self.call("leaky_relu", p, true)
            }
            2 => {
                let p = vec![("alpha", self.opt_num(50, Range::Any))];
                self.call("elu", p, true)
            }
            3 => {
                let p = vec![
                    ("beta", self.opt_num(50, Range::NonZero)),
                    ("threshold", self.opt_num(50, Range::Any)),
                ];
                self.call("softplus", p, true)
            }
            _ => {
                let (lo, hi) = match self.t.below(4) {
                    0 => (None, None),
                    1 => {
                        let a = self.t.pick(&[-1.0, -2.0, 0.0, -0.5]);
                        let b = self.t.pick(&[1.0, 0.5, 2.0, 1e9]);
                        (Some(self.num_text(a)), Some(self.num_text(b)))
                    }
                    2 => {
                        let a = self.t.pick(&[-2.0, -1.0, 0.0, 0.5]);
                        (Some(self.num_text(a)), None)
                    }
                    _ => {
                        let b = self.t.pick(&[2.0, 1.0, 0.0, -0.5]);
                        (None, Some(self.num_text(b)))
                    }
                };
                self.call("hard_tanh", vec![("min_val", lo), ("max_val", hi)], true)
            }
        }
    }

    /// A prelu for width `w`, and whether it states `w`.
    fn prelu(&mut self, w: W) -> (String, bool) {
        let (count, constrained) = match self.t.below(4) {
            0 => (None, false),
            1 => (Some("1".to_string()), false),
            _ => (Some(self.width_text(w.value, false).0), w.value != 1),
        };
        let init = self.opt_num(30, Range::Any);
        let text = self.call(
            "prelu",
            vec![("num_parameters", count), ("init", init)],
            true,
        );
        (text, constrained)
    }

    fn block(&mut self, s: &Seq) -> String {
        let mut text = s.items.join(", ");
        if self.t.chance(30) {
            text.push(',');
        }
        text
    }

    fn residual(&mut self, w: W, depth: usize, in_repeat: bool) -> Entry {
        let n = 1 + self.t.below(3);
        let mut body = self.seq(w, depth + 1, in_repeat, n);
        let mut constrained = body.constrained || body.fixed;
        if body.out.value != w.value {
            body.items
                .push(format!("dense({})", self.width_text(w.value, false).0));
            constrained = true;
        }
        Entry {
            text: format!("residual {{ {} }}", self.block(&body)),
            out: w,
            fixed: false,
            constrained,
        }
    }

    fn repeat(&mut self, w: W, depth: usize) -> Entry {
        let times = 1 + self.t.below(3);
        let before = self.budget;
        let n = 1 + self.t.below(3);
        let mut body = self.seq(w, depth + 1, true, n);
        // Every copy after the first takes the body's output: the body must fit it.
        if times > 1 && body.out.value != w.value && body.constrained {
            let (text, seen) = self.width_text(w.value, false);
            body.items.push(format!("dense({text})"));
            body.out = W {
                value: w.value,
                seen,
            };
            body.fixed = true;
        }
        let used = before.saturating_sub(self.budget);
        self.budget = self.budget.saturating_sub(used * (times - 1));
        let count = match self.t.chance(20) {
            true => format!("times = {times}"),
            false => times.to_string(),
        };
        Entry {
            text: format!("repeat({count}) {{ {} }}", self.block(&body)),
            out: body.out,
            fixed: body.fixed,
            constrained: body.constrained,
        }
    }

    /// Breaks one documented rule; returns its name.
    fn violate(
        &mut self,
        body: &mut Seq,
        input: &mut Option<String>,
        loss: &mut Option<String>,
        clip: &mut Option<String>,
        extra_top: &mut Vec<String>,
    ) -> &'static str {
        let at = self.t.below(body.items.len() + 1);
        let w = body.before.get(at).copied().unwrap_or(body.out);
        let out = body.out;
        let insert = |items: &mut Vec<String>, s: String| items.insert(at, s);
        let fresh = self.fresh_name();
        let kind = self.t.below(27);
        let (rule, text): (&'static str, Option<String>) = match kind {
            0 => ("width of 0", Some("dense(0)".into())),
            1 => {
                let t = self
                    .t
                    .pick(&["dense(-4)", "dense(4.0)", "dense(\"4\")", "dense(true)"]);
                ("width not a positive integer", Some(t.into()))
            }
            2 => {
                let t = self.t.pick(&["dense", "dense()", "dense(init = zeros)"]);
                ("dense without width", Some(t.into()))
            }
            3 if w.seen => (
                "`in -> out` disagrees with the width coming in",
                Some(format!("dense({} -> 4)", w.value + 1)),
            ),
            4 if w.seen && w.value != 1 => (
                "prelu count neither 1 nor the width",
                Some(format!("prelu({})", w.value + 1)),
            ),
            5 if w.seen => (
                "residual changes the width",
                Some(format!("residual {{ dense({}) }}", w.value + 1)),
            ),
            6 => {
                let t = self.t.pick(&[
                    "residual {}",
                    "residual",
                    "residual(2) { relu }",
                    "residual { input: 4, relu }",
                    "residual { loss: mse }",
                ]);
                ("bad residual block", Some(t.into()))
            }
            7 => {
                let t = self.t.pick(&[
                    "repeat(0) { relu }",
                    "repeat(2)",
                    "repeat { relu }",
                    "repeat(N) { relu }",
                    "repeat(2) {}",
                    "repeat(2, 3) { relu }",
                    "repeat(-1) { relu }",
                    "repeat(2) { clip: norm(1.0) }",
                ]);
                ("bad repeat", Some(t.into()))
            }
            8 => {
                let t = match self.t.chance(50) {
                    true => format!("{fresh}: repeat(2) {{ relu }}"),
                    false => format!("repeat(2) {{ {fresh}: relu }}"),
                };
                ("name in or on a repeat", Some(t))
            }
            9 => {
                let t = self
                    .t
                    .pick(&["conv2d(3)", "softmax", "Dense(4)", "conv1d", "rellu"]);
                ("unknown layer word", Some(t.into()))
            }
            10 => {
                let t = self.t.pick(&[
                    "relu(0.1)",
                    "tanh(x = 1)",
                    "relu { relu }",
                    "dense(4) { relu }",
                    "dropout(4 -> 4)",
                ]);
                ("arguments or a block a layer does not take", Some(t.into()))
            }
            11 => {
                let t = self.t.pick(&[
                    "dense(4, bais = false)",
                    "dropout(q = 0.1)",
                    "batch_norm(momentun = 0.1)",
                    "gelu(approximate = true)",
                ]);
                ("unknown option", Some(t.into()))
            }
            12 => {
                let t = self.t.pick(&[
                    "batch_norm(momentum = 0.1, momentum = 0.2)",
                    "dense(4, bias = true, bias = false)",
                    "dense(4, out = 4)",
                    "dense(4 -> 4, 4 -> 4)",
                    "dropout(0.1, p = 0.2)",
                ]);
                ("an argument given twice", Some(t.into()))
            }
            13 => {
                let t = self.t.pick(&[
                    "dropout(0.1, 0.2)",
                    "leaky_relu(0.1, 0.2)",
                    "dense(4, zeros, true, 1)",
                    "layer_norm(1e-5, true, 1.0, 3)",
                ]);
                ("too many arguments", Some(t.into()))
            }
            14 => {
                let t = self.t.pick(&[
                    "dense(4, bias = 1)",
                    "batch_norm(affine = yes)",
                    "leaky_relu(\"0.1\")",
                    "elu(alpha = true)",
                    "dropout(p = x + 1)",
                ]);
                ("argument of the wrong type", Some(t.into()))
            }
            15 => {
                let init = self.t.pick(&[
                    "bogus",
                    "normal()",
                    "normal(1.0, 2.0, 3.0)",
                    "normal(-1.0)",
                    "normal(0.0, -0.5)",
                    "uniform(1.0, -1.0)",
                    "uniform(0.5)",
                    "he_normal(fan_sideways)",
                    "lecun_normal(1.0)",
                    "constant()",
                    "0.5",
                    "zeros(1)",
                    "glorot_uniform(true)",
                ]);
                ("bad initializer", Some(format!("dense(4, init = {init})")))
            }
            16 => {
                let t = self.t.pick(&[
                    "dropout(1.0)",
                    "dropout(-0.1)",
                    "dropout(p = 1.5)",
                    "batch_norm(momentum = 1.5)",
                    "batch_norm(-0.1)",
                    "batch_norm(eps = 0.0)",
                    "layer_norm(eps = -1e-5)",
                    "layer_norm(0)",
                    "softplus(0.0)",
                    "softplus(beta = -0.0)",
                    "hard_tanh(1.0, -1.0)",
                    "hard_tanh(0.5, 0.5)",
                    "hard_tanh(min_val = 2.0)",
                ]);
                ("a setting out of its range", Some(t.into()))
            }
            17 => {
                insert(&mut body.items, format!("{fresh}: relu"));
                ("duplicate layer name", Some(format!("{fresh}: tanh")))
            }
            18 => {
                let t = self.t.pick(&["input: 4", "loss: mse"]);
                extra_top.push(t.to_string());
                ("duplicate input or loss", None)
            }
            19 => {
                *clip = Some("clip: norm(1.0)".into());
                extra_top.push("clip: value(0.5)".into());
                ("duplicate clip", None)
            }
            20 => {
                match self.t.below(3) {
                    0 => *input = None,
                    1 => *loss = None,
                    _ => body.items.clear(),
                }
                ("missing input, loss or layers", None)
            }
            21 => {
                let t = self.t.pick(&[
                    "loss: mes",
                    "loss: nll",
                    "loss: mse(1)",
                    "loss: 1",
                    "loss: crate::mse",
                ]);
                *loss = Some(t.into());
                ("unknown loss", None)
            }
            24 => {
                let t = self.t.pick(&["relu", "dense(4)", "x: tanh"]);
                extra_top.push(t.to_string());
                ("a layer after `loss:` or `clip:`", None)
            }
            25 if self.seq_input => {
                let t = self.t.pick(&[
                    "lstm()",
                    "lstm",
                    "gru(0)",
                    "rnn(-8)",
                    "rnn(8, bidirectonal)",
                    "gru(8, forget_bias_one)",
                    "lstm(8, nonlinearity = relu)",
                    "gru(8, relu)",
                    "lstm(8, 16)",
                    "rnn(8 -> 8, 8)",
                    "lstm(hidden_size = 8, 8)",
                    "lstm(8, hidden_size = 8)",
                    "rnn(8, nonlinearity = sigmoid)",
                    "gru(8, init = he_normal)",
                    "lstm(8, bias = false, forget_bias_one)",
                    "gru(8, sequence = 1)",
                    "lstm(8, sequence, sequence)",
                    "rnn(8, hiden_size = 8)",
                    "gru(8) { relu }",
                ]);
                ("bad recurrent arguments", Some(t.into()))
            }
            25 => {
                let t = self.t.pick(&["lstm(8)", "gru(4, sequence)", "rnn(2 -> 2)"]);
                ("a recurrent layer on a batch", Some(t.into()))
            }
            26 => {
                // Rejected wherever it goes: a recurrent layer given a batch or a last
                // state, or a block that changes what flows.
                let t = self.t.pick(&[
                    "lstm(8), gru(8)",
                    "rnn(4), rnn(4, sequence)",
                    "residual { gru(4) }",
                    "residual { dense(4), lstm(4) }",
                ]);
                (
                    "a recurrent layer after a last state, or in a residual block",
                    Some(t.into()),
                )
            }
            22 if out.seen => {
                *loss = Some(match out.value {
                    1 => "loss: cross_entropy".into(),
                    _ => "loss: bce_with_logits".into(),
                });
                ("loss does not fit the output width", None)
            }
            _ => {
                let t = self.t.pick(&[
                    "clip: norm(0.0)",
                    "clip: value(-1.0)",
                    "clip: norm()",
                    "clip: norm(1.0, 2.0)",
                    "clip: max(1.0)",
                    "clip: 1.0",
                    "input: 0",
                    "input: 4.0",
                    "input: -4",
                    "input: x + 1",
                    "input: \"4\"",
                    "input: seq()",
                    "input: seq(0)",
                    "input: seq(4, 2)",
                    "input: seq(-4)",
                    "input: sequence(4)",
                ]);
                if t.starts_with("input") {
                    *input = Some(t.into());
                } else {
                    *clip = Some(t.into());
                }
                ("bad clip or input", None)
            }
        };
        if let Some(text) = text {
            insert(&mut body.items, text);
        }
        rule
    }
}
