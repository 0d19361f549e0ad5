//! Data-parallel training over MPI (cargo feature `mpi`): the same network on every
//! process (rank) of an `mpirun` job, each rank running the training pass on its
//! shard of the global batch, as PyTorch's `DistributedDataParallel` or Horovod.
//!
//! One step of [`DataParallel::train_step`] on every rank:
//!
//! 1. batch norm's running statistics (every buffer) of rank 0 are broadcast
//!    ([`BatchNormSync::BroadcastBuffers`], DDP's default `broadcast_buffers=True`);
//! 2. the training pass on this rank's rows ([`Network::loss_and_grad_with`]; with
//!    [`BatchNormSync::Synchronized`] batch norm reduces its batch statistics and
//!    their backward terms over the ranks, as `SyncBatchNorm`);
//! 3. one allreduce (`MPI_Allreduce`, sum) of one contiguous buffer: every gradient
//!    times this rank's rows, then the loss times the rows, the rows, and whether
//!    the pass failed;
//! 4. the sum divided by the global rows: the gradient of the mean loss over the
//!    global batch, on every rank alike;
//! 5. the finite check and the spec's clipping ([`Network::clip_grads`]) on those
//!    reduced values, then the optimizer's step: the same update on every rank,
//!    so the parameters stay equal without being sent again.
//!
//! The buffers of steps 1 and 3 live in the [`DataParallel`] and are reused: no
//! allocation per step after the first. A rank whose pass fails (a non-finite
//! input, a target of the wrong shape) says so in step 3's buffer, so every rank
//! returns an error from the same step and nothing changes anywhere: that rank its
//! own error, the others [`DistError::PeerFailed`]. [`Mpi::exit_on_error`] ends the
//! job from there with the failing rank's error and a non-zero exit status. (With
//! synchronized batch norm, the other ranks may wait inside the pass for the failed
//! one, so a rank whose pass fails ends the job at once, with its error.)
//!
//! ```no_run
//! use gradnet::distributed::{BatchNormSync, DataParallel, Mpi};
//! use gradnet::prelude::*;
//!
//! network! { struct Line { input: 1, dense(1), loss: mse } }
//!
//! let mpi = Mpi::init()?;
//! let mut dp = DataParallel::<f64>::new(&mpi, BatchNormSync::BroadcastBuffers);
//! let mut net = Line::<f64>::new(&mut seeded(0));
//! dp.broadcast_model(&mut net); // rank 0's initial weights everywhere
//! let mut opt = SgdConfig::new(0.1).build()?;
//! let (mut ws, mut grads) = (LineWorkspace::new(), net.zero_grads());
//! // This rank's shard of a global batch of 4 rows.
//! let r = mpi.rank() as f64;
//! let x = Batch::<f64, 1>::from_rows(&[[r], [r + 0.5]])?;
//! let y = Batch::<f64, 1>::from_rows(&[[2.0 * r], [2.0 * r + 1.0]])?;
//! let loss = mpi.exit_on_error(dp.train_step(&mut net, &x, &y, &mut opt, &mut ws, &mut grads));
//! if mpi.rank() == 0 {
//!     println!("global mean loss {loss}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Give each rank's workspace its own dropout seed (`NetWorkspace::with_seed(seed +
//! rank)`; [`crate::fit::Trainer::data_parallel`] does it), or every rank draws the
//! same masks. [`crate::fit::Trainer::data_parallel`] adds the sharding of the data,
//! the reduced metrics and rank-0 checkpoints.
//!
//! Run it with `mpirun -np 2 target/release/examples/NAME` (as root, Open MPI also
//! needs `--allow-run-as-root`; with more ranks than cores, `--oversubscribe`).

use crate::data::Rows;
use gradnet_core::anomaly::check_update;
use gradnet_core::optim::Optimizer;
use gradnet_core::reduce::Reducer;
use gradnet_core::{Error, Gradients, Network, Parameters, Real};
use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use std::rc::Rc;
use std::time::Instant;

