//! Checkpoints: everything needed to resume training exactly, in one file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::codec::{self, Want};
use super::error::PersistError;
use super::{check_header, FORMAT_VERSION, KEY_DTYPE, KEY_FORMAT, KEY_NETWORK, KEY_VERSION};
use crate::error::Result;
use crate::optim::OptimizerState;
use crate::params::{Parameters, Shape};
use crate::real::Real;
use crate::rng::SeededRng;

/// Where a training run is, saved in a checkpoint beside the model and the
/// optimizer: the number of steps and epochs done.
///
/// A learning-rate schedule of [`crate::schedule`] is a closed form of the epoch,
/// so `epoch` is its position: after loading, `schedule.apply(progress.epoch, &mut
/// opt)` gives the rate it gave before (the optimizer's current rate is saved too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Training steps done.
    pub step: u64,
    /// Epochs done (the next epoch to run, counted from 0).
    pub epoch: u64,
}

/// What a training loop keeps in a checkpoint of its own, beside the model, the
/// optimizer and the generators: text entries (an epoch's position, a history of
/// metrics) and vectors of the model's scalar type (a copy of the best weights).
///
/// They are stored under `extra.<key>` (metadata and tensors), covered by the
/// checksum like the rest, and given back by [`checkpoint_from_bytes_with`]; the
/// plain loaders ([`load_checkpoint`], [`checkpoint_from_bytes`]) ignore them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extra<T> {
    /// Text entries by key.
    pub meta: BTreeMap<String, String>,
    /// Vectors by key.
    pub tensors: BTreeMap<String, Vec<T>>,
}

const EXTRA: &str = "extra.";

const KEY_STEP: &str = "gradnet.step";
const KEY_EPOCH: &str = "gradnet.epoch";
const KEY_OPT_KIND: &str = "optim.kind";
const KEY_OPT_STEPS: &str = "optim.steps";
const KEY_OPT_LR: &str = "optim.lr";
const KEY_RNGS: &str = "rng.count";

/// The file name of model tensor `name` in a checkpoint.
fn model_key(name: &str) -> String {
    format!("model.{name}")
}

/// The file name of optimizer buffer `state` of parameter `param`.
fn optim_key(state: &str, param: &str) -> String {
    format!("optim.{state}.{param}")
}

/// A checkpoint as the bytes of a safetensors file: the model's parameters and
/// buffers (`model.0.weight`, ...), the optimizer's buffers
/// (`optim.exp_avg.0.weight`, ...), and in the metadata the step and epoch, the
/// optimizer's kind, settings, step count and learning rate, and each generator's
/// seed, stream and position (`rngs`: the workspace's dropout generator, a
/// shuffling generator, ... in an order the loader repeats).
///
/// # Errors
/// As [`crate::persist::weights_to_bytes`].
pub fn checkpoint_to_bytes<T, M, O>(
    model: &M,
    optimizer: &O,
    rngs: &[&SeededRng],
    progress: Progress,
) -> Result<Vec<u8>>
where
    T: Real,
    M: Parameters<T> + ?Sized,
    O: OptimizerState<T>,
{
    checkpoint_to_bytes_with(model, optimizer, rngs, progress, &Extra::default())
}

/// [`checkpoint_to_bytes`] with a training loop's own entries ([`Extra`]).
///
/// # Errors
/// As [`checkpoint_to_bytes`].
pub fn checkpoint_to_bytes_with<T, M, O>(
    model: &M,
    optimizer: &O,
    rngs: &[&SeededRng],
    progress: Progress,
    extra: &Extra<T>,
) -> Result<Vec<u8>>
where
    T: Real,
    M: Parameters<T> + ?Sized,
    O: OptimizerState<T>,
{
    let entries = codec::entries(model)?;
    let values = codec::values(model);
    let mut tensors = Vec::new();
    for (e, v) in entries.iter().zip(&values) {
        let integer = codec::is_integer_tensor(e.name);
        tensors.push((
            model_key(e.name),
            codec::encode(e.name, e.shape, v, integer)?,
        ));
    }
    let mut state_err = None;
    optimizer.visit_state(&mut |state, param, v| match codec::encode(
        param,
        Shape::vector(v.len()),
        v,
        false,
    ) {
        Ok(t) => tensors.push((optim_key(state, param), t)),
        Err(e) => state_err = state_err.take().or(Some(e)),
    });
    if let Some(e) = state_err {
        return Err(e.into());
    }
    for (key, v) in &extra.tensors {
        let name = format!("{EXTRA}{key}");
        let t = codec::encode(&name, Shape::vector(v.len()), v, false)?;
        tensors.push((name, t));
    }
    let mut meta = HashMap::from([
        (KEY_FORMAT.to_string(), "checkpoint".to_string()),
        (KEY_VERSION.to_string(), FORMAT_VERSION.to_string()),
        (KEY_NETWORK.to_string(), codec::short_type_name::<M>()),
        (
            KEY_DTYPE.to_string(),
            format!("{:?}", codec::dtype_of::<T>()),
        ),
        (KEY_STEP.to_string(), progress.step.to_string()),
        (KEY_EPOCH.to_string(), progress.epoch.to_string()),
        (KEY_OPT_KIND.to_string(), optimizer.kind().to_string()),
        (KEY_OPT_STEPS.to_string(), optimizer.steps().to_string()),
        // Rust prints the shortest decimal that parses back to the same f64.
        (
            KEY_OPT_LR.to_string(),
            optimizer.learning_rate().to_string(),
        ),
        (KEY_RNGS.to_string(), rngs.len().to_string()),
    ]);
    for (name, value) in optimizer.settings() {
        meta.insert(format!("optim.{name}"), value.to_string());
    }
    for (key, value) in &extra.meta {
        meta.insert(format!("{EXTRA}{key}"), value.clone());
    }
    for (i, rng) in rngs.iter().enumerate() {
        let seed: String = rng.get_seed().iter().map(|b| format!("{b:02x}")).collect();
        meta.insert(format!("rng.{i}.seed"), seed);
        meta.insert(format!("rng.{i}.stream"), rng.get_stream().to_string());
        meta.insert(format!("rng.{i}.word_pos"), rng.get_word_pos().to_string());
    }
    Ok(codec::serialize(&tensors, meta)?)
}

