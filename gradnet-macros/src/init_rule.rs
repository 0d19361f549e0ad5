//! The default initialization rule: a dense layer without `init` takes it from the
//! next activation (see the macro's documentation).

use crate::ir::*;

/// The activation kinds of the spec in order, blocks flattened, for the init rule.
pub(crate) fn flatten<'a>(layers: &'a [Layer], out: &mut Vec<&'a Kind>) {
    for l in layers {
        match &l.kind {
            Kind::Residual { body } => flatten(body, out),
            k => out.push(k),
        }
    }
}

/// The documented default: a dense layer without `init` takes it from the next
/// activation, skipping layers that are not activations: He (fan_in) for relu,
/// leaky_relu and prelu (their slope in the gain), elu, gelu and silu; LeCun for
/// selu; Glorot for tanh, sigmoid, softplus, hard_tanh and none, and where a
/// recurrent layer comes first (its gates are sigmoids and tanh).
pub(crate) fn resolve_inits(layers: &mut [Layer]) {
    let mut order = Vec::new();
    flatten(layers, &mut order);
    // What each dense layer (by position in `order`) resolves to.
    let mut resolved: Vec<Option<InitSpec>> = Vec::new();
    for (i, k) in order.iter().enumerate() {
        let Kind::Dense { init, .. } = k else {
            resolved.push(None);
            continue;
        };
        let next = order[i + 1..].iter().find_map(|k| match k {
            Kind::Act(a) => Some(Next::Act(a.clone())),
            Kind::PRelu { init, .. } => Some(Next::PRelu(init.clone())),
            // Not activations: skipped by the rule.
            Kind::Dense { .. }
            | Kind::BatchNorm { .. }
            | Kind::LayerNorm { .. }
            | Kind::Dropout { .. }
            | Kind::ReZero
            | Kind::Residual { .. } => None,
            // A recurrent layer's gates are sigmoids and tanh, and a map with
            // parameters is a function the rule cannot judge: the search ends there,
            // with Glorot.
            Kind::Recurrent(_) | Kind::Map(_) => Some(Next::Gates),
        });
        let gain = match &next {
            Some(Next::Act(a)) if a.kind == ActKind::LeakyRelu => {
                Nonlinearity::LeakyRelu(a.args[0].clone())
            }
            Some(Next::PRelu(slope)) => Nonlinearity::LeakyRelu(slope.clone()),
            _ => Nonlinearity::Relu,
        };
        resolved.push(Some(match init {
            InitSpec::Auto => match &next {
                Some(Next::PRelu(_)) => InitSpec::He {
                    uniform: false,
                    fan_out: false,
                    nonlinearity: gain,
                },
                Some(Next::Act(a)) => match a.kind {
                    ActKind::Relu
                    | ActKind::LeakyRelu
                    | ActKind::Elu
                    | ActKind::Gelu
                    | ActKind::GeluTanh
                    | ActKind::Silu => InitSpec::He {
                        uniform: false,
                        fan_out: false,
                        nonlinearity: gain,
                    },
                    ActKind::Selu => InitSpec::LecunNormal,
                    _ => InitSpec::Glorot {
                        uniform: true,
                        gain: Num::lit(1.0),
                    },
                },
                Some(Next::Gates) | None => InitSpec::Glorot {
                    uniform: true,
                    gain: Num::lit(1.0),
                },
            },
            InitSpec::He {
                uniform,
                fan_out,
                nonlinearity: Nonlinearity::Auto,
            } => InitSpec::He {
                uniform: *uniform,
                fan_out: *fan_out,
                nonlinearity: gain,
            },
            other => other.clone(),
        }));
    }
    let mut it = resolved.into_iter();
    apply(layers, &mut it);

    fn apply(layers: &mut [Layer], it: &mut impl Iterator<Item = Option<InitSpec>>) {
        for l in layers {
            match &mut l.kind {
                Kind::Residual { body } => apply(body, it),
                Kind::Dense { init, .. } => {
                    if let Some(Some(r)) = it.next() {
                        *init = r;
                    }
                }
                Kind::Act(_)
                | Kind::PRelu { .. }
                | Kind::BatchNorm { .. }
                | Kind::LayerNorm { .. }
                | Kind::Dropout { .. }
                | Kind::ReZero
                | Kind::Recurrent(_)
                | Kind::Map(_) => {
                    it.next();
                }
            }
        }
    }
}

pub(crate) enum Next {
    Act(Act),
    PRelu(Num),
    /// A recurrent layer.
    Gates,
}
