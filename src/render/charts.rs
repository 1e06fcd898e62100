//! Charts as inline SVG, drawn by the `plotters` crate: time series (one line per series) and bar
//! charts (one bar per series and category), with a title, axes with units, a legend, and hover
//! text on every mark (a `<title>` added to the marks plotters drew, in drawing order).
//!
//! The y ticks are chosen here (round steps, whole ones on count axes) and written like the hover
//! text: `10,000`, `2`, `0.25`. A bar chart's category labels are written here too, one per
//! category, level when they fit and else rotated and shortened with `…` (the full name is the
//! label's hover text); a leading sort key (`1: < 100 ms`) orders the categories and is not shown.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::query::{ChartKind, ChartSpec};
use crate::table::Table;

/// Lines per chart (the rest are left out and the title says so).
const MAX_SERIES: usize = 10;
/// Categories per bar chart.
const MAX_CATEGORIES: usize = 12;
/// Opacity that marks data bars, so that hover text goes to them and not to the frame.
const BAR_ALPHA: f64 = 0.86;

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One line or bar colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// (x, y): x is seconds since the epoch for time series, a category for bars.
    pub points: Vec<(X, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum X {
    Time(i64),
    Category(String),
}

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub kind: ChartKind,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

impl Chart {
    /// Marks (points or bars) the chart draws.
    pub fn marks(&self) -> usize {
        self.series.iter().map(|s| s.points.len()).sum()
    }
}

fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The unit a y column's name says (`p99_ms` → ms, `rps` → requests/s).
fn unit(col: &str) -> &'static str {
    if col.ends_with("_ms") {
        "ms"
    } else if col.ends_with("_s") {
        "s"
    } else if col == "rps" {
        "requests/s"
    } else {
        "count"
    }
}

/// A chart of a query's result as its header asks for.
pub fn from_table(title: &str, spec: &ChartSpec, t: &Table) -> Option<Chart> {
    let col = |c: &str| t.columns.iter().position(|x| x == c);
    let (xi, yi) = (col(&spec.x)?, col(&spec.y)?);
    let si = spec.series.as_deref().and_then(col);
    let mut by_series: Vec<Series> = Vec::new();
    let mut totals: std::collections::HashMap<String, f64> = Default::default();
    for (r, row) in t.rows.iter().enumerate() {
        let Some(y) = row.get(yi).and_then(number) else {
            continue;
        };
        let x = match spec.kind {
            ChartKind::Timeseries => {
                let s = t.display(r, xi);
                match chrono::DateTime::parse_from_rfc3339(&s) {
                    Ok(d) => X::Time(d.timestamp()),
                    Err(_) => continue,
                }
            }
            ChartKind::Bar => X::Category(t.display(r, xi)),
        };
        let name = si
            .map(|i| t.display(r, i))
            .unwrap_or_else(|| spec.y.clone());
        *totals.entry(name.clone()).or_default() += y;
        match by_series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push((x, y)),
            None => by_series.push(Series {
                name,
                points: vec![(x, y)],
            }),
        }
    }
    if by_series.is_empty() {
        return None;
    }
    // the largest series first; at most MAX_SERIES
    by_series.sort_by(|a, b| {
        totals[&b.name]
            .total_cmp(&totals[&a.name])
            .then_with(|| a.name.cmp(&b.name))
    });
    let left = by_series.len().saturating_sub(MAX_SERIES);
    by_series.truncate(MAX_SERIES);
    for s in &mut by_series {
        s.points.sort_by(|a, b| match (&a.0, &b.0) {
            (X::Time(x), X::Time(y)) => x.cmp(y),
            _ => std::cmp::Ordering::Equal,
        });
    }
    Some(Chart {
        title: if left > 0 {
            format!(
                "{title} (largest {MAX_SERIES} of {} series)",
                MAX_SERIES + left
            )
        } else {
            title.to_string()
        },
        kind: spec.kind,
        x_label: match spec.kind {
            ChartKind::Timeseries => format!("{} (UTC)", spec.x),
            ChartKind::Bar => spec.x.clone(),
        },
        y_label: format!("{} ({})", spec.y, unit(&spec.y)),
        series: by_series,
    })
}

