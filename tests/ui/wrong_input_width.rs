use gradnet::prelude::*;

network! {
    struct Net {
        input: 4,
        dense(8),
        relu,
        dense(1),
        loss: mse,
    }
}

fn main() {
    let net = Net::<f32>::new(&mut seeded(0));
    let x = Batch::<f32, 3>::from_rows(&[[1.0, 2.0, 3.0]]).unwrap();
    let _ = net.forward(&x);
}
