use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        relu,
        dense(1),
    }
}

fn main() {}
