//! `eps = 1e-50` is a valid eps in f64 and 0 in f32: building the network for f64
//! must pass, for f32 (feature `f32`) it must fail at the argument.
use gradnet::prelude::*;

network! {
    struct Net {
        input: 2,
        dense(2),
        batch_norm(eps = 1e-50),
        dense(1),
        loss: mse,
    }
}

fn main() {
    let net = Net::<f64>::new(&mut seeded(0));
    assert_eq!(net.l1.eps(), 1e-50);
    #[cfg(feature = "f32")]
    let _ = Net::<f32>::new(&mut seeded(0));
}
