use gradnet::prelude::*;

network! {
    struct Net {
        input: 8,
        lstm(16),
        dense(1),
        loss: mse,
    }
}

fn main() {}
