use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(crate),
        loss: mse,
    }
}

fn main() {}
