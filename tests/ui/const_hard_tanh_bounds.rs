use gradnet::prelude::*;

const LOW: f64 = 1.0;
const HIGH: f64 = -1.0;

network! {
    struct Net {
        input: 4,
        dense(4),
        hard_tanh(LOW, HIGH),
        dense(1),
        loss: mse,
    }
}

fn main() {}
