//! Unit tests of weights files and checkpoints over single layers.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};

use super::codec::f16_to_f64;
use super::*;
use crate::batch_norm::{BatchNorm, BatchNormConfig};
use crate::error::Error;
use crate::init::Init;
use crate::optim::{AdamConfig, Optimizer, OptimizerState, RmsPropConfig, SgdConfig};
use crate::rng::seeded;
use crate::{Dense, Gradients};

fn dense32() -> Dense<f32, 3, 2> {
    Dense::new(&Init::glorot_uniform(), true, &mut seeded(0))
}

fn bn32() -> BatchNorm<f32, 4> {
    let mut bn = BatchNorm::<f32, 4>::from_parts(
        BatchNormConfig::default(),
        Some(vec![1.5, 0.5, -1.0, 2.0]),
        Some(vec![0.1, 0.2, 0.3, 0.4]),
    )
    .unwrap();
    bn.running_mean_mut()
        .copy_from_slice(&[0.25, -0.5, 1.0, 2.0]);
    bn.running_var_mut().copy_from_slice(&[1.5, 0.75, 2.0, 0.5]);
    *bn.num_batches_tracked_mut() = 7.0;
    bn
}

/// A raw safetensors file of the given tensors (name, dtype, shape, bytes) and
/// metadata.
fn raw(
    tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
    meta: Option<HashMap<String, String>>,
) -> Vec<u8> {
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.to_string(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, meta).unwrap()
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn persist_err(e: Error) -> PersistError {
    match e {
        Error::Persist(p) => p,
        other => panic!("expected a persist error, got {other:?}"),
    }
}

#[test]
fn batch_norm_round_trips_with_pytorch_dtypes_and_metadata() {
    let bn = bn32();
    let bytes = weights_to_bytes(&bn).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let nbt = st.tensor("num_batches_tracked").unwrap();
    assert_eq!(nbt.dtype(), Dtype::I64);
    assert_eq!(nbt.shape(), &[] as &[usize]);
    assert_eq!(nbt.data(), &7i64.to_le_bytes());
    let w = st.tensor("weight").unwrap();
    assert_eq!((w.dtype(), w.shape()), (Dtype::F32, &[4usize][..]));
    assert_eq!(w.data(), &f32s(&[1.5, 0.5, -1.0, 2.0])[..]);
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["gradnet.format"], "weights");
    assert_eq!(meta["gradnet.version"], FORMAT_VERSION);
    assert_eq!(meta["gradnet.network"], "BatchNorm");
    assert_eq!(meta["gradnet.dtype"], "F32");

    let mut fresh = BatchNorm::<f32, 4>::new(BatchNormConfig::default()).unwrap();
    let report = weights_from_bytes(&mut fresh, &bytes, LoadOptions::default()).unwrap();
    assert_eq!(fresh, bn);
    assert_eq!(report.network.as_deref(), Some("BatchNorm"));
    assert!(report.missing.is_empty() && report.skipped.is_empty());
    assert_eq!(report.rounded, 0);
}

