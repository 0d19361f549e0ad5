use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        // One error (the word), not a second one about the block.
        residule {
            dense(4),
        },
        dense(1),
        loss: mse,
    }
}

fn main() {}
