use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        // After this mistake the width is unknown, so the arrow below is not compared.
        dense(1.5),
        dense(4 -> 8),
        dense(1),
        loss: mse,
    }
}

fn main() {}
