//! `stoke optim viz`: trajectories of several optimizers over a 2-D function's contour plot.
//! `.png` gets the raster (shaded log-loss with contour lines, one colour per optimizer, the
//! start as a black square, the minimum as a white cross; the legend goes to stdout); `.svg`
//! embeds the same raster and adds the trajectories as vector lines and a text legend.

use super::problems::Plane;
use super::trace::{TraceRequest, trace};
use crate::atomic::write_atomic;
use crate::usage_error;
use burn::tensor::{Device, Tensor, TensorData};
use image::{Rgb, RgbImage};
use std::path::Path;

/// Colour of the i-th trajectory (a qualitative palette readable on the shading).
pub const PALETTE: [[u8; 3]; 8] = [
    [228, 26, 28],
    [55, 126, 184],
    [77, 175, 74],
    [152, 78, 163],
    [255, 127, 0],
    [166, 86, 40],
    [247, 129, 191],
    [0, 0, 0],
];

pub struct VizRequest {
    pub problem: String,
    /// (optimizer, learning rate) per trajectory, with default options.
    pub runs: Vec<(String, f64)>,
    pub start: Option<[f64; 2]>,
    pub steps: usize,
    /// `[x_min, x_max, y_min, y_max]`; default: around the trajectories and the minimum.
    pub range: Option<[f64; 4]>,
    pub size: u32,
    pub device: String,
}

/// Draws the plot into `out` (PNG or SVG by extension); returns (label, colour) per run.
pub fn viz(request: &VizRequest, out: &Path) -> anyhow::Result<Vec<(String, [u8; 3])>> {
    let (function, minimum) = Plane::by_name(&request.problem).ok_or_else(|| {
        usage_error!(
            "--problem: `{}` is not a 2-D problem; viz draws rosenbrock, rosenbrock100, quadratic, beale or rastrigin",
            request.problem
        )
    })?;
    if request.runs.is_empty() || request.runs.len() > PALETTE.len() {
        return Err(usage_error!(
            "--optimizers: expected 1 to {} optimizers",
            PALETTE.len()
        ));
    }
    let mut paths = Vec::new();
    for (optimizer, lr) in &request.runs {
        let t = trace(&TraceRequest {
            optimizer: optimizer.clone(),
            problem: request.problem.clone(),
            start: request.start,
            steps: request.steps,
            lr: *lr,
            options: Default::default(),
            seed: 0,
            device: request.device.clone(),
        })?;
        let points: Vec<[f64; 2]> = t
            .trajectory
            .iter()
            .map(|p| [p[0], p[1]])
            .filter(|p| p[0].is_finite() && p[1].is_finite())
            .collect();
        paths.push((format!("{optimizer} lr {lr}"), points));
    }
    let range = request.range.unwrap_or_else(|| {
        let mut r = [minimum[0], minimum[0], minimum[1], minimum[1]];
        for p in paths
            .iter()
            .flat_map(|(_, ps)| ps)
            .filter(|p| p[0].abs() < 1e3 && p[1].abs() < 1e3)
        {
            r = [
                r[0].min(p[0]),
                r[1].max(p[0]),
                r[2].min(p[1]),
                r[3].max(p[1]),
            ];
        }
        let (px, py) = (0.2 * (r[1] - r[0]).max(0.5), 0.2 * (r[3] - r[2]).max(0.5));
        [r[0] - px, r[1] + px, r[2] - py, r[3] + py]
    });
    if !(range[0] < range[1] && range[2] < range[3]) {
        return Err(usage_error!(
            "--range: expected x_min < x_max and y_min < y_max"
        ));
    }
    let size = request.size.clamp(64, 4096);
    let mut canvas = shade(
        function,
        range,
        size,
        &crate::device::parse(&request.device)?,
    );
    let to_pixel = |p: [f64; 2]| -> (f64, f64) {
        (
            (p[0] - range[0]) / (range[1] - range[0]) * (size - 1) as f64,
            (range[3] - p[1]) / (range[3] - range[2]) * (size - 1) as f64,
        )
    };
    let legend: Vec<(String, [u8; 3])> = paths
        .iter()
        .zip(PALETTE)
        .map(|((label, _), colour)| (label.clone(), colour))
        .collect();
    let extension = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension {
        "png" => {
            for ((_, points), colour) in paths.iter().zip(PALETTE) {
                for pair in points.windows(2) {
                    line(&mut canvas, to_pixel(pair[0]), to_pixel(pair[1]), colour);
                }
            }
            mark(
                &mut canvas,
                paths
                    .iter()
                    .find_map(|(_, p)| p.first().copied())
                    .map(to_pixel),
                [0, 0, 0],
                false,
            );
            mark(&mut canvas, Some(to_pixel(minimum)), [0, 0, 0], true);
            let mut bytes = Vec::new();
            canvas.write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )?;
            write_atomic(out, &bytes)?;
        }
        "svg" => {
            let mut png = Vec::new();
            canvas.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
            let mut svg = format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\">\n\
                 <image width=\"{size}\" height=\"{size}\" href=\"data:image/png;base64,{}\"/>\n",
                base64(&png),
                w = size + 220,
                h = size,
            );
            for (i, ((label, points), colour)) in paths.iter().zip(PALETTE).enumerate() {
                let rgb = format!("rgb({},{},{})", colour[0], colour[1], colour[2]);
                let coords: Vec<String> = points
                    .iter()
                    .map(|&p| to_pixel(p))
                    .map(|(x, y)| format!("{x:.1},{y:.1}"))
                    .collect();
                svg += &format!(
                    "<polyline fill=\"none\" stroke=\"{rgb}\" stroke-width=\"2\" points=\"{}\"/>\n\
                     <rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{rgb}\"/>\n\
                     <text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"13\">{label}</text>\n",
                    coords.join(" "),
                    size + 10,
                    20 + 22 * i,
                    size + 30,
                    32 + 22 * i,
                );
            }
            svg += &format!(
                "<text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"13\">{} from ({}, {})</text>\n</svg>\n",
                size + 10,
                40 + 22 * paths.len(),
                request.problem,
                request.start.unwrap_or([1.5, 1.5])[0],
                request.start.unwrap_or([1.5, 1.5])[1],
            );
            write_atomic(out, svg.as_bytes())?;
        }
        _ => {
            return Err(usage_error!(
                "--out {}: expected a .png or .svg file",
                out.display()
            ));
        }
    }
    Ok(legend)
}

