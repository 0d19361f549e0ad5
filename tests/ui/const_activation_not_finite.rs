use gradnet::prelude::*;

const SLOPE: f64 = f64::NAN;

network! {
    struct Net {
        input: 4,
        dense(4),
        leaky_relu(SLOPE),
        dense(1),
        loss: mse,
    }
}

fn main() {}
