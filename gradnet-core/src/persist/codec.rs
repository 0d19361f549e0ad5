//! What weights and checkpoints share: the model's tensor list, encoding values in
//! safetensors' dtypes, parsing a file, decoding and checking tensors into staging
//! buffers, writing staged values into a model, and the crash-safe file write.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors, View};

use super::error::PersistError;
use crate::params::{Parameters, Shape, TensorKind};
use crate::real::Real;

/// Whether gradnet stores the tensor `name` as an integer: batch norm's
/// `num_batches_tracked`, which PyTorch keeps as an int64 scalar.
pub fn is_integer_tensor(name: &str) -> bool {
    name == "num_batches_tracked" || name.ends_with(".num_batches_tracked")
}

/// The safetensors dtype of `T` (`F32` or `F64`).
pub(crate) fn dtype_of<T: Real>() -> Dtype {
    if core::mem::size_of::<T>() == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// The name of `T` as in an error message.
pub(crate) fn type_name_of<T: Real>() -> &'static str {
    if core::mem::size_of::<T>() == 4 {
        "f32"
    } else {
        "f64"
    }
}

/// One tensor of a model: its name, kind and PyTorch shape.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub name: &'static str,
    pub kind: TensorKind,
    pub shape: Shape,
}

/// The model's tensors, parameters then buffers, after checking that
/// `visit_shapes` agrees with `visit_params` and `visit_buffers` name for name and
/// length for length, and that no name appears twice.
pub(crate) fn entries<T: Real, M: Parameters<T> + ?Sized>(
    model: &M,
) -> Result<Vec<Entry>, PersistError> {
    let mut shapes = Vec::new();
    model.visit_shapes(&mut |name, kind, shape| shapes.push(Entry { name, kind, shape }));
    let mut lens = Vec::with_capacity(shapes.len());
    model.visit_params(&mut |name, v| lens.push((name, TensorKind::Parameter, v.len())));
    model.visit_buffers(&mut |name, v| lens.push((name, TensorKind::Buffer, v.len())));
    if shapes.len() != lens.len() {
        let name = shapes.get(lens.len()).map_or("(end)", |e| e.name);
        return Err(PersistError::InconsistentModel {
            name: name.into(),
            reason: format!(
                "visit_shapes gives {} tensors, visit_params and visit_buffers {}",
                shapes.len(),
                lens.len()
            ),
        });
    }
    let mut seen = HashSet::with_capacity(shapes.len());
    for (e, &(name, kind, len)) in shapes.iter().zip(&lens) {
        if e.name != name || e.kind != kind || e.shape.numel() != len {
            return Err(PersistError::InconsistentModel {
                name: e.name.into(),
                reason: format!(
                    "visit_shapes gives {:?} {} of {} values, the value visitors {name} \
                     {kind:?} of {len}",
                    e.kind,
                    e.shape,
                    e.shape.numel()
                ),
            });
        }
        if !seen.insert(name) {
            return Err(PersistError::DuplicateName { name: name.into() });
        }
    }
    Ok(shapes)
}

/// The model's values in the order of [`entries`].
pub(crate) fn values<T: Real, M: Parameters<T> + ?Sized>(model: &M) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    model.visit_params(&mut |_, v| out.push(v.to_vec()));
    model.visit_buffers(&mut |_, v| out.push(v.to_vec()));
    out
}

