use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(1),
        loss: mse,
        clip: max_norm(1.0),
    }
}

fn main() {}
