//! Spec text -> syntax tree. Only the shape of the grammar is checked here; what the
//! words mean (known layers, argument types, widths) is `check`'s job, so that every
//! mistake can be reported at its own token. The grammar is on [`Spec`].

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser, Peek};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{braced, parenthesized, Attribute, Expr, Ident, Token, Visibility};

/// The keys of a spec's items. The layer words, the block words `residual` and
/// `repeat` among them, are not keywords: every word parses the same way (`Layer`
/// below) and `kinds`' table says what it means, so that `check` reports an
/// unknown or misused word at its token.
mod kw {
    syn::custom_keyword!(input);
    syn::custom_keyword!(loss);
    syn::custom_keyword!(clip);
}

/// The whole `network! { ... }` input.
///
/// ```text
/// Spec  := Attr* Vis `struct` Ident `{` Item,* `}`
/// Item  := `input` `:` Expr                  (the width: an integer or a named const,
///                                             or `seq(width)`)
///        | `loss` `:` Expr                   (mse, cross_entropy, bce_with_logits)
///        | `clip` `:` Expr                   (norm(x), value(x))
///        | (Ident `:`)? Layer                (a named layer; `:` but not `::`)
/// Layer := Ident (`(` Arg,* `)`)? (`{` Item,* `}`)?
///                                            (dense(128), relu, dropout(0.1),
///                                             lstm(64, sequence),
///                                             residual { .. }, repeat(2) { .. })
/// Arg   := Width `->` Width | Ident `=` Expr | Expr
/// Width := LitInt | Path
/// ```
///
/// Any word may take arguments and a block here; `check` says which may.
pub struct Spec {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub items: Vec<Item>,
    /// Span of the closing part of the spec, for "missing input/loss" errors.
    pub brace_span: Span,
}

/// What comes before a spec's body: all the stub of a failed spec needs
/// (`fallback`).
pub struct Header {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
}

/// One comma-separated entry of a spec or a block.
pub enum Item {
    /// `input: 784`
    Input { key: Ident, width: Expr },
    /// `loss: cross_entropy`
    Loss { key: Ident, value: Expr },
    /// `clip: norm(1.0)`
    Clip { key: Ident, value: Expr },
    /// A layer, maybe named.
    Layer(LayerItem),
}

/// `name: word(args)` or `word { items }`.
pub struct LayerItem {
    pub name: Option<Ident>,
    pub word: Ident,
    pub args: Option<Punctuated<Arg, Token![,]>>,
    /// Span of the parentheses, when there are any (for argument-count errors).
    pub args_span: Option<Span>,
    pub block: Option<Vec<Item>>,
    /// `map(|x| EXPR)` or `map(|x; beta = 1.0, a[N] = 0.25| EXPR)`: its own syntax.
    pub map: Option<MapSyntax>,
}

/// The argument of `map`: the variable, the learnable parameters (a scalar, or one
/// per feature with `[N]`) with their initial values, and the body.
pub struct MapSyntax {
    pub var: Ident,
    pub params: Vec<MapParam>,
    pub body: Expr,
}

/// `beta = 1.0` or `a[N] = 0.25` in a `map`.
pub struct MapParam {
    pub name: Ident,
    pub width: Option<Expr>,
    pub init: Expr,
}

fn parse_map(input: ParseStream) -> syn::Result<MapSyntax> {
    input.parse::<Token![|]>().map_err(|e| {
        syn::Error::new(e.span(), "map takes a function: `map(|x| x * sigmoid(x))`")
    })?;
    let var: Ident = input.parse()?;
    let mut params = Vec::new();
    if input.peek(Token![;]) {
        input.parse::<Token![;]>()?;
        while !input.peek(Token![|]) {
            let name: Ident = input.parse()?;
            let width = if input.peek(syn::token::Bracket) {
                let content;
                syn::bracketed!(content in input);
                Some(content.parse::<Expr>()?)
            } else {
                None
            };
            input.parse::<Token![=]>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "a map parameter needs its initial value: `beta = 1.0`",
                )
            })?;
            let init = parse_unary(input)?;
            params.push(MapParam { name, width, init });
            if !input.peek(Token![|]) {
                input.parse::<Token![,]>()?;
            }
        }
    } else if input.peek(Token![,]) {
        return Err(input.error(
            "map takes one variable; learnable parameters follow a `;`: `map(|x; beta = 1.0| ..)`",
        ));
    }
    input.parse::<Token![|]>()?;
    let body: Expr = input.parse()?;
    if !input.is_empty() {
        return Err(input.error("map takes one function and nothing after it"));
    }
    Ok(MapSyntax { var, params, body })
}

/// A number, maybe negative (an initial value, stopping before `,` and `|`).
fn parse_unary(input: ParseStream) -> syn::Result<Expr> {
    if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        let inner = parse_unary(input)?;
        return Ok(Expr::Unary(syn::ExprUnary {
            attrs: Vec::new(),
            op: syn::UnOp::Neg(minus),
            expr: Box::new(inner),
        }));
    }
    if input.peek(syn::Lit) {
        return Ok(Expr::Lit(input.parse()?));
    }
    Ok(Expr::Path(input.parse()?))
}

