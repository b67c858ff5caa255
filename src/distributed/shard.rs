//! Which part of a global batch (or of the test set) a rank works on.

use std::ops::Range;

/// Rank `rank` of `ranks` takes a contiguous slice of every global batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub ranks: usize,
}

impl Default for Shard {
    /// The whole batch (one rank).
    fn default() -> Self {
        Self { rank: 0, ranks: 1 }
    }
}

impl Shard {
    /// This rank's positions among `len` items: contiguous, in rank order, sizes differing
    /// by at most one, together covering `0..len` exactly once.
    pub fn range(&self, len: usize) -> Range<usize> {
        len * self.rank / self.ranks..len * (self.rank + 1) / self.ranks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_position_once_in_order() {
        for len in [0, 1, 5, 7, 128, 129] {
            for ranks in 1..=5 {
                let ranges: Vec<_> = (0..ranks)
                    .map(|rank| Shard { rank, ranks }.range(len))
                    .collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[ranks - 1].end, len);
                for pair in ranges.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                }
                let sizes: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "len {len} ranks {ranks}: {sizes:?}");
            }
        }
    }
}
