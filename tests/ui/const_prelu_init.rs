use gradnet::prelude::*;

const INIT: f64 = f64::NEG_INFINITY;

network! {
    struct Net {
        input: 4,
        dense(4),
        prelu(init = INIT),
        dense(1),
        loss: mse,
    }
}

fn main() {}
