use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(1),
        loss: mean_squared,
    }
}

fn main() {}
