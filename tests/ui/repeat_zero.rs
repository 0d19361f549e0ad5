use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        repeat(0) { dense(4), relu },
        dense(2),
        loss: mse,
    }
}

fn main() {}
