use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4, init = normal(0.0, -0.1)),
        dense(1),
        loss: mse,
    }
}

fn main() {}
