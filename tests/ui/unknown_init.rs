use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4, init = he_gaussian),
        loss: mse,
    }
}

fn main() {}
