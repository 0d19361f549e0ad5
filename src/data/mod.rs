//! Data for training: an in-memory [`Dataset`] of inputs and targets, seeded
//! minibatches gathered into reused buffers ([`Loader`]), splits
//! ([`train_test_split`], [`stratified_split`]), a [`Standardizer`] fitted on the
//! training part only, and loaders from CSV ([`csv`]) and from slices.
//!
//! Inputs are [`Batch`]es (one example per row) or [`Seq`]uences (one example per
//! sequence); targets are class indices (`Vec<usize>`), target rows (`Batch`),
//! or per-step targets (`Seq`, [`SeqClasses`]). Anything that implements [`Rows`]
//! can be either.
//!
//! ```
//! use gradnet::data::{Dataset, Loader};
//! use gradnet::Batch;
//! let x = Batch::<f32, 2>::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 2.0]])?;
//! let data = Dataset::new(x, vec![0, 1, 1, 0, 1])?;
//! let mut loader = Loader::new(2)?.shuffle(7).drop_last(true);
//! loader.start_epoch(data.len());
//! let mut rows = 0;
//! while let Some((xb, yb)) = loader.next_batch(&data) {
//!     assert_eq!((xb.rows(), yb.len()), (2, 2));
//!     rows += xb.rows();
//! }
//! assert_eq!(rows, 4); // the fifth example is the dropped last batch
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod csv;

use gradnet_core::{rng, Batch, Error, Real, SeededRng, Seq, SeqClasses};
use std::path::PathBuf;

