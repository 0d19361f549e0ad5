//! Any bytes given to the weights loader: a typed error or a load, never a panic;
//! after an error the model is as it was.
#![no_main]

use gradnet::persist::{weights_from_bytes, LoadOptions};
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

fn values(net: &Net<f32>) -> Vec<u32> {
    let mut v = Vec::new();
    net.visit_params(&mut |_, p| v.extend(p.iter().map(|x| x.to_bits())));
    net.visit_buffers(&mut |_, p| v.extend(p.iter().map(|x| x.to_bits())));
    v
}

fuzz_target!(|data: &[u8]| {
    for options in [
        LoadOptions::default(),
        LoadOptions::default().strict(false).lossy(true),
    ] {
        let mut net = Net::<f32>::new(&mut seeded(0));
        let before = values(&net);
        if let Err(e) = weights_from_bytes(&mut net, data, options) {
            assert!(matches!(e, Error::Persist(_)), "{e:?}");
            assert_eq!(values(&net), before, "a failed load changed the model");
        }
    }
});
