//! Charts for the report and the lessons, drawn with plotters as both PNG and SVG.
//!
//! Text needs a font that travels with the binary (no system font lookup), so DejaVu Sans is
//! embedded and registered once as "sans-serif". Text is measured with it, so label areas fit
//! their labels, long bar labels wrap, crowded ticks are thinned and a legend goes where the data
//! leave room. How an axis writes its numbers (bytes in KiB/MiB, dollars as `$1,000`, seconds
//! as `5 ms`, counts as whole numbers) is inferred from its label and data: [`Unit::infer`].

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

mod ticks;
pub use ticks::*;
use ticks::{exact_decimals, tick_label};

static FONT: &[u8] = include_bytes!("../../data/fonts/DejaVuSans.ttf");
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

/// One axis: its unit, range, ticks and lighter grid lines.
#[derive(Debug, Clone)]
struct Scale {
    unit: Unit,
    log: bool,
    binary: bool,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    minor: Vec<f64>,
    /// Decimals shared by every tick of a linear axis; `None` on a log axis (each tick its own).
    decimals: Option<usize>,
}

impl Scale {
    fn new(unit: Unit, log: bool, binary: bool, (lo, hi): (f64, f64)) -> Scale {
        let (ticks, minor) = if log {
            log_ticks(lo, hi, unit, binary)
        } else {
            let ticks = linear_ticks(lo, hi, unit);
            let minor = match ticks.as_slice() {
                [a, b, ..] if unit != Unit::Count || b - a >= 2.0 => {
                    let half = (b - a) / 2.0;
                    std::iter::once(a - half)
                        .chain(ticks.iter().map(|t| t + half))
                        .filter(|v| *v > lo && *v < hi)
                        .collect()
                }
                _ => Vec::new(),
            };
            (ticks, minor)
        };
        let decimals = (!log).then(|| ticks.iter().map(|t| exact_decimals(*t)).max().unwrap_or(0));
        Scale {
            unit,
            log,
            binary,
            lo,
            hi,
            ticks,
            minor,
            decimals,
        }
    }

    /// The same axis up to `hi`.
    fn with_hi(&self, hi: f64) -> Scale {
        Scale::new(self.unit, self.log, self.binary, (self.lo, hi))
    }

    fn label(&self, v: f64) -> String {
        tick_label(self.unit, v, self.decimals)
    }

