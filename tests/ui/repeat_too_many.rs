use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        repeat(1000000000) { relu },
        dense(1),
        loss: mse,
    }
}

fn main() {}