/// A tensor ready to be serialized.
pub(crate) struct Encoded {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Encoded {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// `values` as a tensor of `shape` in `T`'s dtype, little-endian; an integer tensor
/// ([`is_integer_tensor`]) as int64.
///
/// # Errors
/// [`PersistError::InexactConversion`] if an integer tensor holds a value that is
/// not an integer of int64's range.
pub(crate) fn encode<T: Real>(
    name: &str,
    shape: Shape,
    values: &[T],
    integer: bool,
) -> Result<Encoded, PersistError> {
    let shape = shape.dims().to_vec();
    if integer {
        let mut data = Vec::with_capacity(values.len() * 8);
        for (index, v) in values.iter().enumerate() {
            let x = v.as_f64();
            // 2^63 is exact in f64; every integer-valued f64 in [-2^63, 2^63) fits.
            if x.fract() != 0.0
                || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&x)
            {
                return Err(PersistError::InexactConversion {
                    name: name.into(),
                    index,
                    value: x,
                    target: "int64",
                    integer: true,
                });
            }
            data.extend_from_slice(&(x as i64).to_le_bytes());
        }
        return Ok(Encoded {
            dtype: Dtype::I64,
            shape,
            data,
        });
    }
    let dtype = dtype_of::<T>();
    let mut data = Vec::with_capacity(core::mem::size_of_val(values));
    for v in values {
        match dtype {
            // T is f32 here, so the cast is exact.
            Dtype::F32 => data.extend_from_slice(&(v.as_f64() as f32).to_le_bytes()),
            _ => data.extend_from_slice(&v.as_f64().to_le_bytes()),
        }
    }
    Ok(Encoded { dtype, shape, data })
}

/// Serializes named tensors with `metadata`, to which it adds their checksum.
pub(crate) fn serialize(
    tensors: &[(String, Encoded)],
    mut metadata: HashMap<String, String>,
) -> Result<Vec<u8>, PersistError> {
    let sum = checksum(
        &metadata,
        tensors
            .iter()
            .map(|(n, t)| (n.as_str(), t.dtype, &t.shape[..], &t.data[..])),
    );
    metadata.insert(KEY_CHECKSUM.to_string(), sum);
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata)).map_err(
        |e| PersistError::Corrupt {
            reason: format!("cannot serialize: {e}"),
        },
    )
}

/// A parsed file: its tensors (views into the bytes) and its metadata.
pub(crate) struct Parsed<'a> {
    pub tensors: SafeTensors<'a>,
    pub metadata: HashMap<String, String>,
}

/// Parses `bytes` as a safetensors file. The parser checks the header length
/// against the actual length before reading it, and that the tensors' offsets tile
/// the data exactly, so nothing it allocates exceeds what the file holds.
///
/// # Errors
/// [`PersistError::Corrupt`] for anything that is not a valid file.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed<'_>, PersistError> {
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| PersistError::Corrupt {
        reason: e.to_string(),
    })?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| PersistError::Corrupt {
        reason: e.to_string(),
    })?;
    Ok(Parsed { tensors, metadata })
}

/// The metadata key of the checksum of a gradnet file.
pub(crate) const KEY_CHECKSUM: &str = "gradnet.checksum";

