use gradnet::prelude::*;

network! {
    Net {
        input: 4,
        dense(1),
        loss: mse,
    }
}

fn main() {}
