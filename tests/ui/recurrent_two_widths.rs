use gradnet::prelude::*;

network! {
    struct Net {
        input: seq(8),
        // PyTorch's `nn.LSTM(8, 16)`: the width coming in, then the hidden size.
        lstm(8, 16),
        dense(1),
        loss: mse,
    }
}

fn main() {}
