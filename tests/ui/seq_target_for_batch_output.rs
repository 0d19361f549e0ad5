use gradnet::prelude::*;
use gradnet::seq::Seq;

network! {
    struct Net {
        input: seq(4),
        lstm(8),
        dense(2),
        loss: mse,
    }
}

fn main() -> Result<(), Error> {
    let mut net = Net::<f32>::new(&mut seeded(0));
    let (mut ws, mut grads) = (NetWorkspace::new(), net.zero_grads());
    let x = Seq::<f32, 4>::zeros(5, 3);
    // The last state goes through `dense(2)`: one row of 2 per sequence, not a step.
    let seq_target = Seq::<f32, 2>::zeros(5, 3);
    net.loss_and_grad(&x, &seq_target, &mut ws, &mut grads)?;
    Ok(())
}
