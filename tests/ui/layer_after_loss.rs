use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        loss: mse,
        clip: norm(1.0),
        relu,
        out: dense(1),
    }
}

fn main() {}
