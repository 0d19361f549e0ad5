//! The symbolic engine: expressions over a few variables, differentiated at compile
//! time, simplified, with common subexpressions shared, and written out as Rust.
//!
//! Expressions live in a [`Graph`], a hash-consed DAG: building a node that exists
//! returns the existing one, so `sigmoid(x)` in a function and in its derivative is
//! one node, computed once by the generated code. Every constructor simplifies as it
//! builds (constant folding, `x + 0`, `x * 1`, `x * 0`, `x ^ 1`, `--x`, `x - x`, ...),
//! and the derivative of each primitive is written beside its forward rule in
//! [`Graph::diff`]; where it is cheaper the rule reuses the node of the function's
//! value (`tanh' = 1 - tanh^2`, `sigmoid' = s (1 - s)`, `exp' = exp`), which a caller
//! that already holds the value can pass in ([`Graph::emit`]'s `given`).
//!
//! ```text
//! Expr := Expr (+ | - | * | /) Expr | -Expr | (Expr) | literal | variable | CONST_NAME
//!       | f(Expr) | Expr.f()          f: exp ln sqrt sin cos tanh sigmoid softplus erf abs
//!       | powi(Expr, int) | Expr.powi(int) | powf(Expr, c) | Expr.powf(c)  (c a constant)
//!       | max(Expr, Expr) | min(Expr, Expr) | Expr.max(Expr) | Expr.min(Expr)
//!       | if Expr (< | <= | > | >=) Expr { Expr } else { Expr }   (else if too)
//! ```
//!
//! A lower-case name that is not a variable (or a parameter) is a free variable and
//! an error; an upper-case name or a path (`BETA`, `consts::K`) is a named constant,
//! an `f64` the compiler knows and the macro does not (its derivative is 0).
//! Constants are folded in f64. Simplifications that drop a subexpression (`x * 0`,
//! `x - x`) assume it finite, as symbolic engines do.

// The simplifying constructors test constants with guards (`Some(x) if x == 0.0`),
// which read as the rules they are; clippy would have float literal patterns.
#![allow(clippy::redundant_guards)]

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use std::collections::HashMap;
use syn::spanned::Spanned;

/// A node's index in its [`Graph`].
pub type Id = usize;

/// The one-argument functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fun {
    Exp,
    Ln,
    Sqrt,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Softplus,
    Erf,
    Abs,
}

impl Fun {
    pub const ALL: [(&'static str, Fun); 10] = [
        ("exp", Fun::Exp),
        ("ln", Fun::Ln),
        ("sqrt", Fun::Sqrt),
        ("sin", Fun::Sin),
        ("cos", Fun::Cos),
        ("tanh", Fun::Tanh),
        ("sigmoid", Fun::Sigmoid),
        ("softplus", Fun::Softplus),
        ("erf", Fun::Erf),
        ("abs", Fun::Abs),
    ];

    #[cfg_attr(not(test), allow(dead_code))]
    fn name(self) -> &'static str {
        Fun::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    /// The value in f64 (constant folding and tests).
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Fun::Exp => x.exp(),
            Fun::Ln => x.ln(),
            Fun::Sqrt => x.sqrt(),
            Fun::Sin => x.sin(),
            Fun::Cos => x.cos(),
            Fun::Tanh => x.tanh(),
            Fun::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Fun::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Fun::Erf => libm::erf(x),
            Fun::Abs => x.abs(),
        }
    }
}

/// A comparison of an `if`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }

    fn tokens(self) -> TokenStream {
        match self {
            Cmp::Lt => quote!(<),
            Cmp::Le => quote!(<=),
            Cmp::Gt => quote!(>),
            Cmp::Ge => quote!(>=),
        }
    }
}

/// One node. `Const` holds the bits of an f64, so nodes hash and compare exactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    Const(u64),
    /// A named constant, by its path as written.
    Named(String),
    /// Variable `i` (a function argument, or a learnable parameter).
    Var(usize),
    Neg(Id),
    Add(Id, Id),
    Sub(Id, Id),
    Mul(Id, Id),
    Div(Id, Id),
    Powi(Id, i32),
    /// `a.powf(c)`, `c` a constant node.
    Powf(Id, Id),
    Un(Fun, Id),
    Max(Id, Id),
    Min(Id, Id),
    /// `if a cmp b { c } else { d }`.
    Select(Cmp, Id, Id, Id, Id),
}

