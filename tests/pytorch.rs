//! Weights between gradnet and PyTorch, both ways, through committed safetensors
//! files (`scripts/pytorch_interop.py` writes and checks the PyTorch side; this test
//! needs no Python).
//!
//! - `tests/data/pytorch/`: files PyTorch wrote with
//!   `safetensors.torch.save_file(model.state_dict())` for an MLP with batch norm
//!   (after 5 training steps: `num_batches_tracked` is 5), an LSTM and a
//!   bidirectional GRU, in f32, each with a fixed input and PyTorch's
//!   evaluation-mode outputs in f64 and f32. They load into the equivalent gradnet
//!   networks with no code, in f32 and in f64, and give PyTorch's outputs.
//! - `tests/data/gradnet/`: files gradnet writes for the same networks, with
//!   gradnet's outputs. The script loads them into PyTorch with
//!   `load_state_dict(strict=True)` and compares; this test checks that they are
//!   byte for byte what the current code writes (`GRADNET_BLESS=1` rewrites them).

use std::path::PathBuf;

use gradnet::persist::{load_weights, weights_to_bytes, LoadOptions};
use gradnet::prelude::*;
use gradnet::rnn::{GruCell, RecurrentConfig};
use gradnet::{Bidirectional, Layer, Lstm, PersistError, Seq, Steps};
use safetensors::{Dtype, SafeTensors};

network! {
    /// `nn.Sequential(Linear(4, 8), BatchNorm1d(8), ReLU(), Dropout(0.1), Linear(8, 3))`.
    struct Mlp {
        input: 4,
        dense(8),
        batch_norm,
        relu,
        dropout(0.1),
        dense(3),
        loss: mse,
    }
}

network! {
    /// The same without the dropout: the last layer is `3`, not `4`.
    struct NoDropout {
        input: 4,
        dense(8),
        batch_norm,
        relu,
        dense(3),
        loss: mse,
    }
}

type Gru2<T> = Bidirectional<T, GruCell, 3, 4, 8>;

fn path(dir: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
        .join(file)
}

/// A tensor of an io file as f64s, with its shape.
fn tensor(st: &SafeTensors<'_>, name: &str) -> (Vec<usize>, Vec<f64>) {
    let t = st.tensor(name).unwrap();
    let v = match t.dtype() {
        Dtype::F64 => t
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        Dtype::F32 => t
            .data()
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        d => panic!("{name}: {d:?}"),
    };
    (t.shape().to_vec(), v)
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: gradnet {g}, PyTorch {w}"
        );
    }
}

fn widen<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.as_f64()).collect()
}

/// The MLP's evaluation-mode output for the rows of `x` (f64, cast to `T`).
fn mlp_output<T: Real>(net: &Mlp<T>, x: &[f64]) -> Vec<f64> {
    let rows: Vec<[T; 4]> = x
        .chunks_exact(4)
        .map(|r| [T::of(r[0]), T::of(r[1]), T::of(r[2]), T::of(r[3])])
        .collect();
    let out = net.forward(&Batch::from_rows(&rows).unwrap()).unwrap();
    widen(out.as_slice())
}

/// A recurrent layer's every-step output and `h_n` for the time-major `x`.
fn rnn_outputs<T: Real, L, const O: usize>(
    layer: &L,
    x: &[f64],
    steps: usize,
) -> (Vec<f64>, Vec<f64>)
where
    L: Layer<T, Seq<T, 3>, Output = Batch<T, O>>,
    for<'a> Steps<'a, L>: Layer<T, Seq<T, 3>, Output = Seq<T, O>>,
{
    let x = Seq::<T, 3>::from_time_major(x.iter().map(|&v| T::of(v)).collect(), steps).unwrap();
    let (mut all, mut h_n) = (Seq::new(), Batch::new());
    Layer::forward_eval(&Steps(layer), &x, &mut all);
    layer.forward_eval(&x, &mut h_n);
    (widen(all.as_slice()), widen(h_n.as_slice()))
}

