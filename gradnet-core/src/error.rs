//! The error type of gradnet: one `#[non_exhaustive]` enum, each variant carrying
//! the operation and the shapes or values involved.

/// Everything that can go wrong at run time in gradnet.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flat buffer whose length is not a multiple of the row width.
    #[error("a buffer of {len} values does not split into rows of width {width}")]
    RaggedBuffer {
        /// Number of values in the buffer.
        len: usize,
        /// Row width the buffer was meant for.
        width: usize,
    },
    /// A batch with no rows where data was expected.
    #[error("a batch must have at least one row")]
    EmptyBatch,
    /// A NaN or infinity in user data.
    #[error("non-finite value {value} at row {row}, column {col}")]
    NonFinite {
        /// Row of the first non-finite value.
        row: usize,
        /// Column of the first non-finite value.
        col: usize,
        /// The value itself, widened to f64.
        value: f64,
    },
    /// Two inputs to one operation disagree in their number of rows.
    #[error("{op}: expected {expected} rows, found {found}")]
    RowMismatch {
        /// The operation that compared them.
        op: &'static str,
        /// Rows of the first input.
        expected: usize,
        /// Rows of the second input.
        found: usize,
    },
    /// Two sequences that must have the same number of time steps do not (an output
    /// and its target).
    #[error("{op}: expected {expected} time steps, found {found}")]
    StepMismatch {
        /// The operation that compared them.
        op: &'static str,
        /// The steps of the first operand.
        expected: usize,
        /// The steps of the second.
        found: usize,
    },
    /// Data read at run time whose width differs from the width in the type.
    #[error("{what}: expected width {expected}, found {found}")]
    WidthMismatch {
        /// What was being read.
        what: String,
        /// Width the type requires.
        expected: usize,
        /// Width found in the data.
        found: usize,
    },
    /// A class index outside `0..classes` given to a classification loss.
    #[error("class index {class} at row {row} is out of range for {classes} classes")]
    ClassOutOfRange {
        /// Row holding the bad index.
        row: usize,
        /// The index found.
        class: usize,
        /// Number of classes (the width of the logits).
        classes: usize,
    },
    /// A target outside the range a loss accepts (e.g. not in [0, 1] for binary
    /// cross-entropy).
    #[error("{op}: target {value} at row {row}, column {col} is outside {range}")]
    TargetOutOfRange {
        /// The loss.
        op: &'static str,
        /// Row of the bad target.
        row: usize,
        /// Column of the bad target.
        col: usize,
        /// The target value.
        value: f64,
        /// The accepted range, as text.
        range: &'static str,
    },
    /// An invalid hyper-parameter (learning rate, momentum, probability, ...).
    #[error("invalid {name}: {value} ({reason})")]
    InvalidParameter {
        /// Name of the hyper-parameter.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What a valid value is.
        reason: &'static str,
    },
    /// A batch with fewer rows than an operation needs, such as a training-mode batch
    /// norm over a single row (PyTorch: "Expected more than 1 value per channel when
    /// training"): the variance of one value is undefined.
    #[error("{op} needs at least {min} rows, found {found}")]
    TooFewRows {
        /// The operation.
        op: &'static str,
        /// The fewest rows it accepts.
        min: usize,
        /// Rows given.
        found: usize,
    },
    /// The total gradient norm of a step is NaN or infinite, so clipping by norm is
    /// undefined (PyTorch's `clip_grad_norm_(..., error_if_nonfinite=True)`). The
    /// gradients are left as they were.
    #[error("the total gradient norm is {norm}: some gradient holds a NaN or infinity")]
    NonFiniteGradNorm {
        /// The total L2 norm, computed in f64.
        norm: f64,
    },
    /// A NaN or infinity produced inside the network, caught by
    /// [`crate::anomaly::check_finite`] when non-finite detection is on.
    #[error("non-finite value {value} at index {index} in the {pass} pass of {layer}")]
    NonFiniteValue {
        /// The layer (or parameter) whose output held the value.
        layer: &'static str,
        /// The pass that produced it.
        pass: crate::anomaly::Pass,
        /// Flat index of the first non-finite value in that output.
        index: usize,
        /// The value itself, widened to f64.
        value: f64,
    },
    /// A training step found a NaN or infinity in a parameter's gradient before any
    /// parameter was touched: the step was not applied, and parameters, buffers and
    /// optimizer state are as they were.
    #[error("non-finite gradient {value} at index {index} of {name}: the step was not applied")]
    NonFiniteGradient {
        /// The parameter whose gradient held the value (`state_dict` name).
        name: &'static str,
        /// Flat index of the first non-finite value in that gradient.
        index: usize,
        /// The value itself, widened to f64.
        value: f64,
    },
    /// A training pass computed a NaN or infinite loss (from finite inputs: an
    /// overflow in the network, or a non-finite target). Nothing was changed.
    #[error("the loss is {value}: the step was not applied")]
    NonFiniteLoss {
        /// The loss, widened to f64.
        value: f64,
    },
    /// An optimizer update made a parameter non-finite although every gradient was
    /// finite (a learning rate so large that the update overflowed). The parameters
    /// are no longer usable; the update is not undone.
    #[error("the update of {name} overflowed: the parameters are no longer finite (is the learning rate too large?)")]
    ParametersDiverged {
        /// The first parameter found non-finite after the update.
        name: &'static str,
    },
    /// Two walks over one model's parameters that should agree name for name do not
    /// (gradients or optimizer statistics belonging to another model).
    #[error("{op}: parameter {index} is {expected}, but {found} was given")]
    NameMismatch {
        /// The operation that compared them.
        op: &'static str,
        /// Position of the first disagreement in the model's order.
        index: usize,
        /// The model's name at that position (`(nothing)` past its end).
        expected: &'static str,
        /// The name given (`(nothing)` past its end).
        found: &'static str,
    },
    /// An optimizer stepped with a model that has a different number of parameters
    /// (or gradients) than the model its state was built for on its first step.
    #[error("{op}: expected {expected} parameters, found {found}")]
    ParameterCountMismatch {
        /// The operation that compared them.
        op: &'static str,
        /// Number of parameters the state was built for.
        expected: usize,
        /// Number of parameters (or gradients) found.
        found: usize,
    },
    /// A parameter, or its gradient, whose length differs from the length an
    /// optimizer's state was built for on its first step.
    #[error("{op}: parameter {index} ({name}): expected {expected} values, found {found}")]
    ParameterLengthMismatch {
        /// The operation that compared them.
        op: &'static str,
        /// Position of the parameter in the model's visit order.
        index: usize,
        /// Name of the parameter.
        name: &'static str,
        /// Length the state was built for.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// Saving or loading weights or a checkpoint failed; see [`PersistError`]. Nothing
    /// was changed in the model or the optimizer.
    #[error(transparent)]
    Persist(#[from] PersistError),
}

pub use crate::persist::PersistError;

/// `Result` with gradnet's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
