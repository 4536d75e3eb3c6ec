//! Charts for the report and the lessons, drawn with plotters as both PNG and SVG.
//!
//! Text needs a font that travels with the binary (no system font lookup), so DejaVu Sans is
//! embedded and registered once as "sans-serif".

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

static FONT: &[u8] = include_bytes!("../data/fonts/DejaVuSans.ttf");
const FONT_NAME: &str = "sans-serif";
const SIZE: (u32, u32) = (960, 600);

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FONT_NAME, FontStyle::Normal, FONT).is_err() {
            unreachable!("the embedded DejaVu Sans is valid TrueType");
        }
    });
}

/// A named series of (x, y) points for a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Title and axis labels of a chart, and whether each axis is logarithmic.
#[derive(Debug, Clone, Copy)]
pub struct Axes<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
    pub log_x: bool,
    pub log_y: bool,
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e}")
}

/// Renders the same drawing to `stem.png` and `stem.svg`, creating the directory.
macro_rules! render_both {
    ($stem:expr, $draw:ident, $($arg:expr),*) => {{
        register_font();
        let stem: &Path = $stem;
        if let Some(dir) = stem.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        // Each drawn to a temporary file and renamed over the chart when complete.
        let (png_temp, svg_temp) = (crate::output::temp_beside(&png), crate::output::temp_beside(&svg));
        let drawn = $draw(BitMapBackend::new(&png_temp, SIZE).into_drawing_area(), $($arg),*)
            .and_then(|()| $draw(SVGBackend::new(&svg_temp, SIZE).into_drawing_area(), $($arg),*));
        if let Err(e) = drawn {
            let _ = std::fs::remove_file(&png_temp);
            let _ = std::fs::remove_file(&svg_temp);
            return Err(e);
        }
        crate::output::commit_temp(&png_temp, &png)?;
        crate::output::commit_temp(&svg_temp, &svg)?;
        Ok(vec![png, svg])
    }};
}

/// Renders a drawing into an SVG string.
macro_rules! render_svg {
    ($draw:ident, $($arg:expr),*) => {{
        register_font();
        let mut text = String::new();
        $draw(SVGBackend::with_string(&mut text, SIZE).into_drawing_area(), $($arg),*)?;
        Ok(Svg(text))
    }};
}

/// An SVG drawing held in memory. Its `evcxr_display` method is the hook the evcxr Jupyter
/// kernel calls on a cell's final value, so a chart returned from a notebook cell is drawn
/// inline; `Display` gives the SVG text.
#[derive(Debug, Clone)]
pub struct Svg(pub String);

impl Svg {
    /// Sends the drawing to the notebook in evcxr's rich-output framing.
    pub fn evcxr_display(&self) {
        println!(
            "EVCXR_BEGIN_CONTENT image/svg+xml\n{}\nEVCXR_END_CONTENT",
            self.0
        );
    }
}

impl std::fmt::Display for Svg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The frame shared by the line and bar charts: title, margin and axis label areas.
fn chart_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, (FONT_NAME, 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80);
    builder
}

fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (if log { 0.1 } else { 0.0 }, 1.0);
    }
    if log {
        (lo / 1.5, hi * 1.5)
    } else {
        let pad = ((hi - lo) * 0.05).max(hi.abs() * 0.05).max(1e-9);
        ((lo - pad).min(0.0f64.max(lo - pad)), hi + pad)
    }
}

/// A line chart of several series; writes `stem.png` and `stem.svg`.
pub fn line_chart(stem: &Path, axes: Axes, series: &[Series]) -> anyhow::Result<Vec<PathBuf>> {
    render_both!(stem, draw_line_chart, axes, series)
}

/// [`line_chart`] as an in-memory SVG, e.g. to show inline in a notebook.
pub fn line_chart_svg(axes: Axes, series: &[Series]) -> anyhow::Result<Svg> {
    render_svg!(draw_line_chart, axes, series)
}

