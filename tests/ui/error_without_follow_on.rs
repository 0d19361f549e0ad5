use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(4),
        rellu,
        dense(1),
        loss: mse,
    }
}

fn main() {
    let _net = Net::<f32>::new(&mut seeded(0));
}
