use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(8),
        relu,
        dense(3),
        loss: bce_with_logits,
    }
}

fn main() {}
