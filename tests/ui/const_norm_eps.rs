use gradnet::prelude::*;

const EPS: f64 = 0.0;
const MOMENTUM: f64 = 2.0;

network! {
    struct Net {
        input: 4,
        dense(4),
        batch_norm(momentum = MOMENTUM, eps = EPS),
        dense(4),
        layer_norm(eps = EPS),
        dense(1),
        loss: mse,
    }
}

fn main() {}