    /// Where `v` falls along the axis, from 0 (low end) to 1 (high end).
    fn frac(&self, v: f64) -> f64 {
        if self.log {
            (v.max(1e-300).ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    /// The top that puts `v` at fraction `at` of the axis.
    fn hi_placing(&self, v: f64, at: f64) -> f64 {
        if self.log {
            (self.lo.ln() + (v.ln() - self.lo.ln()) / at).exp()
        } else {
            self.lo + (v - self.lo) / at
        }
    }

    /// Keeps every k-th tick so that no two labels overlap; the dropped ticks become grid lines.
    /// `size` is a label's extent along the axis, `length` the axis's in pixels.
    fn thin(&mut self, length: f64, size: impl Fn(&str) -> f64) {
        let positions: Vec<f64> = self.ticks.iter().map(|t| self.frac(*t) * length).collect();
        let sizes: Vec<f64> = self.ticks.iter().map(|t| size(&self.label(*t))).collect();
        let k = thinning(&positions, &sizes, 12.0);
        if k > 1 {
            // Of the k ways to keep every k-th tick, the one with the most powers of ten.
            let round = |t: &f64| t.abs().log10().fract().abs() < 1e-9;
            let offset = (0..k)
                .max_by_key(|o| {
                    let n = self
                        .ticks
                        .iter()
                        .skip(*o)
                        .step_by(k)
                        .filter(|t| round(t))
                        .count();
                    (n, usize::MAX - o)
                })
                .unwrap_or(0);
            let keep = |i: usize| i >= offset && (i - offset).is_multiple_of(k);
            let ticks = std::mem::take(&mut self.ticks);
            for (i, t) in ticks.into_iter().enumerate() {
                if keep(i) {
                    self.ticks.push(t);
                } else {
                    self.minor.push(t);
                }
            }
        }
    }
}

/// A scale is the plotters coordinate of its axis: plotters maps values through it and draws
/// its ticks (bold grid lines) and minor ticks (light ones).
impl Ranged for Scale {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = self.frac(*value);
        let f = if f.is_finite() {
            f.clamp(-10.0, 10.0)
        } else {
            0.0
        };
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Whether a log axis is better ticked at powers of two: bytes, or whole numbers that are all
/// powers of two (context lengths, batch sizes).
fn binary_axis(unit: Unit, values: &[f64]) -> bool {
    let powers: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    unit == Unit::Bytes
        || (unit == Unit::Count
            && powers.iter().all(|v| v.log2().fract() == 0.0)
            && powers.iter().any(|v| *v != powers[0]))
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

// ---------------------------------------------------------------------------------------------
// Layout: text is measured with the embedded font, so the label areas are as wide as their
// labels and the title fits the width.
// ---------------------------------------------------------------------------------------------

const MARGIN: u32 = 16;
const LABEL_FONT: f64 = 14.0;
const DESC_FONT: f64 = 15.0;
const LEGEND_FONT: f64 = 14.0;
const TICK: i32 = 5;

fn style(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT_NAME, size).into_font())
}

/// Width and height of `text` in pixels at font size `size`.
fn text_size<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: f64,
) -> (f64, f64) {
    area.estimate_text_size(text, &style(size))
        .map(|(w, h)| (w as f64, h as f64))
        .unwrap_or((text.chars().count() as f64 * size * 0.6, size * 1.2))
}

/// The outer frame of a chart: the title's font size, label areas, and the plot's size.
#[derive(Debug, Clone, Copy)]
struct Frame {
    title_size: f64,
    x_area: u32,
    y_area: u32,
    plot_w: f64,
    plot_h: f64,
}

impl Frame {
    fn new<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        title: &str,
        x_area: u32,
        y_labels: &[String],
        y_desc: &str,
    ) -> Frame {
        let (w, h) = area.dim_in_pixel();
        let fit = w as f64 - 2.0 * MARGIN as f64 - 8.0;
        let title_size = (14..=24)
            .rev()
            .map(f64::from)
            .find(|s| text_size(area, title, *s).0 <= fit)
            .unwrap_or(14.0);
        let th = text_size(area, title, title_size).1;
        let caption_h = th + 2.0 * (th / 2.0).min(5.0).floor();
        let widest = y_labels
            .iter()
            .map(|l| text_size(area, l, LABEL_FONT).0)
            .fold(0.0, f64::max);
        let desc_h = if y_desc.is_empty() {
            0.0
        } else {
            text_size(area, y_desc, DESC_FONT).1 + 8.0
        };
        let y_area = (2.0 * TICK as f64 + widest + 6.0 + desc_h).ceil() as u32;
        Frame {
            title_size,
            x_area,
            y_area,
            plot_w: w as f64 - 2.0 * MARGIN as f64 - y_area as f64,
            plot_h: h as f64 - 2.0 * MARGIN as f64 - caption_h - x_area as f64,
        }
    }

    fn builder<'a, 'b, DB: DrawingBackend>(
        &self,
        area: &'a DrawingArea<DB, Shift>,
        title: &str,
    ) -> ChartBuilder<'a, 'b, DB> {
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(title, (FONT_NAME, self.title_size))
            .margin(MARGIN)
            .x_label_area_size(self.x_area)
            .y_label_area_size(self.y_area);
        builder
    }
}

/// Height of the x label area: a row of tick labels (`lines` of them for bar labels) and the
/// axis description.
fn x_area_for<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: usize,
    font: f64,
    x_desc: &str,
) -> u32 {
    let line_h = text_size(area, "Ag", font).1 + 2.0;
    let desc_h = if x_desc.is_empty() {
        0.0
    } else {
        text_size(area, x_desc, DESC_FONT).1 + 6.0
    };
    (2.0 * TICK as f64 + lines as f64 * line_h + 6.0 + desc_h).ceil() as u32
}

/// A corner of the plot for the legend box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Corner {
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
    MiddleRight,
    MiddleLeft,
    UpperMiddle,
}

impl Corner {
    fn position(self) -> SeriesLabelPosition {
        match self {
            Corner::UpperRight => SeriesLabelPosition::UpperRight,
            Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
            Corner::LowerRight => SeriesLabelPosition::LowerRight,
            Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            Corner::MiddleRight => SeriesLabelPosition::MiddleRight,
            Corner::MiddleLeft => SeriesLabelPosition::MiddleLeft,
            Corner::UpperMiddle => SeriesLabelPosition::UpperMiddle,
        }
    }

    /// The box (x0, x1, y0, y1), as fractions of the plot with y upwards, of a `w` × `h` legend
    /// placed `pad` in from the edges.
    fn rect(self, w: f64, h: f64, (px, py): (f64, f64)) -> (f64, f64, f64, f64) {
        let x = match self {
            Corner::UpperLeft | Corner::LowerLeft | Corner::MiddleLeft => px,
            Corner::UpperMiddle => (1.0 - w) / 2.0,
            _ => 1.0 - px - w,
        };
        let y = match self {
            Corner::LowerRight | Corner::LowerLeft => py,
            Corner::MiddleRight | Corner::MiddleLeft => (1.0 - h) / 2.0,
            _ => 1.0 - py - h,
        };
        (x, x + w, y, y + h)
    }
}