/// Everything that can go wrong building or reading a data set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Inputs and targets of different lengths.
    #[error("{inputs} inputs but {targets} targets")]
    LengthMismatch {
        /// Examples among the inputs.
        inputs: usize,
        /// Examples among the targets.
        targets: usize,
    },
    /// A data set without a single example.
    #[error("the data set holds no examples")]
    Empty,
    /// A minibatch size of 0.
    #[error("the batch size must be at least 1")]
    ZeroBatchSize,
    /// A shard that is not one of the ranks ([`Loader::shard`]).
    #[error("shard {rank} of {ranks}: the rank must be below the number of ranks")]
    BadShard {
        /// The rank asked for.
        rank: usize,
        /// The number of ranks.
        ranks: usize,
    },
    /// A split fraction outside `[0, 1]` or not finite.
    #[error("invalid fraction {0}: must be in [0, 1]")]
    InvalidFraction(f64),
    /// An index past the end of the data set.
    #[error("index {index} is out of range for {len} examples")]
    IndexOutOfRange {
        /// The index.
        index: usize,
        /// Examples in the data set.
        len: usize,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A record the CSV reader could not read (bad UTF-8, a broken quote, an I/O
    /// error of the reader).
    #[error("line {line}: {reason}")]
    Csv {
        /// 1-based line number.
        line: u64,
        /// What the reader said.
        reason: String,
    },
    /// A record with another number of fields than the columns the data needs.
    #[error("line {line}: expected {expected} fields, found {found}")]
    RowWidth {
        /// 1-based line number.
        line: u64,
        /// Fields a record must hold.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A field that is not a finite number.
    #[error("line {line}, column {column}: {text:?} is not a finite number")]
    NotANumber {
        /// 1-based line number.
        line: u64,
        /// 1-based column.
        column: usize,
        /// The field as written.
        text: String,
    },
    /// A class field that is not an integer in `0..classes`.
    #[error("line {line}, column {column}: {text:?} is not a class index in 0..{classes}")]
    BadClass {
        /// 1-based line number.
        line: u64,
        /// 1-based column.
        column: usize,
        /// The field as written.
        text: String,
        /// Number of classes.
        classes: usize,
    },
    /// An error of the runtime (a non-finite value in a slice, say).
    #[error(transparent)]
    Core(#[from] Error),
}

/// A collection of examples, one per row (one per sequence for a [`Seq`]), from
/// which minibatches are gathered.
pub trait Rows {
    /// What a minibatch of these examples is (the type itself for every collection
    /// here, `Vec<usize>` for class indices).
    type Batch: Default;

    /// Number of examples.
    fn len(&self) -> usize;

    /// Whether there is no example.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes `out` the examples at `indices`, in that order, reusing its allocation.
    /// Every index is below [`Rows::len`] (the callers here check).
    fn gather_into(&self, indices: &[usize], out: &mut Self::Batch);
}

/// An empty minibatch of `R`'s kind.
pub(crate) fn empty<R: Rows>() -> R::Batch {
    R::Batch::default()
}

impl<T: Real, const D: usize> Rows for Batch<T, D> {
    type Batch = Batch<T, D>;

    fn len(&self) -> usize {
        self.rows()
    }

    fn gather_into(&self, indices: &[usize], out: &mut Batch<T, D>) {
        out.gather_rows_from(self, indices)
            .expect("the indices were checked");
    }
}

impl<T: Real, const D: usize> Rows for Seq<T, D> {
    type Batch = Seq<T, D>;

    fn len(&self) -> usize {
        self.rows()
    }

    fn gather_into(&self, indices: &[usize], out: &mut Seq<T, D>) {
        out.gather_rows_from(self, indices)
            .expect("the indices were checked");
    }
}

impl Rows for SeqClasses {
    type Batch = SeqClasses;

    fn len(&self) -> usize {
        self.rows()
    }

    fn gather_into(&self, indices: &[usize], out: &mut SeqClasses) {
        out.gather_rows_from(self, indices)
            .expect("the indices were checked");
    }
}

impl Rows for Vec<usize> {
    type Batch = Vec<usize>;

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn gather_into(&self, indices: &[usize], out: &mut Vec<usize>) {
        out.clear();
        out.extend(indices.iter().map(|&i| self[i]));
    }
}

/// Inputs and their targets, as many of one as of the other.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<X, Y> {
    x: X,
    y: Y,
}

impl<X: Rows, Y: Rows> Dataset<X, Y> {
    /// The examples `x` with targets `y`.
    ///
    /// # Errors
    /// [`DataError::LengthMismatch`] if their lengths differ, [`DataError::Empty`]
    /// if there is no example.
    pub fn new(x: X, y: Y) -> Result<Self, DataError> {
        if x.len() != y.len() {
            return Err(DataError::LengthMismatch {
                inputs: x.len(),
                targets: y.len(),
            });
        }
        if x.is_empty() {
            return Err(DataError::Empty);
        }
        Ok(Dataset { x, y })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there is no example (never, for a data set built by [`Dataset::new`]).
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The inputs.
    pub fn x(&self) -> &X {
        &self.x
    }

    /// The targets.
    pub fn y(&self) -> &Y {
        &self.y
    }

    /// The inputs and the targets, taken apart.
    pub fn into_parts(self) -> (X, Y) {
        (self.x, self.y)
    }

    /// Gathers the examples at `indices` into `x` and `y`, reusing their
    /// allocations.
    ///
    /// # Errors
    /// [`DataError::IndexOutOfRange`] naming the first bad index; nothing is
    /// written then.
    pub fn gather_into(
        &self,
        indices: &[usize],
        x: &mut X::Batch,
        y: &mut Y::Batch,
    ) -> Result<(), DataError> {
        check_indices(indices, self.len())?;
        self.x.gather_into(indices, x);
        self.y.gather_into(indices, y);
        Ok(())
    }

    /// The examples at `indices`, in that order, as a new data set.
    ///
    /// # Errors
    /// [`DataError::IndexOutOfRange`], [`DataError::Empty`] for no index.
    pub fn subset(&self, indices: &[usize]) -> Result<Self, DataError>
    where
        X: Rows<Batch = X>,
        Y: Rows<Batch = Y>,
    {
        let (mut x, mut y) = (empty::<X>(), empty::<Y>());
        self.gather_into(indices, &mut x, &mut y)?;
        Dataset::new(x, y)
    }

    /// A shuffled split into `(train, test)` with `ceil(test_fraction * len)`
    /// examples in the test part ([`train_test_split`]).
    ///
    /// # Errors
    /// As [`train_test_split`]; [`DataError::Empty`] if a part would be empty.
    pub fn split(&self, test_fraction: f64, rng: &mut SeededRng) -> Result<(Self, Self), DataError>
    where
        X: Rows<Batch = X>,
        Y: Rows<Batch = Y>,
    {
        let (train, test) = train_test_split(self.len(), test_fraction, rng)?;
        Ok((self.subset(&train)?, self.subset(&test)?))
    }

    /// The last `ceil(fraction * len)` examples as a second data set, the rest as
    /// the first, in order (Keras' `validation_split`: taken before any shuffle).
    ///
    /// # Errors
    /// [`DataError::InvalidFraction`]; [`DataError::Empty`] if a part would be empty.
    pub fn split_last(&self, fraction: f64) -> Result<(Self, Self), DataError>
    where
        X: Rows<Batch = X>,
        Y: Rows<Batch = Y>,
    {
        let n = self.len();
        let k = part_size(n, fraction)?;
        let first: Vec<usize> = (0..n - k).collect();
        let second: Vec<usize> = (n - k..n).collect();
        Ok((self.subset(&first)?, self.subset(&second)?))
    }
}

impl<X: Rows<Batch = X>> Dataset<X, Vec<usize>> {
    /// A stratified shuffled split into `(train, test)` ([`stratified_split`] of
    /// the class indices).
    ///
    /// # Errors
    /// As [`stratified_split`]; [`DataError::Empty`] if a part would be empty.
    pub fn stratified_split(
        &self,
        test_fraction: f64,
        rng: &mut SeededRng,
    ) -> Result<(Self, Self), DataError> {
        let (train, test) = stratified_split(&self.y, test_fraction, rng)?;
        Ok((self.subset(&train)?, self.subset(&test)?))
    }

    /// Examples per class, for classes `0..=max`.
    pub fn class_counts(&self) -> Vec<usize> {
        class_counts(&self.y)
    }
}

impl<T: Real, const D: usize, Y: Rows> Dataset<Batch<T, D>, Y> {
    /// A data set from a flat row-major slice of inputs (`D` values per example) and
    /// targets.
    ///
    /// # Errors
    /// [`DataError::Core`] with [`Error::RaggedBuffer`] or [`Error::EmptyBatch`] for a
    /// slice that is not whole rows, [`Error::NonFinite`] naming a NaN or infinity;
    /// then as [`Dataset::new`].
    pub fn from_slices(x: &[T], y: Y) -> Result<Self, DataError> {
        let x = Batch::from_slice(x)?;
        x.check_finite()?;
        Dataset::new(x, y)
    }
}

fn check_indices(indices: &[usize], len: usize) -> Result<(), DataError> {
    match indices.iter().find(|&&i| i >= len) {
        Some(&index) => Err(DataError::IndexOutOfRange { index, len }),
        None => Ok(()),
    }
}

/// `ceil(fraction * n)`, checked.
fn part_size(n: usize, fraction: f64) -> Result<usize, DataError> {
    if !(0.0..=1.0).contains(&fraction) {
        return Err(DataError::InvalidFraction(fraction));
    }
    Ok(((fraction * n as f64).ceil() as usize).min(n))
}

/// A shuffled split of the indices `0..n` into `(train, test)`, with
/// `ceil(test_fraction * n)` in the test part, as scikit-learn's
/// `train_test_split`. Both parts are in shuffled order.
///
/// # Errors
/// [`DataError::InvalidFraction`] unless `test_fraction` is in `[0, 1]`.
pub fn train_test_split(
    n: usize,
    test_fraction: f64,
    rng: &mut SeededRng,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    let k = part_size(n, test_fraction)?;
    let mut order: Vec<usize> = (0..n).collect();
    rng::shuffle(&mut order, rng);
    let test = order.split_off(n - k);
    Ok((order, test))
}

/// Examples per class, for classes `0..=max(labels)`.
pub fn class_counts(labels: &[usize]) -> Vec<usize> {
    let classes = labels.iter().max().map_or(0, |&m| m + 1);
    let mut counts = vec![0; classes];
    for &l in labels {
        counts[l] += 1;
    }
    counts
}

/// A stratified shuffled split of the examples with class indices `labels` into
/// `(train, test)` indices, as scikit-learn's `train_test_split(..., stratify=y)`:
/// `ceil(test_fraction * n)` examples go to the test part, shared among the
/// classes in proportion to their sizes (the largest remainders get the rounding),
/// each class's examples drawn at random. Both parts are in shuffled order.
///
/// ```
/// use gradnet::data::stratified_split;
/// use gradnet::rng::seeded;
/// let labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
/// let (train, test) = stratified_split(&labels, 0.25, &mut seeded(0))?;
/// assert_eq!((train.len(), test.len()), (9, 3));
/// assert_eq!(test.iter().filter(|&&i| labels[i] == 0).count(), 1);
/// # Ok::<(), gradnet::data::DataError>(())
/// ```
///
/// # Errors
/// [`DataError::InvalidFraction`] unless `test_fraction` is in `[0, 1]`.
pub fn stratified_split(
    labels: &[usize],
    test_fraction: f64,
    rng: &mut SeededRng,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    let n = labels.len();
    let total = part_size(n, test_fraction)?;
    let counts = class_counts(labels);
    // Exact shares, their floors, then one more for the largest remainders.
    let shares: Vec<f64> = counts
        .iter()
        .map(|&c| total as f64 * c as f64 / n as f64)
        .collect();
    let mut take: Vec<usize> = shares.iter().map(|s| s.floor() as usize).collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (shares[a] - shares[a].floor(), shares[b] - shares[b].floor());
        rb.total_cmp(&ra)
    });
    let missing = total - take.iter().sum::<usize>();
    for &c in order.iter().take(missing) {
        take[c] += 1;
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (class, &k) in take.iter().enumerate() {
        let mut members: Vec<usize> = (0..n).filter(|&i| labels[i] == class).collect();
        rng::shuffle(&mut members, rng);
        test.extend_from_slice(&members[..k]);
        train.extend_from_slice(&members[k..]);
    }
    rng::shuffle(&mut train, rng);
    rng::shuffle(&mut test, rng);
    Ok((train, test))
}

/// Minibatches of a [`Dataset`], in a seeded shuffled order each epoch (or in
/// order), gathered into buffers the loader keeps: no allocation per batch once
/// the first epoch's buffers have grown.
///
/// Each epoch's order is `0..n` shuffled by a Fisher-Yates pass
/// ([`rng::shuffle`]) with the loader's generator, so the generator's state at the
/// start of an epoch fixes the epoch ([`Loader::rng`]).
#[derive(Clone, Debug)]
pub struct Loader<X: Rows, Y: Rows> {
    batch_size: usize,
    drop_last: bool,
    shuffle: bool,
    rng: SeededRng,
    order: Vec<usize>,
    pos: usize,
    shard: (usize, usize),
    x: X::Batch,
    y: Y::Batch,
}

impl<X: Rows, Y: Rows> Loader<X, Y> {
    /// Batches of `batch_size` examples, in order, the last one smaller if the
    /// size does not divide the data set.
    ///
    /// # Errors
    /// [`DataError::ZeroBatchSize`].
    pub fn new(batch_size: usize) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::ZeroBatchSize);
        }
        Ok(Loader {
            batch_size,
            drop_last: false,
            shuffle: false,
            rng: rng::seeded(0),
            order: Vec::new(),
            pos: 0,
            shard: (0, 1),
            x: X::Batch::default(),
            y: Y::Batch::default(),
        })
    }

    /// Shuffles every epoch with a generator seeded by `seed`.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.shuffle = true;
        self.rng = rng::seeded(seed);
        self
    }

    /// Drops the last batch of an epoch when it is smaller than the batch size
    /// (PyTorch's `drop_last`; a one-row batch is an error for batch norm).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Gives only shard `rank` of `ranks` of each epoch, as PyTorch's
    /// `DistributedSampler(drop_last=True)`: the epoch's order (shuffled alike on
    /// every rank, from the same seed) loses its last `n % ranks` examples, and rank
    /// `r` takes positions `r, r + ranks, r + 2 ranks, ...` of the rest, so every
    /// rank has `n / ranks` examples and as many batches, and the ranks' `k`-th
    /// batches of `b` rows together are positions `k b ranks .. (k + 1) b ranks` of
    /// the order: one process's batch of `b ranks` rows.
    ///
    /// ```
    /// use gradnet::data::{Dataset, Loader};
    /// use gradnet::Batch;
    /// let data = Dataset::new(Batch::<f64, 1>::from_slice(&[0.0, 1.0, 2.0, 3.0, 4.0])?, vec![0usize; 5])?;
    /// let mut l = Loader::<Batch<f64, 1>, Vec<usize>>::new(2)?.shard(1, 2)?;
    /// l.start_epoch(data.len());
    /// assert_eq!(l.next_indices(), Some(&[1, 3][..])); // 4 dropped: 5 % 2 = 1
    /// assert_eq!(l.next_indices(), None);
    /// # Ok::<(), gradnet::data::DataError>(())
    /// ```
    ///
    /// # Errors
    /// [`DataError::BadShard`] unless `rank < ranks`.
    pub fn shard(mut self, rank: usize, ranks: usize) -> Result<Self, DataError> {
        if rank >= ranks {
            return Err(DataError::BadShard { rank, ranks });
        }
        self.shard = (rank, ranks);
        Ok(self)
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Batches per epoch of `n` examples.
    pub fn batches_per_epoch(&self, n: usize) -> usize {
        let n = n / self.shard.1;
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The shuffling generator (its state now fixes the next epoch's order).
    pub fn rng(&self) -> &SeededRng {
        &self.rng
    }

    /// The shuffling generator, to restore it (from a checkpoint).
    pub fn rng_mut(&mut self) -> &mut SeededRng {
        &mut self.rng
    }

    /// Batches of this epoch already given.
    pub fn position(&self) -> usize {
        self.pos / self.batch_size
    }

    /// Starts an epoch over `n` examples: a new order (shuffled if asked), from its
    /// first batch. Allocates only when `n` grows past an earlier epoch's.
    pub fn start_epoch(&mut self, n: usize) {
        self.order.clear();
        self.order.extend(0..n);
        if self.shuffle {
            rng::shuffle(&mut self.order, &mut self.rng);
        }
        let (rank, ranks) = self.shard;
        if ranks > 1 {
            let per_rank = n / ranks;
            for i in 0..per_rank {
                self.order[i] = self.order[i * ranks + rank];
            }
            self.order.truncate(per_rank);
        }
        self.pos = 0;
    }

    /// Skips the next `batches` batches of this epoch (to resume within it).
    pub fn skip(&mut self, batches: usize) {
        self.pos = (self.pos + batches * self.batch_size).min(self.order.len());
    }

    /// The range of `order` the next batch takes, and moves past it.
    fn advance(&mut self) -> Option<(usize, usize)> {
        let n = self.order.len();
        let end = (self.pos + self.batch_size).min(n);
        if self.pos >= n || (self.drop_last && end - self.pos < self.batch_size) {
            return None;
        }
        let start = self.pos;
        self.pos = end;
        Some((start, end))
    }

    /// The indices of the next batch of this epoch, and moves past it; `None` at the
    /// epoch's end.
    pub fn next_indices(&mut self) -> Option<&[usize]> {
        let (start, end) = self.advance()?;
        Some(&self.order[start..end])
    }

    /// The next batch of this epoch from `data` (which [`Loader::start_epoch`] was
    /// given the length of), gathered into the loader's buffers; `None` at the
    /// epoch's end, or if `data` is shorter than the epoch's order.
    pub fn next_batch<'a>(
        &'a mut self,
        data: &Dataset<X, Y>,
    ) -> Option<(&'a X::Batch, &'a Y::Batch)> {
        if self.order.len() > data.len() {
            return None;
        }
        let (start, end) = self.advance()?;
        let indices = &self.order[start..end];
        data.x.gather_into(indices, &mut self.x);
        data.y.gather_into(indices, &mut self.y);
        Some((&self.x, &self.y))
    }
}

/// Per-feature standardization, `(x - mean) / std`, as scikit-learn's
/// `StandardScaler` (population standard deviation; a feature that never varies
/// keeps scale 1). Fit it on the training part only, and transform every part
/// with it.
///
/// ```
/// use gradnet::data::Standardizer;
/// use gradnet::Batch;
/// let train = Batch::<f64, 2>::from_rows(&[[1.0, 5.0], [3.0, 5.0]])?;
/// let s = Standardizer::fit(&train)?;
/// let z = s.transform(&Batch::from_rows(&[[2.0, 6.0]])?)?;
/// assert_eq!(z.row(0), &[0.0, 1.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer<const D: usize> {
    mean: [f64; D],
    scale: [f64; D],
}