/// One argument of a layer.
// Short-lived syntax; boxing the two expressions would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum Arg {
    /// `64 -> 128`
    Arrow { from: Expr, to: Expr },
    /// `init = he_normal`
    Named { name: Ident, value: Expr },
    /// `0.1`
    Positional(Expr),
}

impl Arg {
    pub fn span(&self) -> Span {
        match self {
            Arg::Arrow { from, to } => from.span().join(to.span()).unwrap_or_else(|| from.span()),
            Arg::Named { name, .. } => name.span(),
            Arg::Positional(e) => e.span(),
        }
    }
}

impl Spec {
    /// Parses a spec. `header` is set as soon as the name has been read, so that a
    /// spec gets a stub (`fallback`) whether its body does not parse or does not
    /// check.
    pub fn parse(tokens: TokenStream, header: &mut Option<Header>) -> syn::Result<Spec> {
        (|input: ParseStream| parse_spec(input, header)).parse2(tokens)
    }
}

/// [`Spec`]'s grammar; `header` is set as soon as the name has been read.
fn parse_spec(input: ParseStream, header: &mut Option<Header>) -> syn::Result<Spec> {
    let attrs = input.call(Attribute::parse_outer)?;
    let vis: Visibility = input.parse()?;
    input.parse::<Token![struct]>()?;
    let name: Ident = input.parse()?;
    *header = Some(Header {
        attrs: attrs.clone(),
        vis: vis.clone(),
        name: name.clone(),
    });
    let content;
    let brace = braced!(content in input);
    let items = parse_items(&content)?;
    if !input.is_empty() {
        return Err(input.error("unexpected tokens after the network's body"));
    }
    Ok(Spec {
        attrs,
        vis,
        name,
        items,
        brace_span: brace.span.close(),
    })
}

fn parse_items(input: ParseStream) -> syn::Result<Vec<Item>> {
    let items = Punctuated::<Item, Token![,]>::parse_terminated(input)?;
    Ok(items.into_iter().collect())
}

impl Parse for Item {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if at_key(input, kw::input) {
            let key = key(input)?;
            Ok(Item::Input {
                key,
                width: input.parse()?,
            })
        } else if at_key(input, kw::loss) {
            let key = key(input)?;
            Ok(Item::Loss {
                key,
                value: input.parse()?,
            })
        } else if at_key(input, kw::clip) {
            let key = key(input)?;
            Ok(Item::Clip {
                key,
                value: input.parse()?,
            })
        } else if at_key(input, syn::Ident) {
            let name = key(input)?;
            Ok(Item::Layer(parse_layer(input, Some(name))?))
        } else {
            Ok(Item::Layer(parse_layer(input, None)?))
        }
    }
}

/// Whether `word :` comes next (a `:`, not the start of a path's `::`).
fn at_key(input: ParseStream, word: impl Peek) -> bool {
    input.peek(word) && input.peek2(Token![:]) && !input.peek2(Token![::])
}

/// `word :`, as the word: the checks name it in their messages.
fn key(input: ParseStream) -> syn::Result<Ident> {
    let key = input.parse()?;
    input.parse::<Token![:]>()?;
    Ok(key)
}

fn parse_layer(input: ParseStream, name: Option<Ident>) -> syn::Result<LayerItem> {
    let word: Ident = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected a layer or an activation, such as `dense(64)` or `relu`",
        )
    })?;
    let mut layer = LayerItem {
        name,
        word,
        args: None,
        args_span: None,
        block: None,
        map: None,
    };
    if layer.word == "map" && input.peek(syn::token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        layer.map = Some(parse_map(&content)?);
        layer.args_span = Some(paren.span.join());
    } else if input.peek(syn::token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        layer.args = Some(Punctuated::parse_terminated(&content)?);
        layer.args_span = Some(paren.span.join());
    }
    if input.peek(syn::token::Brace) {
        let content;
        braced!(content in input);
        layer.block = Some(parse_items(&content)?);
    }
    Ok(layer)
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(syn::Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            return Ok(Arg::Named {
                name,
                value: input.parse()?,
            });
        }
        // `a -> b`: an integer or a path, then `->` (tried on a fork first, because a
        // full expression parser would read the `-` of `->` as a minus).
        let fork = input.fork();
        if parse_width_atom(&fork).is_ok() && fork.peek(Token![->]) {
            let from = parse_width_atom(input)?;
            input.parse::<Token![->]>()?;
            let to = parse_width_atom(input)
                .map_err(|e| syn::Error::new(e.span(), "expected the output width after `->`"))?;
            return Ok(Arg::Arrow { from, to });
        }
        Ok(Arg::Positional(input.parse()?))
    }
}

/// A width: an integer literal or a path to a const, as an expression.
fn parse_width_atom(input: ParseStream) -> syn::Result<Expr> {
    if input.peek(syn::LitInt) {
        let lit: syn::LitInt = input.parse()?;
        return Ok(Expr::Lit(syn::ExprLit {
            attrs: Vec::new(),
            lit: syn::Lit::Int(lit),
        }));
    }
    let path: syn::Path = input.parse()?;
    Ok(Expr::Path(syn::ExprPath {
        attrs: Vec::new(),
        qself: None,
        path,
    }))
}
