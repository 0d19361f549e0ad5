//! Activations and functions the macro differentiates for you: `map` layers in a
//! network (Mish, and Swish with a learned beta), and `grad!` minimizing Rosenbrock's
//! function by gradient descent.
//!
//! `cargo run --release --example custom`

use gradnet::grad;
use gradnet::prelude::*;

network! {
    /// XOR with two user-defined activations: Mish (no parameters: fused into the
    /// dense layer before it) and Swish whose beta is learned.
    struct Custom {
        input: 2,
        dense(8),
        map(|x| x * tanh(softplus(x))),
        dense(8),
        map(|x; beta = 1.0| x * sigmoid(beta * x)),
        dense(1),
        loss: mse,
    }
}

fn main() -> Result<(), Error> {
    let x = Batch::<f32, 2>::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])?;
    let y = Batch::<f32, 1>::from_rows(&[[0.0], [1.0], [1.0], [0.0]])?;
    let mut net = Custom::<f32>::new(&mut seeded(0));
    let mut opt = AdamConfig::default().lr(0.03).build()?;
    let (mut ws, mut grads) = (CustomWorkspace::new(), net.zero_grads());
    for step in 0..=400 {
        let loss = net.train_step(&x, &y, &mut opt, &mut ws, &mut grads)?;
        if step % 100 == 0 {
            println!("step {step:3}: loss {loss:.6}, beta {:.4}", net.l3.beta[0]);
        }
    }
    println!("{}", net.summary());

    // Rosenbrock's function, its gradient derived at compile time.
    let rosenbrock = grad!(|x, y| (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2));
    let (mut px, mut py) = (-1.5f64, 2.0f64);
    for _ in 0..20_000 {
        let (_, g) = rosenbrock(px, py);
        px -= 1e-3 * g[0];
        py -= 1e-3 * g[1];
    }
    let (value, _) = rosenbrock(px, py);
    println!("rosenbrock minimum near ({px:.4}, {py:.4}), value {value:.2e}");
    Ok(())
}
