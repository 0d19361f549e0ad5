// A width mistake, and the output width a named const: the stub's `OUTPUT` is the
// last layer's, so the code that relies on it checks.
use gradnet::prelude::*;

const HIDDEN: usize = 8;
const CLASSES: usize = 3;

network! {
    struct Net {
        input: 4,
        dense(8),
        relu,
        dense(16 -> HIDDEN),
        repeat(2) { dense(CLASSES), tanh },
        loss: cross_entropy,
    }
}

fn main() {
    let net = Net::<f32>::new(&mut seeded(0));
    let x = Batch::<f32, 4>::from_rows(&[[0.5, -1.0, 2.0, 0.0]]).unwrap();
    let logits: Batch<f32, CLASSES> = net.forward(&x).unwrap();
    let _ = (logits, NetWorkspace::<f32>::new());
}
