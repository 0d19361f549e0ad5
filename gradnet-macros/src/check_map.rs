//! The check of `map(|x| EXPR)` and `map(|x; beta = 1.0, a[N] = 0.25| EXPR)`: the
//! function is parsed and differentiated by the symbolic engine here, so a mistake in
//! it is reported at its token. Without parameters a map is an activation (fused
//! after a dense layer like the built-in ones); with them, a layer whose parameters
//! get gradients, names (`3.beta`) and shapes like any other.

use crate::args::*;
use crate::check::Walker;
use crate::ir::*;
use crate::kinds::LayerCx;
use crate::symbolic::{Graph, Scope};
use quote::{format_ident, quote};
use std::rc::Rc;
use syn::spanned::Spanned;

impl Walker<'_> {
    pub(crate) fn map(&mut self, cx: &LayerCx) -> Option<(Kind, Width)> {
        let (item, width) = (cx.item, cx.width);
        let Some(m) = &item.map else {
            self.cx.error(
                item.word.span(),
                "map takes a function: `map(|x| x * sigmoid(x))`, or with learnable parameters `map(|x; beta = 1.0| x * sigmoid(beta * x))`",
            );
            return None;
        };
        let mut names = vec![m.var.to_string()];
        let mut params = Vec::new();
        let mut ok = true;
        for p in &m.params {
            let name = p.name.to_string();
            if names.contains(&name) {
                self.cx.error(
                    p.name.span(),
                    format!("`{name}` is given twice in this map"),
                );
                ok = false;
                continue;
            }
            let per_feature = match &p.width {
                None => false,
                Some(e) => match expect_width(self.cx, e) {
                    Some(Width::Lit(1, _)) => false,
                    Some(w) => {
                        self.same_width(&w, width, e.span(), &format!("map parameter `{name}`"));
                        true
                    }
                    None => {
                        ok = false;
                        false
                    }
                },
            };
            let Some(init) = expect_num(self.cx, &p.init) else {
                ok = false;
                continue;
            };
            ok &= check_finite_num(
                self.cx,
                &mut self.value_asserts,
                &init,
                p.init.span(),
                &format!("the initial value of `{name}`"),
            );
            names.push(name.clone());
            params.push(MapParam {
                name,
                per_feature,
                init,
            });
        }
        let mut graph = Graph::new();
        let f = match graph.parse(&m.body, &Scope { vars: &names }) {
            Ok(f) => f,
            Err(e) => {
                self.cx.push(e);
                return None;
            }
        };
        if !ok {
            return None;
        }
        let dx = graph.diff(f, 0);
        let dparams = (1..names.len()).map(|i| graph.diff(f, i)).collect();
        let body = &m.body;
        let head = match &params[..] {
            [] => m.var.to_string(),
            ps => {
                let list: Vec<String> = ps
                    .iter()
                    .map(|p| {
                        let w = if p.per_feature {
                            format!("[{}]", width.describe())
                        } else {
                            String::new()
                        };
                        let v = match p.init.value {
                            Some(v) => format!("{v}"),
                            None => p.init.tokens.to_string(),
                        };
                        format!("{}{w} = {v}", p.name)
                    })
                    .collect();
                format!("{}; {}", m.var, list.join(", "))
            }
        };
        let text = format!("map(|{head}| {})", quote!(#body));
        let ty = format_ident!(
            "__GradnetMap_{}_{}",
            self.net,
            cx.field,
            span = item.word.span()
        );
        let map = Rc::new(MapFn {
            ty,
            text,
            params,
            graph,
            f,
            dx,
            dparams,
        });
        let kind = if map.params.is_empty() {
            Kind::Act(Act {
                kind: ActKind::Map,
                args: Vec::new(),
                span: item.word.span(),
                map: Some(map),
            })
        } else {
            Kind::Map(map)
        };
        Some((kind, width.clone()))
    }
}
