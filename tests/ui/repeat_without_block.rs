use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        repeat(2),
        dense(2),
        loss: mse,
    }
}

fn main() {}
