//! PReLU, the activation with a learned slope (being written).
