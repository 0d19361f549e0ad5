use gradnet::prelude::*;

const N: usize = 3;

network! {
    struct Net {
        input: 4,
        dense(8),
        prelu(N),
        dense(1),
        loss: mse,
    }
}

fn main() {}
