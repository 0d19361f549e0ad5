use gradnet::prelude::*;

const STD: f64 = -0.1;

network! {
    struct Net {
        input: 4,
        dense(4, init = normal(STD)),
        relu,
        dense(2),
        loss: mse,
    }
}

fn main() {}
