use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(8),
        residual {
            input: 8,
            dense(8),
        },
        dense(1),
        loss: mse,
    }
}

fn main() {}