/// Saves a checkpoint ([`checkpoint_to_bytes`]) to `path`, crash-safely: into a
/// temporary file in the same directory, flushed and synced, then renamed over the
/// previous checkpoint, and the directory synced. A process killed at any point of
/// this leaves the previous checkpoint intact (or the new one complete).
///
/// ```
/// use gradnet_core::{Dense, Parameters, init::Init, rng::seeded};
/// use gradnet_core::optim::{AdamConfig, Optimizer};
/// use gradnet_core::persist::{load_checkpoint, save_checkpoint, Progress};
/// let mut layer = Dense::<f32, 3, 2>::new(&Init::glorot_uniform(), true, &mut seeded(0));
/// let mut opt = AdamConfig::adamw().build()?;
/// let mut grads = layer.zero_grads();
/// grads.weight_mut().fill(0.5);
/// opt.step(&mut layer, &grads)?;
/// let rng = seeded(7);
/// let path = std::env::temp_dir().join(format!("gradnet-doc-{}.ckpt", std::process::id()));
/// save_checkpoint(&path, &layer, &opt, &[&rng], Progress { step: 1, epoch: 0 })?;
///
/// let mut again = Dense::<f32, 3, 2>::new(&Init::zeros(), true, &mut seeded(1));
/// let mut opt2 = AdamConfig::adamw().build()?;
/// let mut rng2 = seeded(0);
/// let progress = load_checkpoint(&path, &mut again, &mut opt2, &mut [&mut rng2])?;
/// assert_eq!(progress.step, 1);
/// assert_eq!(again.weight(), layer.weight());
/// assert_eq!(rng2, rng);
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), gradnet_core::Error>(())
/// ```
///
/// # Errors
/// As [`checkpoint_to_bytes`], and [`PersistError::Io`].
pub fn save_checkpoint<T, M, O>(
    path: impl AsRef<Path>,
    model: &M,
    optimizer: &O,
    rngs: &[&SeededRng],
    progress: Progress,
) -> Result<()>
where
    T: Real,
    M: Parameters<T> + ?Sized,
    O: OptimizerState<T>,
{
    let bytes = checkpoint_to_bytes(model, optimizer, rngs, progress)?;
    Ok(codec::write_atomic(path.as_ref(), &bytes)?)
}

/// [`save_checkpoint`] with a training loop's own entries ([`Extra`]).
///
/// # Errors
/// As [`save_checkpoint`].
pub fn save_checkpoint_with<T, M, O>(
    path: impl AsRef<Path>,
    model: &M,
    optimizer: &O,
    rngs: &[&SeededRng],
    progress: Progress,
    extra: &Extra<T>,
) -> Result<()>
where
    T: Real,
    M: Parameters<T> + ?Sized,
    O: OptimizerState<T>,
{
    let bytes = checkpoint_to_bytes_with(model, optimizer, rngs, progress, extra)?;
    Ok(codec::write_atomic(path.as_ref(), &bytes)?)
}

