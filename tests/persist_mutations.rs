//! Bad files, tried: valid weights and checkpoint files, truncated at every length,
//! with random bytes flipped, with huge header lengths, with wrong dtypes and shapes
//! in the header. Every load either succeeds with the original values or returns a
//! typed `Error::Persist`, leaving the model (optimizer, generators) as it was; no
//! panic; and what a load allocates at its peak is bounded by the model's size and
//! the file's actual length, never by a length the file claims (measured by a
//! counting allocator, per thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use gradnet::optim::{Adam, OptimizerState};
use gradnet::persist::{
    checkpoint_from_bytes, checkpoint_to_bytes, weights_from_bytes, weights_to_bytes, LoadOptions,
    Progress,
};
use gradnet::prelude::*;
use gradnet::PersistError;
use proptest::prelude::*;
use safetensors::SafeTensors;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting this thread's live bytes and their peak.
struct Counting;

fn grow(n: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + n;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn shrink(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result and the peak of bytes it had live beyond what
/// was live when it started.
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    (r, PEAK.with(Cell::get) - base)
}

network! {
    struct Net {
        input: 4,
        dense(6),
        batch_norm,
        relu,
        dense(2),
        loss: mse,
    }
}

/// Bytes of every parameter and buffer of the model.
const MODEL_BYTES: usize = (4 * 6 + 6 + 6 * 5 + 1 + 6 * 2 + 2) * 4;

fn bits(net: &Net<f32>) -> Vec<u32> {
    let mut v = Vec::new();
    net.visit_params(&mut |_, p| v.extend(p.iter().map(|x| x.to_bits())));
    net.visit_buffers(&mut |_, p| v.extend(p.iter().map(|x| x.to_bits())));
    v
}

fn named(net: &Net<f32>) -> Vec<(&'static str, Vec<u32>)> {
    let mut v = Vec::new();
    net.visit_params(&mut |n, p| v.push((n, p.iter().map(|x| x.to_bits()).collect())));
    net.visit_buffers(&mut |n, p| v.push((n, p.iter().map(|x| x.to_bits()).collect())));
    v
}

struct Fixture {
    original: Net<f32>,
    opt: Adam<f32>,
    rng: SeededRng,
    weights: Vec<u8>,
    plain: Vec<u8>,
    checkpoint: Vec<u8>,
}

fn fixture() -> Fixture {
    let mut net = Net::<f32>::new(&mut seeded(1));
    let mut opt = AdamConfig::adamw().build().unwrap();
    let x = Batch::from_rows(&[
        [0.5f32, -1.0, 2.0, 0.0],
        [1.0, 0.5, -0.5, 1.5],
        [0.0, 1.0, 1.0, -2.0],
    ])
    .unwrap();
    let y = Batch::from_rows(&[[1.0f32, 0.0], [0.0, 1.0], [0.5, 0.5]]).unwrap();
    let (mut ws, mut grads) = (NetWorkspace::new(), net.zero_grads());
    for _ in 0..2 {
        net.train_step(&x, &y, &mut opt, &mut ws, &mut grads)
            .unwrap();
    }
    let rng = seeded(77);
    let weights = weights_to_bytes(&net).unwrap();
    // The same tensors without metadata, as PyTorch writes them: no checksum, so
    // mutations reach the checks of shapes and dtypes.
    let st = SafeTensors::deserialize(&weights).unwrap();
    let plain = safetensors::serialize(st.tensors(), None).unwrap();
    let checkpoint =
        checkpoint_to_bytes(&net, &opt, &[&rng], Progress { step: 2, epoch: 1 }).unwrap();
    Fixture {
        original: net,
        opt,
        rng,
        weights,
        plain,
        checkpoint,
    }
}

/// What a load may allocate at its peak: a fixed allowance for the parser's maps
/// and strings, plus a few times the file's actual length and the model's size.
fn allowance(file_len: usize) -> usize {
    64 * 1024 + 4 * file_len + 8 * MODEL_BYTES
}

fn typed(e: &Error) -> bool {
    matches!(e, Error::Persist(_))
}

/// Loads `bytes` as weights into a model that differs from the original, and
/// checks the outcome; returns whether it loaded. `original`: a successful load
/// must give the original values (false only for a file without a checksum whose
/// data bytes were changed: nothing can tell those from real weights).
fn check_weights_as(
    f: &Fixture,
    bytes: &[u8],
    options: LoadOptions,
    original: bool,
) -> Result<bool, TestCaseError> {
    let mut net = Net::<f32>::new(&mut seeded(9));
    let before_net = net.clone();
    let before = bits(&net);
    let (r, peak) = peak_of(|| weights_from_bytes(&mut net, bytes, options));
    prop_assert!(
        peak <= allowance(bytes.len()),
        "a load of {} bytes allocated {peak}",
        bytes.len()
    );
    match r {
        Ok(report) => {
            if original {
                // What the load reports missing keeps the model's values (non-strict
                // only); every other tensor has the original's.
                let (now, orig, fresh) = (named(&net), named(&f.original), named(&before_net));
                for ((name, v), ((_, o), (_, b))) in now.iter().zip(orig.iter().zip(&fresh)) {
                    let want = if report.missing.contains(name) { b } else { o };
                    prop_assert_eq!(v, want, "loaded, but {} has other values", name);
                }
            }
            Ok(true)
        }
        Err(e) => {
            prop_assert!(typed(&e), "untyped error {:?}", e);
            prop_assert_eq!(bits(&net), before, "a failed load changed the model: {}", e);
            Ok(false)
        }
    }
}

fn check_weights(f: &Fixture, bytes: &[u8], options: LoadOptions) -> Result<bool, TestCaseError> {
    check_weights_as(f, bytes, options, true)
}

/// The same for a checkpoint, with the optimizer and the generator.
fn check_checkpoint(f: &Fixture, bytes: &[u8]) -> Result<bool, TestCaseError> {
    let mut net = Net::<f32>::new(&mut seeded(9));
    let before = bits(&net);
    let mut opt = AdamConfig::adamw().build::<f32>().unwrap();
    let mut rng = seeded(0);
    let (r, peak) = peak_of(|| checkpoint_from_bytes(bytes, &mut net, &mut opt, &mut [&mut rng]));
    prop_assert!(
        peak <= allowance(bytes.len()),
        "a load of {} bytes allocated {peak}",
        bytes.len()
    );
    match r {
        Ok(p) => {
            prop_assert_eq!(bits(&net), bits(&f.original));
            prop_assert_eq!(p, Progress { step: 2, epoch: 1 });
            prop_assert_eq!(OptimizerState::steps(&opt), OptimizerState::steps(&f.opt));
            prop_assert_eq!(&rng, &f.rng);
            Ok(true)
        }
        Err(e) => {
            prop_assert!(typed(&e), "untyped error {:?}", e);
            prop_assert_eq!(bits(&net), before);
            prop_assert_eq!(OptimizerState::steps(&opt), 0);
            prop_assert_eq!(&rng, &seeded(0));
            Ok(false)
        }
    }
}

#[test]
fn the_unmutated_files_load() {
    let f = fixture();
    assert!(check_weights(&f, &f.weights, LoadOptions::default()).unwrap());
    assert!(check_weights(&f, &f.plain, LoadOptions::default()).unwrap());
    assert!(check_checkpoint(&f, &f.checkpoint).unwrap());
    let mut net = Net::<f32>::new(&mut seeded(9));
    let (_, peak) = peak_of(|| weights_from_bytes(&mut net, &f.weights, LoadOptions::default()));
    println!(
        "weights {} bytes (a load peaks at {peak} bytes allocated, allowed {}), plain {} bytes, \
         checkpoint {} bytes",
        f.weights.len(),
        allowance(f.weights.len()),
        f.plain.len(),
        f.checkpoint.len()
    );
}

#[test]
fn truncation_at_every_length_is_an_error() {
    let f = fixture();
    for bytes in [&f.weights, &f.plain] {
        for len in 0..bytes.len() {
            assert!(
                !check_weights(&f, &bytes[..len], LoadOptions::default()).unwrap(),
                "{len}"
            );
        }
    }
    for len in 0..f.checkpoint.len() {
        assert!(
            !check_checkpoint(&f, &f.checkpoint[..len]).unwrap(),
            "{len}"
        );
    }
    // Bytes appended are an error too (the offsets must tile the data exactly).
    let mut longer = f.weights.clone();
    longer.push(0);
    assert!(!check_weights(&f, &longer, LoadOptions::default()).unwrap());
}

#[test]
fn a_changed_byte_in_a_gradnet_file_is_found() {
    let f = fixture();
    // The last byte is tensor data: the file stays well-formed, the checksum fails.
    let mut bytes = f.weights.clone();
    *bytes.last_mut().unwrap() ^= 0x10;
    let mut net = Net::<f32>::new(&mut seeded(9));
    let err = weights_from_bytes(&mut net, &bytes, LoadOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::Persist(PersistError::ChecksumMismatch { .. })),
        "{err:?}"
    );
    // The same change in a file without metadata (as PyTorch writes) loads: there is
    // nothing to check it against.
    let mut plain = f.plain.clone();
    *plain.last_mut().unwrap() ^= 0x10;
    weights_from_bytes(&mut net, &plain, LoadOptions::default()).unwrap();
}

