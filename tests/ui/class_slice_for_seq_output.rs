use gradnet::prelude::*;
use gradnet::seq::Seq;

network! {
    struct Net {
        input: seq(4),
        gru(8, sequence),
        dense(3),
        loss: cross_entropy,
    }
}

fn main() -> Result<(), Error> {
    let mut net = Net::<f32>::new(&mut seeded(0));
    let (mut ws, mut grads) = (NetWorkspace::new(), net.zero_grads());
    let x = Seq::<f32, 4>::zeros(2, 2);
    // A class per step and row is a `SeqClasses`, not a slice.
    let classes: Vec<usize> = vec![0, 2, 1, 1];
    net.loss_and_grad(&x, &classes, &mut ws, &mut grads)?;
    Ok(())
}
