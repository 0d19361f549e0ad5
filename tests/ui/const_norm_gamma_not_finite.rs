use gradnet::prelude::*;

const HUGE: f64 = f64::INFINITY;

network! {
    struct Net {
        input: 4,
        dense(4),
        batch_norm(gamma = HUGE),
        dense(1),
        loss: mse,
    }
}

fn main() {}
