use gradnet::prelude::*;

const GAIN: f64 = f64::INFINITY;

network! {
    struct Net {
        input: 4,
        dense(2, init = glorot_uniform(GAIN)),
        loss: mse,
    }
}

fn main() {}
