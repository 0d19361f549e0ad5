//! Saving and loading: weights files and training checkpoints, in the safetensors
//! format, for every model that implements [`Parameters`] (so every generated
//! network, and layers or hand-built models too).
//!
//! **Weights** ([`save_weights`], [`load_weights`]) hold every parameter and buffer
//! under its PyTorch `state_dict` name and shape, so a file moves both ways between
//! gradnet and PyTorch with no code: PyTorch writes one with
//! `safetensors.torch.save_file(model.state_dict(), path)` for the equivalent
//! `nn.Sequential`, and reads gradnet's with
//! `model.load_state_dict(safetensors.torch.load_file(path), strict=True)`.
//!
//! | tensor | in the file |
//! |---|---|
//! | parameters, running statistics | the network's scalar type, `F32` or `F64` |
//! | `num_batches_tracked` | `I64`, a scalar `[]`, as PyTorch stores it |
//! | metadata | `gradnet.format` (`weights`), `gradnet.version` (`1`), `gradnet.network`, `gradnet.dtype`, `gradnet.checksum` |
//!
//! Loading is strict by default (every tensor of the model in the file, nothing
//! else; [`LoadOptions::strict`] relaxes it and the [`LoadReport`] lists what was
//! missing or skipped), converts between f32 and f64 files and models where the
//! value is exact ([`LoadOptions::lossy`] rounds f64 values into an f32 model), also
//! reads F16 and BF16 weights (always exact), and is all or nothing: every tensor is
//! checked and converted into a staging buffer before the model is touched.
//!
//! **Checkpoints** ([`save_checkpoint`], [`load_checkpoint`]) add everything that
//! resuming needs to continue bit for bit as if training had not stopped: the
//! optimizer's buffers and step count ([`crate::optim::OptimizerState`]), its
//! learning rate, the position of every random generator given (the workspace's
//! dropout stream, a shuffling stream), and the step and epoch ([`Progress`]; the
//! schedules of [`crate::schedule`] are closed forms of the epoch).
//!
//! **Files are written crash-safely**: into a temporary file in the same directory,
//! flushed and synced, renamed over the old file, and the directory synced. **Bad
//! files are errors, never panics**: a truncated or garbled file, a header length
//! beyond the file, a wrong shape or dtype is a [`PersistError`] naming the tensor,
//! a gradnet file changed after it was written fails its checksum,
//! and what a load allocates is bounded by the model's size and the file's actual
//! length, never by a length the file claims.
//!
//! ```
//! use gradnet_core::{Dense, Parameters, init::Init, rng::seeded};
//! use gradnet_core::persist::{weights_from_bytes, weights_to_bytes, LoadOptions};
//! use gradnet_core::{Error, PersistError};
//! let layer = Dense::<f32, 3, 2>::new(&Init::glorot_uniform(), true, &mut seeded(0));
//! let bytes = weights_to_bytes(&layer)?;
//!
//! // Into an f64 layer: f32 values are exact in f64.
//! let mut wide = Dense::<f64, 3, 2>::new(&Init::zeros(), true, &mut seeded(0));
//! weights_from_bytes(&mut wide, &bytes, LoadOptions::default())?;
//! assert_eq!(wide.weight()[0], f64::from(layer.weight()[0]));
//!
//! // A layer of another shape: a typed error naming the tensor, nothing loaded.
//! let mut other = Dense::<f32, 4, 2>::new(&Init::zeros(), true, &mut seeded(0));
//! let err = weights_from_bytes(&mut other, &bytes, LoadOptions::default()).unwrap_err();
//! assert!(matches!(err, Error::Persist(PersistError::ShapeMismatch { ref name, .. }) if name == "weight"));
//! assert!(other.weight().iter().all(|&w| w == 0.0));
//! # Ok::<(), gradnet_core::Error>(())
//! ```

mod checkpoint;
mod codec;
mod error;
mod weights;

use std::collections::HashMap;

pub use checkpoint::{
    checkpoint_from_bytes, checkpoint_from_bytes_with, checkpoint_to_bytes,
    checkpoint_to_bytes_with, load_checkpoint, load_checkpoint_with, save_checkpoint,
    save_checkpoint_with, Extra, Progress,
};
pub use codec::is_integer_tensor;
pub use error::PersistError;
pub use weights::{
    load_weights, load_weights_with, save_weights, weights_from_bytes, weights_to_bytes,
    LoadOptions, LoadReport,
};

#[cfg(doc)]
use crate::Parameters;

/// Writes `bytes` to `path` as gradnet writes its own files, crash-safely: into a
/// temporary file in the same directory, flushed and synced, renamed over `path`,
/// and the directory synced. A crash leaves the old file or the new one, never a
/// mix.
///
/// # Errors
/// [`PersistError::Io`] naming the operation and the path.
pub fn write_atomic(path: impl AsRef<std::path::Path>, bytes: &[u8]) -> crate::error::Result<()> {
    Ok(codec::write_atomic(path.as_ref(), bytes)?)
}

/// The version of gradnet's files this code writes and reads.
pub const FORMAT_VERSION: &str = "1";

const KEY_FORMAT: &str = "gradnet.format";
const KEY_VERSION: &str = "gradnet.version";
const KEY_NETWORK: &str = "gradnet.network";
const KEY_DTYPE: &str = "gradnet.dtype";

/// Checks the metadata's format and version: a file of another gradnet kind than
/// `expected` or of another version is refused; a file without gradnet's metadata
/// (PyTorch's) is accepted unless `required`.
fn check_header(
    meta: &HashMap<String, String>,
    expected: &'static str,
    required: bool,
) -> Result<(), PersistError> {
    match meta.get(KEY_FORMAT) {
        None if required => {
            return Err(PersistError::WrongFormat {
                expected,
                found: "a file without gradnet metadata".into(),
            })
        }
        None => return Ok(()),
        Some(found) if found != expected => {
            return Err(PersistError::WrongFormat {
                expected,
                found: format!("a gradnet {found} file"),
            })
        }
        Some(_) => {}
    }
    match meta.get(KEY_VERSION) {
        Some(v) if v == FORMAT_VERSION => Ok(()),
        found => Err(PersistError::UnsupportedVersion {
            found: found.map_or_else(|| "(none)".to_string(), Clone::clone),
            supported: FORMAT_VERSION,
        }),
    }
}

#[cfg(test)]
mod tests;