fn escape(s: &str) -> String {
    super::escape::html(s)
}

/// Text handed to plotters (which XML-escapes it): characters a viewer would interpret shown
/// escaped, as everywhere else in the report.
fn plain(s: &str) -> String {
    super::escape::terminal(s).into_owned()
}

fn hhmm(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// `v` with at most `decimals` decimals (trailing zeros dropped) and thousands separators:
/// `10,000`, `2`, `0.25`, `1,234.5`.
fn fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let frac = frac.trim_end_matches('0');
    let mut out = String::with_capacity(s.len() + s.len() / 3 + 1);
    if v < 0.0 && s.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        out.push('-');
    }
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A value for hover text: whole numbers as integers, others to two decimals (three significant
/// digits below 1), with thousands separators.
fn tidy(v: f64) -> String {
    let a = v.abs();
    let decimals = if !a.is_finite() || a.fract() == 0.0 {
        0
    } else if a >= 1.0 {
        2
    } else {
        (2 - a.log10().floor() as i64).clamp(0, 9) as usize
    };
    fixed(v, decimals)
}

/// The sort key a category carries to keep the query's order (`1: < 100 ms` → 1 and `< 100 ms`).
fn sort_key(k: &str) -> Option<(u64, &str)> {
    let digits = k.len() - k.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = k[digits..].strip_prefix(": ")?;
    if digits == 0 || rest.is_empty() {
        return None;
    }
    Some((k[..digits].parse().unwrap_or(u64::MAX), rest))
}

/// A category that is a number or a version (`1.29`, `404`): its parts, to sort by.
fn version(k: &str) -> Option<Vec<u64>> {
    k.split('.').map(|p| p.parse().ok()).collect()
}

/// A category as shown: without its sort key.
fn category_label(k: &str) -> &str {
    sort_key(k).map_or(k, |(_, rest)| rest)
}

/// The y values are counts: the label says so, or every value is a whole number.
fn is_count(c: &Chart) -> bool {
    c.y_label.contains("(count)")
        || c.series
            .iter()
            .flat_map(|s| &s.points)
            .all(|p| p.1.fract() == 0.0)
}

/// The y axis: from 0 (or below the lowest value) to a tick above the highest, ticks at a round
/// step (1, 2 or 5 times a power of ten; a whole number for counts).
struct YAxis {
    lo: f64,
    top: f64,
    ticks: Vec<f64>,
    decimals: usize,
}

impl YAxis {
    fn of(c: &Chart) -> YAxis {
        let (min, max) = c
            .series
            .iter()
            .flat_map(|s| &s.points)
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let pad = (max - min) * 0.1;
        let (lo, hi) = (if min < 0.0 { min - pad } else { 0.0 }, max + pad);
        let hi = if hi - lo > 0.0 { hi } else { lo + 1.0 };
        let mut step = nice_step((hi - lo) / 6.0);
        if is_count(c) {
            step = step.max(1.0).round();
        }
        let first = (lo / step).floor() as i64;
        let last = ((hi / step).ceil() as i64).max(first + 1);
        let ticks: Vec<f64> = (first..=last).map(|i| i as f64 * step).collect();
        let decimals = if step >= 1.0 {
            0
        } else {
            (-step.log10()).ceil().max(0.0) as usize
        };
        YAxis {
            lo: first as f64 * step,
            top: last as f64 * step,
            ticks,
            decimals,
        }
    }

    fn label(&self, v: f64) -> String {
        fixed(v, self.decimals)
    }

    /// Width of the y label area: the longest tick label, the tick and the axis description.
    fn area(&self) -> u32 {
        let longest = self
            .ticks
            .iter()
            .map(|t| self.label(*t).chars().count())
            .max()
            .unwrap_or(1);
        ((longest as f64 * CHAR_W) as u32 + 30).max(50)
    }
}

/// A linear f64 axis with the ticks we choose (plotters' own pick fractional steps for counts and
/// would label only some categories). Its labels are always formatted by the caller.
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // no light mesh lines between the ticks
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw > 0.0 && raw.is_finite()) {
        return 1.0;
    }
    let e = raw.log10().floor() as i32;
    let base = 10f64.powi(e);
    let f = raw / base;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * base
}

