//! Weights files: every parameter and buffer of a model under its PyTorch name.

use std::collections::HashMap;
use std::path::Path;

use super::codec::{self, Want};
use super::error::PersistError;
use super::{check_header, FORMAT_VERSION, KEY_DTYPE, KEY_FORMAT, KEY_NETWORK, KEY_VERSION};
use crate::error::Result;
use crate::params::Parameters;
use crate::real::Real;

/// How [`load_weights_with`] treats a file that does not match the model exactly.
///
/// The default is strict and exact, as `load_state_dict(strict=True)`: every tensor
/// of the model must be in the file and nothing else, and every value must be
/// exactly representable in the model's scalar type.
///
/// ```
/// use gradnet_core::persist::LoadOptions;
/// let opts = LoadOptions::default().strict(false).lossy(true);
/// assert!(!opts.is_strict() && opts.is_lossy());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    strict: bool,
    lossy: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            strict: true,
            lossy: false,
        }
    }
}

impl LoadOptions {
    /// Strict (the default): a tensor of the model missing from the file, or one in
    /// the file the model does not have, is an error. Not strict: the missing ones
    /// keep the model's values, the others are skipped, and the [`LoadReport`] lists
    /// both (PyTorch's `strict=False`). A wrong shape or dtype is an error either way.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Lossy (off by default): an f64 value with more precision than an f32 model
    /// holds is rounded to the nearest f32 (and counted in
    /// [`LoadReport::rounded`]) instead of being an error. A value beyond f32's range
    /// and a count that is not an integer are errors either way.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// Whether loading is strict.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Whether lossy conversion is allowed.
    pub fn is_lossy(&self) -> bool {
        self.lossy
    }
}

/// What a successful load found besides the values it loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The network named in the file's metadata (`None` for a file not written by
    /// gradnet, such as PyTorch's).
    pub network: Option<String>,
    /// Tensors of the model that the file lacks, in the model's order; they kept the
    /// model's values (non-strict loading only; empty otherwise).
    pub missing: Vec<&'static str>,
    /// Tensors of the file that the model lacks, by name; they were skipped
    /// (non-strict loading only; empty otherwise).
    pub skipped: Vec<String>,
    /// How many values were rounded (lossy loading only).
    pub rounded: usize,
}

/// The model's weights as the bytes of a safetensors file: every parameter and
/// buffer under its `state_dict` name and PyTorch shape, in the model's scalar type
/// (`F32` or `F64`; `num_batches_tracked` as `I64`, as PyTorch stores it), with
/// metadata `gradnet.format = weights`, `gradnet.version`, `gradnet.network` (the
/// model's type name), `gradnet.dtype` and `gradnet.checksum` (of the metadata and
/// every tensor: a damaged file is an error, not wrong weights).
///
/// # Errors
/// [`PersistError::DuplicateName`] or [`PersistError::InconsistentModel`] for a
/// model whose visitors are wrong; [`PersistError::InexactConversion`] for a
/// `num_batches_tracked` that is not an integer.
pub fn weights_to_bytes<T: Real, M: Parameters<T> + ?Sized>(model: &M) -> Result<Vec<u8>> {
    let entries = codec::entries(model)?;
    let values = codec::values(model);
    let mut tensors = Vec::with_capacity(entries.len());
    for (e, v) in entries.iter().zip(&values) {
        let integer = codec::is_integer_tensor(e.name);
        tensors.push((
            e.name.to_string(),
            codec::encode(e.name, e.shape, v, integer)?,
        ));
    }
    let metadata = HashMap::from([
        (KEY_FORMAT.to_string(), "weights".to_string()),
        (KEY_VERSION.to_string(), FORMAT_VERSION.to_string()),
        (KEY_NETWORK.to_string(), codec::short_type_name::<M>()),
        (
            KEY_DTYPE.to_string(),
            format!("{:?}", codec::dtype_of::<T>()),
        ),
    ]);
    Ok(codec::serialize(&tensors, metadata)?)
}

/// Saves the model's weights ([`weights_to_bytes`]) to `path`, crash-safely: a
/// temporary file in the same directory, synced, then renamed over `path`.
///
/// # Errors
/// As [`weights_to_bytes`], and [`PersistError::Io`].
pub fn save_weights<T: Real, M: Parameters<T> + ?Sized>(
    model: &M,
    path: impl AsRef<Path>,
) -> Result<()> {
    let bytes = weights_to_bytes(model)?;
    Ok(codec::write_atomic(path.as_ref(), &bytes)?)
}

