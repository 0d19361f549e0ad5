use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        input: 5,
        dense(1),
        loss: mse,
    }
}

fn main() {}
