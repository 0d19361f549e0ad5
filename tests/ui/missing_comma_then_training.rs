// A spec whose body does not parse still defines the network by name: the only
// error is the parser's.
use gradnet::prelude::*;

network! {
    struct Net {
        input: 2,
        dense(4)
        relu,
        dense(3),
        loss: cross_entropy,
    }
}

fn main() -> Result<(), Error> {
    let mut net = Net::<f64>::new(&mut seeded(0));
    let x = Batch::<f64, 2>::from_rows(&[[0.5, -1.0], [1.0, 2.0]])?;
    let (mut ws, mut grads) = (NetWorkspace::default(), net.zero_grads());
    let mut opt = AdamConfig::new(0.01).build()?;
    net.train_step(&x, &[0, 2], &mut opt, &mut ws, &mut grads)?;
    let out = net.forward(&x)?;
    println!("{}", out.rows());
    Ok(())
}
