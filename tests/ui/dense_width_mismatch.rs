use gradnet::prelude::*;

network! {
    struct Net {
        input: 3,
        dense(4),
        relu,
        dense(8 -> 16),
        dense(1),
        loss: mse,
    }
}

fn main() {}