/// What can go wrong in a data-parallel job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistError {
    /// `MPI_Init` was already called in this process ([`Mpi::init`] is called
    /// once; clone the [`Mpi`] instead).
    #[error("MPI is already initialized in this process")]
    AlreadyInitialized,
    /// This rank's training pass failed (a non-finite input, a target that does
    /// not fit); the other ranks get [`DistError::PeerFailed`] from the same step,
    /// and nothing changed on any rank.
    #[error("the training pass failed on rank {rank}")]
    Pass {
        /// This rank.
        rank: usize,
        /// What failed.
        #[source]
        source: Error,
    },
    /// The step failed after the reduction, on the same values on every rank, so
    /// alike on every rank: a non-finite reduced loss or gradient, clipping, the
    /// optimizer. Nothing changed, except after [`Error::ParametersDiverged`].
    #[error("the step failed on rank {rank}, on the reduced values (as on every rank)")]
    Step {
        /// This rank.
        rank: usize,
        /// What failed.
        #[source]
        source: Error,
    },
    /// Another rank's pass failed in this step (it returns its own error); nothing
    /// changed here.
    #[error("{failed} of {size} ranks failed this step (their errors are theirs to report)")]
    PeerFailed {
        /// How many ranks failed.
        failed: usize,
        /// Ranks in the job.
        size: usize,
    },
    /// Synchronized batch norm was given shards of different sizes: the ranks' mean
    /// losses would then weigh their rows unequally through the shared statistics.
    /// Nothing changed on any rank.
    #[error("synchronized batch norm needs the same rows on every rank (this rank has {rows}, the ranks between {min} and {max})")]
    UnequalShards {
        /// This rank's rows.
        rows: usize,
        /// The most rows of a rank.
        max: usize,
        /// The fewest rows of a rank.
        min: usize,
    },
}

impl DistError {
    /// The runtime's error behind a failed step of this rank ([`DistError::Pass`]
    /// or [`DistError::Step`]), if that is what this is.
    pub fn step_error(&self) -> Option<&Error> {
        match self {
            DistError::Pass { source, .. } | DistError::Step { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The MPI environment of this process: initialized once by [`Mpi::init`],
/// finalized when the last clone is dropped. Cheap to clone.
#[derive(Clone)]
pub struct Mpi {
    universe: Rc<Universe>,
}

impl core::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mpi")
            .field("rank", &self.rank())
            .field("size", &self.size())
            .finish()
    }
}

impl Mpi {
    /// Initializes MPI (`MPI_Init`). A program started without `mpirun` is a job of
    /// one rank (Open MPI's singleton mode).
    ///
    /// # Errors
    /// [`DistError::AlreadyInitialized`] if this process has initialized MPI before.
    pub fn init() -> Result<Self, DistError> {
        let universe = mpi::initialize().ok_or(DistError::AlreadyInitialized)?;
        Ok(Mpi {
            universe: Rc::new(universe),
        })
    }

    /// `MPI_COMM_WORLD`.
    pub fn world(&self) -> SimpleCommunicator {
        self.universe.world()
    }

    /// This process's rank, from 0.
    pub fn rank(&self) -> usize {
        usize::try_from(self.world().rank()).unwrap_or(0)
    }

    /// The number of ranks in the job.
    pub fn size(&self) -> usize {
        usize::try_from(self.world().size()).unwrap_or(1)
    }

    /// Whether this is rank 0 (the one that writes checkpoints and prints).
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// Waits until every rank gets here (`MPI_Barrier`).
    pub fn barrier(&self) {
        self.world().barrier();
    }

    /// Sums `values` element-wise over the ranks, in place (every rank calls it
    /// with the same length).
    pub fn all_reduce_sum<T: Equivalence + Copy>(&self, values: &mut [T], scratch: &mut Vec<T>) {
        scratch.clear();
        scratch.extend_from_slice(values);
        self.world()
            .all_reduce_into(&scratch[..], values, SystemOperation::sum());
    }

    /// Ends the whole job, every rank, with exit status `code` (`MPI_Abort`):
    /// `mpirun` then exits non-zero.
    pub fn abort(&self, code: i32) -> ! {
        self.world().abort(code)
    }

    /// The value of `result`, or the end of the job: a rank's own error is printed
    /// to standard error as `rank R: error: ...` with its causes, and the job is
    /// aborted with status 1, so `mpirun` exits non-zero with that rank's error. A
    /// rank told that another failed ([`DistError::PeerFailed`], also inside a
    /// [`crate::fit::FitError`]) waits for the failing rank to end the job, so that
    /// its error is the one reported.
    pub fn exit_on_error<V, E: Into<Box<dyn std::error::Error>>>(&self, result: Result<V, E>) -> V {
        match result {
            Ok(v) => v,
            Err(e) => {
                let e: Box<dyn std::error::Error> = e.into();
                if is_peer_failure(&*e) {
                    // The failing rank aborts the job; this barrier never completes.
                    self.barrier();
                }
                let mut msg = format!("rank {}: error: {e}", self.rank());
                let mut source = e.source();
                while let Some(s) = source {
                    msg.push_str(&format!("\n  caused by: {s}"));
                    source = s.source();
                }
                eprintln!("{msg}");
                self.abort(1)
            }
        }
    }
}

/// Whether `e` (or a cause of it) says that another rank failed.
fn is_peer_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        let peer = matches!(
            e.downcast_ref::<DistError>(),
            Some(DistError::PeerFailed { .. })
        ) || matches!(
            e.downcast_ref::<crate::fit::FitError>(),
            Some(crate::fit::FitError::Distributed(
                DistError::PeerFailed { .. }
            )) | Some(crate::fit::FitError::PeerCallback)
        );
        if peer {
            return true;
        }
        cur = e.source();
    }
    false
}

