//! The engine as a library: simplification in and out, sharing, every primitive's
//! derivative against central differences in f64 (also near kinks and in
//! saturation), and random expression trees (derivative against differences; the
//! simplified graph against the tree evaluated as written).

use super::*;

fn build(src: &str, vars: &[&str]) -> (Graph, Id) {
    let e: syn::Expr = syn::parse_str(src).expect("valid Rust");
    let vars: Vec<String> = vars.iter().map(|v| v.to_string()).collect();
    let mut g = Graph::new();
    let id = g.parse(&e, &Scope { vars: &vars }).expect("in the grammar");
    (g, id)
}

fn simplified(src: &str) -> String {
    let (g, id) = build(src, &["x", "y"]);
    g.show(id)
}

fn parse_err(src: &str) -> String {
    let e: syn::Expr = syn::parse_str(src).unwrap();
    let vars = vec!["x".to_string()];
    Graph::new()
        .parse(&e, &Scope { vars: &vars })
        .unwrap_err()
        .to_string()
}

const NAMED: fn(&str) -> f64 = |p| match p {
    "BETA" => 1.5,
    _ => panic!("unknown constant {p}"),
};

fn agree(a: f64, n: f64) -> bool {
    (a - n).abs() <= 1e-6 * a.abs().max(n.abs()) + 1e-9
}

#[test]
fn simplification_rules() {
    for (src, want) in [
        ("x * 1.0", "x0"),
        ("1.0 * x", "x0"),
        ("x + 0.0", "x0"),
        ("0.0 + x", "x0"),
        ("x - 0.0", "x0"),
        ("0.0 - x", "-x0"),
        ("x * 0.0", "0"),
        ("0.0 / x", "0"),
        ("x / 1.0", "x0"),
        ("x / x", "1"),
        ("x - x", "0"),
        ("-(-x)", "x0"),
        ("x.powi(1)", "x0"),
        ("x.powi(0)", "1"),
        ("x.powf(1.0)", "x0"),
        ("x.powf(2.0)", "x0^2"),
        ("x * x", "x0^2"),
        ("x.powi(2).powi(3)", "x0^6"),
        ("2.0 * 3.0 + 1.0", "7"),
        ("exp(0.0)", "1"),
        ("exp(ln(x))", "x0"),
        ("abs(-x)", "abs(x0)"),
        ("x + -y", "x0 - x1"),
        ("-x * y", "-(x0 * x1)"),
        ("x * -1.0", "-x0"),
        ("max(x, x)", "x0"),
        ("if 1.0 > 0.0 { x } else { y }", "x0"),
        ("if x > 0.0 { y } else { y }", "x1"),
        ("x - (y - x) + 0.0 * y", "x0 - (x1 - x0)"),
    ] {
        assert_eq!(simplified(src), want, "{src}");
    }
    // Commutative operands are put in one order: a + b and b + a are one node.
    let (mut g, a) = build("x + y", &["x", "y"]);
    let (x, y) = (g.var(0), g.var(1));
    assert_eq!(g.add(y, x), a);
    assert_eq!(g.mul(x, y), g.mul(y, x));
}

#[test]
fn derivatives_simplify() {
    let d = |src: &str| {
        let (mut g, e) = build(src, &["x", "y"]);
        let de = g.diff(e, 0);
        g.show(de)
    };
    assert_eq!(d("x"), "1");
    assert_eq!(d("y"), "0");
    assert_eq!(d("3.0 * x + y"), "3");
    assert_eq!(d("x * y"), "x1");
    assert_eq!(d("x.powi(3)"), "3 * x0^2");
    assert_eq!(d("exp(x)"), "exp(x0)");
    assert_eq!(d("tanh(x)"), "1 - tanh(x0)^2");
    assert_eq!(d("sigmoid(x)"), "sigmoid(x0) * (1 - sigmoid(x0))");
    assert_eq!(d("BETA * x"), "BETA");
}

