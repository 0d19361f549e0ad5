use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(8),
        map(|x; a[4] = 0.25| a * x),
        dense(1),
        loss: mse,
    }
}

fn main() {}
