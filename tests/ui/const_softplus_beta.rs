use gradnet::prelude::*;

const BETA: f64 = 0.0;

network! {
    struct Net {
        input: 4,
        dense(4),
        softplus(BETA),
        dense(1),
        loss: mse,
    }
}

fn main() {}