/// Loads weights from `path` into the model, strictly and exactly
/// ([`LoadOptions::default`]). A file written by PyTorch's
/// `safetensors.torch.save_file(model.state_dict(), path)` for the equivalent
/// `nn.Sequential` loads as it is, in f32 or f64, into an f32 or f64 model.
///
/// # Errors
/// As [`load_weights_with`].
pub fn load_weights<T: Real, M: Parameters<T> + ?Sized>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<LoadReport> {
    load_weights_with(model, path, LoadOptions::default())
}

/// Loads weights from `path` into the model as `options` say.
///
/// # Errors
/// [`PersistError::Io`], and as [`weights_from_bytes`].
pub fn load_weights_with<T: Real, M: Parameters<T> + ?Sized>(
    model: &mut M,
    path: impl AsRef<Path>,
    options: LoadOptions,
) -> Result<LoadReport> {
    let bytes = codec::read_file(path.as_ref())?;
    weights_from_bytes(model, &bytes, options)
}

/// Loads weights from the bytes of a safetensors file into the model.
///
/// All or nothing: every tensor is found, checked (shape, dtype) and converted into
/// a staging buffer first; the model is written only when all of them are, so after
/// an error it is as it was. Nothing allocated depends on a length the file claims:
/// the parser checks every length against the bytes it has, and each staging
/// buffer has the model's length.
///
/// # Errors
/// [`PersistError::Corrupt`] for bytes that are not a safetensors file (truncated,
/// garbled); [`PersistError::ChecksumMismatch`] for a gradnet file changed after it
/// was written (and [`PersistError::BadMetadata`] for one without its checksum);
/// [`PersistError::WrongFormat`] for a gradnet checkpoint;
/// [`PersistError::UnsupportedVersion`]; [`PersistError::MissingTensor`] and
/// [`PersistError::UnexpectedTensor`] (strict only);
/// [`PersistError::ShapeMismatch`]; [`PersistError::UnsupportedDtype`] (a float
/// tensor stored as an integer, `BOOL`, FP8, ...); [`PersistError::InexactConversion`]
/// (without lossy conversion, an f64 value that f32 cannot hold; always, a count that
/// is not an integer); and the model's visitor errors of [`weights_to_bytes`].
pub fn weights_from_bytes<T: Real, M: Parameters<T> + ?Sized>(
    model: &mut M,
    bytes: &[u8],
    options: LoadOptions,
) -> Result<LoadReport> {
    let entries = codec::entries(&*model)?;
    let parsed = codec::parse(bytes)?;
    check_header(&parsed.metadata, "weights", false)?;
    // Any gradnet entry marks a gradnet file, which must carry its checksum (so a
    // damaged file is found even where the damage leaves it well-formed).
    let ours = parsed.metadata.keys().any(|k| k.starts_with("gradnet."));
    codec::verify_checksum(&parsed, ours)?;
    let mut report = LoadReport {
        network: parsed.metadata.get(KEY_NETWORK).cloned(),
        ..LoadReport::default()
    };
    let mut staged = Vec::with_capacity(entries.len());
    let mut missing = Vec::new();
    for e in &entries {
        let want = Want {
            key: e.name,
            shape: e.shape,
            integer: codec::is_integer_tensor(e.name),
        };
        match parsed.tensors.tensor(e.name) {
            Ok(view) => {
                let (values, rounded) = codec::decode::<T>(&want, &view, options.lossy)?;
                report.rounded += rounded;
                staged.push(Some(values));
            }
            Err(_) => {
                missing.push(e.name);
                staged.push(None);
            }
        }
    }
    let mut skipped: Vec<String> = parsed
        .tensors
        .names()
        .into_iter()
        .filter(|n| !entries.iter().any(|e| e.name == *n))
        .map(String::from)
        .collect();
    skipped.sort();
    if options.strict {
        if let Some(first) = missing.first() {
            return Err(PersistError::MissingTensor {
                name: first.to_string(),
                more: missing.len() - 1,
            }
            .into());
        }
        if let Some(first) = skipped.first() {
            return Err(PersistError::UnexpectedTensor {
                name: first.clone(),
                more: skipped.len() - 1,
            }
            .into());
        }
    }
    codec::write_into(model, &staged);
    report.missing = missing;
    report.skipped = skipped;
    Ok(report)
}