/// How batch norm's statistics are kept across ranks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BatchNormSync {
    /// Each rank normalizes with its own batch's statistics, and rank 0's running
    /// statistics (every buffer) are broadcast before each step, as
    /// `DistributedDataParallel(broadcast_buffers=True)`, PyTorch's default. No
    /// reduction inside the pass; the gradients are those of each rank's own
    /// normalization, so they differ from one process's at the global batch.
    #[default]
    BroadcastBuffers,
    /// Batch statistics over the global batch, and their backward terms, reduced
    /// across the ranks inside the pass (two small allreduces forward and one
    /// backward per batch norm layer), as `SyncBatchNorm`: the same numbers as one
    /// process at the global batch, the running statistics included (so nothing is
    /// broadcast). Needs equal shards.
    Synchronized,
}

/// The reducer of a synchronized pass: `MPI_Allreduce` (sum) over the ranks, through
/// a send buffer it reuses.
struct MpiReducer<'a, T> {
    world: &'a SimpleCommunicator,
    send: &'a mut Vec<T>,
    seconds: &'a mut f64,
}

impl<T: Real + Equivalence> Reducer<T> for MpiReducer<'_, T> {
    const SYNCED: bool = true;

    fn sum_in_place(&mut self, values: &mut [T]) {
        let t = Instant::now();
        self.send.clear();
        self.send.extend_from_slice(values);
        self.world
            .all_reduce_into(&self.send[..], values, SystemOperation::sum());
        *self.seconds += t.elapsed().as_secs_f64();
    }
}

/// Data-parallel training steps over the ranks of an MPI job (module doc): its
/// reduction buffers, reused from step to step, and the time spent communicating.
pub struct DataParallel<T> {
    mpi: Mpi,
    world: SimpleCommunicator,
    batch_norm: BatchNormSync,
    send: Vec<T>,
    recv: Vec<T>,
    buffers: Vec<T>,
    scratch: Vec<T>,
    rows: usize,
    comm_seconds: f64,
    step_seconds: f64,
}

impl<T> core::fmt::Debug for DataParallel<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DataParallel")
            .field("mpi", &self.mpi)
            .field("batch_norm", &self.batch_norm)
            .field("comm_seconds", &self.comm_seconds)
            .finish()
    }
}

impl<T: Real + Equivalence> DataParallel<T> {
    /// Steps over every rank of `mpi`'s world, with batch norm kept as `batch_norm`
    /// says. Allocates nothing until the first step.
    pub fn new(mpi: &Mpi, batch_norm: BatchNormSync) -> Self {
        DataParallel {
            mpi: mpi.clone(),
            world: mpi.world(),
            batch_norm,
            send: Vec::new(),
            recv: Vec::new(),
            buffers: Vec::new(),
            scratch: Vec::new(),
            rows: 0,
            comm_seconds: 0.0,
            step_seconds: 0.0,
        }
    }

    /// The MPI environment.
    pub fn mpi(&self) -> &Mpi {
        &self.mpi
    }

    /// This rank.
    pub fn rank(&self) -> usize {
        self.mpi.rank()
    }

    /// Ranks in the job.
    pub fn size(&self) -> usize {
        self.mpi.size()
    }

