//! A held-out split for selection (`dataset.holdout`): training images kept out of
//! training, seeded and class-balanced, so that choosing a checkpoint or a soup's
//! ingredients never looks at the test split.

use super::image_set::ImageSet;
use crate::rng::{Rng, Stream};
use crate::usage_error;

/// Splits `train` into (what trains, the held-out `count` images): class c gives
/// `count / C` images, one more for the first `count % C` classes, drawn by a seeded
/// permutation of its images; both parts keep the training order.
pub fn split_holdout(
    train: &ImageSet,
    count: usize,
    seed: u64,
) -> anyhow::Result<(ImageSet, ImageSet)> {
    let classes = train.num_classes;
    let mut by_class = vec![Vec::new(); classes];
    for (i, &label) in train.labels.iter().enumerate() {
        by_class[label as usize].push(i);
    }
    let mut held = vec![false; train.len()];
    for (class, images) in by_class.iter().enumerate() {
        let quota = count / classes + usize::from(class < count % classes);
        if quota >= images.len() {
            return Err(usage_error!(
                "key `dataset.holdout`: {count} held-out images take {quota} of class {class}, \
                 which has {} training images (some must stay to train on); hold out fewer",
                images.len()
            ));
        }
        let order = Rng::new(seed, Stream::Holdout, 0, class as u64).permutation(images.len());
        for &k in &order[..quota] {
            held[images[k]] = true;
        }
    }
    let (kept, out): (Vec<usize>, Vec<usize>) = (0..train.len()).partition(|&i| !held[i]);
    Ok((train.select(&kept), train.select(&out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: Vec<u32>) -> ImageSet {
        ImageSet {
            pixels: (0..labels.len()).map(|i| i as u8).collect(),
            labels,
            channels: 1,
            height: 1,
            width: 1,
            num_classes: 3,
        }
    }

    #[test]
    fn the_split_is_class_balanced_seeded_and_disjoint() {
        let train = set((0..30).map(|i| (i % 3) as u32).collect());
        let (kept, held) = split_holdout(&train, 7, 5).unwrap();
        assert_eq!((kept.len(), held.len()), (23, 7));
        // 7 over 3 classes: 3, 2, 2.
        let count = |c: u32| held.labels.iter().filter(|&&l| l == c).count();
        assert_eq!((count(0), count(1), count(2)), (3, 2, 2));
        // Every image lands in exactly one part (pixels are the image's index).
        let mut all: Vec<u8> = kept.pixels.iter().chain(&held.pixels).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..30).collect::<Vec<u8>>());
        assert_eq!(split_holdout(&train, 7, 5).unwrap().1.pixels, held.pixels);
        assert_ne!(split_holdout(&train, 7, 6).unwrap().1.pixels, held.pixels);
    }

    #[test]
    fn holding_out_a_whole_class_is_an_error_naming_the_key() {
        let train = set(vec![0, 0, 1, 1, 2, 2]);
        let error = split_holdout(&train, 6, 0).unwrap_err().to_string();
        assert!(
            error.contains("dataset.holdout") && error.contains("class 0"),
            "{error}"
        );
    }
}
