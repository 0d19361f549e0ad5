use gradnet::prelude::*;

network! {
    struct Net {
        input: seq(8),
        lstm(4 -> 16),
        dense(1),
        loss: mse,
    }
}

fn main() {}
