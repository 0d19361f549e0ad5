use gradnet::prelude::*;

const WIDE: usize = 16;

network! {
    struct Net {
        input: 4,
        dense(8),
        residual {
            dense(WIDE),
            relu,
        },
        dense(1),
        loss: mse,
    }
}

fn main() {}