#[test]
fn f32_files_load_into_f64_models_and_back_where_exact() {
    let d32 = dense32();
    let mut d64 = Dense::<f64, 3, 2>::new(&Init::zeros(), true, &mut seeded(0));
    weights_from_bytes(
        &mut d64,
        &weights_to_bytes(&d32).unwrap(),
        LoadOptions::default(),
    )
    .unwrap();
    let widened: Vec<f64> = d32.weight().iter().map(|&w| f64::from(w)).collect();
    assert_eq!(d64.weight(), &widened[..]);

    // Back: every value came from f32, so it is exact.
    let mut back = Dense::<f32, 3, 2>::new(&Init::zeros(), true, &mut seeded(0));
    weights_from_bytes(
        &mut back,
        &weights_to_bytes(&d64).unwrap(),
        LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(back, d32);

    // One value with more precision than f32 has: an error naming it, nothing loaded.
    d64.weight_mut()[4] = 0.1;
    let bytes = weights_to_bytes(&d64).unwrap();
    let mut target = Dense::<f32, 3, 2>::new(&Init::zeros(), true, &mut seeded(0));
    let err =
        persist_err(weights_from_bytes(&mut target, &bytes, LoadOptions::default()).unwrap_err());
    assert_eq!(
        err,
        PersistError::InexactConversion {
            name: "weight".into(),
            index: 4,
            value: 0.1,
            target: "f32",
            integer: false,
        }
    );
    assert!(
        target.weight().iter().all(|&w| w == 0.0),
        "nothing was loaded"
    );
    // Lossy: rounded to the nearest f32 and counted.
    let report =
        weights_from_bytes(&mut target, &bytes, LoadOptions::default().lossy(true)).unwrap();
    assert_eq!(report.rounded, 1);
    assert_eq!(target.weight()[4], 0.1f32);
    assert_eq!(target.weight()[0], d32.weight()[0]);

    // Beyond f32's range: an error even when lossy.
    d64.weight_mut()[4] = 1e300;
    let bytes = weights_to_bytes(&d64).unwrap();
    let err = weights_from_bytes(&mut target, &bytes, LoadOptions::default().lossy(true));
    assert!(matches!(
        persist_err(err.unwrap_err()),
        PersistError::InexactConversion { index: 4, .. }
    ));
}

#[test]
fn counts_must_be_integers_exact_in_the_scalar_type() {
    let mut bn = bn32();
    *bn.num_batches_tracked_mut() = 2.5;
    assert!(matches!(
        persist_err(weights_to_bytes(&bn).unwrap_err()),
        PersistError::InexactConversion { ref name, target: "int64", .. } if name == "num_batches_tracked"
    ));

    // 2^24 + 1 batches: exact in f64, not in f32.
    let mut wide = BatchNorm::<f64, 4>::new(BatchNormConfig::default()).unwrap();
    *wide.num_batches_tracked_mut() = 16_777_217.0;
    let bytes = weights_to_bytes(&wide).unwrap();
    let mut again = BatchNorm::<f64, 4>::new(BatchNormConfig::default()).unwrap();
    weights_from_bytes(&mut again, &bytes, LoadOptions::default()).unwrap();
    assert_eq!(again.num_batches_tracked(), 16_777_217.0);
    let mut narrow = BatchNorm::<f32, 4>::new(BatchNormConfig::default()).unwrap();
    let err = weights_from_bytes(&mut narrow, &bytes, LoadOptions::default().lossy(true));
    assert!(matches!(
        persist_err(err.unwrap_err()),
        PersistError::InexactConversion { integer: true, .. }
    ));
    assert_eq!(narrow.num_batches_tracked(), 0.0);
}

#[test]
fn missing_and_unexpected_tensors_strict_and_not() {
    let with_bias = dense32();
    let mut no_bias = Dense::<f32, 3, 2>::new(&Init::zeros(), false, &mut seeded(0));
    let bytes = weights_to_bytes(&with_bias).unwrap();
    let err = weights_from_bytes(&mut no_bias, &bytes, LoadOptions::default()).unwrap_err();
    assert_eq!(
        persist_err(err.clone()),
        PersistError::UnexpectedTensor {
            name: "bias".into(),
            more: 0
        }
    );
    assert_eq!(
        err.to_string(),
        "the file has tensor bias, which the model does not"
    );
    assert!(no_bias.weight().iter().all(|&w| w == 0.0));
    let report =
        weights_from_bytes(&mut no_bias, &bytes, LoadOptions::default().strict(false)).unwrap();
    assert_eq!(report.skipped, ["bias"]);
    assert_eq!(no_bias.weight(), with_bias.weight());

    let mut target = Dense::<f32, 3, 2>::new(&Init::zeros(), true, &mut seeded(0));
    target.bias_mut().unwrap().fill(9.0);
    let bytes = weights_to_bytes(&no_bias).unwrap();
    let err = weights_from_bytes(&mut target, &bytes, LoadOptions::default()).unwrap_err();
    assert_eq!(
        persist_err(err),
        PersistError::MissingTensor {
            name: "bias".into(),
            more: 0
        }
    );
    let report =
        weights_from_bytes(&mut target, &bytes, LoadOptions::default().strict(false)).unwrap();
    assert_eq!(report.missing, ["bias"]);
    assert_eq!(
        target.bias().unwrap(),
        [9.0, 9.0],
        "a missing tensor keeps its values"
    );
    assert_eq!(target.weight(), with_bias.weight());
}

#[test]
fn wrong_shapes_and_dtypes_are_errors_naming_the_tensor() {
    let file = raw(
        &[
            ("weight", Dtype::F32, vec![3, 2], f32s(&[1.0; 6])),
            ("bias", Dtype::F32, vec![2], f32s(&[0.0; 2])),
        ],
        None,
    );
    let mut d = dense32();
    let before = d.clone();
    let err = weights_from_bytes(&mut d, &file, LoadOptions::default().strict(false)).unwrap_err();
    assert_eq!(
        persist_err(err.clone()),
        PersistError::ShapeMismatch {
            name: "weight".into(),
            expected: vec![2, 3],
            found: vec![3, 2]
        }
    );
    assert_eq!(
        err.to_string(),
        "tensor weight: the model has shape [2, 3], the file [3, 2]"
    );
    assert_eq!(d, before);

    // A float weight stored as integers, or as booleans.
    for dtype in [Dtype::I32, Dtype::BOOL] {
        let width = if dtype == Dtype::I32 { 4 } else { 1 };
        let file = raw(
            &[
                ("weight", Dtype::F32, vec![2, 3], f32s(&[1.0; 6])),
                ("bias", dtype, vec![2], vec![1; 2 * width]),
            ],
            None,
        );
        let err =
            persist_err(weights_from_bytes(&mut d, &file, LoadOptions::default()).unwrap_err());
        assert!(
            matches!(err, PersistError::UnsupportedDtype { ref name, ref found, .. } if name == "bias" && *found == format!("{dtype:?}")),
            "{err:?}"
        );
        assert_eq!(d, before, "all or nothing: the weight was not written");
    }
}

#[test]
fn half_precision_weights_load_exactly() {
    // 1.0, -2.0, 0.5, 65504 (largest half), 2^-24 (smallest subnormal), 1/3 rounded.
    let halves: [u16; 6] = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x3555];
    let expect = [1.0, -2.0, 0.5, 65504.0, 2f64.powi(-24), 0.333_251_953_125];
    for (h, e) in halves.iter().zip(expect) {
        assert_eq!(f16_to_f64(*h), e);
    }
    assert!(f16_to_f64(0x7e00).is_nan());
    assert_eq!(f16_to_f64(0xfc00), f64::NEG_INFINITY);
    let bytes: Vec<u8> = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
    // BF16 1.0 is 0x3f80, -0.5 is 0xbf00.
    let bf: Vec<u8> = [0x3f80u16, 0xbf00]
        .iter()
        .flat_map(|h| h.to_le_bytes())
        .collect();
    let file = raw(
        &[
            ("weight", Dtype::F16, vec![2, 3], bytes),
            ("bias", Dtype::BF16, vec![2], bf),
        ],
        None,
    );
    let mut d = Dense::<f64, 3, 2>::new(&Init::zeros(), true, &mut seeded(0));
    weights_from_bytes(&mut d, &file, LoadOptions::default()).unwrap();
    assert_eq!(d.weight(), expect);
    assert_eq!(d.bias().unwrap(), [1.0, -0.5]);
}

