//! Layer normalization (being written).
