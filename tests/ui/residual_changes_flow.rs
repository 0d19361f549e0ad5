use gradnet::prelude::*;

network! {
    struct Net {
        input: seq(4),
        dense(4),
        residual { lstm(4) },
        dense(1),
        loss: mse,
    }
}

fn main() {}