/// Font size (pixels) of the category labels, and a generous estimate of a character's width.
const LABEL_PX: f64 = 10.0;
const CHAR_W: f64 = 6.0;
/// Characters of a rotated category label (longer ones end in `…`; the full name is hover text).
const MAX_LABEL_CHARS: usize = 28;
const MARGIN: u32 = 10;

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        format!(
            "{}…",
            s.chars().take(max.saturating_sub(1)).collect::<String>()
        )
    } else {
        s.to_string()
    }
}

/// How the category labels are written: level when the longest fits its slot, else rotated by 45°
/// and shortened to what fits left of the first category and in 40% of the height. The labels as
/// shown, whether rotated, and the height of the x label area.
fn category_layout(
    names: &[String],
    plot_left: f64,
    plot_width: f64,
    height: u32,
) -> (Vec<String>, bool, u32) {
    let slot = plot_width / names.len().max(1) as f64;
    let chars = |v: &[String]| v.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    if chars(names) as f64 * CHAR_W + 8.0 <= slot {
        return (names.to_vec(), false, 44);
    }
    let per_char = CHAR_W * std::f64::consts::FRAC_1_SQRT_2;
    let by_left = (plot_left + slot / 2.0 - 4.0) / per_char;
    let by_height = (f64::from(height) * 0.4 - 32.0 - LABEL_PX) / per_char;
    let max = (MAX_LABEL_CHARS as f64)
        .min(by_left)
        .min(by_height)
        .max(4.0) as usize;
    let shown: Vec<String> = names.iter().map(|s| shorten(s, max)).collect();
    let area = (chars(&shown) as f64 * per_char + LABEL_PX + 32.0).ceil() as u32;
    (shown, true, area.max(44))
}

/// What a chart drew: the hover text of its marks in drawing order, and SVG elements to add (the
/// category labels, already escaped).
struct Drawn {
    titles: Vec<String>,
    overlay: String,
}

type DrawResult = Result<Drawn, Box<dyn std::error::Error>>;

/// The legend of every chart: the series' names and colours, upper right.
fn legend<'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 11))
        .draw()?;
    Ok(())
}

fn draw_timeseries(root: &DrawingArea<SVGBackend<'_>, Shift>, c: &Chart) -> DrawResult {
    let xs = c
        .series
        .iter()
        .flat_map(|s| &s.points)
        .filter_map(|(x, _)| match x {
            X::Time(t) => Some(*t),
            X::Category(_) => None,
        });
    let (lo, hi) = xs.fold((i64::MAX, i64::MIN), |(a, b), t| (a.min(t), b.max(t)));
    let (lo, hi) = if lo > hi {
        (0, 60)
    } else {
        (lo, hi.max(lo + 60))
    };
    let y = YAxis::of(c);
    let mut chart = ChartBuilder::on(root)
        .caption(plain(&c.title), ("sans-serif", 16))
        .margin(MARGIN)
        .x_label_area_size(40)
        .y_label_area_size(y.area())
        .build_cartesian_2d(lo..hi, Ticked::new(y.lo..y.top, y.ticks.clone()))?;
    chart
        .configure_mesh()
        .x_desc(plain(&c.x_label))
        .y_desc(plain(&c.y_label))
        .x_label_formatter(&|t| hhmm(*t))
        .y_label_formatter(&|v| y.label(*v))
        .x_labels(8)
        .light_line_style(RGBColor(230, 230, 230))
        .draw()?;
    let mut titles = Vec::new();
    for (i, s) in c.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(i64, f64)> = s
            .points
            .iter()
            .filter_map(|(x, y)| match x {
                X::Time(t) => Some((*t, *y)),
                X::Category(_) => None,
            })
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(plain(&s.name))
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled()));
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        for (t, y) in &pts {
            titles.push(format!("{}: {} at {} UTC", s.name, tidy(*y), hhmm(*t)));
        }
    }
    legend(&mut chart)?;
    Ok(Drawn {
        titles,
        overlay: String::new(),
    })
}

