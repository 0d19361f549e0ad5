//! Batch normalization (being written).
