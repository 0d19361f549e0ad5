use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        residual,
        dense(1),
        loss: mse,
    }
}

fn main() {}
