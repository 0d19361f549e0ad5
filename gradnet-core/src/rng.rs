//! Seeded randomness. One seed fixes every random number gradnet draws (weights,
//! shuffles, dropout masks) on every machine: the generator is ChaCha8, whose stream
//! is specified independently of platform and word size.
//!
//! ```
//! use gradnet_core::rng::seeded;
//! use rand::RngExt;
//! let (mut a, mut b) = (seeded(42), seeded(42));
//! assert_eq!(a.random::<u64>(), b.random::<u64>());
//! ```

/// The random number generator gradnet uses and re-exports, so users need no
/// matching version of `rand`.
pub type SeededRng = rand_chacha::ChaCha8Rng;

/// A generator fixed by `seed`.
pub fn seeded(seed: u64) -> SeededRng {
    <SeededRng as rand::SeedableRng>::seed_from_u64(seed)
}

/// Fisher-Yates shuffle of `items` with `rng` (for minibatch order).
pub fn shuffle<I>(items: &mut [I], rng: &mut SeededRng) {
    use rand::RngExt;
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}
