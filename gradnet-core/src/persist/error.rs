//! [`PersistError`]: what can go wrong saving or loading weights and checkpoints.

use std::io;
use std::path::Path;

/// Why a save or a load failed. Every variant that concerns one tensor names it (as
/// it is written in the file, with a checkpoint's `model.` or `optim.` prefix). A
/// failed load changes nothing in the model, the optimizer or the generators.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// Reading, writing, syncing or renaming a file failed.
    #[error("cannot {op} {path}: {message}")]
    Io {
        /// What was being done (`read`, `create`, `write`, `sync`, `rename`).
        op: &'static str,
        /// The file.
        path: String,
        /// The kind of I/O error.
        kind: io::ErrorKind,
        /// The system's message.
        message: String,
    },
    /// Not a valid safetensors file: truncated, a header length past the end, a
    /// header that is not JSON, offsets that do not tile the data, ...
    #[error("not a valid safetensors file: {reason}")]
    Corrupt {
        /// What the parser found wrong.
        reason: String,
    },
    /// A tensor of the model is not in the file (strict loading).
    #[error("tensor {name} is missing from the file{}", and_more(*more))]
    MissingTensor {
        /// The first missing tensor, in the model's order.
        name: String,
        /// How many more are missing.
        more: usize,
    },
    /// The file has a tensor the model does not (strict loading).
    #[error("the file has tensor {name}, which the model does not{}", and_more(*more))]
    UnexpectedTensor {
        /// The first unexpected tensor, in name order.
        name: String,
        /// How many more there are.
        more: usize,
    },
    /// A tensor whose shape in the file differs from the model's.
    #[error(
        "tensor {name}: the model has shape {}, the file {}",
        dims(expected),
        dims(found)
    )]
    ShapeMismatch {
        /// The tensor.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// A tensor stored in a type that cannot be loaded into it.
    #[error("tensor {name}: dtype {found} is not supported here (expected {expected})")]
    UnsupportedDtype {
        /// The tensor.
        name: String,
        /// The file's dtype (safetensors' name: `F32`, `I64`, `BOOL`, ...).
        found: String,
        /// The dtypes accepted for this tensor.
        expected: &'static str,
    },
    /// A value that the model's scalar type cannot hold exactly (an f64 weight with
    /// more precision than f32 has, a count that is not an integer); loading with
    /// lossy conversion rounds the former instead.
    #[error("tensor {name}: value {value} at index {index} is not exact in {target}{}",
        if *integer { "" } else { " (lossy conversion would round it)" })]
    InexactConversion {
        /// The tensor.
        name: String,
        /// Flat index of the first such value.
        index: usize,
        /// The value (as f64, itself rounded for integers beyond 2^53).
        value: f64,
        /// The type it was converted to (`f32`, `f64`, `int64`).
        target: &'static str,
        /// Whether the tensor is an integer one (no lossy conversion applies).
        integer: bool,
    },
    /// Two tensors of the model have one name, so a file cannot hold both.
    #[error("the model has two tensors named {name}")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A model whose visitors disagree (`visit_shapes` against `visit_params` and
    /// `visit_buffers`): a bug in a hand-written [`crate::Parameters`] impl.
    #[error("the model's visitors disagree at tensor {name}: {reason}")]
    InconsistentModel {
        /// The tensor where they first disagree.
        name: String,
        /// How.
        reason: String,
    },
    /// A gradnet file of the other kind (a checkpoint given as weights, or a file
    /// without gradnet's metadata given as a checkpoint).
    #[error("expected a gradnet {expected} file, found {found}")]
    WrongFormat {
        /// The kind expected (`weights`, `checkpoint`).
        expected: &'static str,
        /// What the metadata says (`checkpoint`, `no gradnet metadata`).
        found: String,
    },
    /// A gradnet file of a newer format version.
    #[error("format version {found} is not supported (this gradnet reads version {supported})")]
    UnsupportedVersion {
        /// The file's version.
        found: String,
        /// The version this code reads.
        supported: &'static str,
    },
    /// A gradnet file whose contents do not match the checksum in its metadata: some
    /// byte of it changed after it was written.
    #[error("the file is damaged: its checksum is {found}, its metadata says {expected}")]
    ChecksumMismatch {
        /// The checksum recorded in the metadata.
        expected: String,
        /// The checksum of the contents.
        found: String,
    },
    /// A metadata entry that is missing or does not parse (a checkpoint's entries, or
    /// the checksum of any gradnet file).
    #[error("metadata {key}: {reason}")]
    BadMetadata {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A checkpoint written by an optimizer of another kind or other settings.
    #[error("the checkpoint's optimizer has {setting} = {saved}, this one has {current}")]
    OptimizerMismatch {
        /// The setting (`kind`, `beta1`, `momentum`, ...).
        setting: String,
        /// The checkpoint's value.
        saved: String,
        /// The given optimizer's value.
        current: String,
    },
    /// A checkpoint holding another number of random generators than given.
    #[error("the checkpoint holds {saved} random generators, {given} were given")]
    RngCountMismatch {
        /// Generators in the checkpoint.
        saved: usize,
        /// Generators given to restore.
        given: usize,
    },
}

impl PersistError {
    /// An I/O error of `op` on `path`.
    pub(crate) fn io(op: &'static str, path: &Path, e: &io::Error) -> Self {
        PersistError::Io {
            op,
            path: path.display().to_string(),
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

fn and_more(more: usize) -> String {
    match more {
        0 => String::new(),
        n => format!(" (and {n} more)"),
    }
}

/// `[2, 3]`, as PyTorch prints a size.
fn dims(d: &[usize]) -> String {
    let inner: Vec<String> = d.iter().map(ToString::to_string).collect();
    format!("[{}]", inner.join(", "))
}