/// The legend box of a chart's labelled series, in `corner`.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    corner: Corner,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(corner.position())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT_NAME, LEGEND_FONT))
        .draw()
        .map_err(err)
}

/// Of the `corners`, the first where a `w` × `h` box (fractions of the plot) covers the fewest
/// `points` (fractions, y upwards); with how many it covers.
fn legend_corner(
    points: &[(f64, f64)],
    w: f64,
    h: f64,
    pad: (f64, f64),
    corners: &[Corner],
) -> (Corner, usize) {
    let margin = 0.01;
    corners
        .iter()
        .map(|&c| {
            let (x0, x1, y0, y1) = c.rect(w, h, pad);
            let covered = points
                .iter()
                .filter(|(x, y)| {
                    *x >= x0 - margin && *x <= x1 + margin && *y >= y0 - margin && *y <= y1 + margin
                })
                .count();
            (c, covered)
        })
        .min_by_key(|(_, covered)| *covered)
        .unwrap_or((Corner::UpperRight, 0))
}

/// Points along a polyline (fractions of the plot), close enough together that a legend box
/// over the line covers some of them.
fn sample_polyline(points: &[(f64, f64)], out: &mut Vec<(f64, f64)>) {
    if let [p] = points {
        out.push(*p);
    }
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let steps = ((b.0 - a.0).hypot(b.1 - a.1) * 200.0)
            .ceil()
            .clamp(1.0, 400.0) as usize;
        out.extend((0..=steps).map(|i| {
            let t = i as f64 / steps as f64;
            (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
        }));
    }
}

/// Width and height in pixels of the legend box plotters draws for these names.
fn legend_size<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, names: &[&str]) -> (f64, f64) {
    let widest = names
        .iter()
        .map(|n| text_size(area, n, LEGEND_FONT).0)
        .fold(0.0, f64::max);
    let line_h = text_size(area, "Ag", LEGEND_FONT).1 * 1.25;
    (widest + 30.0 + 20.0, names.len() as f64 * line_h + 20.0)
}

// ---------------------------------------------------------------------------------------------
// Line charts
// ---------------------------------------------------------------------------------------------

/// A line chart of several series; writes `stem.png` and `stem.svg`.
pub fn line_chart(stem: &Path, axes: Axes, series: &[Series]) -> anyhow::Result<Vec<PathBuf>> {
    render_both!(stem, draw_line_chart, axes, series)
}

/// [`line_chart`] as an in-memory SVG, e.g. to show inline in a notebook.
pub fn line_chart_svg(axes: Axes, series: &[Series]) -> anyhow::Result<Svg> {
    render_svg!(draw_line_chart, axes, series)
}

/// The x and y scales of a line chart, before the legend is placed.
fn line_scales(axes: &Axes, series: &[Series]) -> (Scale, Scale) {
    let visible = |v: &f64, log: bool| v.is_finite() && (!log || *v > 0.0);
    let xs: Vec<f64> = (series.iter().flat_map(|s| s.points.iter().map(|p| p.0)))
        .filter(|v| visible(v, axes.log_x))
        .collect();
    let ys: Vec<f64> = (series.iter().flat_map(|s| s.points.iter().map(|p| p.1)))
        .filter(|v| visible(v, axes.log_y))
        .collect();
    let (xu, yu) = (Unit::infer(axes.x, &xs), Unit::infer(axes.y, &ys));
    (
        Scale::new(
            xu,
            axes.log_x,
            binary_axis(xu, &xs),
            range(xs.iter().copied(), axes.log_x),
        ),
        Scale::new(
            yu,
            axes.log_y,
            binary_axis(yu, &ys),
            range(ys.iter().copied(), axes.log_y),
        ),
    )
}

