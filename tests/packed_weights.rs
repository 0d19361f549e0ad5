//! The evaluation-mode product keeps each dense weight packed between calls
//! (`gemm_cached_b`, under the layer's stamp); a packed copy never goes stale.
//! Between two `forward_into` calls on one workspace, each way of changing a weight
//! (a write through the visitors, an optimizer step, loading a weights file,
//! `clone_from`) must show in the second call's output, which is checked against
//! the same network run on a new thread (whose cache is empty, so nothing packed
//! earlier can be read).

use gradnet::persist::{weights_from_bytes, weights_to_bytes, LoadOptions};
use gradnet::prelude::*;

network! {
    /// Both layers on the GEMM path at batch 16 (16 * 64 * 48 multiply-adds and
    /// more than 8 rows), in the orientation that packs the weight.
    struct Wide {
        input: 64,
        dense(48),
        relu,
        dense(40),
        loss: mse,
    }
}

const ROWS: usize = 16;

fn input(seed: u64) -> Batch<f32, 64> {
    let v = (0..ROWS * 64)
        .map(|i| ((i as u64 * 7 + seed * 13) % 17) as f32 / 8.0 - 1.0)
        .collect();
    Batch::from_vec(v).unwrap()
}

/// `net`'s output on `x`, computed on a new thread with a new workspace.
fn fresh(net: &Wide<f32>, x: &Batch<f32, 64>) -> Vec<f32> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let (mut ws, mut out) = (Default::default(), Batch::new());
            net.forward_into(x, &mut ws, &mut out).unwrap();
            out.as_slice().to_vec()
        })
        .join()
        .unwrap()
    })
}

/// Runs `change` between two `forward_into` calls on one workspace and checks that
/// the second output is the changed network's.
fn check(name: &str, net: &mut Wide<f32>, change: impl FnOnce(&mut Wide<f32>)) {
    let x = input(1);
    let (mut ws, mut out) = (WideWorkspace::default(), Batch::new());
    net.forward_into(&x, &mut ws, &mut out).unwrap();
    let before = out.as_slice().to_vec();
    assert_eq!(before, fresh(net, &x), "{name}: before the change");
    change(net);
    net.forward_into(&x, &mut ws, &mut out).unwrap();
    assert!(out.as_slice() != &before[..], "{name}: the change shows");
    assert_eq!(
        out.as_slice(),
        &fresh(net, &x)[..],
        "{name}: after the change"
    );
}

#[test]
fn packed_weights_never_go_stale() {
    let mut net = Wide::<f32>::new(&mut seeded(3));

    check("write through visit_values_mut", &mut net, |net| {
        net.visit_values_mut(&mut |name, v| {
            if name.ends_with("weight") {
                v[0] += 0.5;
            }
        })
    });

    check("an optimizer step", &mut net, |net| {
        let mut opt = SgdConfig::new(0.1).build::<f32>().unwrap();
        let (mut ws, mut grads) = (WideWorkspace::default(), net.zero_grads());
        let target = Batch::<f32, 40>::from_vec(vec![1.0; ROWS * 40]).unwrap();
        net.train_step(&input(2), &target, &mut opt, &mut ws, &mut grads)
            .unwrap();
    });

    let other = Wide::<f32>::new(&mut seeded(4));
    let bytes = weights_to_bytes(&other).unwrap();
    check("loading a weights file", &mut net, |net| {
        weights_from_bytes(net, &bytes, LoadOptions::default()).unwrap();
    });

    let other = Wide::<f32>::new(&mut seeded(5));
    check("clone_from", &mut net, |net| net.clone_from(&other));

    // A clone has its own versions from its first change on: two networks that
    // were one, changed apart, never share a packed copy.
    let mut twin = net.clone();
    twin.visit_values_mut(&mut |_, v| v[1] -= 0.25);
    net.visit_values_mut(&mut |_, v| v[2] += 0.25);
    let x = input(1);
    let mut ws = WideWorkspace::default();
    for (a, b) in [(&net, &twin), (&twin, &net)] {
        let mut out = Batch::new();
        a.forward_into(&x, &mut ws, &mut out).unwrap();
        assert_eq!(out.as_slice(), &fresh(a, &x)[..]);
        b.forward_into(&x, &mut ws, &mut out).unwrap();
        assert_eq!(out.as_slice(), &fresh(b, &x)[..]);
    }
}