/// A DAG of expressions, shared and simplified as it is built.
#[derive(Default, Debug)]
pub struct Graph {
    nodes: Vec<Node>,
    index: HashMap<Node, Id>,
    /// The tokens of each named constant, by the text its node holds.
    named_tokens: HashMap<String, TokenStream>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, n: Node) -> Id {
        if let Some(&id) = self.index.get(&n) {
            return id;
        }
        self.nodes.push(n.clone());
        let id = self.nodes.len() - 1;
        self.index.insert(n, id);
        id
    }

    /// The constant's value, if `id` is a literal constant.
    pub fn value(&self, id: Id) -> Option<f64> {
        match self.nodes[id] {
            Node::Const(b) => Some(f64::from_bits(b)),
            _ => None,
        }
    }

    pub fn c(&mut self, v: f64) -> Id {
        // One zero: -0.0 and 0.0 are the same node.
        let v = if v == 0.0 { 0.0 } else { v };
        self.intern(Node::Const(v.to_bits()))
    }

    /// A named constant: `path` as written (its tokens go into the generated code).
    pub fn named(&mut self, path: &syn::Path) -> Id {
        let key = quote!(#path).to_string().replace(' ', "");
        self.named_tokens.insert(key.clone(), quote!(#path));
        self.intern(Node::Named(key))
    }

    pub fn var(&mut self, i: usize) -> Id {
        self.intern(Node::Var(i))
    }

    pub fn neg(&mut self, a: Id) -> Id {
        if let Some(v) = self.value(a) {
            return self.c(-v);
        }
        match self.nodes[a] {
            Node::Neg(inner) => inner,
            Node::Sub(x, y) => self.sub(y, x),
            _ => self.intern(Node::Neg(a)),
        }
    }

    pub fn add(&mut self, a: Id, b: Id) -> Id {
        match (self.value(a), self.value(b)) {
            (Some(x), Some(y)) => return self.c(x + y),
            (Some(x), _) if x == 0.0 => return b,
            (_, Some(y)) if y == 0.0 => return a,
            _ => {}
        }
        if let Node::Neg(nb) = self.nodes[b] {
            return self.sub(a, nb);
        }
        if let Node::Neg(na) = self.nodes[a] {
            return self.sub(b, na);
        }
        if a == b {
            let two = self.c(2.0);
            return self.mul(two, a);
        }
        // Commutative: one order, so `a + b` and `b + a` are one node.
        let (a, b) = (a.min(b), a.max(b));
        self.intern(Node::Add(a, b))
    }

    pub fn sub(&mut self, a: Id, b: Id) -> Id {
        match (self.value(a), self.value(b)) {
            (Some(x), Some(y)) => return self.c(x - y),
            (_, Some(y)) if y == 0.0 => return a,
            (Some(x), _) if x == 0.0 => return self.neg(b),
            _ => {}
        }
        if a == b {
            return self.c(0.0);
        }
        if let Node::Neg(nb) = self.nodes[b] {
            return self.add(a, nb);
        }
        self.intern(Node::Sub(a, b))
    }

    pub fn mul(&mut self, a: Id, b: Id) -> Id {
        match (self.value(a), self.value(b)) {
            (Some(x), Some(y)) => return self.c(x * y),
            (Some(x), _) | (_, Some(x)) if x == 0.0 => return self.c(0.0),
            (Some(x), _) if x == 1.0 => return b,
            (_, Some(y)) if y == 1.0 => return a,
            (Some(x), _) if x == -1.0 => return self.neg(b),
            (_, Some(y)) if y == -1.0 => return self.neg(a),
            _ => {}
        }
        // Constants first, and -a * b = -(a b), so signs and factors meet.
        match (&self.nodes[a], &self.nodes[b]) {
            (Node::Neg(x), _) => {
                let x = *x;
                let p = self.mul(x, b);
                return self.neg(p);
            }
            (_, Node::Neg(y)) => {
                let y = *y;
                let p = self.mul(a, y);
                return self.neg(p);
            }
            _ => {}
        }
        if a == b {
            return self.powi(a, 2);
        }
        let (a, b) = match (self.value(a), self.value(b)) {
            (None, Some(_)) => (b, a),
            (Some(_), None) => (a, b),
            _ => (a.min(b), a.max(b)),
        };
        self.intern(Node::Mul(a, b))
    }

    pub fn div(&mut self, a: Id, b: Id) -> Id {
        match (self.value(a), self.value(b)) {
            (Some(x), Some(y)) if y != 0.0 => return self.c(x / y),
            (Some(x), _) if x == 0.0 => return self.c(0.0),
            (_, Some(y)) if y == 1.0 => return a,
            (_, Some(y)) if y == -1.0 => return self.neg(a),
            _ => {}
        }
        if a == b {
            return self.c(1.0);
        }
        self.intern(Node::Div(a, b))
    }

    pub fn powi(&mut self, a: Id, n: i32) -> Id {
        if let Some(x) = self.value(a) {
            return self.c(x.powi(n));
        }
        match n {
            0 => self.c(1.0),
            1 => a,
            _ => match self.nodes[a] {
                Node::Powi(inner, m) if (m as i64 * n as i64).abs() <= i32::MAX as i64 => {
                    self.powi(inner, m * n)
                }
                _ => self.intern(Node::Powi(a, n)),
            },
        }
    }

    /// `a^c`, `c` a constant node (literal or named).
    pub fn powf(&mut self, a: Id, c: Id) -> Id {
        match (self.value(a), self.value(c)) {
            (Some(x), Some(y)) => return self.c(x.powf(y)),
            (_, Some(y)) if y == 1.0 => return a,
            (_, Some(y)) if y == 0.0 => return self.c(1.0),
            (_, Some(y)) if y.fract() == 0.0 && y.abs() <= 64.0 => return self.powi(a, y as i32),
            _ => {}
        }
        self.intern(Node::Powf(a, c))
    }

    pub fn un(&mut self, f: Fun, a: Id) -> Id {
        if let Some(x) = self.value(a) {
            return self.c(f.eval(x));
        }
        match (f, &self.nodes[a]) {
            (Fun::Exp, Node::Un(Fun::Ln, x)) => *x,
            (Fun::Abs, Node::Un(Fun::Abs, _)) => a,
            (Fun::Abs, Node::Neg(x)) => {
                let x = *x;
                self.un(Fun::Abs, x)
            }
            _ => self.intern(Node::Un(f, a)),
        }
    }

    pub fn max(&mut self, a: Id, b: Id) -> Id {
        if let (Some(x), Some(y)) = (self.value(a), self.value(b)) {
            return self.c(x.max(y));
        }
        if a == b {
            return a;
        }
        self.intern(Node::Max(a, b))
    }

    pub fn min(&mut self, a: Id, b: Id) -> Id {
        if let (Some(x), Some(y)) = (self.value(a), self.value(b)) {
            return self.c(x.min(y));
        }
        if a == b {
            return a;
        }
        self.intern(Node::Min(a, b))
    }

    pub fn select(&mut self, cmp: Cmp, a: Id, b: Id, then: Id, other: Id) -> Id {
        if let (Some(x), Some(y)) = (self.value(a), self.value(b)) {
            return if cmp.holds(x, y) { then } else { other };
        }
        if then == other {
            return then;
        }
        self.intern(Node::Select(cmp, a, b, then, other))
    }

    /// d`e`/d(variable `var`): the rule of each primitive, beside its forward rule
    /// (the chain rule applied through `da`, `db`). Memoized per call.
    pub fn diff(&mut self, e: Id, var: usize) -> Id {
        let mut memo = HashMap::new();
        self.diff_memo(e, var, &mut memo)
    }

    fn diff_memo(&mut self, e: Id, var: usize, memo: &mut HashMap<Id, Id>) -> Id {
        if let Some(&d) = memo.get(&e) {
            return d;
        }
        let node = self.nodes[e].clone();
        let mut d = |g: &mut Graph, x: Id| g.diff_memo(x, var, memo);
        let out = match node {
            Node::Const(_) | Node::Named(_) => self.c(0.0),
            Node::Var(i) => self.c(if i == var { 1.0 } else { 0.0 }),
            // -a
            Node::Neg(a) => {
                let da = d(self, a);
                self.neg(da)
            }
            // a + b, a - b
            Node::Add(a, b) => {
                let (da, db) = (d(self, a), d(self, b));
                self.add(da, db)
            }
            Node::Sub(a, b) => {
                let (da, db) = (d(self, a), d(self, b));
                self.sub(da, db)
            }
            // a b: a' b + a b'
            Node::Mul(a, b) => {
                let (da, db) = (d(self, a), d(self, b));
                let (l, r) = (self.mul(da, b), self.mul(a, db));
                self.add(l, r)
            }
            // a / b: a'/b - (a/b) b'/b
            Node::Div(a, b) => {
                let (da, db) = (d(self, a), d(self, b));
                let l = self.div(da, b);
                let q = self.div(db, b);
                let r = self.mul(e, q);
                self.sub(l, r)
            }
            // a^n: n a^(n-1) a'
            Node::Powi(a, n) => {
                let da = d(self, a);
                // powi(a, i32::MIN)' = i32::MIN a^(i32::MIN - 1): through powf.
                let p = match n.checked_sub(1) {
                    Some(m) => self.powi(a, m),
                    None => {
                        let c = self.c(n as f64 - 1.0);
                        self.powf(a, c)
                    }
                };
                let k = self.c(n as f64);
                let kp = self.mul(k, p);
                self.mul(kp, da)
            }
            // a^c: c a^(c-1) a'
            Node::Powf(a, c) => {
                let da = d(self, a);
                let one = self.c(1.0);
                let cm1 = self.sub(c, one);
                let p = self.powf(a, cm1);
                let cp = self.mul(c, p);
                self.mul(cp, da)
            }
            Node::Un(f, a) => {
                let da = d(self, a);
                let df = match f {
                    // exp' = exp (the value itself)
                    Fun::Exp => e,
                    // ln' = 1/a
                    Fun::Ln => {
                        let one = self.c(1.0);
                        self.div(one, a)
                    }
                    // sqrt' = 1 / (2 sqrt)
                    Fun::Sqrt => {
                        let two = self.c(2.0);
                        let t = self.mul(two, e);
                        let one = self.c(1.0);
                        self.div(one, t)
                    }
                    Fun::Sin => self.un(Fun::Cos, a),
                    Fun::Cos => {
                        let s = self.un(Fun::Sin, a);
                        self.neg(s)
                    }
                    // tanh' = 1 - tanh^2 (from the value)
                    Fun::Tanh => {
                        let one = self.c(1.0);
                        let sq = self.powi(e, 2);
                        self.sub(one, sq)
                    }
                    // sigmoid' = s (1 - s) (from the value)
                    Fun::Sigmoid => {
                        let one = self.c(1.0);
                        let m = self.sub(one, e);
                        self.mul(e, m)
                    }
                    // softplus' = sigmoid
                    Fun::Softplus => self.un(Fun::Sigmoid, a),
                    // erf' = 2/sqrt(pi) exp(-a^2)
                    Fun::Erf => {
                        let sq = self.powi(a, 2);
                        let n = self.neg(sq);
                        let ex = self.un(Fun::Exp, n);
                        let k = self.c(std::f64::consts::FRAC_2_SQRT_PI);
                        self.mul(k, ex)
                    }
                    // abs' = sign (1 at 0, as PyTorch's subgradient of relu-like kinks
                    // picks one side)
                    Fun::Abs => {
                        let zero = self.c(0.0);
                        let (p, m) = (self.c(1.0), self.c(-1.0));
                        self.select(Cmp::Lt, a, zero, m, p)
                    }
                };
                self.mul(df, da)
            }
            // max(a, b)' = a' where a >= b, else b'
            Node::Max(a, b) => {
                let (da, db) = (d(self, a), d(self, b));
                self.select(Cmp::Ge, a, b, da, db)
            }
            Node::Min(a, b) => {
                let (da, db) = (d(self, a), d(self, b));
                self.select(Cmp::Le, a, b, da, db)
            }
            // the derivative of the branch taken
            Node::Select(cmp, a, b, t, o) => {
                let (dt, dd) = (d(self, t), d(self, o));
                self.select(cmp, a, b, dt, dd)
            }
        };
        memo.insert(e, out);
        out
    }

    /// The value of `e` in f64 at `vars`, named constants from `named` (the tests'
    /// reference).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn eval(&self, e: Id, vars: &[f64], named: &dyn Fn(&str) -> f64) -> f64 {
        let mut memo = HashMap::new();
        self.eval_memo(e, vars, named, &mut memo)
    }

    #[cfg_attr(not(test), allow(dead_code))]
    fn eval_memo(
        &self,
        e: Id,
        vars: &[f64],
        named: &dyn Fn(&str) -> f64,
        memo: &mut HashMap<Id, f64>,
    ) -> f64 {
        if let Some(&v) = memo.get(&e) {
            return v;
        }
        let mut ev = |x: Id| self.eval_memo(x, vars, named, memo);
        let v = match &self.nodes[e] {
            Node::Const(b) => f64::from_bits(*b),
            Node::Named(p) => named(p),
            Node::Var(i) => vars[*i],
            Node::Neg(a) => -ev(*a),
            Node::Add(a, b) => ev(*a) + ev(*b),
            Node::Sub(a, b) => ev(*a) - ev(*b),
            Node::Mul(a, b) => ev(*a) * ev(*b),
            Node::Div(a, b) => ev(*a) / ev(*b),
            Node::Powi(a, n) => ev(*a).powi(*n),
            Node::Powf(a, c) => ev(*a).powf(ev(*c)),
            Node::Un(f, a) => f.eval(ev(*a)),
            Node::Max(a, b) => ev(*a).max(ev(*b)),
            Node::Min(a, b) => ev(*a).min(ev(*b)),
            Node::Select(c, a, b, t, o) => {
                if c.holds(ev(*a), ev(*b)) {
                    ev(*t)
                } else {
                    ev(*o)
                }
            }
        };
        memo.insert(e, v);
        v
    }

    /// The expression as text, for tests: `x0 * sigmoid(x0)`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn show(&self, e: Id) -> String {
        let s = |x: Id| self.show(x);
        match &self.nodes[e] {
            Node::Const(b) => format!("{}", f64::from_bits(*b)),
            Node::Named(p) => p.clone(),
            Node::Var(i) => format!("x{i}"),
            Node::Neg(a) => match &self.nodes[*a] {
                Node::Var(_) | Node::Named(_) | Node::Un(..) | Node::Max(..) | Node::Min(..) => {
                    format!("-{}", s(*a))
                }
                _ => format!("-({})", s(*a)),
            },
            Node::Add(a, b) => format!("{} + {}", s(*a), s(*b)),
            Node::Sub(a, b) => format!("{} - {}", s(*a), self.show_atom(*b)),
            Node::Mul(a, b) => format!("{} * {}", self.show_atom(*a), self.show_atom(*b)),
            Node::Div(a, b) => format!("{} / {}", self.show_atom(*a), self.show_atom(*b)),
            Node::Powi(a, n) => format!("{}^{n}", self.show_atom(*a)),
            Node::Powf(a, c) => format!("{}^{}", self.show_atom(*a), self.show_atom(*c)),
            Node::Un(f, a) => format!("{}({})", f.name(), s(*a)),
            Node::Max(a, b) => format!("max({}, {})", s(*a), s(*b)),
            Node::Min(a, b) => format!("min({}, {})", s(*a), s(*b)),
            Node::Select(c, a, b, t, o) => {
                let op = c.tokens().to_string();
                format!(
                    "if {} {op} {} {{ {} }} else {{ {} }}",
                    s(*a),
                    s(*b),
                    s(*t),
                    s(*o)
                )
            }
        }
    }

    #[cfg_attr(not(test), allow(dead_code))]
    fn show_atom(&self, e: Id) -> String {
        match &self.nodes[e] {
            Node::Add(..) | Node::Sub(..) | Node::Select(..) | Node::Neg(..) => {
                format!("({})", self.show(e))
            }
            Node::Const(b) if f64::from_bits(*b) < 0.0 => format!("({})", self.show(e)),
            _ => self.show(e),
        }
    }

    /// Rust code computing `outputs` in the scalar type `T` (a `Real`, reached through
    /// `rt`): `let` statements for every shared interior node, in dependency order,
    /// and an expression per output. `vars` are the variables' expressions; `given`
    /// are nodes whose values the caller already has (a function's output `y` when
    /// emitting its derivative), used instead of recomputing them.
    pub fn emit(
        &self,
        outputs: &[Id],
        vars: &[TokenStream],
        given: &[(Id, TokenStream)],
        rt: &TokenStream,
    ) -> (Vec<TokenStream>, Vec<TokenStream>) {
        // How often each node is read by the nodes needed: those read more than once
        // become `let`s; the others are written inline.
        let mut uses = vec![0usize; self.nodes.len()];
        let mut order = Vec::new();
        let mut seen = vec![false; self.nodes.len()];
        let given_ids: HashMap<Id, TokenStream> = given.iter().cloned().collect();
        fn visit(
            g: &Graph,
            e: Id,
            seen: &mut [bool],
            uses: &mut [usize],
            order: &mut Vec<Id>,
            given: &HashMap<Id, TokenStream>,
        ) {
            uses[e] += 1;
            if seen[e] {
                return;
            }
            seen[e] = true;
            if !given.contains_key(&e) {
                for c in g.children(e) {
                    visit(g, c, seen, uses, order, given);
                }
            }
            order.push(e);
        }
        for &o in outputs {
            visit(self, o, &mut seen, &mut uses, &mut order, &given_ids);
        }
        let mut code: HashMap<Id, TokenStream> = given_ids.clone();
        let mut lets = Vec::new();
        for &e in &order {
            if code.contains_key(&e) {
                continue;
            }
            let expr = self.emit_node(e, &code, vars, rt);
            let simple = matches!(
                self.nodes[e],
                Node::Const(_) | Node::Named(_) | Node::Var(_)
            );
            if uses[e] > 1 && !simple {
                let name = format_ident!("__t{}", e);
                lets.push(quote!(let #name: T = #expr;));
                code.insert(e, quote!(#name));
            } else {
                code.insert(e, quote!((#expr)));
            }
        }
        let outs = outputs.iter().map(|o| code[o].clone()).collect();
        (lets, outs)
    }

    fn children(&self, e: Id) -> Vec<Id> {
        match &self.nodes[e] {
            Node::Const(_) | Node::Named(_) | Node::Var(_) => vec![],
            Node::Neg(a) | Node::Powi(a, _) | Node::Un(_, a) => vec![*a],
            Node::Add(a, b)
            | Node::Sub(a, b)
            | Node::Mul(a, b)
            | Node::Div(a, b)
            | Node::Powf(a, b)
            | Node::Max(a, b)
            | Node::Min(a, b) => vec![*a, *b],
            Node::Select(_, a, b, t, o) => vec![*a, *b, *t, *o],
        }
    }

    fn emit_node(
        &self,
        e: Id,
        code: &HashMap<Id, TokenStream>,
        vars: &[TokenStream],
        rt: &TokenStream,
    ) -> TokenStream {
        let c = |x: &Id| code[x].clone();
        match &self.nodes[e] {
            Node::Const(b) => {
                let v = f64::from_bits(*b);
                quote!(<T as #rt::Real>::of(#v))
            }
            Node::Named(p) => {
                let path = &self.named_tokens[p];
                quote!(<T as #rt::Real>::of(#path))
            }
            Node::Var(i) => vars[*i].clone(),
            Node::Neg(a) => {
                let a = c(a);
                quote!(-#a)
            }
            Node::Add(a, b) => {
                let (a, b) = (c(a), c(b));
                quote!(#a + #b)
            }
            Node::Sub(a, b) => {
                let (a, b) = (c(a), c(b));
                quote!(#a - #b)
            }
            Node::Mul(a, b) => {
                let (a, b) = (c(a), c(b));
                quote!(#a * #b)
            }
            Node::Div(a, b) => {
                let (a, b) = (c(a), c(b));
                quote!(#a / #b)
            }
            Node::Powi(a, n) => {
                let a = c(a);
                match n {
                    2 => quote!(#a * #a),
                    _ => quote!(<T as #rt::symbolic::Float>::powi(#a, #n)),
                }
            }
            Node::Powf(a, k) => {
                let (a, k) = (c(a), c(k));
                quote!(<T as #rt::symbolic::Float>::powf(#a, #k))
            }
            Node::Un(f, a) => {
                let a = c(a);
                match f {
                    Fun::Exp => quote!(<T as #rt::symbolic::Float>::exp(#a)),
                    Fun::Ln => quote!(<T as #rt::symbolic::Float>::ln(#a)),
                    Fun::Sqrt => quote!(<T as #rt::symbolic::Float>::sqrt(#a)),
                    Fun::Sin => quote!(<T as #rt::symbolic::Float>::sin(#a)),
                    Fun::Cos => quote!(<T as #rt::symbolic::Float>::cos(#a)),
                    Fun::Tanh => quote!(<T as #rt::symbolic::Float>::tanh(#a)),
                    Fun::Abs => quote!(<T as #rt::symbolic::Float>::abs(#a)),
                    Fun::Erf => quote!(<T as #rt::Real>::erf(#a)),
                    Fun::Sigmoid => quote!(#rt::symbolic::sigmoid(#a)),
                    Fun::Softplus => quote!(#rt::symbolic::softplus(#a)),
                }
            }
            Node::Max(a, b) => {
                let (a, b) = (c(a), c(b));
                quote!(<T as #rt::symbolic::Float>::max(#a, #b))
            }
            Node::Min(a, b) => {
                let (a, b) = (c(a), c(b));
                quote!(<T as #rt::symbolic::Float>::min(#a, #b))
            }
            Node::Select(cmp, a, b, t, o) => {
                let (a, b, t, o) = (c(a), c(b), c(t), c(o));
                let op = cmp.tokens();
                quote!(if #a #op #b { #t } else { #o })
            }
        }
    }
}

/// What names mean while parsing: the variables (function arguments, then learnable
/// parameters), by name.
pub struct Scope<'a> {
    pub vars: &'a [String],
}

/// The functions the grammar knows, for messages.
pub fn supported() -> String {
    let mut names: Vec<&str> = Fun::ALL.iter().map(|(n, _)| *n).collect();
    names.extend(["powi", "powf", "max", "min"]);
    names.join(", ")
}

fn err(span: Span, msg: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(span, msg)
}

impl Graph {
    /// Parses `e` into the graph.
    ///
    /// # Errors
    /// At the token of anything outside the grammar: an unknown function (naming the
    /// supported ones), a free variable, a non-constant exponent, another construct.
    pub fn parse(&mut self, e: &syn::Expr, scope: &Scope) -> syn::Result<Id> {
        use syn::Expr as E;
        match e {
            E::Paren(p) => self.parse(&p.expr, scope),
            E::Group(g) => self.parse(&g.expr, scope),
            E::Lit(l) => match &l.lit {
                syn::Lit::Float(f) => Ok(self.c(f.base10_parse::<f64>()?)),
                syn::Lit::Int(i) => Ok(self.c(i.base10_parse::<f64>()?)),
                other => Err(err(other.span(), "expected a number")),
            },
            E::Path(p) if p.qself.is_none() => {
                let path = &p.path;
                if let Some(id) = path.get_ident() {
                    let name = id.to_string();
                    if let Some(i) = scope.vars.iter().position(|v| *v == name) {
                        return Ok(self.var(i));
                    }
                    let upper = name.chars().any(|c| c.is_ascii_uppercase())
                        && !name.chars().any(|c| c.is_ascii_lowercase());
                    if !upper {
                        return Err(err(
                            id.span(),
                            format!(
                                "unknown variable `{name}`: the variables are {}; a named constant is written in upper case (`BETA`) or as a path",
                                scope
                                    .vars
                                    .iter()
                                    .map(|v| format!("`{v}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                }
                Ok(self.named(path))
            }
            E::Unary(u) => match u.op {
                syn::UnOp::Neg(_) => {
                    let a = self.parse(&u.expr, scope)?;
                    Ok(self.neg(a))
                }
                _ => Err(err(u.span(), "only `-` is supported as a unary operator")),
            },
            E::Binary(b) => {
                let (l, r) = (self.parse(&b.left, scope)?, self.parse(&b.right, scope)?);
                match b.op {
                    syn::BinOp::Add(_) => Ok(self.add(l, r)),
                    syn::BinOp::Sub(_) => Ok(self.sub(l, r)),
                    syn::BinOp::Mul(_) => Ok(self.mul(l, r)),
                    syn::BinOp::Div(_) => Ok(self.div(l, r)),
                    _ => Err(err(
                        b.op.span(),
                        "unsupported operator: expressions use `+ - * /` (comparisons only in `if`)",
                    )),
                }
            }
            E::Call(c) => {
                let name = match &*c.func {
                    E::Path(p) => p.path.get_ident().map(|i| i.to_string()),
                    _ => None,
                }
                .ok_or_else(|| err(c.func.span(), format!("expected a function: one of {}", supported())))?;
                let args: Vec<&syn::Expr> = c.args.iter().collect();
                self.call(&name, c.func.span(), &args, scope)
            }
            E::MethodCall(m) => {
                let mut args: Vec<&syn::Expr> = vec![&m.receiver];
                args.extend(m.args.iter());
                self.call(&m.method.to_string(), m.method.span(), &args, scope)
            }
            E::If(i) => self.parse_if(i, scope),
            E::Block(b) if b.block.stmts.len() == 1 => match &b.block.stmts[0] {
                syn::Stmt::Expr(e, None) => self.parse(e, scope),
                other => Err(err(other.span(), "a block holds one expression")),
            },
            other => Err(err(
                other.span(),
                format!(
                    "unsupported expression: use numbers, variables, `+ - * /`, `if .. {{ .. }} else {{ .. }}` and the functions {}",
                    supported()
                ),
            )),
        }
    }

    fn parse_if(&mut self, i: &syn::ExprIf, scope: &Scope) -> syn::Result<Id> {
        let (cmp, a, b) = match &*i.cond {
            syn::Expr::Binary(b) => {
                let cmp = match b.op {
                    syn::BinOp::Lt(_) => Cmp::Lt,
                    syn::BinOp::Le(_) => Cmp::Le,
                    syn::BinOp::Gt(_) => Cmp::Gt,
                    syn::BinOp::Ge(_) => Cmp::Ge,
                    _ => {
                        return Err(err(
                            b.op.span(),
                            "an `if` compares with `<`, `<=`, `>` or `>=`",
                        ))
                    }
                };
                (
                    cmp,
                    self.parse(&b.left, scope)?,
                    self.parse(&b.right, scope)?,
                )
            }
            other => {
                return Err(err(
                    other.span(),
                    "an `if` compares two expressions: `if x > 0.0 { .. } else { .. }`",
                ))
            }
        };
        let then = match &i.then_branch.stmts[..] {
            [syn::Stmt::Expr(e, None)] => self.parse(e, scope)?,
            _ => {
                return Err(err(
                    i.then_branch.span(),
                    "each branch of an `if` holds one expression",
                ))
            }
        };
        let other = match &i.else_branch {
            Some((_, e)) => self.parse(e, scope)?,
            None => {
                return Err(err(
                    i.if_token.span,
                    "an `if` needs an `else`: both branches give a value",
                ))
            }
        };
        Ok(self.select(cmp, a, b, then, other))
    }

    fn call(
        &mut self,
        name: &str,
        span: Span,
        args: &[&syn::Expr],
        scope: &Scope,
    ) -> syn::Result<Id> {
        let arity = |n: usize| -> syn::Result<()> {
            if args.len() == n {
                Ok(())
            } else {
                Err(err(
                    span,
                    format!(
                        "`{name}` takes {n} argument{}, found {}",
                        if n == 1 { "" } else { "s" },
                        args.len()
                    ),
                ))
            }
        };
        if let Some((_, f)) = Fun::ALL.iter().find(|(n, _)| *n == name) {
            arity(1)?;
            let a = self.parse(args[0], scope)?;
            return Ok(self.un(*f, a));
        }
        match name {
            "powi" => {
                arity(2)?;
                let a = self.parse(args[0], scope)?;
                let n = match args[1] {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Int(i),
                        ..
                    }) => i.base10_parse::<i32>()?,
                    syn::Expr::Unary(syn::ExprUnary {
                        op: syn::UnOp::Neg(_),
                        expr,
                        ..
                    }) => match &**expr {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Int(i),
                            ..
                        }) => -i.base10_parse::<i32>()?,
                        other => {
                            return Err(err(
                                other.span(),
                                "`powi` takes an integer literal exponent",
                            ))
                        }
                    },
                    other => {
                        return Err(err(
                            other.span(),
                            "`powi` takes an integer literal exponent",
                        ))
                    }
                };
                Ok(self.powi(a, n))
            }
            "powf" => {
                arity(2)?;
                let a = self.parse(args[0], scope)?;
                let c = self.parse(args[1], scope)?;
                if !self.is_constant(c) {
                    return Err(err(
                        args[1].span(),
                        "`powf` takes a constant exponent (a number or a named constant); write `exp(b * ln(a))` for a variable one",
                    ));
                }
                Ok(self.powf(a, c))
            }
            "max" | "min" => {
                arity(2)?;
                let (a, b) = (self.parse(args[0], scope)?, self.parse(args[1], scope)?);
                Ok(if name == "max" {
                    self.max(a, b)
                } else {
                    self.min(a, b)
                })
            }
            _ => Err(err(
                span,
                format!("unsupported function `{name}`; supported: {}", supported()),
            )),
        }
    }

    /// Whether `e` depends on no variable.
    pub fn is_constant(&self, e: Id) -> bool {
        match &self.nodes[e] {
            Node::Var(_) => false,
            Node::Const(_) | Node::Named(_) => true,
            _ => self.children(e).into_iter().all(|c| self.is_constant(c)),
        }
    }
}

#[cfg(test)]
mod tests;
