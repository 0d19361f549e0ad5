//! XOR, the smallest complete gradnet program: declare a network, train it, use it.
//!
//! `cargo run --release --example xor`

use gradnet::prelude::*;

network! {
    /// 2 inputs -> 8 tanh units -> 1 output, trained on the squared error.
    struct Xor {
        input: 2,
        dense(8),
        tanh,
        dense(1),
        loss: mse,
    }
}

fn main() -> Result<(), Error> {
    let x = Batch::<f32, 2>::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])?;
    let y = Batch::<f32, 1>::from_rows(&[[0.0], [1.0], [1.0], [0.0]])?;

    let mut net = Xor::<f32>::new(&mut seeded(0));
    let mut opt = AdamConfig::default().lr(0.05).build()?;
    let (mut ws, mut grads) = (XorWorkspace::new(), net.zero_grads());
    for step in 0..=300 {
        let loss = net.train_step(&x, &y, &mut opt, &mut ws, &mut grads)?;
        if step % 100 == 0 {
            println!("step {step:3}: loss {loss:.6}");
        }
    }

    let out = net.forward(&x)?;
    for (input, output) in x.iter_rows().zip(out.iter_rows()) {
        println!("{input:?} -> {:.3}", output[0]);
    }
    Ok(())
}
