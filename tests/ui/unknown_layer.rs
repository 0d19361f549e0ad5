use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        densee(4),
        loss: mse,
    }
}

fn main() {}
