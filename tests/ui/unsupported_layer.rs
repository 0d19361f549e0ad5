use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        conv2d(3),
        dense(1),
        loss: mse,
    }
}

fn main() {}
