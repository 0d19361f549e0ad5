//! Dropout (being written).
