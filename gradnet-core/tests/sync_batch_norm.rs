//! Synchronized batch norm without MPI: two threads, each with its strided shard of
//! a batch, summing through a [`Reducer`] over a barrier, must give one process's
//! numbers over the whole batch: the outputs, the input gradients, the running
//! statistics, and parameter gradients that add up to the whole batch's.

use gradnet_core::batch_norm::{BatchNorm, BatchNormCache, BatchNormConfig, BatchNormGrads};
use gradnet_core::reduce::Reducer;
use gradnet_core::{Batch, Gradients, Write};
use std::sync::{Arc, Barrier, Mutex};

const D: usize = 3;
const ROWS: usize = 6;

/// Sums over the threads sharing `barrier` and `acc`, every thread making the same
/// calls (a collective, as `MPI_Allreduce`).
struct Threads {
    barrier: Arc<Barrier>,
    acc: Arc<Mutex<Vec<f64>>>,
}

impl Reducer<f64> for Threads {
    const SYNCED: bool = true;

    fn sum_in_place(&mut self, values: &mut [f64]) {
        if self.barrier.wait().is_leader() {
            *self.acc.lock().unwrap() = vec![0.0; values.len()];
        }
        self.barrier.wait();
        for (a, v) in self.acc.lock().unwrap().iter_mut().zip(values.iter()) {
            *a += v;
        }
        self.barrier.wait();
        values.copy_from_slice(&self.acc.lock().unwrap());
        self.barrier.wait();
    }
}

fn layer() -> BatchNorm<f64, D> {
    BatchNorm::from_parts(
        BatchNormConfig::default(),
        Some(vec![1.3, -0.7, 0.9]),
        Some(vec![0.2, -0.4, 0.1]),
    )
    .unwrap()
}

fn rows(f: impl Fn(usize, usize) -> f64) -> Batch<f64, D> {
    let v: Vec<f64> = (0..ROWS * D).map(|i| f(i / D, i % D)).collect();
    Batch::from_slice(&v).unwrap()
}

/// Rows `t, t + 2, ...` of `b`.
fn shard(b: &Batch<f64, D>, t: usize) -> Batch<f64, D> {
    let v: Vec<f64> = (t..ROWS)
        .step_by(2)
        .flat_map(|r| b.row(r).to_vec())
        .collect();
    Batch::from_slice(&v).unwrap()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + y.abs()))
}

type Out = (
    Batch<f64, D>,
    Batch<f64, D>,
    BatchNormGrads<f64, D>,
    BatchNorm<f64, D>,
);

#[test]
fn two_synchronized_shards_are_one_batch() {
    let x = rows(|r, c| ((r * 7 + c * 3) as f64 * 0.9).sin() * (1.0 + c as f64));
    let dy = rows(|r, c| ((r * 5 + c * 11) as f64 * 0.4).cos());

    // One process over the whole batch.
    let mut whole = layer();
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    whole.forward_train_stats(&x, &mut y, &mut cache).unwrap();
    let (mut g, mut dx) = (whole.zero_grads(), Batch::new());
    whole.backward(
        &mut cache,
        &dy,
        &mut g,
        Write::Overwrite,
        Some(&mut dx),
        Write::Overwrite,
    );
    whole.update_running_stats(&cache);

    // Two threads, each its shard.
    let barrier = Arc::new(Barrier::new(2));
    let acc = Arc::new(Mutex::new(Vec::new()));
    let outs: Vec<Out> = (0..2)
        .map(|t| {
            let (xs, dys) = (shard(&x, t), shard(&dy, t));
            let mut reducer = Threads {
                barrier: Arc::clone(&barrier),
                acc: Arc::clone(&acc),
            };
            std::thread::spawn(move || {
                let mut bn = layer();
                let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
                bn.forward_train_stats_with(&xs, &mut y, &mut cache, &mut reducer)
                    .unwrap();
                assert_eq!(cache.stat_rows(), ROWS);
                let (mut g, mut dx) = (bn.zero_grads(), Batch::new());
                bn.backward_with(
                    &mut cache,
                    &dys,
                    &mut g,
                    Write::Overwrite,
                    Some(&mut dx),
                    Write::Overwrite,
                    &mut reducer,
                );
                bn.update_running_stats(&cache);
                (y, dx, g, bn)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();

    for (t, (y_t, dx_t, _, bn_t)) in outs.iter().enumerate() {
        assert!(
            close(y_t.as_slice(), shard(&y, t).as_slice()),
            "output of shard {t}"
        );
        assert!(
            close(dx_t.as_slice(), shard(&dx, t).as_slice()),
            "dx of shard {t}"
        );
        // Unbiased with the whole batch's rows: n / (n - 1) with n = 6, not 3.
        assert!(close(bn_t.running_mean(), whole.running_mean()));
        assert!(close(bn_t.running_var(), whole.running_var()));
    }
    // The parameter gradients stay local; their sum is the whole batch's.
    let mut sums: Vec<Vec<f64>> = Vec::new();
    outs[0].2.visit_grads(&mut |_, v| sums.push(v.to_vec()));
    let mut i = 0;
    outs[1].2.visit_grads(&mut |_, v| {
        for (s, x) in sums[i].iter_mut().zip(v) {
            *s += x;
        }
        i += 1;
    });
    let mut j = 0;
    g.visit_grads(&mut |name, v| {
        assert!(close(&sums[j], v), "{name}");
        j += 1;
    });
    assert_eq!(j, 2);
}

#[test]
fn unsynchronized_shards_would_differ() {
    // The oracle above can fail: each half alone normalizes with its own statistics.
    let x = rows(|r, c| ((r * 7 + c * 3) as f64 * 0.9).sin() * (1.0 + c as f64));
    let (mut y, mut cache) = (Batch::new(), BatchNormCache::new());
    layer().forward_train_stats(&x, &mut y, &mut cache).unwrap();
    let (mut y0, mut c0) = (Batch::new(), BatchNormCache::new());
    layer()
        .forward_train_stats(&shard(&x, 0), &mut y0, &mut c0)
        .unwrap();
    assert!(!close(y0.as_slice(), shard(&y, 0).as_slice()));
    assert_eq!(c0.stat_rows(), ROWS / 2);
}
