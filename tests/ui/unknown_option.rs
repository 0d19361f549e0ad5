use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4, biass = false),
        loss: mse,
    }
}

fn main() {}