impl<const D: usize> Standardizer<D> {
    /// The statistics of `data`, computed in f64.
    ///
    /// # Errors
    /// [`DataError::Empty`] for no row, [`DataError::Core`] with
    /// [`Error::NonFinite`] for a NaN or infinity in `data`.
    pub fn fit<T: Real>(data: &Batch<T, D>) -> Result<Self, DataError> {
        if data.is_empty() {
            return Err(DataError::Empty);
        }
        data.check_finite()?;
        let n = data.rows() as f64;
        let mut mean = [0.0; D];
        for row in data.iter_rows() {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v.as_f64() / n;
            }
        }
        let mut scale = [0.0; D];
        for row in data.iter_rows() {
            for ((s, &m), &v) in scale.iter_mut().zip(&mean).zip(row) {
                *s += (v.as_f64() - m).powi(2) / n;
            }
        }
        for s in &mut scale {
            *s = if *s > 0.0 { s.sqrt() } else { 1.0 };
        }
        Ok(Standardizer { mean, scale })
    }

    /// The per-feature means.
    pub fn mean(&self) -> &[f64; D] {
        &self.mean
    }

    /// The per-feature scales (standard deviations, 1 for a constant feature).
    pub fn scale(&self) -> &[f64; D] {
        &self.scale
    }

    /// `data` standardized, as a new batch.
    ///
    /// # Errors
    /// As [`Standardizer::transform_in_place`].
    pub fn transform<T: Real>(&self, data: &Batch<T, D>) -> Result<Batch<T, D>, DataError> {
        let mut out = data.clone();
        self.transform_in_place(&mut out)?;
        Ok(out)
    }

    /// Standardizes `data` in place.
    ///
    /// # Errors
    /// [`DataError::Core`] with [`Error::NonFinite`] for a NaN or infinity in
    /// `data`, which is left unchanged then.
    pub fn transform_in_place<T: Real>(&self, data: &mut Batch<T, D>) -> Result<(), DataError> {
        data.check_finite()?;
        for row in data.as_mut_slice().chunks_exact_mut(D) {
            for ((v, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = T::of((v.as_f64() - m) / s);
            }
        }
        Ok(())
    }

    /// Undoes [`Standardizer::transform_in_place`] (for predictions of a
    /// standardized target).
    pub fn inverse_in_place<T: Real>(&self, data: &mut Batch<T, D>) {
        for row in data.as_mut_slice().chunks_exact_mut(D) {
            for ((v, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = T::of(v.as_f64() * s + m);
            }
        }
    }
}
