use gradnet::prelude::*;
use gradnet::seq::Seq;

network! {
    struct Net {
        input: seq(4),
        lstm(8, sequence, bias = flase),
        gru(6, bidirectional, sequence),
        dense(2),
        loss: mse,
    }
}

// Code written against the network as it would have been: no errors of its own.
fn main() -> Result<(), Error> {
    let mut net = Net::<f32>::new(&mut seeded(0));
    let (mut ws, mut grads) = (NetWorkspace::new(), net.zero_grads().with_input_grad());
    let x = Seq::<f32, 4>::zeros(5, 3);
    let y = Seq::<f32, 2>::zeros(5, 3);
    let _: f32 = net.loss_and_grad(&x, &y, &mut ws, &mut grads)?;
    let _: &Seq<f32, 4> = grads.input.as_ref().unwrap();
    let out: Seq<f32, 2> = net.forward(&x)?;
    let mut into = Seq::<f32, { Net::OUTPUT }>::new();
    net.forward_into(&x, &mut ws, &mut into)?;
    let _ = (out, Net::INPUT == 4);
    net.carry_state(&mut ws);
    let state: NetState = net.final_state(&ws);
    ws.set_initial_state(Some(state));
    let _ = ws.initial_state().cloned();
    let mut s = NetState::default();
    <Net as Network<f32>>::final_state_into(&net, &ws, &mut s);
    Ok(())
}
