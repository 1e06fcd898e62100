//! Charts as inline SVG, drawn by the `plotters` crate: time series (one line per series) and bar
//! charts (one bar per series and category), with a title, axes with units, a legend, and hover
//! text on every mark (a `<title>` added to the marks plotters drew, in drawing order).

use plotters::coord::Shift;
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

fn hhmm(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%H:%M").to_string())
        .unwrap_or_default()
}

type DrawResult = Result<Vec<String>, Box<dyn std::error::Error>>;

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
    let ymax = y_top(c);
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_label_formatter(&|t| hhmm(*t))
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
            .label(&s.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled()));
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        for (t, y) in &pts {
            titles.push(format!("{}: {} at {} UTC", s.name, y, hhmm(*t)));
        }
    }
    legend(&mut chart)?;
    Ok(titles)
}

fn draw_bars(root: &DrawingArea<SVGBackend<'_>, Shift>, c: &Chart) -> DrawResult {
    // categories in the order the rows give them
    let mut cats: Vec<(String, f64)> = Vec::new();
    for s in &c.series {
        for (x, y) in &s.points {
            if let X::Category(k) = x {
                match cats.iter_mut().find(|(n, _)| n == k) {
                    Some(e) => e.1 += y,
                    None => cats.push((k.clone(), *y)),
                }
            }
        }
    }
    // the query's order; when there are too many, the largest
    if cats.len() > MAX_CATEGORIES {
        cats.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        cats.truncate(MAX_CATEGORIES);
    }
    let n = cats.len().max(1);
    let ymax = y_top(c);
    let labels: Vec<String> = cats.iter().map(|(k, _)| k.clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n as f64, 0f64..ymax)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            let l = labels.get(i).cloned().unwrap_or_default();
            if l.chars().count() > 18 {
                format!("{}…", l.chars().take(17).collect::<String>())
            } else {
                l
            }
        })
        .light_line_style(RGBColor(230, 230, 230))
        .draw()?;
    let width = 0.8 / c.series.len().max(1) as f64;
    let mut titles = Vec::new();
    for (si, s) in c.series.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        let mut bars = Vec::new();
        for (x, y) in &s.points {
            let X::Category(k) = x else { continue };
            let Some(ci) = cats.iter().position(|(n, _)| n == k) else {
                continue;
            };
            let x0 = ci as f64 + 0.1 + si as f64 * width;
            bars.push(Rectangle::new(
                [(x0, 0.0), (x0 + width, *y)],
                color.mix(BAR_ALPHA).filled(),
            ));
            titles.push(format!("{} / {k}: {y}", s.name));
        }
        chart
            .draw_series(bars)?
            .label(&s.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled()));
    }
    legend(&mut chart)?;
    Ok(titles)
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
    let titles = {
        let root = SVGBackend::with_string(&mut s, (width, height)).into_drawing_area();
        let r = match c.kind {
            ChartKind::Timeseries => draw_timeseries(&root, c),
            ChartKind::Bar => draw_bars(&root, c),
        };
        let titles = r.unwrap_or_default();
        let _ = root.present();
        titles
    };
    let s = match c.kind {
        ChartKind::Timeseries => add_titles(&s, "<circle", None, &titles),
        ChartKind::Bar => add_titles(
            &s,
            "<rect",
            Some(&format!("opacity=\"{BAR_ALPHA}\"")),
            &titles,
        ),
    };
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

/// The top of the y axis: a tenth above the largest value of any series (above zero when all are 0).
fn y_top(c: &Chart) -> f64 {
    c.series
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1
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
}
