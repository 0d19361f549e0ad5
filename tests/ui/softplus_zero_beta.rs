use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        softplus(beta = 0.0),
        dense(1),
        loss: mse,
    }
}

fn main() {}