#[test]
fn pytorch_mlp_with_batch_norm_loads_in_f32_and_f64_and_gives_pytorch_outputs() {
    let bytes = std::fs::read(path("pytorch", "mlp_bn_io.safetensors")).unwrap();
    let io = SafeTensors::deserialize(&bytes).unwrap();
    let (_, x) = tensor(&io, "input");

    let mut net64 = Mlp::<f64>::new(&mut seeded(0));
    let report = load_weights(&mut net64, path("pytorch", "mlp_bn.safetensors")).unwrap();
    assert_eq!(report.network, None, "PyTorch writes no gradnet metadata");
    assert!(report.missing.is_empty() && report.skipped.is_empty());
    assert_eq!(net64.l1.num_batches_tracked(), 5.0, "int64 in the file");
    assert_close(
        "f64 output",
        &mlp_output(&net64, &x),
        &tensor(&io, "output_f64").1,
        1e-12,
    );

    let mut net32 = Mlp::<f32>::new(&mut seeded(0));
    load_weights(&mut net32, path("pytorch", "mlp_bn.safetensors")).unwrap();
    assert_close(
        "f32 output",
        &mlp_output(&net32, &x),
        &tensor(&io, "output_f32").1,
        1e-5,
    );

    // A network whose layers are numbered otherwise: a typed error naming the tensor.
    let mut other = NoDropout::<f32>::new(&mut seeded(0));
    let before = other.clone();
    let err = load_weights(&mut other, path("pytorch", "mlp_bn.safetensors")).unwrap_err();
    assert_eq!(
        err,
        Error::Persist(PersistError::MissingTensor {
            name: "3.weight".into(),
            more: 1
        })
    );
    assert_eq!(
        err.to_string(),
        "tensor 3.weight is missing from the file (and 1 more)"
    );
    let mut shapes = Vec::new();
    other.visit_params(&mut |n, v| shapes.push((n, v.to_vec())));
    let mut shapes_before = Vec::new();
    before.visit_params(&mut |n, v| shapes_before.push((n, v.to_vec())));
    assert_eq!(shapes, shapes_before, "nothing was loaded");
    let report = gradnet::persist::load_weights_with(
        &mut other,
        path("pytorch", "mlp_bn.safetensors"),
        LoadOptions::default().strict(false),
    )
    .unwrap();
    assert_eq!(report.missing, ["3.weight", "3.bias"]);
    assert_eq!(report.skipped, ["4.bias", "4.weight"]);
}

fn check_recurrent<T: Real, L, const O: usize>(file: &str, layer: &mut L, tol: f64, suffix: &str)
where
    L: Layer<T, Seq<T, 3>, Output = Batch<T, O>> + Parameters<T>,
    for<'a> Steps<'a, L>: Layer<T, Seq<T, 3>, Output = Seq<T, O>>,
{
    let bytes = std::fs::read(path("pytorch", &format!("{file}_io.safetensors"))).unwrap();
    let io = SafeTensors::deserialize(&bytes).unwrap();
    let (shape, x) = tensor(&io, "input");
    load_weights(layer, path("pytorch", &format!("{file}.safetensors"))).unwrap();
    let (all, h_n) = rnn_outputs::<T, L, O>(layer, &x, shape[0]);
    assert_close(
        &format!("{file} output"),
        &all,
        &tensor(&io, &format!("output_{suffix}")).1,
        tol,
    );
    assert_close(
        &format!("{file} h_n"),
        &h_n,
        &tensor(&io, &format!("h_n_{suffix}")).1,
        tol,
    );
}

#[test]
fn pytorch_lstm_and_bidirectional_gru_load_and_give_pytorch_outputs() {
    let cfg = RecurrentConfig::default();
    check_recurrent(
        "lstm",
        &mut Lstm::<f64, 3, 5>::new(&cfg, &mut seeded(0)),
        1e-12,
        "f64",
    );
    check_recurrent(
        "lstm",
        &mut Lstm::<f32, 3, 5>::new(&cfg, &mut seeded(0)),
        1e-5,
        "f32",
    );
    check_recurrent(
        "gru_bi",
        &mut Gru2::<f64>::new(&cfg, &mut seeded(0)),
        1e-12,
        "f64",
    );
    check_recurrent(
        "gru_bi",
        &mut Gru2::<f32>::new(&cfg, &mut seeded(0)),
        1e-5,
        "f32",
    );
}

/// A fixed input whose values are exact in f32 (multiples of 1/16).
fn fixed_input(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((i * 37 % 29) as f64 - 14.0) / 16.0)
        .collect()
}

