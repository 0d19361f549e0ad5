use gradnet::prelude::*;

const LOW: f64 = 0.5;
const HIGH: f64 = -0.5;

network! {
    struct Net {
        input: 4,
        dense(2, init = uniform(LOW, HIGH)),
        loss: mse,
    }
}

fn main() {}
