use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(HIDDEN),
        dense(1),
        loss: mse,
    }
}

fn main() {}
