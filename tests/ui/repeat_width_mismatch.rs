use gradnet::prelude::*;

// The second copy of the block takes 8 inputs, but the first gives 16.
network! {
    struct Net {
        input: 8,
        repeat(2) { dense(8 -> 16), relu },
        dense(2),
        loss: mse,
    }
}

fn main() {}