#[test]
fn corrupt_files_and_other_formats_are_typed_errors() {
    let good = weights_to_bytes(&dense32()).unwrap();
    let mut d = dense32();
    for bad in [&good[..good.len() - 1], &good[..7], &[][..], &good[..20]] {
        let err = persist_err(weights_from_bytes(&mut d, bad, LoadOptions::default()).unwrap_err());
        assert!(matches!(err, PersistError::Corrupt { .. }), "{err:?}");
    }
    let meta = |f: &str, v: &str| {
        Some(HashMap::from([
            ("gradnet.format".to_string(), f.to_string()),
            ("gradnet.version".to_string(), v.to_string()),
        ]))
    };
    let tensors = [
        ("weight", Dtype::F32, vec![2, 3], f32s(&[1.0; 6])),
        ("bias", Dtype::F32, vec![2], f32s(&[0.0; 2])),
    ];
    let err = persist_err(
        weights_from_bytes(
            &mut d,
            &raw(&tensors, meta("checkpoint", "1")),
            LoadOptions::default(),
        )
        .unwrap_err(),
    );
    assert!(matches!(
        err,
        PersistError::WrongFormat {
            expected: "weights",
            ..
        }
    ));
    let err = persist_err(
        weights_from_bytes(
            &mut d,
            &raw(&tensors, meta("weights", "2")),
            LoadOptions::default(),
        )
        .unwrap_err(),
    );
    assert_eq!(
        err,
        PersistError::UnsupportedVersion {
            found: "2".into(),
            supported: "1"
        }
    );
    // A file without metadata (as PyTorch writes) is fine.
    weights_from_bytes(&mut d, &raw(&tensors, None), LoadOptions::default()).unwrap();
    assert_eq!(d.weight(), [1.0; 6]);
}

