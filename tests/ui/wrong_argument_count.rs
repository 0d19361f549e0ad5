use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        leaky_relu(0.1, 0.2),
        dense(4, init = normal()),
        dropout(0.1, 0.2, 0.3),
        dense(2, init = uniform(0.5)),
        relu(1),
        dense(2, init = he_normal(fan_in, 1.0)),
        loss: mse,
    }
}

fn main() {}
