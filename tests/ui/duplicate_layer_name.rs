use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        hidden: dense(8),
        relu,
        hidden: dense(8),
        dense(1),
        loss: mse,
    }
}

fn main() {}
