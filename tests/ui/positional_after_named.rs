use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(out = 8, 16),
        loss: mse,
    }
}

fn main() {}