/// Sets the header length field (the first 8 bytes) to `n`.
fn with_header_len(bytes: &[u8], n: u64) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[..8].copy_from_slice(&n.to_le_bytes());
    b
}

#[test]
fn huge_header_lengths_are_errors_without_huge_allocations() {
    let f = fixture();
    for bytes in [&f.weights, &f.plain, &f.checkpoint] {
        let len = bytes.len() as u64;
        for n in [
            u64::MAX,
            1 << 63,
            1 << 40,
            99_999_999,
            100_000_001,
            len,
            len - 7,
            len - 9,
            0,
            1,
        ] {
            let b = with_header_len(bytes, n);
            assert!(
                !check_weights(&f, &b, LoadOptions::default()).unwrap(),
                "{n}"
            );
            assert!(!check_checkpoint(&f, &b).unwrap(), "{n}");
        }
    }
}

/// The header (JSON) of a file and its data.
fn split(bytes: &[u8]) -> (String, &[u8]) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        String::from_utf8(bytes[8..8 + n].to_vec()).unwrap(),
        &bytes[8 + n..],
    )
}

fn join(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// Replaces the `nth` occurrence (mod their count) of `from` in the header by `to`.
fn edit_header(bytes: &[u8], from: &str, to: &str, nth: usize) -> Option<Vec<u8>> {
    let (header, data) = split(bytes);
    let hits: Vec<usize> = header.match_indices(from).map(|(i, _)| i).collect();
    let at = *hits.get(nth % hits.len().max(1))?;
    let edited = format!("{}{to}{}", &header[..at], &header[at + from.len()..]);
    Some(join(&edited, data))
}

const HEADER_EDITS: &[(&str, &str)] = &[
    ("\"F32\"", "\"I32\""),
    ("\"F32\"", "\"U32\""),
    ("\"F32\"", "\"F64\""),
    ("\"F32\"", "\"F16\""),
    ("\"F32\"", "\"BOOL\""),
    ("\"F32\"", "\"F8_E4M3\""),
    ("\"F32\"", "\"C64\""),
    ("\"F32\"", "\"F4\""),
    ("\"F32\"", "\"Q4\""),
    ("\"I64\"", "\"F64\""),
    ("\"I64\"", "\"U64\""),
    ("\"I64\"", "\"I32\""),
    ("\"shape\":[6,4]", "\"shape\":[4,6]"),
    ("\"shape\":[6,4]", "\"shape\":[24]"),
    ("\"shape\":[6,4]", "\"shape\":[6,4,1]"),
    ("\"shape\":[6,4]", "\"shape\":[6,5]"),
    ("\"shape\":[6]", "\"shape\":[3,2]"),
    ("\"shape\":[6]", "\"shape\":[]"),
    ("\"shape\":[]", "\"shape\":[1]"),
    ("\"shape\":[]", "\"shape\":[0]"),
    ("\"shape\":[6]", "\"shape\":[18446744073709551615]"),
    ("\"shape\":[6,4]", "\"shape\":[4294967296,4294967296]"),
    ("\"data_offsets\":[0,", "\"data_offsets\":[1,"),
    (
        "\"data_offsets\":[",
        "\"data_offsets\":[18446744073709551615,",
    ),
    ("\"weight\"", "\"weigth\""),
    (
        "{",
        "{\"extra\":{\"dtype\":\"F32\",\"shape\":[1000000000],\"data_offsets\":[0,4000000000]},",
    ),
];

fn bases(f: &Fixture) -> [&Vec<u8>; 3] {
    [&f.weights, &f.plain, &f.checkpoint]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn flipped_bytes_load_the_original_values_or_fail_typed(
        base in 0usize..3,
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..=4),
    ) {
        let f = fixture();
        let mut bytes = bases(&f)[base].clone();
        let data_start = 8 + split(&bytes).0.len();
        let mut in_data = false;
        for (at, xor) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            in_data |= i >= data_start;
        }
        // Only gradnet's files carry a checksum; in a plain file, changed data bytes
        // are other weights.
        let original = base != 1 || !in_data;
        if base == 2 {
            check_checkpoint(&f, &bytes)?;
        } else {
            check_weights_as(&f, &bytes, LoadOptions::default(), original)?;
            let lenient = LoadOptions::default().strict(false).lossy(true);
            check_weights_as(&f, &bytes, lenient, original)?;
        }
    }

    #[test]
    fn wrong_dtypes_and_shapes_in_the_header_fail_typed(
        base in 0usize..3,
        edits in prop::collection::vec((0..HEADER_EDITS.len(), 0usize..8), 1..=2),
    ) {
        let f = fixture();
        let mut bytes = bases(&f)[base].clone();
        for &(e, nth) in &edits {
            let (from, to) = HEADER_EDITS[e];
            if let Some(b) = edit_header(&bytes, from, to, nth) {
                bytes = b;
            }
        }
        if base == 2 {
            check_checkpoint(&f, &bytes)?;
        } else {
            check_weights(&f, &bytes, LoadOptions::default())?;
            check_weights(&f, &bytes, LoadOptions::default().strict(false).lossy(true))?;
        }
    }

    #[test]
    fn any_header_length_fails_typed(base in 0usize..3, n in any::<u64>()) {
        let f = fixture();
        let bytes = with_header_len(bases(&f)[base], n);
        check_weights(&f, &bytes, LoadOptions::default())?;
        check_checkpoint(&f, &bytes)?;
    }

    #[test]
    fn arbitrary_bytes_fail_typed(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let f = fixture();
        check_weights(&f, &bytes, LoadOptions::default())?;
        check_checkpoint(&f, &bytes)?;
    }
}
