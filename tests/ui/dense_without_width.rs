use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense,
        dense(),
        dense(bias = false),
        dense(1),
        loss: mse,
    }
}

fn main() {}