/// FNV-1a, 64 bits, over length-prefixed fields.
struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, b: &[u8]) {
        for &x in (b.len() as u64).to_le_bytes().iter().chain(b) {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The checksum of a file's contents: its metadata (sorted, without the checksum
/// entry) and every tensor (name, dtype, shape, bytes) in name order, so it does not
/// depend on the layout the serializer chose. Written as `fnv1a64:` and 16 hex
/// digits.
pub(crate) fn checksum<'a>(
    metadata: &HashMap<String, String>,
    tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
) -> String {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    let mut meta: Vec<_> = metadata
        .iter()
        .filter(|(k, _)| *k != KEY_CHECKSUM)
        .collect();
    meta.sort();
    for (k, v) in meta {
        h.bytes(k.as_bytes());
        h.bytes(v.as_bytes());
    }
    let mut tensors: Vec<_> = tensors.collect();
    tensors.sort_by_key(|t| t.0);
    for (name, dtype, shape, data) in tensors {
        h.bytes(name.as_bytes());
        h.bytes(format!("{dtype:?}").as_bytes());
        for d in shape {
            h.bytes(&(*d as u64).to_le_bytes());
        }
        h.bytes(data);
    }
    format!("fnv1a64:{:016x}", h.0)
}

/// Checks the file's checksum if it has one; without one it is an error if
/// `required`.
pub(crate) fn verify_checksum(parsed: &Parsed<'_>, required: bool) -> Result<(), PersistError> {
    let Some(expected) = parsed.metadata.get(KEY_CHECKSUM) else {
        if required {
            return Err(PersistError::BadMetadata {
                key: KEY_CHECKSUM.into(),
                reason: "missing".into(),
            });
        }
        return Ok(());
    };
    let views: Vec<_> = parsed.tensors.iter().collect();
    let found = checksum(
        &parsed.metadata,
        views
            .iter()
            .map(|(n, v)| (*n, v.dtype(), v.shape(), v.data())),
    );
    if &found != expected {
        return Err(PersistError::ChecksumMismatch {
            expected: expected.clone(),
            found,
        });
    }
    Ok(())
}

/// The largest integer below which every integer is exact in f64.
const F64_EXACT_INT: u64 = 1 << 53;

/// Reads element `i` of `data` (`dtype`) as f64, and whether that is exact (only
/// 64-bit integers beyond 2^53 are not). `None` for a dtype not read here.
fn element(dtype: Dtype, data: &[u8], i: usize) -> Option<(f64, bool)> {
    fn take<const N: usize>(data: &[u8], i: usize) -> [u8; N] {
        let mut b = [0u8; N];
        b.copy_from_slice(&data[i * N..(i + 1) * N]);
        b
    }
    Some(match dtype {
        Dtype::F64 => (f64::from_le_bytes(take(data, i)), true),
        Dtype::F32 => (f64::from(f32::from_le_bytes(take(data, i))), true),
        Dtype::BF16 => {
            let bits = u32::from(u16::from_le_bytes(take(data, i))) << 16;
            (f64::from(f32::from_bits(bits)), true)
        }
        Dtype::F16 => (f16_to_f64(u16::from_le_bytes(take(data, i))), true),
        Dtype::I64 => {
            let v = i64::from_le_bytes(take(data, i));
            (v as f64, v.unsigned_abs() <= F64_EXACT_INT)
        }
        Dtype::U64 => {
            let v = u64::from_le_bytes(take(data, i));
            (v as f64, v <= F64_EXACT_INT)
        }
        Dtype::I32 => (f64::from(i32::from_le_bytes(take(data, i))), true),
        Dtype::U32 => (f64::from(u32::from_le_bytes(take(data, i))), true),
        Dtype::I16 => (f64::from(i16::from_le_bytes(take(data, i))), true),
        Dtype::U16 => (f64::from(u16::from_le_bytes(take(data, i))), true),
        Dtype::I8 => (f64::from(i8::from_le_bytes(take(data, i))), true),
        Dtype::U8 => (f64::from(data[i]), true),
        _ => return None,
    })
}

/// IEEE 754 half precision to f64 (exact: every half is an f64).
pub(crate) fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        0x1f if frac == 0.0 => f64::INFINITY,
        0x1f => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// The bytes per element of the dtypes [`element`] reads.
fn width(dtype: Dtype) -> Option<usize> {
    match dtype {
        Dtype::F64 | Dtype::I64 | Dtype::U64 => Some(8),
        Dtype::F32 | Dtype::I32 | Dtype::U32 => Some(4),
        Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16 => Some(2),
        Dtype::I8 | Dtype::U8 => Some(1),
        _ => None,
    }
}

const FLOAT_DTYPES: &str = "F32, F64, F16 or BF16";
const COUNT_DTYPES: &str = "an integer dtype, F32 or F64";

/// What a tensor of the file is expected to be.
pub(crate) struct Want<'n> {
    /// The name in the file.
    pub key: &'n str,
    /// The model's shape.
    pub shape: Shape,
    /// An integer tensor ([`is_integer_tensor`]).
    pub integer: bool,
}

