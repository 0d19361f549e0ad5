use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(1),
        loss: mse,
        clip: norm(0.0),
    }
}

fn main() {}