fn draw_line_chart<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    axes: Axes,
    series: &[Series],
) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(err)?;
    let (mut xs, mut ys) = line_scales(&axes, series);
    // Points a log axis cannot show are left out.
    let shown = |p: &&(f64, f64)| {
        p.0.is_finite()
            && p.1.is_finite()
            && (!axes.log_x || p.0 > 0.0)
            && (!axes.log_y || p.1 > 0.0)
    };
    let x_area = x_area_for(&area, 1, LABEL_FONT, axes.x);
    let labels = |s: &Scale| s.ticks.iter().map(|t| s.label(*t)).collect::<Vec<_>>();
    let mut frame = Frame::new(&area, axes.title, x_area, &labels(&ys), axes.y);
    // The legend goes where the lines leave room for it; if nowhere, the y axis grows upwards
    // until the lines pass under it.
    let names: Vec<&str> = (series.iter().map(|s| s.name.as_str()))
        .filter(|n| !n.is_empty())
        .collect();
    let (lw, lh) = legend_size(&area, &names);
    let mut corner = Corner::UpperRight;
    if !names.is_empty() {
        let samples = |xs: &Scale, ys: &Scale| {
            let mut out = Vec::new();
            for s in series {
                let pts: Vec<(f64, f64)> = (s.points.iter().filter(shown))
                    .map(|p| (xs.frac(p.0), ys.frac(p.1)))
                    .collect();
                sample_polyline(&pts, &mut out);
            }
            out
        };
        let fit = |f: &Frame| {
            (
                lw / f.plot_w,
                lh / f.plot_h,
                (5.0 / f.plot_w, 5.0 / f.plot_h),
            )
        };
        let (w, h, pad) = fit(&frame);
        let all = [
            Corner::UpperRight,
            Corner::UpperLeft,
            Corner::LowerRight,
            Corner::LowerLeft,
            Corner::MiddleRight,
            Corner::MiddleLeft,
        ];
        let (best, covered) = legend_corner(&samples(&xs, &ys), w, h, pad, &all);
        corner = best;
        if covered > 0 {
            let top = (series.iter().flat_map(|s| s.points.iter().filter(shown)))
                .map(|p| p.1)
                .fold(f64::NEG_INFINITY, f64::max);
            let below = (1.0 - h - 2.0 * pad.1 - 0.02).max(0.5);
            ys = ys.with_hi(ys.hi.max(ys.hi_placing(top, below)));
            frame = Frame::new(&area, axes.title, x_area, &labels(&ys), axes.y);
            let (w, h, pad) = fit(&frame);
            let upper = [Corner::UpperRight, Corner::UpperLeft, Corner::UpperMiddle];
            corner = legend_corner(&samples(&xs, &ys), w, h, pad, &upper).0;
        }
    }
    xs.thin(frame.plot_w, |l| text_size(&area, l, LABEL_FONT).0);
    ys.thin(frame.plot_h, |l| text_size(&area, l, LABEL_FONT).1);
    let (x_fmt, y_fmt) = (|v: &f64| xs.label(*v), |v: &f64| ys.label(*v));
    let mut chart = frame
        .builder(&area, axes.title)
        .build_cartesian_2d(xs.clone(), ys.clone())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(axes.x)
        .y_desc(axes.y)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT_NAME, LABEL_FONT))
        .axis_desc_style((FONT_NAME, DESC_FONT))
        .set_all_tick_mark_size(TICK)
        .draw()
        .map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = s.points.iter().filter(shown).copied().collect();
        let drawn = chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?;
        if !s.name.is_empty() {
            drawn.label(s.name.as_str()).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        // Markers show where the measurements are; a dense curve is clearer without.
        if points.len() <= 60 {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
    }
    if !names.is_empty() {
        draw_legend(&mut chart, corner)?;
    }
    area.present().map_err(err)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Bar charts
// ---------------------------------------------------------------------------------------------

/// A bar chart, one bar per label, each bar with its value printed above it (written as the
/// y axis writes numbers); `axes.log_y` gives a log-scale value axis (for costs that span
/// orders of magnitude). Long labels are wrapped, set smaller, or (with many bars) shown for
/// every few bars only. Writes `stem.png` and `stem.svg`.
pub fn bar_chart(stem: &Path, axes: Axes, bars: &[(String, f64)]) -> anyhow::Result<Vec<PathBuf>> {
    let lines: &[(String, f64)] = &[];
    render_both!(stem, draw_bar_chart, axes, bars, lines)
}

/// [`bar_chart`] as an in-memory SVG.
pub fn bar_chart_svg(axes: Axes, bars: &[(String, f64)]) -> anyhow::Result<Svg> {
    let lines: &[(String, f64)] = &[];
    render_svg!(draw_bar_chart, axes, bars, lines)
}

/// [`bar_chart`] with horizontal reference lines across the bars, each named in a legend:
/// e.g. an MoE layer's per-expert capacity and the fair share of a perfectly balanced router.
/// Writes `stem.png` and `stem.svg`.
pub fn bar_chart_with_lines(
    stem: &Path,
    axes: Axes,
    bars: &[(String, f64)],
    lines: &[(String, f64)],
) -> anyhow::Result<Vec<PathBuf>> {
    render_both!(stem, draw_bar_chart, axes, bars, lines)
}

/// [`bar_chart_with_lines`] as an in-memory SVG.
pub fn bar_chart_with_lines_svg(
    axes: Axes,
    bars: &[(String, f64)],
    lines: &[(String, f64)],
) -> anyhow::Result<Svg> {
    render_svg!(draw_bar_chart, axes, bars, lines)
}

/// How the bars' labels are set: font size, and each label's lines (none for a label left out
/// because there are too many bars to label them all).
struct BarLabels {
    font: f64,
    lines: Vec<Vec<String>>,
}

impl BarLabels {
    /// The largest font, fewest lines and fewest skipped labels that fit `slot` pixels a bar.
    fn fit<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        labels: &[String],
        slot: f64,
    ) -> BarLabels {
        let n = labels.len();
        let tries: [(usize, f64); 8] = [
            (1, 14.0),
            (1, 13.0),
            (1, 12.0),
            (2, 14.0),
            (2, 12.0),
            (3, 13.0),
            (3, 11.0),
            (3, 10.0),
        ];
        let everies = [
            1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 256, 500, 1000,
        ];
        for every in everies
            .into_iter()
            .filter(|k| *k < n.max(2))
            .chain([n.max(1)])
        {
            let room = every as f64 * slot - 8.0;
            for (max_lines, font) in tries {
                let fits = |s: &str| text_size(area, s, font).0 <= room;
                let wrapped: Option<Vec<Vec<String>>> = labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        if i % every == 0 {
                            wrap_label(l, fits, max_lines)
                        } else {
                            Some(Vec::new())
                        }
                    })
                    .collect();
                if let Some(lines) = wrapped {
                    return BarLabels { font, lines };
                }
            }
        }
        // Nothing fits (a single very long word): the labels as they are, one line each.
        BarLabels {
            font: 10.0,
            lines: labels.iter().map(|l| vec![l.clone()]).collect(),
        }
    }

    fn rows(&self) -> usize {
        self.lines.iter().map(Vec::len).max().unwrap_or(1).max(1)
    }
}

