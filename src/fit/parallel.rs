//! What a data-parallel fit asks of its transport, so that the fit's loop has no
//! `cfg`: with the `mpi` feature, [`crate::distributed::DataParallel`] implements it
//! (given to [`super::Trainer::data_parallel`]); without it, nothing does and a fit
//! runs in one process.

use super::FitError;
use gradnet_core::{Network, Real};

/// The collective operations of a data-parallel fit; every rank makes the same
/// calls in the same order.
pub(crate) trait Parallel<T: Real, N: Network<T>, O> {
    /// This rank.
    fn rank(&self) -> usize;
    /// Ranks in the job.
    fn size(&self) -> usize;
    /// Rank 0's parameters and buffers everywhere.
    fn broadcast_model(&mut self, net: &mut N);
    /// Rank 0's buffers everywhere (before an evaluation on every rank).
    fn broadcast_buffers(&mut self, net: &mut N);
    /// One data-parallel step: the global mean loss and the global batch's rows.
    /// A divergence (found alike on every rank, on the reduced values) is a
    /// [`FitError::Core`] with the runtime's error.
    fn step(
        &mut self,
        net: &mut N,
        x: &N::Input,
        y: &N::Target,
        opt: &mut O,
        ws: &mut N::Workspace,
        grads: &mut N::Grads,
    ) -> Result<(T, usize), FitError>;
    /// Sums `values` over the ranks in place (same length everywhere).
    fn sum(&mut self, values: &mut [f64]);
}

#[cfg(feature = "mpi")]
mod mpi_impl {
    use super::Parallel;
    use crate::data::Rows;
    use crate::distributed::{DataParallel, DistError};
    use crate::fit::FitError;
    use gradnet_core::optim::Optimizer;
    use gradnet_core::{Network, Real};
    use mpi::datatype::Equivalence;

    impl<T, N, O> Parallel<T, N, O> for (DataParallel<T>, Vec<f64>)
    where
        T: Real + Equivalence,
        N: Network<T>,
        N::Input: Rows,
        O: Optimizer<T>,
    {
        fn rank(&self) -> usize {
            self.0.rank()
        }

        fn size(&self) -> usize {
            self.0.size()
        }

        fn broadcast_model(&mut self, net: &mut N) {
            self.0.broadcast_model(net);
        }

        fn broadcast_buffers(&mut self, net: &mut N) {
            self.0.broadcast_buffers(net);
        }

        fn step(
            &mut self,
            net: &mut N,
            x: &N::Input,
            y: &N::Target,
            opt: &mut O,
            ws: &mut N::Workspace,
            grads: &mut N::Grads,
        ) -> Result<(T, usize), FitError> {
            match self.0.train_step(net, x, y, opt, ws, grads) {
                Ok(loss) => Ok((loss, self.0.global_rows())),
                // Found on the reduced values: the same error on every rank.
                Err(DistError::Step { source, .. }) if super::super::is_divergence(&source) => {
                    Err(FitError::Core(source))
                }
                Err(e) => Err(FitError::Distributed(e)),
            }
        }

        fn sum(&mut self, values: &mut [f64]) {
            let (dp, scratch) = self;
            dp.mpi().all_reduce_sum(values, scratch);
        }
    }
}