fn draw_line_chart<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    axes: Axes,
    series: &[Series],
) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(err)?;
    let xs = range(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
        axes.log_x,
    );
    let ys = range(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        axes.log_y,
    );
    let mut builder = chart_builder(&area, axes.title);
    // The four scale combinations are four coordinate types in plotters.
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart.map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(axes.x)
                .y_desc(axes.y)
                .label_style((FONT_NAME, 14))
                .draw()
                .map_err(err)?;
            for (i, s) in series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(err)?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FONT_NAME, 14))
                .draw()
                .map_err(err)?;
        }};
    }
    match (axes.log_x, axes.log_y) {
        (false, false) => body!(builder.build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)),
        (true, false) => {
            body!(builder.build_cartesian_2d((xs.0..xs.1).log_scale(), ys.0..ys.1))
        }
        (false, true) => {
            body!(builder.build_cartesian_2d(xs.0..xs.1, (ys.0..ys.1).log_scale()))
        }
        (true, true) => {
            body!(builder.build_cartesian_2d((xs.0..xs.1).log_scale(), (ys.0..ys.1).log_scale()))
        }
    }
    area.present().map_err(err)?;
    Ok(())
}

/// A bar chart, one bar per label; `axes.log_y` gives a log-scale value axis (for costs that
/// span orders of magnitude). Writes `stem.png` and `stem.svg`.
pub fn bar_chart(stem: &Path, axes: Axes, bars: &[(String, f64)]) -> anyhow::Result<Vec<PathBuf>> {
    render_both!(stem, draw_bar_chart, axes, bars)
}

/// [`bar_chart`] as an in-memory SVG.
pub fn bar_chart_svg(axes: Axes, bars: &[(String, f64)]) -> anyhow::Result<Svg> {
    render_svg!(draw_bar_chart, axes, bars)
}

fn draw_bar_chart<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    axes: Axes,
    bars: &[(String, f64)],
) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(err)?;
    let ys = range(bars.iter().map(|b| b.1), axes.log_y);
    let n = bars.len().max(1);
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let label_of = move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut builder = chart_builder(&area, axes.title);
    macro_rules! body {
        ($chart:expr, $base:expr) => {{
            let mut chart = $chart.map_err(err)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n)
                .x_label_formatter(&label_of)
                .x_desc(axes.x)
                .y_desc(axes.y)
                .label_style((FONT_NAME, 14))
                .draw()
                .map_err(err)?;
            for (i, (_, v)) in bars.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let x = i as f64;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.35, $base), (x + 0.35, *v)],
                        color.filled(),
                    )))
                    .map_err(err)?;
            }
        }};
    }
    let xr = -0.6..(n as f64 - 0.4);
    if axes.log_y {
        body!(
            builder.build_cartesian_2d(xr, (ys.0..ys.1).log_scale()),
            ys.0
        )
    } else {
        body!(builder.build_cartesian_2d(xr, 0.0..ys.1), 0.0)
    }
    area.present().map_err(err)?;
    Ok(())
}

/// A heatmap of a square matrix of weights in [0, 1] (row `i` = query `i`), with the row and
/// column labels (e.g. tokens). Writes `stem.png` and `stem.svg`.
pub fn heatmap(
    stem: &Path,
    title: &str,
    labels: &[String],
    values: &[Vec<f32>],
) -> anyhow::Result<Vec<PathBuf>> {
    check_square(labels, values)?;
    render_both!(stem, draw_heatmap, title, labels, values)
}

/// [`heatmap`] as an in-memory SVG.
pub fn heatmap_svg(title: &str, labels: &[String], values: &[Vec<f32>]) -> anyhow::Result<Svg> {
    check_square(labels, values)?;
    render_svg!(draw_heatmap, title, labels, values)
}

fn check_square(labels: &[String], values: &[Vec<f32>]) -> anyhow::Result<()> {
    if labels.is_empty()
        || values.len() != labels.len()
        || values.iter().any(|r| r.len() != labels.len())
    {
        anyhow::bail!(
            "heatmap needs a {0}×{0} matrix for {0} labels",
            labels.len()
        );
    }
    Ok(())
}

