use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(8),
        relu,
        dense(1),
        loss: cross_entropy,
    }
}

fn main() {}
