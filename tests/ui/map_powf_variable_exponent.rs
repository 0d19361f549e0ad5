use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(8),
        map(|x; p = 2.0| x.powf(p)),
        dense(1),
        loss: mse,
    }
}

fn main() {}
