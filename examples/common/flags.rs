//! Command-line flags of the examples: `--name value` pairs, each checked against
//! the flags an example knows, parsed on request.
//!
//! Shared through `#[path = "common/flags.rs"] mod flags;`.

#![allow(dead_code)] // each example uses part of this module

use std::fmt::Display;
use std::str::FromStr;

/// The `--name value` pairs of the command line.
pub struct Flags {
    values: Vec<(String, String)>,
}

impl Flags {
    /// The command line's flags, each one of `known`.
    ///
    /// # Errors
    /// A flag without a value, or one not in `known`.
    pub fn parse(known: &[&str]) -> Result<Self, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut values = Vec::new();
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            if !known.contains(&flag.as_str()) {
                return Err(format!(
                    "unknown flag {flag}; expected {}",
                    known.join(", ")
                ));
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            values.push((flag, value));
        }
        Ok(Flags { values })
    }

    /// The value of `name` (the last one given), or `default`.
    ///
    /// # Errors
    /// A value that does not parse.
    pub fn get<V: FromStr>(&self, name: &str, default: V) -> Result<V, String>
    where
        V::Err: Display,
    {
        match self.values.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => v.parse().map_err(|e| format!("{name} {v}: {e}")),
            None => Ok(default),
        }
    }
}
