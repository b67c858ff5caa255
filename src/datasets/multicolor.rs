//! The generated "multicolour" dataset (after MultiColorMNIST of Lin et al., "Spurious
//! Feature Diversification Improves Out-of-distribution Generalization", ICLR 2024, official
//! `linyongver/SpuriousFeatureDiversification`): each grey base image, halved to 14x14, sits
//! in the centre of a 42x42 RGB canvas whose 8 outer 14x14 blocks are cut into 32 patches of
//! 7x7. Every patch is a spurious feature: it has its own seeded class-to-colour assignment
//! (a permutation of a 10-colour palette), and a patch of an image of class y shows
//! y's colour with probability q and a uniformly drawn palette colour otherwise (which may be
//! y's too). q = `correlation` for the training split, `test_correlation` for the test split:
//! 1 is a perfectly spurious feature, 0 colours independent of the label. A negative q
//! reverses the correlation: with probability |q| the patch shows the colour of class
//! (y + 1) mod classes, pointing at a wrong class. `spurious_patches = 1` paints one draw on
//! all 32 patches (a single, redundant spurious feature, the paper's `--colors 1`).
//!
//! The colours depend on the split, the image's index and q only, not on the run's seed:
//! runs with different seeds, and a pre-trained and a fine-tuned run, see the same
//! class-to-colour assignment.

use super::image_set::ImageSet;
use crate::rng::{Rng, Stream};
use crate::usage_error;

/// The palette: red, green, blue, yellow, cyan, magenta, black, white, grey, orange.
pub const PALETTE: [[u8; 3]; 10] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 0],
    [0, 255, 255],
    [255, 0, 255],
    [0, 0, 0],
    [255, 255, 255],
    [128, 128, 128],
    [255, 165, 0],
];

/// Side of the canvas, of a block and of a patch.
pub const SIDE: usize = 42;
const BLOCK: usize = 14;
const PATCH: usize = 7;
/// Spurious patches: 8 outer blocks of 4.
pub const PATCHES: usize = 32;

/// How one split is coloured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Colouring {
    /// q in [-1, 1] (see the module notes).
    pub correlation: f64,
    /// 32 (independent features) or 1 (one draw for all patches).
    pub patches: usize,
}

impl Colouring {
    pub fn check(&self, key: &str) -> anyhow::Result<()> {
        if !(self.correlation.is_finite() && (-1.0..=1.0).contains(&self.correlation)) {
            return Err(usage_error!(
                "key `dataset.{key}`: expected a value in [-1, 1], got {}",
                self.correlation
            ));
        }
        if self.patches != 1 && self.patches != PATCHES {
            return Err(usage_error!(
                "key `dataset.spurious_patches`: expected 1 or {PATCHES}, got {}",
                self.patches
            ));
        }
        Ok(())
    }
}

/// Each patch's class-to-colour assignment: `assignment[patch][class]` is a palette index.
pub fn assignments(classes: usize) -> Vec<Vec<usize>> {
    (0..PATCHES)
        .map(|patch| {
            let order = Rng::new(0, Stream::Multicolor, 0, patch as u64).permutation(PALETTE.len());
            (0..classes).map(|c| order[c % PALETTE.len()]).collect()
        })
        .collect()
}

/// The palette index of each patch of image `index` of class `label` in split `split`.
pub fn patch_colours(
    colouring: Colouring,
    assignment: &[Vec<usize>],
    split: u64,
    index: usize,
    label: usize,
) -> Vec<usize> {
    let classes = assignment[0].len();
    let q = colouring.correlation;
    // The class a correlated patch points at: the label, or the next class when reversed.
    let shown = if q < 0.0 {
        (label + 1) % classes
    } else {
        label
    };
    let mut rng = Rng::new(0, Stream::Multicolor, 1 + split, index as u64);
    let mut draw = |patch: usize| {
        if rng.uniform() < q.abs() {
            assignment[patch][shown]
        } else {
            rng.below(PALETTE.len() as u64) as usize
        }
    };
    match colouring.patches {
        1 => {
            let colour = draw(0);
            // One draw: the colour patch 0's assignment gives, on every patch.
            vec![colour; PATCHES]
        }
        _ => (0..PATCHES).map(draw).collect(),
    }
}

/// The top-left corner of each patch: the 4 patches of each outer block, row by row.
fn patch_corners() -> Vec<(usize, usize)> {
    let mut corners = Vec::with_capacity(PATCHES);
    for block_row in 0..3 {
        for block_col in 0..3 {
            if (block_row, block_col) == (1, 1) {
                continue;
            }
            for (dy, dx) in [(0, 0), (0, PATCH), (PATCH, 0), (PATCH, PATCH)] {
                corners.push((block_row * BLOCK + dy, block_col * BLOCK + dx));
            }
        }
    }
    corners
}

