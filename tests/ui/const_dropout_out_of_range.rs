use gradnet::prelude::*;

const P: f64 = 1.5;
const MOMENTUM: f64 = 0.1;

network! {
    struct Net {
        input: 4,
        dense(4),
        batch_norm(momentum = MOMENTUM),
        dropout(P),
        dense(2),
        loss: mse,
    }
}

fn main() {}