    /// How batch norm is kept across ranks.
    pub fn batch_norm(&self) -> BatchNormSync {
        self.batch_norm
    }

    /// The rows of the global batch of the last successful step (every rank's).
    pub fn global_rows(&self) -> usize {
        self.rows
    }

    /// Seconds spent in collective operations (the gradient allreduce, the
    /// broadcasts, synchronized batch norm's reductions) and in whole steps, since
    /// the start or [`DataParallel::reset_timing`]: the first over the second is
    /// the communication's share of a step.
    pub fn timing(&self) -> (f64, f64) {
        (self.comm_seconds, self.step_seconds)
    }

    /// Sets both timers of [`DataParallel::timing`] to zero.
    pub fn reset_timing(&mut self) {
        self.comm_seconds = 0.0;
        self.step_seconds = 0.0;
    }

    /// Makes every rank's parameters and buffers rank 0's (`MPI_Bcast`), as DDP does
    /// when it wraps a model: call it once before training (and after loading a
    /// checkpoint on rank 0 only).
    pub fn broadcast_model<N: Parameters<T>>(&mut self, net: &mut N) {
        let t = Instant::now();
        self.buffers.clear();
        net.visit_params(&mut |_, v| self.buffers.extend_from_slice(v));
        net.visit_buffers(&mut |_, v| self.buffers.extend_from_slice(v));
        self.world
            .process_at_rank(0)
            .broadcast_into(&mut self.buffers[..]);
        let mut i = 0;
        net.visit_values_mut(&mut |_, v| {
            v.copy_from_slice(&self.buffers[i..i + v.len()]);
            i += v.len();
        });
        unpack_buffers(net, &self.buffers[i..]);
        self.comm_seconds += t.elapsed().as_secs_f64();
    }

    /// Makes every rank's buffers (batch norm's running statistics) rank 0's: what
    /// [`BatchNormSync::BroadcastBuffers`] does before each step, and what an
    /// evaluation on every rank needs after the last.
    pub fn broadcast_buffers<N: Parameters<T>>(&mut self, net: &mut N) {
        self.pack_buffers(net);
        if !self.buffers.is_empty() {
            let t = Instant::now();
            self.world
                .process_at_rank(0)
                .broadcast_into(&mut self.buffers[..]);
            self.comm_seconds += t.elapsed().as_secs_f64();
            unpack_buffers(net, &self.buffers);
        }
    }

    fn pack_buffers<N: Parameters<T>>(&mut self, net: &N) {
        self.buffers.clear();
        net.visit_buffers(&mut |_, v| self.buffers.extend_from_slice(v));
    }

