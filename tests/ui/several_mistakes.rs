use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(8),
        dense(16 -> 4),
        rellu,
        dropout(2.0),
        dense(1),
        loss: mse,
    }
}

fn main() {}
