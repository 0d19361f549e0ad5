use gradnet::prelude::*;

const OUT: usize = 2;

network! {
    struct Net {
        input: 4,
        dense(8),
        relu,
        dense(OUT),
        loss: bce_with_logits,
    }
}

fn main() {}
