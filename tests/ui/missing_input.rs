use gradnet::prelude::*;

network! {
    struct Net {
        // The arrow is not checked against the missing input: one error only.
        dense(4 -> 8),
        relu,
        dense(1),
        loss: mse,
    }
}

fn main() {}