/// Decodes the file's tensor `view` as `want` says into a new buffer of `T`s.
/// Returns the buffer and how many values were rounded (always 0 unless `lossy`).
///
/// The shape is checked before anything is allocated, so the buffer has the
/// model's length; the file's data for it has been checked by the parser to be
/// exactly shape times the dtype's size.
///
/// # Errors
/// [`PersistError::ShapeMismatch`], [`PersistError::UnsupportedDtype`],
/// [`PersistError::InexactConversion`].
pub(crate) fn decode<T: Real>(
    want: &Want<'_>,
    view: &TensorView<'_>,
    lossy: bool,
) -> Result<(Vec<T>, usize), PersistError> {
    let name = want.key;
    if view.shape() != want.shape.dims() {
        return Err(PersistError::ShapeMismatch {
            name: name.into(),
            expected: want.shape.dims().to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let dtype = view.dtype();
    let float = matches!(dtype, Dtype::F64 | Dtype::F32 | Dtype::F16 | Dtype::BF16);
    let supported = width(dtype).is_some() && (want.integer || float);
    let n = want.shape.numel();
    if !supported || width(dtype).map(|w| w * n) != Some(view.data().len()) {
        return Err(PersistError::UnsupportedDtype {
            name: name.into(),
            found: format!("{dtype:?}"),
            expected: if want.integer {
                COUNT_DTYPES
            } else {
                FLOAT_DTYPES
            },
        });
    }
    let data = view.data();
    let mut out = Vec::with_capacity(n);
    let mut rounded = 0;
    for i in 0..n {
        let Some((x, exact_read)) = element(dtype, data, i) else {
            unreachable!("the dtype was checked above");
        };
        let t = T::of(x);
        let exact = exact_read && (t.as_f64() == x || (x.is_nan() && t.is_nan()));
        let integral = !want.integer || x.fract() == 0.0;
        if !exact || !integral {
            // An overflow to infinity is never a rounding.
            let overflow = x.is_finite() && !t.is_finite();
            if want.integer || !lossy || overflow || !exact_read {
                return Err(PersistError::InexactConversion {
                    name: name.into(),
                    index: i,
                    value: x,
                    target: type_name_of::<T>(),
                    integer: want.integer,
                });
            }
            rounded += 1;
        }
        out.push(t);
    }
    Ok((out, rounded))
}

/// Writes staged values (in the order of [`entries`], `None` to keep the model's)
/// into the model. The caller has checked the staged lengths against
/// [`entries`] of this model, so this cannot fail.
pub(crate) fn write_into<T: Real, M: Parameters<T> + ?Sized>(
    model: &mut M,
    staged: &[Option<Vec<T>>],
) {
    let mut i = 0;
    model.visit_values_mut(&mut |_, v| {
        if let Some(Some(s)) = staged.get(i) {
            v.copy_from_slice(s);
        }
        i += 1;
    });
    model.visit_buffers_mut(&mut |_, v| {
        if let Some(Some(s)) = staged.get(i) {
            v.copy_from_slice(s);
        }
        i += 1;
    });
}

/// Reads a whole file (one allocation of its actual length).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, PersistError> {
    fs::read(path).map_err(|e| PersistError::io("read", path, &e))
}

/// Distinguishes the temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` crash-safely: into a new temporary file in the same
/// directory, flushed and synced to disk, then renamed over `path` (atomic on POSIX
/// file systems), and the directory synced so that the rename itself is durable. A
/// crash at any point leaves either the old file or the new one at `path`, never a
/// mix; at worst a temporary file `.NAME.PID.N.tmp` is left beside it.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path.file_name().ok_or_else(|| PersistError::Io {
        op: "create",
        path: path.display().to_string(),
        kind: std::io::ErrorKind::InvalidInput,
        message: "the path names no file".into(),
    })?;
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".{}.{}.{n}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| PersistError::io("create", &tmp, &e))?;
        f.write_all(bytes)
            .map_err(|e| PersistError::io("write", &tmp, &e))?;
        f.flush().map_err(|e| PersistError::io("write", &tmp, &e))?;
        f.sync_all()
            .map_err(|e| PersistError::io("sync", &tmp, &e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| PersistError::io("rename", path, &e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    sync_dir(dir)
}

/// Syncs a directory's entries to disk (POSIX; elsewhere the rename is left to the
/// file system).
fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| PersistError::io("sync", dir, &e))?;
    }
    #[cfg(not(unix))]
    let _ = (dir, File::open);
    Ok(())
}

/// The model's type without its path and generics (`DigitNet`), for the metadata.
pub(crate) fn short_type_name<M: ?Sized>() -> String {
    let full = core::any::type_name::<M>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_string()
}