/// Colours of the reference lines, in order.
const LINE_COLORS: [RGBColor; 4] = [
    RGBColor(200, 30, 30),
    RGBColor(30, 30, 30),
    RGBColor(230, 120, 0),
    RGBColor(40, 90, 200),
];

fn draw_bar_chart<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    axes: Axes,
    bars: &[(String, f64)],
    lines: &[(String, f64)],
) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(err)?;
    let n = bars.len().max(1);
    let values: Vec<f64> = bars.iter().map(|b| b.1).collect();
    let unit = Unit::infer(axes.y, &values);
    let all = values.iter().chain(lines.iter().map(|l| &l.1)).copied();
    let (lo, hi) = if axes.log_y {
        range(all, true)
    } else {
        let (lo, hi) = all
            .filter(|v| v.is_finite())
            .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        (lo, if hi > lo { hi } else { lo + 1.0 })
    };
    let mut ys = Scale::new(unit, axes.log_y, binary_axis(unit, &values), (lo, hi));
    let visible = |v: f64| v.is_finite() && (!axes.log_y || v > 0.0);
    let top_of = |v: f64| if visible(v) { v.max(lo) } else { lo };
    let tick_labels = |s: &Scale| s.ticks.iter().map(|t| s.label(*t)).collect::<Vec<_>>();
    let value_labels: Vec<String> = values.iter().map(|v| format_value(unit, *v)).collect();
    let names: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
    let (lw, lh) = legend_size(&area, &names);
    // The layout settles in two rounds: the y labels' width decides the bars' width, which
    // decides how the x labels are set, which decides the plot's height and so the headroom
    // the values (and legend) need above the bars, which may change the y labels.
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let mut frame = Frame::new(&area, axes.title, 60, &tick_labels(&ys), axes.y);
    let mut x_labels = BarLabels::fit(&area, &labels, frame.plot_w / (n as f64 + 0.2));
    let mut value_font = None;
    let mut corner = Corner::UpperRight;
    for _ in 0..2 {
        let slot = frame.plot_w / (n as f64 + 0.2);
        x_labels = BarLabels::fit(&area, &labels, slot);
        let x_area = x_area_for(&area, x_labels.rows(), x_labels.font, axes.x);
        frame = Frame::new(&area, axes.title, x_area, &tick_labels(&ys), axes.y);
        let slot = frame.plot_w / (n as f64 + 0.2);
        // Values: the largest font at which each fits its bar's slot, written across; when
        // none does, written upwards (as tall as the widest value); none when even that fails.
        let across = [13.0, 12.0, 11.0, 10.0, 9.0].into_iter().find(|f| {
            value_labels
                .iter()
                .all(|l| text_size(&area, l, *f).0 <= slot * 0.95)
        });
        let upwards = [12.0, 11.0, 10.0, 9.0, 8.0]
            .into_iter()
            .find(|f| text_size(&area, "0", *f).1 <= slot * 0.95);
        value_font = across.map(|f| (f, false)).or(upwards.map(|f| (f, true)));
        let value_h = value_font.map_or(0.0, |(f, up)| {
            let h = if up {
                (value_labels.iter())
                    .map(|l| text_size(&area, l, f).0)
                    .fold(0.0, f64::max)
            } else {
                text_size(&area, "0", f).1
            };
            (h + 6.0) / frame.plot_h
        });
        let base = Scale::new(unit, axes.log_y, ys.binary, (lo, hi));
        let mut top = hi;
        // Room above every bar for its value.
        let fill = 0.97;
        for v in values.iter().copied().filter(|v| visible(*v)) {
            top = top.max(base.hi_placing(v, fill - value_h));
        }
        // And below the top for every reference line.
        for l in lines.iter().map(|l| l.1).filter(|v| visible(*v)) {
            top = top.max(base.hi_placing(l, fill));
        }
        ys = base.with_hi(top);
        if !lines.is_empty() {
            let (w, h, pad) = (
                lw / frame.plot_w,
                lh / frame.plot_h,
                (5.0 / frame.plot_w, 5.0 / frame.plot_h),
            );
            let obstacles = |s: &Scale| {
                let mut pts = Vec::new();
                let xf = |x: f64| (x + 0.6) / (n as f64 + 0.2);
                for (i, v) in values.iter().enumerate() {
                    let t = s.frac(top_of(*v)) + value_h;
                    for j in 0..=6 {
                        let x = xf(i as f64 - 0.4 + 0.8 * j as f64 / 6.0);
                        let mut y = t;
                        while y > 0.0 {
                            pts.push((x, y));
                            y -= 0.02;
                        }
                    }
                }
                for (_, l) in lines.iter().filter(|l| visible(l.1)) {
                    pts.extend((0..=100).map(|j| (j as f64 / 100.0, s.frac(*l))));
                }
                pts
            };
            let upper = [Corner::UpperRight, Corner::UpperLeft, Corner::UpperMiddle];
            let (best, covered) = legend_corner(&obstacles(&ys), w, h, pad, &upper);
            corner = best;
            if covered > 0 {
                let below = (1.0 - h - 2.0 * pad.1 - 0.02).max(0.4);
                for v in values.iter().copied().filter(|v| visible(*v)) {
                    top = top.max(base.hi_placing(v, below - value_h));
                }
                for l in lines.iter().map(|l| l.1).filter(|v| visible(*v)) {
                    top = top.max(base.hi_placing(l, below));
                }
                ys = base.with_hi(top);
                corner = legend_corner(&obstacles(&ys), w, h, pad, &upper).0;
            }
        }
        frame = Frame::new(&area, axes.title, x_area, &tick_labels(&ys), axes.y);
    }
    ys.thin(frame.plot_h, |l| text_size(&area, l, LABEL_FONT).1);
    let y_fmt = |v: &f64| ys.label(*v);
    let single_color = n > 12 || !lines.is_empty();
    let xs = Scale {
        unit: Unit::Plain,
        log: false,
        binary: false,
        lo: -0.6,
        hi: n as f64 - 0.4,
        ticks: Vec::new(),
        minor: Vec::new(),
        decimals: None,
    };
    let mut chart = frame
        .builder(&area, axes.title)
        .build_cartesian_2d(xs, ys.clone())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(axes.x)
        .y_desc(axes.y)
        .y_label_formatter(&y_fmt)
        .label_style((FONT_NAME, LABEL_FONT))
        .axis_desc_style((FONT_NAME, DESC_FONT))
        .set_all_tick_mark_size(TICK)
        .draw()
        .map_err(err)?;
    for (i, (_, v)) in bars.iter().enumerate() {
        let color = if single_color {
            RGBColor(70, 130, 180).to_rgba()
        } else {
            Palette99::pick(i).to_rgba()
        };
        let x = i as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x - 0.35, lo), (x + 0.35, top_of(*v))],
                color.filled(),
            )))
            .map_err(err)?;
    }
    for (i, (name, v)) in lines.iter().enumerate().filter(|(_, l)| visible(l.1)) {
        let style = LINE_COLORS[i % LINE_COLORS.len()].stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                [(-0.6, *v), (n as f64 - 0.4, *v)],
                10,
                6,
                style,
            ))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
    }
    // Values above the bars, labels under them, placed in pixels.
    let line_h = text_size(&area, "Ag", x_labels.font).1 as i32 + 2;
    for (i, (_, v)) in bars.iter().enumerate() {
        let (px, top) = chart.backend_coord(&(i as f64, top_of(*v)));
        let (_, bottom) = chart.backend_coord(&(i as f64, lo));
        if let Some((font, up)) = value_font {
            // On a white ground, so that a reference line does not strike the value through.
            let (w, h) = text_size(&area, &value_labels[i], font);
            let (w, h) = if up { (h, w) } else { (w, h) };
            let (w, h) = ((w / 2.0).ceil() as i32 + 1, h.ceil() as i32);
            area.draw(&Rectangle::new(
                [(px - w, top - 3 - h), (px + w, top - 2)],
                WHITE.mix(0.85).filled(),
            ))
            .map_err(err)?;
            let text = if up {
                style(font)
                    .transform(FontTransform::Rotate270)
                    .pos(Pos::new(HPos::Left, VPos::Center))
            } else {
                style(font).pos(Pos::new(HPos::Center, VPos::Bottom))
            };
            area.draw_text(&value_labels[i], &text, (px, top - 3))
                .map_err(err)?;
        }
        if x_labels.lines[i].is_empty() {
            continue;
        }
        area.draw(&PathElement::new(
            [(px, bottom), (px, bottom + TICK)],
            BLACK,
        ))
        .map_err(err)?;
        for (j, text) in x_labels.lines[i].iter().enumerate() {
            area.draw_text(
                text,
                &style(x_labels.font).pos(Pos::new(HPos::Center, VPos::Top)),
                (px, bottom + 2 * TICK + j as i32 * line_h),
            )
            .map_err(err)?;
        }
    }
    if !lines.is_empty() {
        draw_legend(&mut chart, corner)?;
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

/// A chart as a value: what to draw, drawn either to `stem.png` + `stem.svg` in a folder
/// ([`Chart::write`]) or to an SVG string ([`Chart::svg`], for the HTML report and notebooks),
/// so one description serves both.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File name without extension.
    pub stem: String,
    pub title: String,
    pub x: String,
    pub y: String,
    pub log_x: bool,
    pub log_y: bool,
    pub kind: ChartKind,
}