/// The categories of a bar chart with their totals, in the query's order: each series' order kept
/// (a category one series adds goes after the one it follows there), by sort key when every
/// category has one, by number when every category is a number or version (hops); when there are
/// too many, the largest. Also how many there were.
fn categories(c: &Chart) -> (Vec<(String, f64)>, usize) {
    let mut cats: Vec<(String, f64)> = Vec::new();
    for s in &c.series {
        let mut at = 0;
        for (x, y) in &s.points {
            let X::Category(k) = x else { continue };
            match cats.iter().position(|(n, _)| n == k) {
                Some(i) => {
                    cats[i].1 += y;
                    at = i + 1;
                }
                None => {
                    cats.insert(at, (k.clone(), *y));
                    at += 1;
                }
            }
        }
    }
    let keyed = cats.iter().all(|(k, _)| sort_key(k).is_some());
    let versions = cats.iter().all(|(k, _)| version(k).is_some());
    let all = cats.len();
    if all > MAX_CATEGORIES {
        cats.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        cats.truncate(MAX_CATEGORIES);
    }
    if keyed {
        cats.sort_by_key(|(k, _)| sort_key(k).map(|(n, _)| n));
    } else if versions {
        cats.sort_by_key(|(k, _)| version(k));
    }
    (cats, all)
}

fn draw_bars(root: &DrawingArea<SVGBackend<'_>, Shift>, c: &Chart) -> DrawResult {
    let (cats, all) = categories(c);
    let n = cats.len().max(1);
    let y = YAxis::of(c);
    let (width, height) = root.dim_in_pixel();
    let y_area = y.area();
    let names: Vec<String> = cats
        .iter()
        .map(|(k, _)| category_label(k).to_string())
        .collect();
    let plot_left = f64::from(MARGIN + y_area);
    let plot_width = f64::from(width.saturating_sub(2 * MARGIN + y_area));
    let (shown, rotated, x_area) = category_layout(&names, plot_left, plot_width, height);
    let caption = if all > cats.len() {
        format!("{} (largest {} of {all} categories)", c.title, cats.len())
    } else {
        c.title.clone()
    };
    let centres: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(plain(&caption), ("sans-serif", 16))
        .margin(MARGIN)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(
            Ticked::new(0f64..n as f64, centres),
            Ticked::new(y.lo..y.top, y.ticks.clone()),
        )?;
    // plotters draws the ticks; the labels are written below, one per category
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(plain(&c.x_label))
        .y_desc(plain(&c.y_label))
        .x_label_style(("sans-serif", 10).into_font().color(&TRANSPARENT))
        .axis_desc_style(("sans-serif", 12))
        .y_label_formatter(&|v| y.label(*v))
        .light_line_style(RGBColor(230, 230, 230))
        .draw()?;
    let width = 0.8 / c.series.len().max(1) as f64;
    let mut titles = Vec::new();
    for (si, s) in c.series.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        let mut bars = Vec::new();
        for (x, v) in &s.points {
            let X::Category(k) = x else { continue };
            let Some(ci) = cats.iter().position(|(n, _)| n == k) else {
                continue;
            };
            let x0 = ci as f64 + 0.1 + si as f64 * width;
            bars.push(Rectangle::new(
                [(x0, 0.0), (x0 + width, *v)],
                color.mix(BAR_ALPHA).filled(),
            ));
            titles.push(format!("{} / {}: {}", s.name, names[ci], tidy(*v)));
        }
        chart
            .draw_series(bars)?
            .label(plain(&s.name))
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled()));
    }
    legend(&mut chart)?;
    let mut overlay = String::new();
    for (i, (label, full)) in shown.iter().zip(&names).enumerate() {
        let (x, axis) = chart.backend_coord(&(i as f64 + 0.5, y.lo));
        let hover = if label == full {
            String::new()
        } else {
            format!("<title>{}</title>", escape(full))
        };
        let place = if rotated {
            let y0 = axis + 9;
            format!(
                "x=\"{x}\" y=\"{y0}\" dy=\"0.35em\" text-anchor=\"end\" transform=\"rotate(-45, {x}, {y0})\""
            )
        } else {
            format!(
                "x=\"{x}\" y=\"{}\" dy=\"0.76em\" text-anchor=\"middle\"",
                axis + 7
            )
        };
        overlay.push_str(&format!(
            "<text class=\"category\" {place} font-family=\"sans-serif\" font-size=\"{LABEL_PX}\" fill=\"#000000\">{}{hover}</text>\n",
            escape(label)
        ));
    }
    Ok(Drawn { titles, overlay })
}

