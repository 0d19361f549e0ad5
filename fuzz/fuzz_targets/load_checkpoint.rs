//! Any bytes given to the checkpoint loader: a typed error or a load, never a
//! panic; after an error the model, the optimizer and the generator are as they were.
#![no_main]

use gradnet::optim::OptimizerState;
use gradnet::persist::checkpoint_from_bytes;
use gradnet::prelude::*;
use libfuzzer_sys::fuzz_target;

network! {
    struct Net {
        input: 4,
        dense(6),
        batch_norm,
        relu,
        dense(2),
        loss: mse,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut net = Net::<f32>::new(&mut seeded(0));
    let before = net.clone();
    let mut opt = AdamConfig::adamw().build::<f32>().unwrap();
    let mut rng = seeded(1);
    if let Err(e) = checkpoint_from_bytes(data, &mut net, &mut opt, &mut [&mut rng]) {
        assert!(matches!(e, Error::Persist(_)), "{e:?}");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        net.visit_params(&mut |_, p| a.extend_from_slice(p));
        before.visit_params(&mut |_, p| b.extend_from_slice(p));
        assert_eq!(a, b);
        assert_eq!(OptimizerState::steps(&opt), 0);
        assert_eq!(rng, seeded(1));
    }
});
