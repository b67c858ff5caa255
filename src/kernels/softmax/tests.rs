//! Every version against the f64 reference.

use super::reference::{max_relative_error, softmax_f64};
use super::*;
use crate::rng::{Rng, Stream};

fn random_row(len: usize, scale: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed, Stream::Synthetic, len as u64, 0);
    (0..len).map(|_| (rng.normal() * scale) as f32).collect()
}

const LENGTHS: [usize; 16] = [
    1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1000, 4099,
];

#[test]
fn every_version_matches_f64_on_random_rows() {
    for version in Version::available() {
        for &len in &LENGTHS {
            for (k, scale) in [0.1, 1.0, 10.0, 50.0].into_iter().enumerate() {
                let x = random_row(len, scale, k as u64);
                let want = softmax_f64(&x);
                let mut y = vec![f32::NAN; len];
                softmax_rows(&x, &mut y, len, version, Algorithm::TwoPass);
                let error = max_relative_error(&y, &want);
                // The bound the issue sets (polynomial 1.3e-7 plus f32 rounding of the
                // scaling and the sum).
                assert!(
                    error < 2e-6,
                    "{version:?} len {len} scale {scale}: {error:e}"
                );

                // The three-pass comparison kernel also rounds x - max in f32, an absolute
                // error of |x - max| 2^-24 in the exponent, so its bound grows with the spread.
                softmax_rows(&x, &mut y, len, version, Algorithm::ThreePass);
                let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                for ((&got, &w), &v) in y.iter().zip(&want).zip(&x) {
                    if w >= 1e-30 {
                        let bound = 2e-6 + (max - v) as f64 * 1.2e-7;
                        let error = ((got as f64 - w) / w).abs();
                        assert!(error < bound, "{version:?} three-pass len {len}: {error:e}");
                    }
                }
            }
        }
    }
}

#[test]
fn masks_extremes_and_nan() {
    for version in Version::available() {
        let run = |x: &[f32]| {
            let mut y = vec![f32::NAN; x.len()];
            softmax_rows(x, &mut y, x.len(), version, Algorithm::TwoPass);
            y
        };
        let inf = f32::NEG_INFINITY;
        // -inf entries give exactly 0 (attention masks), at every position of a SIMD block.
        for len in [5, 16, 37] {
            let x: Vec<f32> = (0..len)
                .map(|i| if i % 3 == 0 { inf } else { i as f32 * 0.1 })
                .collect();
            let y = run(&x);
            let want = softmax_f64(&x);
            for (i, (&got, &w)) in y.iter().zip(&want).enumerate() {
                if i % 3 == 0 {
                    assert_eq!(got, 0.0, "{version:?}");
                } else {
                    assert!(((got as f64 - w) / w).abs() < 2e-6, "{version:?} {got} {w}");
                }
            }
            // A row of only -inf: zeros, not NaN.
            assert!(
                run(&vec![inf; len]).iter().all(|&v| v == 0.0),
                "{version:?}"
            );
        }
        // NaN propagates to the row.
        let mut x = random_row(40, 1.0, 9);
        x[17] = f32::NAN;
        assert!(run(&x).iter().all(|v| v.is_nan()), "{version:?}");
        // Huge magnitudes neither overflow nor lose the answer.
        let x = [1e30f32, -1e30, 1e30, 3.0, 1e29];
        let y = run(&x);
        assert_eq!(y, vec![0.5, 0.0, 0.5, 0.0, 0.0], "{version:?}");
        let x: Vec<f32> = (0..50).map(|i| -1e30 + i as f32 * 1e28).collect();
        let y = run(&x);
        assert_eq!(y[49], 1.0, "{version:?}");
        // Large but representable differences keep full accuracy.
        let x = random_row(100, 1.0, 3)
            .iter()
            .map(|v| v + 80.0)
            .collect::<Vec<_>>();
        assert!(max_relative_error(&run(&x), &softmax_f64(&x)) < 2e-6);
    }
}

