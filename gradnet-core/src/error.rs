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
}

/// `Result` with gradnet's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