/// Adds `<title>` hover text to the marks, in the order they were drawn.
fn add_titles(svg: &str, tag: &str, marker: Option<&str>, titles: &[String]) -> String {
    let mut out = String::with_capacity(svg.len() + titles.len() * 40);
    let mut rest = svg;
    let mut next = titles.iter();
    while let Some(i) = rest.find(tag) {
        let Some(end) = rest[i..].find("/>") else {
            break;
        };
        let elem = &rest[i..i + end];
        out.push_str(&rest[..i]);
        let is_mark = marker.is_none_or(|m| elem.contains(m));
        match (is_mark, next.clone().next()) {
            (true, Some(t)) => {
                next.next();
                out.push_str(elem);
                out.push_str(&format!("><title>{}</title></{}>", escape(t), &tag[1..]));
            }
            _ => {
                out.push_str(elem);
                out.push_str("/>");
            }
        }
        rest = &rest[i + end + 2..];
    }
    out.push_str(rest);
    out
}

/// The chart as an inline SVG element (with `role="img"` and an accessible title).
pub fn svg(c: &Chart, width: u32, height: u32) -> String {
    let mut s = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut s, (width, height)).into_drawing_area();
        let r = match c.kind {
            ChartKind::Timeseries => draw_timeseries(&root, c),
            ChartKind::Bar => draw_bars(&root, c),
        };
        let drawn = r.unwrap_or(Drawn {
            titles: Vec::new(),
            overlay: String::new(),
        });
        let _ = root.present();
        drawn
    };
    let mut s = match c.kind {
        ChartKind::Timeseries => add_titles(&s, "<circle", None, &drawn.titles),
        ChartKind::Bar => add_titles(
            &s,
            "<rect",
            Some(&format!("opacity=\"{BAR_ALPHA}\"")),
            &drawn.titles,
        ),
    };
    if let Some(end) = s.rfind("</svg>") {
        s.insert_str(end, &drawn.overlay);
    }
    s.replacen(
        "<svg ",
        &format!(
            "<svg role=\"img\" aria-label=\"{}\" class=\"chart\" data-series=\"{}\" ",
            escape(&c.title),
            c.series.len()
        ),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_timeseries_has_a_mark_with_hover_text_per_point() {
        let t = Table {
            columns: vec!["minute".into(), "client".into(), "rps".into()],
            rows: vec![
                vec![json!("2026-11-01T23:30:00Z"), json!("kubelet"), json!(1.5)],
                vec![json!("2026-11-01T23:31:00Z"), json!("kubelet"), json!(2.0)],
                vec![json!("2026-11-01T23:30:00Z"), json!("kubectl"), json!(0.5)],
            ],
        };
        let spec = ChartSpec::parse("timeseries x=minute y=rps series=client").unwrap();
        let c = from_table("Requests", &spec, &t).unwrap();
        assert_eq!(c.series.len(), 2);
        assert_eq!(c.series[0].name, "kubelet");
        assert_eq!(c.y_label, "rps (requests/s)");
        let s = svg(&c, 640, 320);
        assert_eq!(s.matches("<title>").count(), 3, "{s}");
        assert!(s.contains("<title>kubelet: 2 at 23:31 UTC</title>"), "{s}");
        assert!(s.contains("Requests") && s.contains("minute (UTC)"));
    }

    #[test]
    fn bars_get_hover_text_and_the_frame_does_not() {
        let t = Table {
            columns: vec!["resource".into(), "p99_ms".into()],
            rows: vec![
                vec![json!("pods"), json!(900.0)],
                vec![json!("secrets"), json!(120.0)],
            ],
        };
        let spec = ChartSpec::parse("bar x=resource y=p99_ms").unwrap();
        let c = from_table("Slow LISTs", &spec, &t).unwrap();
        let s = svg(&c, 640, 320);
        assert_eq!(s.matches("<title>").count(), 2, "{s}");
        assert!(s.contains("<title>p99_ms / pods: 900</title>"), "{s}");
    }

    /// The text of every `<text>` element, trimmed, in document order (hover titles left out).
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .map(|t| {
                let body = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
                body.split("<title>").next().unwrap().trim().to_string()
            })
            .collect()
    }

    /// The category labels of a bar chart, in document (left to right) order.
    fn category_labels(svg: &str) -> Vec<String> {
        svg.split("<text class=\"category\"")
            .skip(1)
            .map(|t| {
                let body = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
                body.split("<title>").next().unwrap().to_string()
            })
            .collect()
    }

    /// The tick labels of the y axis: the texts that are numbers.
    fn numbers(svg: &str) -> Vec<String> {
        texts(svg)
            .into_iter()
            .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || ",.-".contains(c)))
            .collect()
    }

    fn bars(title: &str, y_label: &str, series: &[(&str, &[(&str, f64)])]) -> Chart {
        Chart {
            title: title.into(),
            kind: ChartKind::Bar,
            x_label: "x".into(),
            y_label: y_label.into(),
            series: series
                .iter()
                .map(|(name, pts)| Series {
                    name: name.to_string(),
                    points: pts
                        .iter()
                        .map(|(k, v)| (X::Category(k.to_string()), *v))
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn numbers_have_thousands_separators_and_no_trailing_zeros() {
        assert_eq!(fixed(10000.0, 0), "10,000");
        assert_eq!(fixed(2.0, 0), "2");
        assert_eq!(fixed(0.0, 0), "0");
        assert_eq!(fixed(-1234567.0, 0), "-1,234,567");
        assert_eq!(fixed(0.30000000000000004, 1), "0.3");
        assert_eq!(fixed(2.5, 3), "2.5");
        assert_eq!(tidy(2.0), "2");
        assert_eq!(tidy(1234.5), "1,234.5");
        assert_eq!(tidy(900.126), "900.13");
        assert_eq!(tidy(0.012345), "0.0123");
        assert_eq!(tidy(1e6), "1,000,000");
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1741.0), 2000.0);
        assert_eq!(nice_step(0.03), 0.05);
    }

    #[test]
    fn a_count_axis_has_whole_ticks_with_separators() {
        let t = Table {
            columns: vec!["resource".into(), "lists".into()],
            rows: vec![
                vec![json!("pods"), json!(9500)],
                vec![json!("secrets"), json!(120)],
                vec![json!("nodes"), json!(3)],
            ],
        };
        let spec = ChartSpec::parse("bar x=resource y=lists").unwrap();
        let c = from_table("LISTs", &spec, &t).unwrap();
        assert_eq!(c.y_label, "lists (count)");
        let s = svg(&c, 640, 320);
        let ticks = numbers(&s);
        assert!(ticks.contains(&"10,000".to_string()), "{ticks:?}\n{s}");
        assert!(ticks.contains(&"0".to_string()), "{ticks:?}");
        for t in &ticks {
            assert!(
                !t.contains('.'),
                "fractional tick {t} on a count axis: {ticks:?}"
            );
        }
        assert!(!s.contains("10000"), "{s}");
        assert!(!s.contains(".0\n</text>") && !s.contains(".0<"), "{s}");
        assert!(s.contains("<title>lists / pods: 9,500</title>"), "{s}");
        assert!(s.contains("<title>lists / nodes: 3</title>"), "{s}");
        // the axes are described (the hidden plotters labels do not hide the descriptions)
        let texts = texts(&s);
        assert!(texts.contains(&"lists (count)".to_string()), "{texts:?}");
        assert!(texts.contains(&"resource".to_string()), "{texts:?}");
    }

    #[test]
    fn a_small_count_axis_has_no_half_ticks() {
        // 1 to 4 findings: plotters alone labels 0.0, 0.5, 1.0 ...
        let c = bars(
            "Findings by area",
            "findings (count)",
            &[
                ("error", &[("AP", 1.0), ("DA", 3.0), ("WH", 4.0)]),
                ("warning", &[("AP", 2.0), ("CR", 1.0)]),
            ],
        );
        let s = svg(&c, 1180, 380);
        let ticks = numbers(&s);
        assert_eq!(ticks, ["0", "1", "2", "3", "4", "5"], "{s}");
        assert!(s.contains("<title>warning / AP: 2</title>"), "{s}");
        // a count label with fractional values still gets whole ticks
        let c = bars(
            "Mean",
            "objects (count)",
            &[("a", &[("x", 0.4), ("y", 2.6)])],
        );
        let ticks = numbers(&svg(&c, 640, 320));
        assert!(ticks.iter().all(|t| !t.contains('.')), "{ticks:?}");
    }

    #[test]
    fn a_non_count_axis_has_tidy_ticks() {
        let c = bars(
            "Latency",
            "p99_ms (ms)",
            &[("p99_ms", &[("a", 0.25), ("b", 1.5)])],
        );
        let s = svg(&c, 640, 320);
        let ticks = numbers(&s);
        assert!(ticks.len() >= 3, "{ticks:?}");
        for t in &ticks {
            assert!(
                !(t.contains('.') && t.ends_with('0')),
                "trailing zero in {t}: {ticks:?}"
            );
        }
        assert!(
            ticks.contains(&"1".to_string()) || ticks.contains(&"1.5".to_string()),
            "{ticks:?}"
        );
        assert!(s.contains("<title>p99_ms / a: 0.25</title>"), "{s}");
        let c = bars("Big", "size (KiB)", &[("size", &[("a", 12345.5)])]);
        let s = svg(&c, 640, 320);
        assert!(numbers(&s).contains(&"10,000".to_string()), "{s}");
        assert!(s.contains("<title>size / a: 12,345.5</title>"), "{s}");
    }

    #[test]
    fn every_category_of_a_small_chart_is_labelled_level() {
        let c = bars(
            "Blockers and warnings per hop",
            "findings (count)",
            &[
                ("blocker", &[("1.29", 2.0), ("1.31", 1.0)]),
                ("warning", &[("1.30", 4.0)]),
            ],
        );
        let s = svg(&c, 1180, 380);
        assert_eq!(category_labels(&s), ["1.29", "1.30", "1.31"], "{s}");
        assert!(!s.contains("rotate(-45"), "short labels are level: {s}");
    }

    #[test]
    fn every_category_of_a_twelve_category_chart_is_labelled() {
        let names: Vec<String> = (1..=12).map(|i| format!("cat-{i:02}")).collect();
        let pts: Vec<(&str, f64)> = names.iter().map(|n| (n.as_str(), 5.0)).collect();
        let c = bars("Twelve", "requests (count)", &[("requests", &pts)]);
        for (w, h) in [(1180, 380), (640, 320)] {
            let s = svg(&c, w, h);
            assert_eq!(category_labels(&s), names, "{w}x{h}: {s}");
        }
        // long names: rotated, shortened with …, the full name in the label's and the bar's hover
        let long: Vec<String> = (1..=12)
            .map(|i| format!("system:serviceaccount:kube-system:controller-number-{i:02}"))
            .collect();
        let pts: Vec<(&str, f64)> = long.iter().map(|n| (n.as_str(), 5.0)).collect();
        let c = bars("Callers", "requests (count)", &[("requests", &pts)]);
        let s = svg(&c, 1180, 380);
        let labels = category_labels(&s);
        assert_eq!(labels.len(), 12, "{s}");
        assert!(s.contains("rotate(-45"), "{s}");
        for (l, full) in labels.iter().zip(&long) {
            assert!(
                l.ends_with('…') && full.starts_with(l.trim_end_matches('…')),
                "{l}"
            );
            assert!(l.chars().count() <= MAX_LABEL_CHARS, "{l}");
            assert!(
                s.contains(&format!("<title>{full}</title></text>")),
                "{full}: {s}"
            );
            assert!(
                s.contains(&format!("<title>requests / {full}: 5</title>")),
                "{s}"
            );
        }
        // the labels fit in the canvas: the x label area is under 40% of the height
        let (_, rotated, area) = category_layout(&long, 70.0, 1100.0, 380);
        assert!(rotated && area <= 152, "{area}");
    }

    #[test]
    fn more_than_twelve_categories_say_so() {
        let names: Vec<String> = (1..=15).map(|i| format!("c{i}")).collect();
        let pts: Vec<(&str, f64)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as f64))
            .collect();
        let c = bars("Many", "requests (count)", &[("requests", &pts)]);
        let s = svg(&c, 1180, 380);
        assert_eq!(category_labels(&s).len(), MAX_CATEGORIES);
        assert!(s.contains("Many (largest 12 of 15 categories)"), "{s}");
        assert!(
            !category_labels(&s).contains(&"c1".to_string()),
            "the smallest left out"
        );
    }

    #[test]
    fn sort_keys_order_the_bands_and_are_not_shown() {
        // AUD015: the busiest resource has no band 1; the bands still read in order
        let t = Table {
            columns: vec!["latency_band".into(), "resource".into(), "lists".into()],
            rows: vec![
                vec![json!("1: < 100 ms"), json!("secrets"), json!(5)],
                vec![json!("2: 100 ms - 1 s"), json!("pods"), json!(40)],
                vec![json!("2: 100 ms - 1 s"), json!("secrets"), json!(2)],
                vec![json!("3: 1 - 5 s"), json!("pods"), json!(30)],
                vec![json!("5: >= 30 s"), json!("pods"), json!(1)],
            ],
        };
        let spec = ChartSpec::parse("bar x=latency_band y=lists series=resource").unwrap();
        let c = from_table("LIST latency", &spec, &t).unwrap();
        assert_eq!(c.series[0].name, "pods");
        let s = svg(&c, 1180, 380);
        assert_eq!(
            category_labels(&s),
            ["&lt; 100 ms", "100 ms - 1 s", "1 - 5 s", "&gt;= 30 s"],
            "{s}"
        );
        assert!(!s.contains("1: ") && !s.contains("2: 1"), "{s}");
        assert!(s.contains("<title>secrets / &lt; 100 ms: 5</title>"), "{s}");
        assert_eq!(category_label("12: x"), "x");
        assert_eq!(category_label("1.29"), "1.29");
        assert_eq!(category_label("10:30"), "10:30");
        assert_eq!(category_label("7: "), "7: ");
    }

    #[test]
    fn attacker_chosen_strings_are_escaped_everywhere() {
        let evil = "</script><b>x</b> & \"q\" 'a'";
        let c = Chart {
            title: "T <i>& co</i>".into(),
            kind: ChartKind::Bar,
            x_label: "user <agent>".into(),
            y_label: "requests (count)".into(),
            series: vec![Series {
                name: "api <v1> & more".into(),
                points: vec![
                    (X::Category(evil.into()), 3.0),
                    (X::Category("a".repeat(60) + "<&>"), 1.0),
                ],
            }],
        };
        let t = Chart {
            kind: ChartKind::Timeseries,
            series: vec![Series {
                name: evil.into(),
                points: vec![(X::Time(0), 1.0), (X::Time(60), 2.0)],
            }],
            ..c.clone()
        };
        for s in [svg(&c, 640, 320), svg(&t, 640, 320)] {
            for raw in ["</script>", "<b>", "<i>", "<agent>", "<v1>", "<&>", "\"q\""] {
                assert!(!s.contains(raw), "{raw} unescaped: {s}");
            }
            assert!(
                s.contains("&lt;/script&gt;&lt;b&gt;x&lt;/b&gt; &amp;"),
                "{s}"
            );
            assert!(s.contains("T &lt;i&gt;&amp; co&lt;/i&gt;"), "{s}");
            // every & starts an entity
            for (i, _) in s.match_indices('&') {
                let rest = &s[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&apos;"]
                        .iter()
                        .any(|e| rest.starts_with(e)),
                    "bare & at {}",
                    &s[i..(i + 12).min(s.len())]
                );
            }
        }
    }
}
