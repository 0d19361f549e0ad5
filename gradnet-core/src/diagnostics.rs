//! Gradient diagnostics (being written).
