use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(1.5),
        leaky_relu("a"),
        dense(4, bias = 3),
        dense(4, init = normal("wide")),
        loss: mse,
    }
}

fn main() {}
