//! Line charts of training curves as self-contained SVG (`stoke plot`): one polyline per run,
//! axes with tick labels, a legend. Written by hand to keep the dependency tree small.

use std::fmt::Write;

/// One curve: a label and its (x, y) points in order.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Colours of the curves, a qualitative palette readable on white.
const COLOURS: [&str; 8] = [
    "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#000000",
];

/// About five round tick values covering `[low, high]`.
fn ticks(low: f64, high: f64) -> Vec<f64> {
    let span = (high - low).max(1e-12);
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (low / step).ceil() as i64;
    let last = (high / step).floor() as i64;
    // Rounded so labels read 0.6, not 0.6000000000000001.
    (first..=last)
        .map(|i| (i as f64 * step * 1e9).round() / 1e9)
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG text of a line chart of `series`.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let (width, height) = (720.0, 440.0);
    let (left, right, top, bottom) = (70.0, 190.0, 40.0, 60.0);
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if y1 - y0 < 1e-12 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    if x1 - x0 < 1e-12 {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    // Accuracies read best from 0.
    if y0 >= 0.0 && y1 <= 1.0 {
        y0 = 0.0;
    }
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let sx = |x: f64| left + (x - x0) / (x1 - x0) * plot_w;
    let sy = |y: f64| top + (1.0 - (y - y0) / (y1 - y0)) * plot_h;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        left + plot_w / 2.0,
        escape(title)
    );
    for t in ticks(x0, x1) {
        let x = sx(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            top + plot_h,
            top + plot_h + 18.0,
            t
        );
    }
    for t in ticks(y0, y1) {
        let y = sy(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + plot_w,
            left - 6.0,
            y + 4.0,
            t
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        left + plot_w / 2.0,
        height - 18.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        top + plot_h / 2.0,
        escape(y_label)
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = s
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for p in &path {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                svg,
                r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>"#
            );
        }
        let ly = top + 10.0 + 20.0 * i as f64;
        let lx = left + plot_w + 14.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 22.0,
            lx + 28.0,
            ly + 4.0,
            escape(&s.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The points `(x, metric)` of every line of a run's metrics.jsonl that has both.
pub fn run_series(run: &std::path::Path, x: &str, metric: &str) -> anyhow::Result<Series> {
    let path = run.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        crate::usage_error!(
            "{}: cannot read it ({e}); is this a run directory?",
            path.display()
        )
    })?;
    let mut points = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            crate::usage_error!("{} line {}: not JSON ({e})", path.display(), n + 1)
        })?;
        if let (Some(x), Some(y)) = (
            value.get(x).and_then(|v| v.as_f64()),
            value.get(metric).and_then(|v| v.as_f64()),
        ) {
            points.push((x, y));
        }
    }
    if points.is_empty() {
        return Err(crate::usage_error!(
            "{}: no line has both `{x}` and `{metric}`",
            path.display()
        ));
    }
    let label = run
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| run.display().to_string());
    Ok(Series { label, points })
}

/// An SVG chart of `metric` against `x` (epoch or step) for several run directories.
pub fn plot_runs(
    runs: &[std::path::PathBuf],
    x: &str,
    metric: &str,
    title: Option<&str>,
) -> anyhow::Result<String> {
    let series = runs
        .iter()
        .map(|run| run_series(run, x, metric))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let title = title.map_or_else(|| format!("{metric} by {x}"), str::to_string);
    Ok(line_chart(&title, x, metric, &series))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 1.0), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(ticks(1.0, 15.0), vec![5.0, 10.0, 15.0]);
    }

    #[test]
    fn the_chart_has_one_polyline_per_series_and_escapes_labels() {
        let svg = line_chart(
            "t",
            "epoch",
            "acc",
            &[
                Series {
                    label: "a<b".into(),
                    points: vec![(1.0, 0.2), (2.0, 0.4)],
                },
                Series {
                    label: "c".into(),
                    points: vec![(1.0, 0.3), (2.0, f64::NAN)],
                },
            ],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a&lt;b") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<circle").count(), 3);
    }
}
