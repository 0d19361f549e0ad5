use gradnet::prelude::*;

const A: usize = 8;

network! {
    struct Net {
        input: 3,
        dense(4),
        relu,
        dense(A -> 16),
        dense(1),
        loss: mse,
    }
}

fn main() {}
