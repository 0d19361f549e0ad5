use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        batch_norm(affine = false, gamma = 0.5),
        dense(4),
        layer_norm(elementwise_affine = false, gamma = 2.0),
        dense(1),
        loss: mse,
    }
}

fn main() {}