/// What gradnet writes for the script to load: the weights file and an io file of
/// the input and gradnet's outputs.
struct Export {
    name: &'static str,
    weights: Vec<u8>,
    input: (Vec<usize>, Vec<f64>),
    outputs: Vec<(&'static str, Vec<usize>, Vec<f64>, Dtype)>,
}

fn io_bytes(e: &Export) -> Vec<u8> {
    let mut data: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = vec![(
        "input".into(),
        Dtype::F64,
        e.input.0.clone(),
        e.input.1.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )];
    for (name, shape, v, dtype) in &e.outputs {
        let bytes = match dtype {
            Dtype::F32 => v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect(),
            _ => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        data.push((name.to_string(), *dtype, shape.clone(), bytes));
    }
    let views: Vec<_> = data
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn mlp_export<T: Real>(name: &'static str) -> Export {
    let mut net = Mlp::<T>::new(&mut seeded(42));
    // Running statistics as training would leave them, set by formula so that the
    // file is the same on every machine.
    net.visit_buffers_mut(&mut |n, v| {
        for (i, x) in v.iter_mut().enumerate() {
            *x = T::of(match n {
                "1.running_mean" => (i as f64 - 3.5) / 8.0,
                "1.running_var" => 0.5 + i as f64 / 4.0,
                _ => 12.0,
            });
        }
    });
    let x = fixed_input(6 * 4);
    let out = mlp_output(&net, &x);
    let dtype = if core::mem::size_of::<T>() == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    };
    Export {
        name,
        weights: weights_to_bytes(&net).unwrap(),
        input: (vec![6, 4], x),
        outputs: vec![("output", vec![6, 3], out, dtype)],
    }
}

fn rnn_export<T: Real, L, const O: usize>(name: &'static str, layer: L) -> Export
where
    L: Layer<T, Seq<T, 3>, Output = Batch<T, O>> + Parameters<T>,
    for<'a> Steps<'a, L>: Layer<T, Seq<T, 3>, Output = Seq<T, O>>,
{
    let (steps, rows) = (5, 2);
    let x = fixed_input(steps * rows * 3);
    let (all, h_n) = rnn_outputs::<T, L, O>(&layer, &x, steps);
    let dtype = if core::mem::size_of::<T>() == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    };
    Export {
        name,
        weights: weights_to_bytes(&layer).unwrap(),
        input: (vec![steps, rows, 3], x),
        outputs: vec![
            ("output", vec![steps, rows, O], all, dtype),
            ("h_n", vec![rows, O], h_n, dtype),
        ],
    }
}

/// Whether two safetensors files hold the same tensors (names, dtypes, shapes,
/// bytes) and the same metadata. (Not the same bytes: safetensors writes the
/// metadata map in hash order.)
fn same_contents(a: &[u8], b: &[u8]) -> bool {
    let (sa, sb) = (
        SafeTensors::deserialize(a).unwrap(),
        SafeTensors::deserialize(b).unwrap(),
    );
    let (ma, mb) = (
        SafeTensors::read_metadata(a).unwrap().1,
        SafeTensors::read_metadata(b).unwrap().1,
    );
    let mut names = sa.names();
    names.sort_unstable();
    let mut names_b = sb.names();
    names_b.sort_unstable();
    names == names_b
        && ma.metadata() == mb.metadata()
        && names
            .iter()
            .all(|n| sa.tensor(n).unwrap() == sb.tensor(n).unwrap())
}

#[test]
fn gradnet_files_for_pytorch_are_what_the_code_writes() {
    let cfg = RecurrentConfig::default();
    let exports = [
        mlp_export::<f32>("mlp_bn_f32"),
        mlp_export::<f64>("mlp_bn_f64"),
        rnn_export::<f64, _, 5>("lstm_f64", Lstm::<f64, 3, 5>::new(&cfg, &mut seeded(43))),
        rnn_export::<f32, _, 8>("gru_bi_f32", Gru2::<f32>::new(&cfg, &mut seeded(44))),
    ];
    let bless = std::env::var_os("GRADNET_BLESS").is_some();
    for e in &exports {
        let weights = path("gradnet", &format!("{}.safetensors", e.name));
        let io = path("gradnet", &format!("{}_io.safetensors", e.name));
        if bless {
            std::fs::write(&weights, &e.weights).unwrap();
            std::fs::write(&io, io_bytes(e)).unwrap();
            continue;
        }
        let committed = std::fs::read(&weights).unwrap();
        assert!(
            same_contents(&committed, &e.weights),
            "{}: the committed file is stale (GRADNET_BLESS=1 cargo test --test pytorch)",
            e.name
        );
        let committed = std::fs::read(&io).unwrap();
        let st = SafeTensors::deserialize(&committed).unwrap();
        assert_eq!(tensor(&st, "input"), e.input);
        for (name, shape, v, dtype) in &e.outputs {
            let (s, c) = tensor(&st, name);
            assert_eq!((&s, st.tensor(name).unwrap().dtype()), (shape, *dtype));
            // The products may round differently on another CPU: compare, not bytes.
            let tol = if *dtype == Dtype::F32 { 1e-6 } else { 1e-13 };
            assert_close(&format!("{} {name}", e.name), v, &c, tol);
        }
    }
}