    /// One data-parallel training step (module doc) on this rank's shard `x`,
    /// `target` of the global batch; every rank calls it for the same step. Returns
    /// the mean loss over the global batch, the same on every rank.
    ///
    /// # Errors
    /// [`DistError::Pass`] when this rank's pass failed, [`DistError::PeerFailed`]
    /// when only another rank's did; [`DistError::Step`], alike on every rank, when
    /// the reduced loss or gradients are not finite, or clipping or the optimizer
    /// failed; [`DistError::UnequalShards`] for synchronized batch norm over shards
    /// of different sizes. Each leaves the network (parameters and buffers), the
    /// optimizer and the dropout RNG as they were on every rank, except
    /// [`Error::ParametersDiverged`], as in [`Network::train_step`].
    #[allow(clippy::too_many_arguments)]
    pub fn train_step<N, O>(
        &mut self,
        net: &mut N,
        x: &N::Input,
        target: &N::Target,
        opt: &mut O,
        ws: &mut N::Workspace,
        grads: &mut N::Grads,
    ) -> Result<T, DistError>
    where
        N: Network<T>,
        N::Input: Rows,
        O: Optimizer<T>,
    {
        let start = Instant::now();
        let rank = self.rank();
        let size = self.size();
        // 1. Rank 0's buffers everywhere; kept in `buffers` to restore on failure.
        match self.batch_norm {
            BatchNormSync::BroadcastBuffers => self.broadcast_buffers(net),
            BatchNormSync::Synchronized => self.pack_buffers(net),
        }
        let rng_before = N::rng(ws).clone();
        let rows = x.len();
        if self.batch_norm == BatchNormSync::Synchronized {
            // Equal shards, checked before any reduction inside the pass, so that
            // every rank refuses alike.
            let t = Instant::now();
            let mine = [rows as i64, -(rows as i64)];
            let mut extremes = [0i64; 2];
            self.world
                .all_reduce_into(&mine[..], &mut extremes[..], SystemOperation::max());
            self.comm_seconds += t.elapsed().as_secs_f64();
            if extremes[0] != -extremes[1] {
                return Err(DistError::UnequalShards {
                    rows,
                    max: extremes[0] as usize,
                    min: (-extremes[1]) as usize,
                });
            }
        }

        // 2. This rank's pass.
        let local = match self.batch_norm {
            BatchNormSync::BroadcastBuffers => {
                net.loss_and_grad_with(x, target, ws, grads, &mut gradnet_core::reduce::NoReduce)
            }
            BatchNormSync::Synchronized => {
                let mut reducer = MpiReducer {
                    world: &self.world,
                    send: &mut self.scratch,
                    seconds: &mut self.comm_seconds,
                };
                let r = net.loss_and_grad_with(x, target, ws, grads, &mut reducer);
                if let Err(e) = &r {
                    // Other ranks may be waiting inside the pass: end the job here.
                    eprintln!("rank {rank}: error: {e}");
                    self.mpi.abort(1);
                }
                r
            }
        };

        // 3. One allreduce: rows-weighted gradients, loss, rows, failures.
        let rows_t = T::of(rows as f64);
        self.send.clear();
        match &local {
            Ok(_) => grads.visit_grads(&mut |_, g| self.send.extend(g.iter().map(|&v| v * rows_t))),
            Err(_) => grads.visit_grads(&mut |_, g| self.send.extend(g.iter().map(|_| T::zero()))),
        }
        let n_grads = self.send.len();
        let (loss_local, failed) = match &local {
            Ok(l) => (*l * rows_t, T::zero()),
            Err(_) => (T::zero(), T::one()),
        };
        self.send.extend_from_slice(&[loss_local, rows_t, failed]);
        self.recv.clear();
        self.recv.resize(self.send.len(), T::zero());
        let t = Instant::now();
        self.world
            .all_reduce_into(&self.send[..], &mut self.recv[..], SystemOperation::sum());
        self.comm_seconds += t.elapsed().as_secs_f64();
        let tail = &self.recv[n_grads..];
        let (loss_sum, total, failures) = (tail[0], tail[1], tail[2]);
        let total_rows = total.as_f64().round() as usize;

        let result = (|| {
            if let Err(e) = local {
                return Err(DistError::Pass { rank, source: e });
            }
            if failures > T::zero() {
                return Err(DistError::PeerFailed {
                    failed: failures.as_f64().round() as usize,
                    size,
                });
            }
            // 4. The gradient of the global mean loss.
            let inv = total.recip();
            let mut i = 0;
            let recv = &self.recv;
            grads.visit_grads_mut(&mut |_, g| {
                let n = g.len();
                for (v, &s) in g.iter_mut().zip(&recv[i..i + n]) {
                    *v = s * inv;
                }
                i += n;
            });
            let loss = loss_sum * inv;
            // 5. Checked, clipped and applied alike on every rank.
            let mut step = |net: &mut N, ws: &mut N::Workspace, grads: &mut N::Grads| {
                check_update(loss, grads)?;
                N::clip_grads(ws, grads)?;
                opt.step(net, grads)
            };
            step(net, ws, grads).map_err(|source| DistError::Step { rank, source })?;
            Ok(loss)
        })();
        match result {
            Ok(loss) => {
                self.rows = total_rows;
                self.step_seconds += start.elapsed().as_secs_f64();
                Ok(loss)
            }
            Err(e) => {
                let diverged = matches!(e.step_error(), Some(Error::ParametersDiverged { .. }));
                if !diverged {
                    unpack_buffers(net, &self.buffers);
                    *N::rng_mut(ws) = rng_before;
                }
                Err(e)
            }
        }
    }
}

/// Writes `flat` (every buffer, in visiting order) back into `net`'s buffers.
fn unpack_buffers<T: Real, N: Parameters<T>>(net: &mut N, flat: &[T]) {
    let mut i = 0;
    net.visit_buffers_mut(&mut |_, v| {
        v.copy_from_slice(&flat[i..i + v.len()]);
        i += v.len();
    });
}