#[test]
fn files_are_replaced_atomically_and_io_errors_are_typed() {
    let dir = std::env::temp_dir().join(format!("gradnet-persist-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.safetensors");
    let a = dense32();
    save_weights(&a, &path).unwrap();
    let mut b = Dense::<f32, 3, 2>::new(&Init::ones(), true, &mut seeded(1));
    save_weights(&b, &path).unwrap();
    load_weights(&mut b, &path).unwrap();
    let ones = Dense::<f32, 3, 2>::new(&Init::ones(), true, &mut seeded(1));
    assert_eq!(b, ones);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["w.safetensors"], "no temporary file is left behind");
    std::fs::remove_dir_all(&dir).unwrap();

    let err = persist_err(save_weights(&a, dir.join("w.safetensors")).unwrap_err());
    assert!(
        matches!(
            err,
            PersistError::Io {
                op: "create",
                kind: std::io::ErrorKind::NotFound,
                ..
            }
        ),
        "{err:?}"
    );
    let err = persist_err(load_weights(&mut b, dir.join("w.safetensors")).unwrap_err());
    assert!(matches!(err, PersistError::Io { op: "read", .. }));
}

/// Trains `layer` for `steps` steps of `opt` on a fixed gradient sequence.
fn steps<O: Optimizer<f64>>(layer: &mut Dense<f64, 3, 2>, opt: &mut O, from: usize, steps: usize) {
    let mut grads = layer.zero_grads();
    for k in from..from + steps {
        grads.visit_grads_mut(&mut |_, g| {
            for (j, v) in g.iter_mut().enumerate() {
                *v = ((k * 7 + j * 3) % 11) as f64 / 5.0 - 1.0;
            }
        });
        opt.step(layer, &grads).unwrap();
    }
}

fn resume_is_exact<O: OptimizerState<f64> + Clone>(fresh: O) {
    let start = Dense::<f64, 3, 2>::new(&Init::glorot_uniform(), true, &mut seeded(3));
    let (mut straight, mut opt) = (start.clone(), fresh.clone());
    steps(&mut straight, &mut opt, 0, 6);

    let (mut first, mut opt1) = (start.clone(), fresh.clone());
    // A checkpoint before any step restores an optimizer with no state.
    let empty = checkpoint_to_bytes(&first, &opt1, &[], Progress::default()).unwrap();
    steps(&mut first, &mut opt1, 0, 3);
    let mut rng = seeded(11);
    let _ = rand::RngExt::random::<u64>(&mut rng);
    let bytes =
        checkpoint_to_bytes(&first, &opt1, &[&rng], Progress { step: 3, epoch: 1 }).unwrap();

    let mut resumed = Dense::<f64, 3, 2>::new(&Init::zeros(), true, &mut seeded(0));
    let mut opt2 = fresh.clone();
    let mut rng2 = seeded(0);
    let p = checkpoint_from_bytes(&bytes, &mut resumed, &mut opt2, &mut [&mut rng2]).unwrap();
    assert_eq!(p, Progress { step: 3, epoch: 1 });
    assert_eq!(rng2, rng);
    assert_eq!(OptimizerState::steps(&opt2), 3);
    steps(&mut resumed, &mut opt2, 3, 3);
    assert_eq!(resumed, straight, "{}", fresh.kind());

    let mut again = start.clone();
    let mut opt3 = opt2.clone();
    checkpoint_from_bytes(&empty, &mut again, &mut opt3, &mut []).unwrap();
    assert_eq!(OptimizerState::steps(&opt3), 0);
    steps(&mut again, &mut opt3, 0, 6);
    assert_eq!(again, straight, "{}: restored to no state", fresh.kind());
}

