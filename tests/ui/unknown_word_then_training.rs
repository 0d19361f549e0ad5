// A mistake in the spec is the only error: the code below it, which uses the
// network as the spec would have made it, checks against a stub.
use gradnet::prelude::*;

network! {
    /// A network with a misspelled activation.
    pub struct Net {
        input: 4,
        dense(8),
        rellu,
        dense(1),
        loss: mse,
    }
}

fn mean_loss<N: Network<f32>>(net: &N, x: &N::Input, y: &N::Target) -> Result<f32, Error> {
    net.loss(x, y, &mut N::Workspace::default())
}

fn main() -> Result<(), Error> {
    let mut net = Net::<f32>::new(&mut seeded(0));
    let x = Batch::<f32, 4>::from_rows(&[[0.5, -1.0, 2.0, 0.0]])?;
    let y = Batch::<f32, 1>::from_rows(&[[1.0]])?;
    let mut ws = NetWorkspace::new();
    ws.set_detect_anomaly(true);
    let mut grads = net.zero_grads().with_input_grad();
    let mut opt = SgdConfig::new(0.1).build()?;
    let loss = net.train_step(&x, &y, &mut opt, &mut ws, &mut grads)?;
    let _: Option<f32> = ws.pre_clip_norm();
    let seen: &Batch<f32, 1> = ws.train_output();
    let out: Batch<f32, 1> = net.forward(&x)?;
    assert_eq!(out.rows(), seen.rows());
    let mut into = Batch::new();
    net.forward_into(&x, &mut NetWorkspace::with_seed(1), &mut into)?;
    let _ = net.loss_and_grad(&x, &y, &mut ws, &mut grads)? + loss;
    let _ = net.eval_loss_and_grad(&x, &y, &mut ws, &mut grads)?;
    let _ = mean_loss(&net, &x, &y)?;
    let _ = grads.input.as_ref().map(|g| g.rows());
    println!("{} -> {}\n{}", Net::INPUT, Net::OUTPUT, net.summary());
    let _: [f32; Net::INPUT] = [0.0; 4];
    Ok(())
}
