//! The choices a generator makes, read from a tape of random numbers that proptest
//! draws and shrinks (Hypothesis' "choice sequence"). A shorter tape or smaller
//! numbers mean simpler choices: a number past the tape's end reads as 0, and every
//! generator makes 0 its simplest option and "no more", so any tape ends.

pub(crate) struct Tape<'a> {
    data: &'a [u32],
    pos: usize,
}

impl<'a> Tape<'a> {
    pub(crate) fn new(data: &'a [u32]) -> Self {
        Tape { data, pos: 0 }
    }

    fn next(&mut self) -> u32 {
        let v = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        self.next() as usize % n
    }

    /// True with probability `pct` percent; false once the tape has run out.
    pub(crate) fn chance(&mut self, pct: usize) -> bool {
        self.below(100) >= 100 - pct.min(100)
    }

    /// One of `xs`, the first when the tape has run out.
    pub(crate) fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    /// A reference to one of `xs`, the first when the tape has run out.
    pub(crate) fn pick_ref<'x, T>(&mut self, xs: &'x [T]) -> &'x T {
        &xs[self.below(xs.len())]
    }

    /// An index into `weights`, each chosen in proportion to its weight; index 0
    /// when the tape has run out.
    pub(crate) fn weighted(&mut self, weights: &[usize]) -> usize {
        let total: usize = weights.iter().sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        0
    }
}