/// The drawing a [`Chart`] holds.
#[derive(Debug, Clone)]
pub enum ChartKind {
    Line(Vec<Series>),
    Bar(Vec<(String, f64)>),
}

impl Chart {
    /// A line chart; `log` is (x, y).
    pub fn line(
        stem: &str,
        title: &str,
        x: &str,
        y: &str,
        log: (bool, bool),
        series: Vec<Series>,
    ) -> Chart {
        Chart {
            stem: stem.into(),
            title: title.into(),
            x: x.into(),
            y: y.into(),
            log_x: log.0,
            log_y: log.1,
            kind: ChartKind::Line(series),
        }
    }

    /// A bar chart, one bar per label; `log_y` for values spanning orders of magnitude.
    pub fn bar(
        stem: &str,
        title: &str,
        x: &str,
        y: &str,
        log_y: bool,
        bars: Vec<(String, f64)>,
    ) -> Chart {
        Chart {
            stem: stem.into(),
            title: title.into(),
            x: x.into(),
            y: y.into(),
            log_x: false,
            log_y,
            kind: ChartKind::Bar(bars),
        }
    }

    fn axes(&self) -> Axes<'_> {
        Axes {
            title: &self.title,
            x: &self.x,
            y: &self.y,
            log_x: self.log_x,
            log_y: self.log_y,
        }
    }

    /// Writes `dir/stem.png` and `dir/stem.svg`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let stem = dir.join(&self.stem);
        match &self.kind {
            ChartKind::Line(series) => line_chart(&stem, self.axes(), series),
            ChartKind::Bar(bars) => bar_chart(&stem, self.axes(), bars),
        }
    }

    /// The chart as an SVG document.
    pub fn svg(&self) -> anyhow::Result<Svg> {
        match &self.kind {
            ChartKind::Line(series) => line_chart_svg(self.axes(), series),
            ChartKind::Bar(bars) => bar_chart_svg(self.axes(), bars),
        }
    }
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

    #[test]
    fn the_legend_goes_where_the_lines_are_not() {
        // A line rising from lower left to upper right leaves the upper left free.
        let mut points = Vec::new();
        sample_polyline(&[(0.0, 0.0), (1.0, 1.0)], &mut points);
        let all = [Corner::UpperRight, Corner::UpperLeft, Corner::LowerRight];
        assert_eq!(
            legend_corner(&points, 0.3, 0.2, (0.01, 0.01), &all),
            (Corner::UpperLeft, 0)
        );
        // A flat line near the top: the lower right.
        let mut points = Vec::new();
        sample_polyline(&[(0.0, 0.9), (1.0, 0.9)], &mut points);
        assert_eq!(
            legend_corner(&points, 0.3, 0.2, (0.01, 0.01), &all).0,
            Corner::LowerRight
        );
    }

    /// The text of every `<text>` element of an SVG drawing.
    fn svg_texts(svg: &str) -> Vec<String> {
        svg.split("</text>")
            .filter_map(|chunk| chunk.rsplit_once("<text").map(|(_, t)| t))
            .filter_map(|t| t.split_once('>').map(|(_, body)| body.trim().to_string()))
            .collect()
    }

    #[test]
    fn line_charts_write_humane_ticks() {
        // The chapter 05 chart that printed "5000.06000.0": context lengths on a log axis.
        let axes = Axes {
            title: "decode time per token",
            x: "context_tokens",
            y: "seconds",
            log_x: true,
            log_y: true,
        };
        let series = [Series {
            name: "MHA kv=8".into(),
            points: vec![(256.0, 0.006), (1024.0, 0.008), (4096.0, 0.017)],
        }];
        let texts = svg_texts(&line_chart_svg(axes, &series).unwrap().0);
        for t in ["256", "1,024", "4,096", "5 ms", "10 ms"] {
            assert!(texts.contains(&t.to_string()), "{t} in {texts:?}");
        }
        assert!(!texts.iter().any(|t| t.contains(".0")), "{texts:?}");
        let axes = Axes {
            title: "peak bytes",
            x: "seq",
            y: "bytes",
            log_x: true,
            log_y: true,
        };
        let series = [Series {
            name: "fused".into(),
            points: vec![(64.0, 3e5), (2048.0, 8e6)],
        }];
        let texts = svg_texts(&line_chart_svg(axes, &series).unwrap().0);
        assert!(texts.contains(&"1 MiB".to_string()), "{texts:?}");
        assert!(!texts.iter().any(|t| t.contains("00000")), "{texts:?}");
    }

    #[test]
    fn empty_and_degenerate_data_still_draw() {
        let axes = Axes {
            title: "t",
            x: "x",
            y: "peak bytes",
            log_x: true,
            log_y: true,
        };
        assert!(line_chart_svg(axes, &[]).is_ok());
        assert!(bar_chart_svg(axes, &[]).is_ok());
        let one = [Series {
            name: "one point".into(),
            points: vec![(1024.0, 4096.0), (f64::NAN, 1.0), (0.0, 0.0)],
        }];
        assert!(line_chart_svg(axes, &one).is_ok());
        let bars = [("a".to_string(), 0.0), ("b".to_string(), f64::NAN)];
        assert!(bar_chart_with_lines_svg(axes, &bars, &[("cap".into(), 5.0)]).is_ok());
        let linear = Axes {
            log_x: false,
            log_y: false,
            ..axes
        };
        assert!(bar_chart_svg(linear, &bars).is_ok());
    }

    #[test]
    fn bars_carry_their_values_and_reference_lines() {
        let axes = Axes {
            title: "cost by tier",
            x: "tier",
            y: "USD (log scale)",
            log_x: false,
            log_y: true,
        };
        let bars = [
            ("premium".to_string(), 3750.0),
            ("open-weight-economy".to_string(), 21.0),
        ];
        let texts = svg_texts(&bar_chart_svg(axes, &bars).unwrap().0);
        for t in ["$3,750", "$21", "$1,000", "$100", "premium"] {
            assert!(texts.contains(&t.to_string()), "{t} in {texts:?}");
        }
        let axes = Axes {
            title: "tokens per expert",
            x: "expert",
            y: "token assignments",
            log_x: false,
            log_y: false,
        };
        let bars: Vec<(String, f64)> = (0..8).map(|e| (e.to_string(), 500.0 + e as f64)).collect();
        let lines = [
            ("capacity: 640".to_string(), 640.0),
            ("fair share: 512".to_string(), 512.0),
        ];
        let svg = bar_chart_with_lines_svg(axes, &bars, &lines).unwrap().0;
        let texts = svg_texts(&svg);
        assert!(texts.contains(&"capacity: 640".to_string()), "{texts:?}");
        assert!(texts.contains(&"fair share: 512".to_string()), "{texts:?}");
        assert!(
            texts.contains(&"507".to_string()),
            "value on the last bar: {texts:?}"
        );
        assert!(texts.contains(&"200".to_string()), "a tick: {texts:?}");
        assert!(
            !texts.iter().any(|t| t.ends_with(".0")),
            "counts are whole numbers: {texts:?}"
        );
    }
}
