use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(8),
        residual {
            dense(16),
            relu,
        },
        dense(1),
        loss: mse,
    }
}

fn main() {}