#[test]
fn in_place_equals_out_of_place() {
    for version in Version::available() {
        for &len in &LENGTHS {
            let mut x = random_row(len * 3, 2.0, 5);
            x[0] = f32::NEG_INFINITY;
            let mut y = vec![0.0; x.len()];
            softmax_rows(&x, &mut y, len, version, Algorithm::TwoPass);
            softmax_rows_in_place(&mut x, len, version);
            assert_eq!(x, y, "{version:?} len {len}");
        }
        let len = SPLIT_ROW + 100;
        let mut x = random_row(len, 2.0, 6);
        let mut y = vec![0.0; len];
        softmax_rows(&x, &mut y, len, version, Algorithm::TwoPass);
        softmax_rows_in_place(&mut x, len, version);
        assert_eq!(x, y, "{version:?} long row");
    }
}

#[test]
fn long_rows_split_across_threads_match_one_thread() {
    let len = SPLIT_ROW * 2 + 13;
    let x = random_row(len, 3.0, 4);
    let want = softmax_f64(&x);
    for version in Version::available() {
        let mut y = vec![0.0; len];
        softmax_rows(&x, &mut y, len, version, Algorithm::TwoPass);
        let error = max_relative_error(&y, &want);
        assert!(error < 2e-6, "{version:?}: {error:e}");
        // The three-pass comparison kernel (it exists for timing) splits the same way. It sums
        // sequentially in f32, up to 6.5e4 terms per accumulator lane here, which loses about
        // sqrt(6.5e4) 2^-24 = 1.5e-5 relative (measured 3.2e-5 for AVX2's single accumulator);
        // a wrong split (a missed piece, a piece counted twice) is off by 1e-1 or more.
        softmax_rows(&x, &mut y, len, version, Algorithm::ThreePass);
        let error = max_relative_error(&y, &want);
        assert!(error < 1e-4, "{version:?} three-pass: {error:e}");
    }
}

/// Safe calls cannot write out of bounds: an output of another length than the input is
/// refused (a panic naming it) by every version and every entry point, before any write.
#[test]
fn unequal_lengths_are_refused_by_every_version() {
    let x = vec![0.5f32; 37];
    for version in Version::available() {
        for out_len in [0, 36, 38] {
            type Call<'a> = Box<dyn Fn(&mut [f32]) + 'a>;
            let calls: [(&str, Call); 4] = [
                ("two_pass", Box::new(|y| version.two_pass(&x, y))),
                ("three_pass", Box::new(|y| version.three_pass(&x, y))),
                (
                    "scale_extexp",
                    Box::new(|y| version.scale_extexp(&x, y, (1.0, 0.0))),
                ),
                (
                    "exp_sum",
                    Box::new(|y| {
                        version.exp_sum(&x, y, 0.0);
                    }),
                ),
            ];
            for (name, call) in calls {
                let mut y = vec![7.0f32; out_len];
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(&mut y)));
                let message = result.expect_err(name);
                let text = message
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| message.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                assert!(
                    text.contains("lengths differ"),
                    "{version:?} {name}: {text}"
                );
                assert!(y.iter().all(|&v| v == 7.0), "{version:?} {name} wrote");
            }
        }
    }
}

/// Versions are only those the CPU runs, named as `stoke bench softmax` prints them.
#[test]
fn versions_come_only_from_the_cpu_features() {
    let available = Version::available();
    assert_eq!(available[0], Version::scalar());
    assert_eq!(Version::best(), *available.last().unwrap());
    for version in &available {
        assert_eq!(Version::named(version.name()), Some(*version));
    }
    #[cfg(target_arch = "x86_64")]
    {
        let has = |name: &str| Version::named(name).is_some();
        assert_eq!(has("avx512"), is_x86_feature_detected!("avx512f"));
        assert_eq!(
            has("avx2"),
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
        );
    }
    assert_eq!(Version::named("sse9"), None);
}
