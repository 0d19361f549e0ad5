//! Collects errors so that a spec with several mistakes reports all of them at once
//! (serde_derive's `Ctxt`).

use std::fmt::Display;

/// An error sink: every check reports here and goes on.
#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// Records an error at `span`.
    pub fn error(&mut self, span: proc_macro2::Span, msg: impl Display) {
        self.errors.push(syn::Error::new(span, msg));
    }

    /// Records an already-built error.
    pub fn push(&mut self, err: syn::Error) {
        self.errors.push(err);
    }

    /// Whether nothing has been reported.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// All errors combined into one, if there were any.
    pub fn finish(self) -> Result<(), syn::Error> {
        let mut errors = self.errors.into_iter();
        match errors.next() {
            None => Ok(()),
            Some(mut first) => {
                for e in errors {
                    first.combine(e);
                }
                Err(first)
            }
        }
    }
}
