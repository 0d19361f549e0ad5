use gradnet::prelude::*;

network! {
    struct Net {
        input: seq(8),
        lstm(16),
        gru(8),
        dense(1),
        loss: mse,
    }
}

fn main() {}
