use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(8),
        map(|x| x * gamma(x)),
        dense(1),
        loss: mse,
    }
}

fn main() {}
