use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(1),
        loss: mse,
        loss: bce_with_logits,
    }
}

fn main() {}