/// The function's log-loss as grey-blue shading with 16 contour lines.
fn shade(function: Plane, range: [f64; 4], size: u32, device: &Device) -> RgbImage {
    let n = size as usize;
    let (mut xs, mut ys) = (Vec::with_capacity(n * n), Vec::with_capacity(n * n));
    for row in 0..n {
        for col in 0..n {
            xs.push((range[0] + (range[1] - range[0]) * col as f64 / (n - 1) as f64) as f32);
            ys.push((range[3] - (range[3] - range[2]) * row as f64 / (n - 1) as f64) as f32);
        }
    }
    let grid = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [n * n]), device);
    let values: Vec<f64> = function
        .eval(grid(xs), grid(ys))
        .into_data()
        .iter::<f64>()
        .collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let logs: Vec<f64> = values.iter().map(|v| (1.0 + v - low).ln()).collect();
    let high = logs.iter().copied().fold(0.0, f64::max).max(1e-12);
    let level = |i: usize| ((logs[i] / high) * 16.0).floor() as i64;
    RgbImage::from_fn(size, size, |col, row| {
        let i = row as usize * n + col as usize;
        let t = logs[i] / high;
        let contour = (col + 1 < size && level(i) != level(i + 1))
            || (row + 1 < size && level(i) != level(i + n));
        let shade = |a: f64, b: f64| (a + (b - a) * t) as u8;
        let mut pixel = [shade(240.0, 70.0), shade(246.0, 90.0), shade(255.0, 140.0)];
        if contour {
            pixel = pixel.map(|c| (c as f64 * 0.75) as u8);
        }
        Rgb(pixel)
    })
}

fn put(canvas: &mut RgbImage, x: i64, y: i64, colour: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < canvas.width() && (y as u32) < canvas.height() {
        canvas.put_pixel(x as u32, y as u32, Rgb(colour));
    }
}

/// A 2-pixel-wide line segment (sampled densely; segments far off the canvas are skipped).
fn line(canvas: &mut RgbImage, a: (f64, f64), b: (f64, f64), colour: [u8; 3]) {
    let limit = 4.0 * canvas.width() as f64;
    if [a.0, a.1, b.0, b.1].iter().any(|v| v.abs() > limit) {
        return;
    }
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for s in 0..=steps {
        let t = s as f64 / steps as f64;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            put(canvas, x.round() as i64 + dx, y.round() as i64 + dy, colour);
        }
    }
}

/// A square (start) or a cross (minimum) of 7 pixels.
fn mark(canvas: &mut RgbImage, at: Option<(f64, f64)>, colour: [u8; 3], cross: bool) {
    let Some((x, y)) = at else { return };
    let (x, y) = (x.round() as i64, y.round() as i64);
    for d in -3..=3i64 {
        if cross {
            put(canvas, x + d, y + d, colour);
            put(canvas, x + d, y - d, colour);
        } else {
            for e in -3..=3i64 {
                put(canvas, x + d, y + e, colour);
            }
        }
    }
}

/// Standard base64 (for the raster embedded in the SVG).
fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_examples() {
        assert_eq!(super::base64(b"Man"), "TWFu");
        assert_eq!(super::base64(b"Ma"), "TWE=");
        assert_eq!(super::base64(b"M"), "TQ==");
    }
}