#[test]
fn optimizers_resume_exactly_from_checkpoints() {
    resume_is_exact(SgdConfig::new(0.1).build::<f64>().unwrap());
    resume_is_exact(
        SgdConfig::new(0.1)
            .momentum(0.9)
            .nesterov(true)
            .weight_decay(0.01)
            .build::<f64>()
            .unwrap(),
    );
    resume_is_exact(AdamConfig::adamw().lr(0.01).build::<f64>().unwrap());
    resume_is_exact(
        AdamConfig::new(0.01)
            .amsgrad(true)
            .weight_decay(0.1)
            .build::<f64>()
            .unwrap(),
    );
    resume_is_exact(RmsPropConfig::default().build::<f64>().unwrap());
    resume_is_exact(
        RmsPropConfig::default()
            .centered(true)
            .momentum(0.5)
            .build::<f64>()
            .unwrap(),
    );
}

#[test]
fn checkpoints_refuse_other_optimizers_generators_and_weights_files() {
    let mut layer = Dense::<f64, 3, 2>::new(&Init::glorot_uniform(), true, &mut seeded(3));
    let mut opt = AdamConfig::adamw().build::<f64>().unwrap();
    steps(&mut layer, &mut opt, 0, 2);
    let bytes = checkpoint_to_bytes(&layer, &opt, &[], Progress::default()).unwrap();
    let before = layer.clone();

    let mut adam = AdamConfig::default().build::<f64>().unwrap();
    let err =
        persist_err(checkpoint_from_bytes(&bytes, &mut layer, &mut adam, &mut []).unwrap_err());
    assert!(
        matches!(err, PersistError::OptimizerMismatch { ref setting, .. } if setting == "weight_decay"),
        "{err:?}"
    );
    let mut sgd = SgdConfig::new(0.1).build::<f64>().unwrap();
    let err =
        persist_err(checkpoint_from_bytes(&bytes, &mut layer, &mut sgd, &mut []).unwrap_err());
    assert!(
        matches!(err, PersistError::OptimizerMismatch { ref setting, ref saved, .. } if setting == "kind" && saved == "adam")
    );
    let mut same = AdamConfig::adamw().build::<f64>().unwrap();
    let mut rng = seeded(0);
    let err = persist_err(
        checkpoint_from_bytes(&bytes, &mut layer, &mut same, &mut [&mut rng]).unwrap_err(),
    );
    assert_eq!(err, PersistError::RngCountMismatch { saved: 0, given: 1 });
    assert_eq!(OptimizerState::steps(&same), 0, "nothing restored");
    assert_eq!(layer, before);

    let weights = weights_to_bytes(&layer).unwrap();
    let err =
        persist_err(checkpoint_from_bytes(&weights, &mut layer, &mut same, &mut []).unwrap_err());
    assert!(matches!(
        err,
        PersistError::WrongFormat {
            expected: "checkpoint",
            ..
        }
    ));
    let err =
        persist_err(weights_from_bytes(&mut layer, &bytes, LoadOptions::default()).unwrap_err());
    assert!(matches!(
        err,
        PersistError::WrongFormat {
            expected: "weights",
            ..
        }
    ));
}
