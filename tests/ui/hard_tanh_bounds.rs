use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        hard_tanh(1.0, -1.0),
        dense(1),
        loss: mse,
    }
}

fn main() {}
