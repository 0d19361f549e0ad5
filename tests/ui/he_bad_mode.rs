use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4, init = he_normal(fan_both)),
        relu,
        dense(1),
        loss: mse,
    }
}

fn main() {}
