use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(8),
        dropout(1.5),
        dense(1),
        loss: mse,
    }
}

fn main() {}