/// `x * sigmoid(x)`: its value and derivative share one `sigmoid(x)`, evaluated once.
#[test]
fn function_and_derivative_share_subexpressions() {
    let (mut g, f) = build("x * sigmoid(x)", &["x"]);
    let df = g.diff(f, 0);
    let rt = quote!(rt);
    let (lets, outs) = g.emit(&[f, df], &[quote!(x)], &[], &rt);
    let code = quote!(#(#lets)* (#(#outs),*)).to_string();
    assert_eq!(code.matches("sigmoid").count(), 1, "{code}");
    // Given the function's output, tanh's derivative reads it instead of recomputing.
    let (mut g, f) = build("tanh(x)", &["x"]);
    let df = g.diff(f, 0);
    let (lets, outs) = g.emit(&[df], &[quote!(x)], &[(f, quote!(y))], &rt);
    let code = quote!(#(#lets)* #(#outs)*).to_string();
    assert!(!code.contains("tanh"), "{code}");
    assert!(code.contains('y'), "{code}");
}

/// Each primitive's derivative against central differences, on a grid over its
/// domain that includes saturation (|x| up to 30) and points 1e-3 from the kinks.
#[test]
fn every_primitive_against_finite_differences() {
    let h = 1e-4;
    let mut points: Vec<f64> = (-60..=60).map(|i| i as f64 * 0.5).collect();
    points.extend([-1e-3, 1e-3, -2e-3, 2e-3, 0.37, -0.37, 1e-2]);
    for src in [
        "exp(x)",
        "ln(x)",
        "sqrt(x)",
        "sin(x)",
        "cos(x)",
        "tanh(x)",
        "sigmoid(x)",
        "softplus(x)",
        "erf(x)",
        "abs(x)",
        "x.powi(3)",
        "x.powi(-2)",
        "x.powf(1.5)",
        "x.powf(BETA)",
        "max(x, 0.5 * x)",
        "min(x, 0.25)",
        "if x > 0.0 { x * x } else { -x }",
        "x / (1.0 + x * x)",
        "-x + 2.0 * x - x * 3.0",
    ] {
        let (mut g, f) = build(src, &["x"]);
        let df = g.diff(f, 0);
        let positive = src.starts_with("ln")
            || src.starts_with("sqrt")
            || src.contains("powf")
            || src.contains("powi(-2)");
        for &x in &points {
            let kink_at_0 = ["abs", "max", "if"].iter().any(|k| src.starts_with(k));
            if positive && x <= 0.0
                || src.contains("min") && (x - 0.25).abs() < 1e-3
                || kink_at_0 && x.abs() < 1e-3
            {
                continue;
            }
            if src.starts_with("exp") && x > 20.0 {
                continue; // the difference loses its digits where exp is 1e8 and more
            }
            let a = g.eval(df, &[x], &NAMED);
            // Five-point central difference, its step scaled to x (poles and kinks
            // are 1e-3 away at the closest).
            let h = h * x.abs().max(1e-2);
            let at = |k: f64| g.eval(f, &[x + k * h], &NAMED);
            let n = (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * h);
            assert!(agree(a, n), "{src} at {x}: analytic {a:e}, numeric {n:e}");
        }
    }
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// An expression tree as written, evaluated without the graph.
#[derive(Debug)]
enum Tree {
    Var(usize),
    Const(f64),
    Bin(char, Box<Tree>, Box<Tree>),
    Un(Fun, Box<Tree>),
    Powi(Box<Tree>, i32),
}

impl Tree {
    /// Smooth trees only (no kinks): their derivatives are checked by differences.
    /// Domains are kept: `ln` and `sqrt` of `1 + a^2`, division by `1 + b^2`.
    fn random(rng: &mut Rng, depth: u32) -> Tree {
        if depth == 0 || rng.below(4) == 0 {
            return if rng.below(3) == 0 {
                Tree::Const((rng.unit() * 4.0 - 2.0 * 100.0).round() / 100.0)
            } else {
                Tree::Var(rng.below(2) as usize)
            };
        }
        let sub = |rng: &mut Rng| Box::new(Tree::random(rng, depth - 1));
        let positive = |t: Box<Tree>| {
            Box::new(Tree::Bin(
                '+',
                Box::new(Tree::Const(1.0)),
                Box::new(Tree::Powi(t, 2)),
            ))
        };
        match rng.below(9) {
            0 => Tree::Bin('+', sub(rng), sub(rng)),
            1 => Tree::Bin('-', sub(rng), sub(rng)),
            2 | 3 => Tree::Bin('*', sub(rng), sub(rng)),
            4 => Tree::Bin('/', sub(rng), positive(sub(rng))),
            5 => Tree::Powi(sub(rng), 1 + rng.below(3) as i32),
            6 => {
                let f = [
                    Fun::Exp,
                    Fun::Sin,
                    Fun::Cos,
                    Fun::Tanh,
                    Fun::Sigmoid,
                    Fun::Softplus,
                    Fun::Erf,
                ][rng.below(7) as usize];
                // exp of a bounded argument
                if f == Fun::Exp {
                    Tree::Un(f, Box::new(Tree::Un(Fun::Tanh, sub(rng))))
                } else {
                    Tree::Un(f, sub(rng))
                }
            }
            7 => Tree::Un(Fun::Ln, positive(sub(rng))),
            _ => Tree::Un(Fun::Sqrt, positive(sub(rng))),
        }
    }

    fn eval(&self, v: &[f64]) -> f64 {
        match self {
            Tree::Var(i) => v[*i],
            Tree::Const(c) => *c,
            Tree::Bin(op, a, b) => {
                let (a, b) = (a.eval(v), b.eval(v));
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    _ => a / b,
                }
            }
            Tree::Un(f, a) => f.eval(a.eval(v)),
            Tree::Powi(a, n) => a.eval(v).powi(*n),
        }
    }

    fn build(&self, g: &mut Graph) -> Id {
        match self {
            Tree::Var(i) => g.var(*i),
            Tree::Const(c) => g.c(*c),
            Tree::Bin(op, a, b) => {
                let (a, b) = (a.build(g), b.build(g));
                match op {
                    '+' => g.add(a, b),
                    '-' => g.sub(a, b),
                    '*' => g.mul(a, b),
                    _ => g.div(a, b),
                }
            }
            Tree::Un(f, a) => {
                let a = a.build(g);
                g.un(*f, a)
            }
            Tree::Powi(a, n) => {
                let a = a.build(g);
                g.powi(a, *n)
            }
        }
    }
}

#[test]
fn random_trees_simplified_values_and_derivatives() {
    let mut rng = Rng(7);
    let h = 1e-5;
    let mut checked = 0;
    for case in 0..2000 {
        let t = Tree::random(&mut rng, 5);
        let mut g = Graph::new();
        let e = t.build(&mut g);
        let (dx, dy) = (g.diff(e, 0), g.diff(e, 1));
        for _ in 0..4 {
            let v = [rng.unit() * 3.0 - 1.5, rng.unit() * 3.0 - 1.5];
            let direct = t.eval(&v);
            let graph = g.eval(e, &v, &NAMED);
            assert!(
                (direct - graph).abs() <= 1e-12 * direct.abs().max(1.0),
                "case {case}: {t:?} = {direct} as written, {graph} simplified ({})",
                g.show(e)
            );
            for (var, d) in [(0, dx), (1, dy)] {
                // Five-point central difference (error of order h^4): the trees
                // nest powers and oscillations whose third derivatives are large.
                let at = |k: f64| {
                    let mut p = v;
                    p[var] += k * h;
                    t.eval(&p)
                };
                let numeric = (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * h);
                let analytic = g.eval(d, &v, &NAMED);
                // Central differences in f64 lose about 1e-10 relative to the
                // function's size; judged relative to it where it is large.
                let scale = direct.abs().max(1.0);
                assert!(
                    (analytic - numeric).abs()
                        <= 1e-6 * analytic.abs().max(numeric.abs()) + 1e-9 * scale,
                    "case {case} d/dx{var}: {t:?}: analytic {analytic:e}, numeric {numeric:e}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 16_000);
}

/// Second derivatives: the engine differentiates its own output.
#[test]
fn second_derivatives() {
    let (mut g, f) = build("x.powi(3) * y + sin(x * y)", &["x", "y"]);
    let fx = g.diff(f, 0);
    let fxy = g.diff(fx, 1);
    let (x, y) = (0.7f64, -1.3f64);
    // d2/dxdy = 3x^2 + cos(xy) - xy sin(xy)
    let want = 3.0 * x * x + (x * y).cos() - x * y * (x * y).sin();
    assert!((g.eval(fxy, &[x, y], &NAMED) - want).abs() < 1e-12);
}

#[test]
fn mistakes_name_what_is_supported() {
    let e = parse_err("foo(x)");
    assert!(
        e.contains("unsupported function `foo`") && e.contains("sigmoid"),
        "{e}"
    );
    let e = parse_err("x + z");
    assert!(
        e.contains("unknown variable `z`") && e.contains("`x`"),
        "{e}"
    );
    let e = parse_err("x.powf(x)");
    assert!(e.contains("constant exponent"), "{e}");
    let e = parse_err("x.powi(1.5)");
    assert!(e.contains("integer literal"), "{e}");
    let e = parse_err("[x]");
    assert!(e.contains("unsupported expression"), "{e}");
    let e = parse_err("x % 2.0");
    assert!(e.contains("unsupported operator"), "{e}");
    let e = parse_err("if x == 0.0 { x } else { 1.0 }");
    assert!(e.contains("compares with"), "{e}");
    let e = parse_err("exp(x, x)");
    assert!(e.contains("takes 1 argument"), "{e}");
}