/// Colours a split of 28x28 grey images (split 0: train, 1: test).
pub fn colour(base: &ImageSet, colouring: Colouring, split: u64) -> anyhow::Result<ImageSet> {
    if (base.channels, base.height, base.width) != (1, 28, 28) {
        return Err(usage_error!(
            "the multicolor format needs 28x28 grey base images, got {}x{}x{}",
            base.channels,
            base.height,
            base.width
        ));
    }
    let assignment = assignments(base.num_classes);
    let corners = patch_corners();
    let plane = SIDE * SIDE;
    let mut pixels = vec![0u8; base.len() * 3 * plane];
    for (index, canvas) in pixels.chunks_mut(3 * plane).enumerate() {
        let label = base.labels[index] as usize;
        let image = base.image(index);
        // The base image halved (every other pixel, as the official code) in the centre block.
        for y in 0..BLOCK {
            for x in 0..BLOCK {
                let value = image[2 * y * 28 + 2 * x];
                for channel in 0..3 {
                    canvas[channel * plane + (BLOCK + y) * SIDE + BLOCK + x] = value;
                }
            }
        }
        let colours = patch_colours(colouring, &assignment, split, index, label);
        for (&(top, left), &colour) in corners.iter().zip(&colours) {
            for (channel, &value) in PALETTE[colour].iter().enumerate() {
                for y in top..top + PATCH {
                    let row = channel * plane + y * SIDE;
                    canvas[row + left..row + left + PATCH].fill(value);
                }
            }
        }
    }
    Ok(ImageSet {
        pixels,
        labels: base.labels.clone(),
        channels: 3,
        height: SIDE,
        width: SIDE,
        num_classes: base.num_classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(labels: Vec<u32>) -> ImageSet {
        let n = labels.len();
        ImageSet {
            pixels: (0..n * 784).map(|i| (i % 251) as u8).collect(),
            labels,
            channels: 1,
            height: 28,
            width: 28,
            num_classes: 10,
        }
    }

    #[test]
    fn patches_tile_the_border_and_the_centre_holds_the_halved_image() {
        let corners = patch_corners();
        let mut covered = vec![0; SIDE * SIDE];
        for (top, left) in corners {
            for y in top..top + PATCH {
                for x in left..left + PATCH {
                    covered[y * SIDE + x] += 1;
                }
            }
        }
        for y in 0..SIDE {
            for x in 0..SIDE {
                let centre = (BLOCK..2 * BLOCK).contains(&y) && (BLOCK..2 * BLOCK).contains(&x);
                assert_eq!(covered[y * SIDE + x], usize::from(!centre), "({y}, {x})");
            }
        }
        let set = base(vec![3]);
        let coloured = colour(
            &set,
            Colouring {
                correlation: 1.0,
                patches: 32,
            },
            0,
        )
        .unwrap();
        let plane = SIDE * SIDE;
        for channel in 0..3 {
            // Centre pixel (y, x) = base pixel (2y, 2x), on every channel.
            assert_eq!(
                coloured.pixels[channel * plane + (BLOCK + 5) * SIDE + BLOCK + 7],
                set.pixels[10 * 28 + 14]
            );
        }
    }

    /// q = 1: every patch shows its assignment's colour of the label; q = -1: of the next
    /// class; assignments differ between patches (32 different features).
    #[test]
    fn full_correlation_shows_the_class_colour_and_reversal_the_next_class() {
        let assignment = assignments(10);
        let ones = Colouring {
            correlation: 1.0,
            patches: 32,
        };
        let colours = patch_colours(ones, &assignment, 0, 7, 4);
        for (patch, &c) in colours.iter().enumerate() {
            assert_eq!(c, assignment[patch][4]);
        }
        let reversed = Colouring {
            correlation: -1.0,
            ..ones
        };
        for (patch, &c) in patch_colours(reversed, &assignment, 0, 7, 9)
            .iter()
            .enumerate()
        {
            assert_eq!(c, assignment[patch][0]);
        }
        assert!(assignment.iter().any(|a| a != &assignment[0]));
        for a in &assignment {
            let mut sorted = a.clone();
            sorted.sort();
            assert_eq!(
                sorted,
                (0..10).collect::<Vec<_>>(),
                "a patch's classes get distinct colours"
            );
        }
    }

    /// The share of patches showing the class colour is q + (1 - q) / 10: 0.3 gives 0.37
    /// over 2,000 images x 32 patches (standard error ~0.002, tolerance 0.01); one draw per
    /// image paints all patches alike.
    #[test]
    fn partial_correlation_shows_the_class_colour_at_the_expected_rate() {
        let assignment = assignments(10);
        let colouring = Colouring {
            correlation: 0.3,
            patches: 32,
        };
        let (mut hits, mut total) = (0, 0);
        for index in 0..2000 {
            let label = index % 10;
            for (patch, &c) in patch_colours(colouring, &assignment, 1, index, label)
                .iter()
                .enumerate()
            {
                hits += usize::from(c == assignment[patch][label]);
                total += 1;
            }
        }
        let rate = hits as f64 / total as f64;
        assert!((rate - 0.37).abs() < 0.01, "{rate}");
        let single = Colouring {
            correlation: 0.3,
            patches: 1,
        };
        let colours = patch_colours(single, &assignment, 1, 5, 2);
        assert!(colours.iter().all(|&c| c == colours[0]));
    }

    #[test]
    fn colours_are_fixed_by_split_and_index() {
        let set = base(vec![1, 2, 3]);
        let c = Colouring {
            correlation: 0.5,
            patches: 32,
        };
        let a = colour(&set, c, 0).unwrap();
        assert_eq!(a.pixels, colour(&set, c, 0).unwrap().pixels);
        assert_ne!(a.pixels, colour(&set, c, 1).unwrap().pixels);
        assert_eq!(
            (a.channels, a.height, a.width, a.labels.clone()),
            (3, 42, 42, vec![1, 2, 3])
        );
        let bad = Colouring {
            correlation: 1.5,
            patches: 32,
        };
        assert!(
            bad.check("correlation")
                .unwrap_err()
                .to_string()
                .contains("correlation")
        );
        let bad = Colouring {
            correlation: 0.5,
            patches: 4,
        };
        assert!(
            bad.check("correlation")
                .unwrap_err()
                .to_string()
                .contains("spurious_patches")
        );
    }
}
