use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(3),
        loss: cross_entropy,
        clip: value(),
    }
}

fn main() {}
