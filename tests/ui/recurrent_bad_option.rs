use gradnet::prelude::*;

network! {
    struct Net {
        input: seq(8),
        // A misspelled flag.
        lstm(16, bidirectonal, sequence),
        // A flag of another cell.
        gru(16, forget_bias_one, sequence),
        // A misspelled option.
        rnn(16, nonlinerity = relu, sequence),
        // An option of another cell.
        lstm(16, nonlinearity = relu),
        dense(1),
        loss: mse,
    }
}

fn main() {}
