//! Which detections an evaluation sees: the highest-scoring few per image (COCO's and LVIS's
//! caps) or per category over the whole dataset (Dave et al.'s fixed budget). Ties at a cut
//! keep the earlier detection in the file, as the references' stable sorts do.

use super::detections::Detection;
use std::cmp::Ordering;

/// The `limit` highest-scoring detections of each group (`key`), in file order.
fn top_per_group(
    detections: &[Detection],
    limit: usize,
    key: impl Fn(&Detection) -> usize,
) -> Vec<Detection> {
    let mut order: Vec<usize> = (0..detections.len()).collect();
    order.sort_by(|&a, &b| {
        key(&detections[a]).cmp(&key(&detections[b])).then(
            detections[b]
                .score
                .partial_cmp(&detections[a].score)
                .unwrap_or(Ordering::Equal),
        )
    });
    let mut keep = vec![false; detections.len()];
    let mut taken = 0;
    for (position, &i) in order.iter().enumerate() {
        let first_of_group =
            position == 0 || key(&detections[order[position - 1]]) != key(&detections[i]);
        if first_of_group {
            taken = 0;
        }
        if taken < limit {
            keep[i] = true;
            taken += 1;
        }
    }
    detections
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(d, _)| d.clone())
        .collect()
}

/// At most `limit` detections per image (the LVIS API's `max_dets`, 300 by default).
pub fn top_per_image(detections: &[Detection], limit: usize) -> Vec<Detection> {
    top_per_group(detections, limit, |d| d.image)
}

/// At most `limit` detections per category over the dataset (AP-fixed's budget, 10,000 for
/// LVIS).
pub fn top_per_category(detections: &[Detection], limit: usize) -> Vec<Detection> {
    top_per_group(detections, limit, |d| d.category)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(image: usize, category: usize, score: f64) -> Detection {
        Detection {
            image,
            category,
            bbox: [0.0, 0.0, 1.0, 1.0],
            score,
        }
    }

    #[test]
    fn keeps_the_best_in_file_order_and_the_first_of_ties() {
        let dets = vec![
            det(0, 0, 0.1),
            det(0, 1, 0.5),
            det(1, 0, 0.9),
            det(0, 0, 0.5),
            det(0, 1, 0.7),
        ];
        // Image 0 keeps 0.7 and the first 0.5 (index 1); image 1 keeps its one.
        assert_eq!(
            top_per_image(&dets, 2),
            vec![dets[1].clone(), dets[2].clone(), dets[4].clone()]
        );
        assert_eq!(
            top_per_category(&dets, 1),
            vec![dets[2].clone(), dets[4].clone()]
        );
        assert_eq!(top_per_category(&dets, 10), dets);
        assert!(top_per_image(&dets, 0).is_empty());
    }
}
