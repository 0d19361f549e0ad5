use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        batch_norm(momentum = 1.5),
        dense(4),
        layer_norm(eps = 0.0),
        dense(1),
        loss: mse,
    }
}

fn main() {}