/// Loads a checkpoint from `path` into the model, the optimizer and the generators
/// (given in the order they were saved), and returns the progress saved with it.
///
/// # Errors
/// [`PersistError::Io`], and as [`checkpoint_from_bytes`].
pub fn load_checkpoint<T, M, O>(
    path: impl AsRef<Path>,
    model: &mut M,
    optimizer: &mut O,
    rngs: &mut [&mut SeededRng],
) -> Result<Progress>
where
    T: Real,
    M: Parameters<T> + ?Sized,
    O: OptimizerState<T>,
{
    let bytes = codec::read_file(path.as_ref())?;
    checkpoint_from_bytes(&bytes, model, optimizer, rngs)
}

/// [`load_checkpoint`] that also gives back the training loop's own entries
/// ([`Extra`]) saved with [`save_checkpoint_with`].
///
/// # Errors
/// As [`load_checkpoint`].
pub fn load_checkpoint_with<T, M, O>(
    path: impl AsRef<Path>,
    model: &mut M,
    optimizer: &mut O,
    rngs: &mut [&mut SeededRng],
) -> Result<(Progress, Extra<T>)>
where
    T: Real,
    M: Parameters<T> + ?Sized,
    O: OptimizerState<T>,
{
    let bytes = codec::read_file(path.as_ref())?;
    checkpoint_from_bytes_with(&bytes, model, optimizer, rngs)
}

/// Loads a checkpoint from the bytes of its file. Always strict and exact (a
/// checkpoint of an f32 run loads into an f64 model, not the reverse unless every
/// value is exact in f32), and all or nothing: the whole file is checked and
/// converted first, and the model, the optimizer and the generators are written
/// only if all of it is right.
///
/// # Errors
/// As [`crate::persist::weights_from_bytes`] (strict); besides,
/// [`PersistError::WrongFormat`] for a file that is not a gradnet checkpoint,
/// [`PersistError::ChecksumMismatch`] for one changed after it was written,
/// [`PersistError::BadMetadata`] for a missing or unreadable entry,
/// [`PersistError::OptimizerMismatch`] for an optimizer of another kind or other
/// settings than the one saved, [`PersistError::RngCountMismatch`].
pub fn checkpoint_from_bytes<T, M, O>(
    bytes: &[u8],
    model: &mut M,
    optimizer: &mut O,
    rngs: &mut [&mut SeededRng],
) -> Result<Progress>
where
    T: Real,
    M: Parameters<T> + ?Sized,
    O: OptimizerState<T>,
{
    checkpoint_from_bytes_with(bytes, model, optimizer, rngs).map(|(progress, _)| progress)
}

/// [`checkpoint_from_bytes`] that also gives back the training loop's own entries
/// ([`Extra`]). Extra vectors are decoded exactly into `T`, as the model's values.
///
/// # Errors
/// As [`checkpoint_from_bytes`].
pub fn checkpoint_from_bytes_with<T, M, O>(
    bytes: &[u8],
    model: &mut M,
    optimizer: &mut O,
    rngs: &mut [&mut SeededRng],
) -> Result<(Progress, Extra<T>)>
where
    T: Real,
    M: Parameters<T> + ?Sized,
    O: OptimizerState<T>,
{
    let entries = codec::entries(&*model)?;
    let parsed = codec::parse(bytes)?;
    let meta = &parsed.metadata;
    check_header(meta, "checkpoint", true)?;
    codec::verify_checksum(&parsed, true)?;
    let progress = Progress {
        step: parse_meta(meta, KEY_STEP)?,
        epoch: parse_meta(meta, KEY_EPOCH)?,
    };

    // The optimizer: same kind and settings, then its buffers.
    let kind = get_meta(meta, KEY_OPT_KIND)?;
    if kind != optimizer.kind() {
        return Err(mismatch("kind", kind, optimizer.kind()));
    }
    for (name, value) in optimizer.settings() {
        let key = format!("optim.{name}");
        let saved: f64 = parse_meta(meta, &key)?;
        if saved.to_bits() != value.to_bits() {
            return Err(mismatch(name, &saved.to_string(), &value.to_string()));
        }
    }
    let opt_steps: u64 = parse_meta(meta, KEY_OPT_STEPS)?;
    let lr: f64 = parse_meta(meta, KEY_OPT_LR)?;
    if !(lr.is_finite() && lr >= 0.0) {
        return Err(bad_meta(KEY_OPT_LR, "must be finite and >= 0"));
    }

    let mut expected: Vec<String> = Vec::new();
    let mut staged = Vec::with_capacity(entries.len());
    for e in &entries {
        let key = model_key(e.name);
        let want = Want {
            key: &key,
            shape: e.shape,
            integer: codec::is_integer_tensor(e.name),
        };
        staged.push(Some(stage(&parsed, &want)?));
        expected.push(key);
    }
    let state_names: &[&str] = if opt_steps == 0 {
        &[]
    } else {
        optimizer.state_names()
    };
    let mut buffers = Vec::with_capacity(state_names.len());
    for state in state_names {
        let mut flat = Vec::with_capacity(model.num_params());
        for e in entries
            .iter()
            .filter(|e| e.kind == crate::TensorKind::Parameter)
        {
            let key = optim_key(state, e.name);
            let want = Want {
                key: &key,
                shape: Shape::vector(e.shape.numel()),
                integer: false,
            };
            flat.extend(stage::<T>(&parsed, &want)?);
            expected.push(key);
        }
        buffers.push(flat);
    }
    let mut extra = Extra::default();
    for (key, value) in meta {
        if let Some(k) = key.strip_prefix(EXTRA) {
            extra.meta.insert(k.to_string(), value.clone());
        }
    }
    for name in parsed.tensors.names() {
        if let Some(k) = name.strip_prefix(EXTRA) {
            let view = parsed
                .tensors
                .tensor(name)
                .map_err(|_| PersistError::MissingTensor {
                    name: name.to_string(),
                    more: 0,
                })?;
            let len = match view.shape() {
                [n] => *n,
                _ => usize::MAX,
            };
            let want = Want {
                key: name,
                shape: Shape::vector(if len == usize::MAX { 0 } else { len }),
                integer: false,
            };
            extra
                .tensors
                .insert(k.to_string(), codec::decode::<T>(&want, &view, false)?.0);
        }
    }
    let mut unexpected: Vec<&str> = parsed
        .tensors
        .names()
        .into_iter()
        .filter(|n| !n.starts_with(EXTRA) && !expected.iter().any(|e| e == n))
        .collect();
    unexpected.sort_unstable();
    if let Some(first) = unexpected.first() {
        return Err(PersistError::UnexpectedTensor {
            name: first.to_string(),
            more: unexpected.len() - 1,
        }
        .into());
    }

    // The generators.
    let count: usize = parse_meta(meta, KEY_RNGS)?;
    if count != rngs.len() {
        return Err(PersistError::RngCountMismatch {
            saved: count,
            given: rngs.len(),
        }
        .into());
    }
    let mut restored = Vec::with_capacity(count);
    for i in 0..count {
        restored.push(parse_rng(meta, i)?);
    }

    // Everything is checked: write. The optimizer checks its part before changing
    // anything, so it goes first.
    optimizer.restore_state(&*model, opt_steps, lr, buffers)?;
    codec::write_into(model, &staged);
    for (dst, src) in rngs.iter_mut().zip(restored) {
        **dst = src;
    }
    Ok((progress, extra))
}