fn draw_heatmap<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    title: &str,
    labels: &[String],
    values: &[Vec<f32>],
) -> anyhow::Result<()> {
    use plotters::coord::ranged1d::SegmentValue;
    area.fill(&WHITE).map_err(err)?;
    let n = labels.len();
    // Row 0 is drawn at the top: plotters' y grows upwards, so rows are flipped.
    let label = |v: &SegmentValue<usize>, flip: bool| match v {
        SegmentValue::CenterOf(i) if *i < n => labels[if flip { n - 1 - i } else { *i }].clone(),
        _ => String::new(),
    };
    let mut chart = ChartBuilder::on(&area)
        .caption(title, (FONT_NAME, 22))
        .margin(16)
        .x_label_area_size(90)
        .y_label_area_size(110)
        .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented()) // inclusive ranges: n segments
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(n)
        .y_labels(n)
        .x_label_formatter(&|v| label(v, false))
        .y_label_formatter(&|v| label(v, true))
        .x_label_style(
            (FONT_NAME, 13)
                .into_font()
                .transform(FontTransform::Rotate90),
        )
        .y_label_style((FONT_NAME, 13))
        .x_desc("key (attended to)")
        .y_desc("query")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(values.iter().enumerate().flat_map(|(i, row)| {
            row.iter().enumerate().map(move |(j, &w)| {
                let y = n - 1 - i;
                let shade = (255.0 * (1.0 - w.clamp(0.0, 1.0))) as u8;
                Rectangle::new(
                    [
                        (SegmentValue::Exact(j), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(j + 1), SegmentValue::Exact(y + 1)),
                    ],
                    RGBColor(shade, shade, 255).filled(),
                )
            })
        }))
        .map_err(err)?;
    area.present().map_err(err)?;
    Ok(())
}

/// Where the report's charts go: `target/workbench/report/` beside the records.
pub fn report_dir() -> PathBuf {
    charts_dir_for(&crate::records::records_dir())
}

/// The `report/` folder beside a records folder.
pub fn charts_dir_for(records_dir: &Path) -> PathBuf {
    records_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("report"), |p| p.join("report"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_written_as_png_and_svg() {
        let dir = std::env::temp_dir().join(format!("wb-plot-{}", std::process::id()));
        let series = [
            Series {
                name: "a".into(),
                points: vec![(1.0, 1.0), (10.0, 5.0), (100.0, 7.0)],
            },
            Series {
                name: "b".into(),
                points: vec![(1.0, 2.0), (100.0, 3.0)],
            },
        ];
        let axes = Axes {
            title: "t",
            x: "x",
            y: "y",
            log_x: true,
            log_y: false,
        };
        let files = line_chart(&dir.join("line"), axes, &series).unwrap();
        let bars = [
            ("premium".to_string(), 3750.0),
            ("economy".to_string(), 21.0),
        ];
        let axes = Axes {
            title: "cost",
            x: "tier",
            y: "USD",
            log_x: false,
            log_y: true,
        };
        let more = bar_chart(&dir.join("bars"), axes, &bars).unwrap();
        let labels: Vec<String> = ["The", " cat", " sat"].map(String::from).to_vec();
        let weights = vec![
            vec![1.0, 0.0, 0.0],
            vec![0.5, 0.5, 0.0],
            vec![0.2, 0.3, 0.5],
        ];
        let more: Vec<PathBuf> = more
            .into_iter()
            .chain(heatmap(&dir.join("heat"), "w", &labels, &weights).unwrap())
            .collect();
        for f in files.iter().chain(&more) {
            assert!(
                std::fs::metadata(f).unwrap().len() > 1000,
                "{} is too small",
                f.display()
            );
        }
        let svg = std::fs::read_to_string(dir.join("bars.svg")).unwrap();
        assert!(svg.contains("premium"), "bar labels are drawn");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn in_memory_svg_is_framed_for_notebooks() {
        let axes = Axes {
            title: "tokens per second",
            x: "context",
            y: "tok/s",
            log_x: false,
            log_y: false,
        };
        let series = [Series {
            name: "cached".into(),
            points: vec![(1.0, 10.0), (2.0, 9.0)],
        }];
        let svg = line_chart_svg(axes, &series).unwrap();
        assert!(svg.0.starts_with("<svg") && svg.0.trim_end().ends_with("</svg>"));
        assert!(svg.0.contains("tokens per second") && svg.0.contains("cached"));
        let labels: Vec<String> = ["a", "b"].map(String::from).to_vec();
        assert!(
            heatmap_svg("w", &labels, &[vec![1.0, 0.0]]).is_err(),
            "not square"
        );
    }
}
