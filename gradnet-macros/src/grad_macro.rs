//! `grad!`: a function's value and its derivatives, derived by the symbolic engine
//! at compile time and written out as a generic Rust function.
//!
//! ```text
//! grad!(|x, y| EXPR)                  a generic fn: (x: T, y: T) -> (T, [T; 2])
//! grad!(|x| EXPR)                     (x: T) -> (T, T): the value and the derivative
//! grad!(|x, y| EXPR, hessian)         also the second derivatives: (T, [T; 2], [[T; 2]; 2])
//! grad!(|x| EXPR, hessian)            (T, T, T)
//! grad!(pub fn name(x, y) = EXPR)     the same as a named item (generic over T: Real)
//! ```

use crate::symbolic::{Graph, Id, Scope};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Ident, Token};

/// The parsed input.
struct GradInput {
    /// `Some((vis, name))` for the item form.
    item: Option<(syn::Visibility, Ident)>,
    vars: Vec<Ident>,
    body: syn::Expr,
    hessian: bool,
}

impl Parse for GradInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let (item, vars, body) = if input.peek(Token![|]) {
            input.parse::<Token![|]>()?;
            let mut vars = Vec::new();
            while !input.peek(Token![|]) {
                vars.push(input.parse::<Ident>()?);
                if !input.peek(Token![|]) {
                    input.parse::<Token![,]>()?;
                }
            }
            input.parse::<Token![|]>()?;
            (None, vars, input.parse::<syn::Expr>()?)
        } else {
            let vis: syn::Visibility = input.parse()?;
            input.parse::<Token![fn]>().map_err(|e| {
                syn::Error::new(e.span(), "expected `|x, y| EXPR` or `fn name(x, y) = EXPR`")
            })?;
            let name: Ident = input.parse()?;
            let content;
            syn::parenthesized!(content in input);
            let vars = content
                .parse_terminated(Ident::parse, Token![,])?
                .into_iter()
                .collect();
            input.parse::<Token![=]>()?;
            (Some((vis, name)), vars, input.parse::<syn::Expr>()?)
        };
        let mut hessian = false;
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if !input.is_empty() {
                let word: Ident = input.parse()?;
                if word != "hessian" {
                    return Err(syn::Error::new(
                        word.span(),
                        format!("unknown option `{word}`; the option is `hessian`"),
                    ));
                }
                hessian = true;
                if input.peek(Token![,]) {
                    input.parse::<Token![,]>()?;
                }
            }
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the expression"));
        }
        Ok(GradInput {
            item,
            vars,
            body,
            hessian,
        })
    }
}

/// The expansion of `grad!`, or its errors.
pub fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<GradInput>(input).and_then(|g| generate(&g)) {
        Ok(ts) => ts,
        Err(e) => e.into_compile_error(),
    }
}

fn generate(g: &GradInput) -> syn::Result<TokenStream> {
    if g.vars.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "grad! needs at least one variable: `grad!(|x| x * x)`",
        ));
    }
    for (i, v) in g.vars.iter().enumerate() {
        if g.vars[..i].iter().any(|w| w == v) {
            return Err(syn::Error::new(
                v.span(),
                format!("variable `{v}` is given twice"),
            ));
        }
    }
    let names: Vec<String> = g.vars.iter().map(|v| v.to_string()).collect();
    let mut graph = Graph::new();
    let f = graph.parse(&g.body, &Scope { vars: &names })?;
    let n = names.len();
    let grads: Vec<Id> = (0..n).map(|i| graph.diff(f, i)).collect();
    let hess: Vec<Vec<Id>> = if g.hessian {
        grads
            .iter()
            .map(|&d| (0..n).map(|j| graph.diff(d, j)).collect())
            .collect()
    } else {
        Vec::new()
    };
    let mut outputs = vec![f];
    outputs.extend(&grads);
    for row in &hess {
        outputs.extend(row);
    }
    let rt = quote!(::gradnet::__private);
    let vars: Vec<TokenStream> = g.vars.iter().map(|v| quote!(#v)).collect();
    let (lets, outs) = graph.emit(&outputs, &vars, &[], &rt);
    let value = &outs[0];
    let grad = &outs[1..=n];
    let (ret_ty, ret) = match (n, g.hessian) {
        (1, false) => (quote!((T, T)), quote!((#value, #(#grad)*))),
        (1, true) => {
            let h = &outs[2];
            (quote!((T, T, T)), quote!((#value, #(#grad)*, #h)))
        }
        (_, false) => (quote!((T, [T; #n])), quote!((#value, [#(#grad),*]))),
        (_, true) => {
            let rows = outs[n + 1..].chunks(n).map(|r| quote!([#(#r),*]));
            (
                quote!((T, [T; #n], [[T; #n]; #n])),
                quote!((#value, [#(#grad),*], [#(#rows),*])),
            )
        }
    };
    let args = g.vars.iter().map(|v| quote!(#v: T));
    let doc = format!(
        "`{}` and its {}, derived by `grad!`.",
        quote_body(&g.body),
        if g.hessian {
            "gradient and second derivatives"
        } else {
            "gradient"
        }
    );
    let (vis, name) = match &g.item {
        Some((vis, name)) => (quote!(#vis), name.clone()),
        None => (quote!(), format_ident!("__gradnet_grad")),
    };
    let func = quote! {
        #[doc = #doc]
        #[allow(clippy::all, unused_parens, unused_variables, non_snake_case)]
        #vis fn #name<T: #rt::Real>(#(#args),*) -> #ret_ty {
            #(#lets)*
            #ret
        }
    };
    Ok(match g.item {
        Some(_) => func,
        None => quote!({ #func #name }),
    })
}

fn quote_body(e: &syn::Expr) -> String {
    quote!(#e).to_string()
}
