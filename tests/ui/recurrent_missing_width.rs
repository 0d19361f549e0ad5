use gradnet::prelude::*;

network! {
    struct Net {
        input: seq(8),
        lstm(),
        dense(1),
        loss: mse,
    }
}

fn main() {}