/// Finds `want.key` in the file and decodes it exactly.
fn stage<T: Real>(parsed: &codec::Parsed<'_>, want: &Want<'_>) -> Result<Vec<T>> {
    let view = parsed
        .tensors
        .tensor(want.key)
        .map_err(|_| PersistError::MissingTensor {
            name: want.key.to_string(),
            more: 0,
        })?;
    Ok(codec::decode::<T>(want, &view, false)?.0)
}

fn get_meta<'m>(meta: &'m HashMap<String, String>, key: &str) -> Result<&'m str> {
    meta.get(key)
        .map(String::as_str)
        .ok_or_else(|| bad_meta(key, "missing"))
}

fn parse_meta<V: core::str::FromStr>(meta: &HashMap<String, String>, key: &str) -> Result<V> {
    let text = get_meta(meta, key)?;
    text.parse()
        .map_err(|_| bad_meta(key, &format!("cannot parse {text:?}")))
}

/// Generator `i`: its seed (64 hex digits), stream and word position.
fn parse_rng(meta: &HashMap<String, String>, i: usize) -> Result<SeededRng> {
    use rand::SeedableRng;
    let key = format!("rng.{i}.seed");
    let hex = get_meta(meta, &key)?;
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return Err(bad_meta(&key, "expected 64 hex digits"));
    }
    let mut seed = [0u8; 32];
    for (j, b) in seed.iter_mut().enumerate() {
        let pair = core::str::from_utf8(&bytes[2 * j..2 * j + 2]).ok();
        *b = pair
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or_else(|| bad_meta(&key, "expected 64 hex digits"))?;
    }
    let stream: u64 = parse_meta(meta, &format!("rng.{i}.stream"))?;
    let word_pos: u128 = parse_meta(meta, &format!("rng.{i}.word_pos"))?;
    let mut rng = SeededRng::from_seed(seed);
    rng.set_stream(stream);
    rng.set_word_pos(word_pos);
    Ok(rng)
}

fn bad_meta(key: &str, reason: &str) -> crate::Error {
    PersistError::BadMetadata {
        key: key.to_string(),
        reason: reason.to_string(),
    }
    .into()
}

fn mismatch(setting: &str, saved: &str, current: &str) -> crate::Error {
    PersistError::OptimizerMismatch {
        setting: setting.to_string(),
        saved: saved.to_string(),
        current: current.to_string(),
    }
    .into()
}
