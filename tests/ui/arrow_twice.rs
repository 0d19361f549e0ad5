use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4 -> 8, 8 -> 8),
        dense(1),
        loss: mse,
    }
}

fn main() {}
