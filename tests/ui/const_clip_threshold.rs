use gradnet::prelude::*;

const CLIP: f64 = -1.0;

network! {
    struct Net {
        input: 4,
        dense(1),
        loss: mse,
        clip: value(CLIP),
    }
}

fn main() {}
