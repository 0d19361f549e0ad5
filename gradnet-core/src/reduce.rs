//! Sums across the processes of a data-parallel job, for the one kind of layer whose
//! training pass reads more than its own rows: batch norm, whose batch statistics
//! (and their backward terms) a synchronized run computes over the global batch, as
//! PyTorch's `SyncBatchNorm`.
//!
//! A generated network's `loss_and_grad_with(x, target, ws, grads, reducer)` threads
//! a [`Reducer`] through its training pass into every layer
//! ([`crate::Layer::forward_train_with`], [`crate::Layer::backward_with`]); only batch
//! norm calls it. The ordinary passes (`loss_and_grad`, `train_step`) give it
//! [`NoReduce`], whose [`Reducer::SYNCED`] is `false`: batch norm's synchronized
//! branches are behind that constant, so the single-process code is the code it was.
//!
//! ```
//! use gradnet_core::reduce::{NoReduce, Reducer};
//! let mut v = [1.0f64, 2.0];
//! NoReduce.sum_in_place(&mut v); // one process: the sum over processes is the value
//! assert_eq!(v, [1.0, 2.0]);
//! assert!(!<NoReduce as Reducer<f64>>::SYNCED);
//! ```
//!
//! gradnet's MPI reducer lives in the facade's `distributed` module (cargo feature
//! `mpi`); any other transport implements this trait.

/// Sums values element-wise over every process of a job.
///
/// Every process must make the same calls, with slices of the same lengths, in the
/// same order (a collective operation): the training pass of the same network over
/// each process's shard does exactly that.
pub trait Reducer<T> {
    /// Whether the reducer sums across processes at all. `false` ([`NoReduce`]) lets
    /// layers skip the work around a reduction (packing, counting rows) at compile
    /// time.
    const SYNCED: bool;

    /// Replaces each value by its sum over all processes.
    fn sum_in_place(&mut self, values: &mut [T]);
}

/// The reducer of a single process: every sum over processes is the value itself,
/// and layers see [`Reducer::SYNCED`] `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoReduce;

impl<T> Reducer<T> for NoReduce {
    const SYNCED: bool = false;

    #[inline(always)]
    fn sum_in_place(&mut self, values: &mut [T]) {
        let _ = values;
    }
}

impl<T, R: Reducer<T>> Reducer<T> for &mut R {
    const SYNCED: bool = R::SYNCED;

    #[inline(always)]
    fn sum_in_place(&mut self, values: &mut [T]) {
        (**self).sum_in_place(values);
    }
}
