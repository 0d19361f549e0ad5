use gradnet::prelude::*;

const TIMES: usize = 3;

network! {
    struct Net {
        input: 4,
        repeat(TIMES) { dense(4), relu },
        dense(2),
        loss: mse,
    }
}

fn main() {}
