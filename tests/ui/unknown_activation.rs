use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        rellu,
        dense(1),
        loss: mse,
    }
}

fn main() {}
