use gradnet::prelude::*;

const IN: usize = 4;

network! {
    struct Net {
        input: seq(8),
        lstm(IN -> 16),
        dense(1),
        loss: mse,
    }
}

fn main() {}
