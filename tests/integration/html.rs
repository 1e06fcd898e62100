//! The HTML page of `report`, `lint` and `preflight`, opened in a real browser: Debian's headless
//! chromium (installed by the test setup when missing, as moto is), with networking blocked and a
//! fresh profile. No console errors, no failed requests, a screenshot that is not blank, charts
//! with their titles and marks, one findings row per finding.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::{json, stderr};

fn chromium() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let find = || {
            ["chromium", "chromium-browser"].iter().find_map(|b| {
                Command::new("sh")
                    .args(["-c", &format!("command -v {b}")])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            })
        };
        if let Some(p) = find() {
            return p;
        }
        let st = Command::new("apt-get")
            .args(["install", "-y", "-q", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get is needed to install chromium");
        assert!(st.success(), "apt-get install chromium failed");
        find().expect("chromium after apt-get install")
    })
    .clone()
}

/// Runs headless chromium on `page` with networking blocked; returns (DOM after scripts, log).
fn browse(page: &Path, extra: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .args(
            (!extra.iter().any(|e| e.starts_with("--window-size")))
                .then_some("--window-size=1280,2000"),
        )
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The pixels of a PNG screenshot (one slice per pixel), with its width and height.
fn pixels(png_path: &Path) -> (Vec<Vec<u8>>, u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bpp = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .chunks(bpp)
        .map(<[u8]>::to_vec)
        .collect();
    (px, info.width, info.height)
}

/// Distinct colours of a PNG screenshot.
fn colours(png_path: &Path) -> usize {
    let (px, _, _) = pixels(png_path);
    px.into_iter()
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// Pixels of a PNG screenshot in the charts' first colour (#1f77b4), drawn whole (lines) or as a
/// bar at the charts' opacity over the white page.
fn chart_pixels(png_path: &Path) -> usize {
    let (px, width, height) = pixels(png_path);
    assert!(height <= 900 && width <= 1280, "{width}×{height}");
    let near = |px: &[u8], c: [i32; 3]| (0..3).all(|i| (px[i] as i32 - c[i]).abs() <= 14);
    px.iter()
        .filter(|px| near(px, [31, 119, 180]) || near(px, [62, 138, 190]))
        .count()
}

fn check_page(name: &str, html: &[u8], findings: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join(format!("{name}.html"));
    std::fs::write(&page, html).unwrap();
    let text = String::from_utf8_lossy(html).into_owned();
    assert!(text.contains("http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'"));
    for bad in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!text.contains(bad), "{name}: external reference {bad}");
    }
    let (dom, log) = browse(&page, &["--dump-dom"]);
    for bad in [
        "Uncaught",
        "Refused to",
        "net::ERR",
        "Failed to load resource",
    ] {
        assert!(!log.contains(bad), "{name}: browser log has {bad}:\n{log}");
    }
    assert!(
        !log.lines()
            .any(|l| l.contains(":CONSOLE") && (l.contains("rror") || l.contains("Uncaught"))),
        "{name}: console errors:\n{log}"
    );
    // findings grouped by rule: one row per rule, and one subject row per finding under it
    let rules = dom
        .split("<table class=\"rules\">")
        .nth(1)
        .map(|t| t.split("</table>\n").last().unwrap_or_default().to_string())
        .unwrap_or_default();
    let subjects: usize = dom
        .split("<table class=\"sortable subjects\">")
        .skip(1)
        .map(|t| {
            t.split("</table>")
                .next()
                .unwrap_or_default()
                .matches("<tr><td>")
                .count()
        })
        .sum();
    assert_eq!(subjects, findings, "{name}: one subject row per finding");
    let groups = dom.matches("<tbody class=\"rule\"").count();
    assert!(
        (findings == 0 && groups == 0) || (groups > 0 && groups <= findings),
        "{name}: {groups} rule rows for {findings} findings {}",
        rules.len()
    );
    // every chart has its title and at least one mark (with hover text) per series
    let charts: Vec<&str> = dom.split("<svg role=\"img\"").skip(1).collect();
    for c in &charts {
        let head = &c[..c.find('>').unwrap()];
        assert!(
            head.contains("aria-label=\""),
            "{name}: chart without title"
        );
        let series: usize = head
            .split("data-series=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        let body = &c[..c.find("</svg>").unwrap()];
        assert!(
            body.matches("<title>").count() >= series,
            "{name}: marks per series"
        );
    }
    let shot = dir.path().join(format!("{name}.png"));
    let (_, log) = browse(
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,900",
        ],
    );
    assert!(shot.exists(), "{name}: no screenshot: {log}");
    let n = colours(&shot);
    assert!(n > 50, "{name}: the screenshot has {n} colours: blank?");
    if !charts.is_empty() {
        let px = chart_pixels(&shot);
        assert!(
            px > 400,
            "{name}: the page does not open on a chart: {px} chart-coloured pixels in the first 1280×900"
        );
    }
    dom
}

#[test]
fn report_lint_and_preflight_pages_in_a_real_browser() {
    let findings = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--format", "json"]);
        json(&crate::kscope(&a))["findings"]
            .as_array()
            .unwrap()
            .len()
    };
    let report = ["report", "samples/audit"];
    let out = crate::kscope(&[&report[..], &["--format", "html"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let dom = check_page("report", &out.stdout, findings(&report));
    // every query with a chart header has its chart, when its rows have a value to plot (without
    // object counts the samples' LIST seats are unknown, so AUD082 has none)
    let doc = json(&crate::kscope(
        &[&report[..], &["--format", "json"]].concat(),
    ));
    let plotted = |code: &str, y: &str| {
        doc["queries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["code"] == code)
            .is_some_and(|q| {
                q["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| !r[y].is_null())
            })
    };
    let charted = kscope::query::registry()
        .unwrap()
        .iter()
        .filter(|q| q.chart.as_ref().is_some_and(|c| plotted(&q.code, &c.y)))
        .count();
    assert!(charted >= 8);
    assert!(!plotted("AUD082", "mean_seats"));
    assert_eq!(dom.matches("<svg role=\"img\"").count(), charted);
    assert!(out.stdout.len() < 2 << 20, "under 2 MB on the samples");

    let lint = ["lint", "-f", "samples/manifests"];
    let out = crate::kscope(&[&lint[..], &["--format", "html"]].concat());
    assert_eq!(out.status.code(), Some(1));
    let dom = check_page("lint", &out.stdout, findings(&lint));
    assert!(dom.contains("Findings by area and severity"));
    assert!(dom.contains("aria-label=\"CRDs by size\""), "the CRD chart");

    let pf = crate::preflight_samples();
    let out = crate::kscope(&[&pf[..], &["--format", "html"]].concat());
    assert_eq!(out.status.code(), Some(2));
    let dom = check_page("preflight", &out.stdout, findings(&pf));
    assert!(
        dom.contains("class=\"verdict sev-error\">BLOCKED"),
        "verdict first"
    );
    assert!(dom.contains("Blockers by source of evidence"));
    // --output html=PATH writes the same page beside the terminal's table
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lint.html");
    let out = crate::kscope(&[&lint[..], &["--output", &format!("html={}", p.display())]].concat());
    assert_eq!(out.status.code(), Some(1));
    let page = std::fs::read_to_string(&p).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    insta::assert_snapshot!(
        "lint_samples_html",
        page.replace(env!("CARGO_PKG_VERSION"), "VERSION")
    );
}

/// The cells of the first table in `section` of a dumped DOM, row by row (header row left out).
fn section_rows(dom: &str, section: &str) -> Vec<Vec<String>> {
    let s = dom
        .split(&format!("<section id=\"{section}\">"))
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .unwrap_or_default();
    let body = s
        .split("<tbody>")
        .nth(1)
        .and_then(|b| b.split("</tbody>").next())
        .unwrap_or_default();
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|c| {
                    let text = c.split_once('>').map(|(_, t)| t).unwrap_or_default();
                    text.split("</td>").next().unwrap_or_default().to_string()
                })
                .collect()
        })
        .collect()
}

#[test]
fn tables_sort_by_column_on_click_in_a_real_browser() {
    let out = crate::kscope(&["report", "samples/audit", "--format", "html"]);
    let page = String::from_utf8(out.stdout).unwrap();
    let before = section_rows(&page, "AUD001");
    assert!(before.len() > 5, "AUD001 rows: {before:?}");
    // clicks as a user would, after the page's own script: the requests header once (numbers
    // ascending), then the client header of AUD002's table twice (text descending)
    let clicks = r#"<script>
var ths = function (id) { return document.querySelectorAll("section#" + id + " table.sortable th"); };
var find = function (id, name) { return Array.prototype.find.call(ths(id), function (h) { return h.textContent === name; }); };
find("AUD001", "requests").click();
var u = ths("AUD002")[0]; u.click(); u.click();
</script></body>"#;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sorted.html");
    std::fs::write(&p, page.replacen("</body>", clicks, 1)).unwrap();
    let (dom, log) = browse(&p, &["--dump-dom"]);
    assert!(!log.contains("Uncaught"), "{log}");

    let requests = |rows: &[Vec<String>]| -> Vec<f64> {
        rows.iter()
            .map(|r| r[1].replace(',', "").parse::<f64>().unwrap())
            .collect()
    };
    let after = section_rows(&dom, "AUD001");
    assert_eq!(after.len(), before.len(), "rows lost or added");
    let (was, now) = (requests(&before), requests(&after));
    assert!(
        was.windows(2).all(|w| w[0] >= w[1]),
        "the query orders by requests descending: {was:?}"
    );
    assert!(
        now.windows(2).all(|w| w[0] <= w[1]),
        "not ascending after one click: {now:?}"
    );
    let mut sorted_rows = before.clone();
    sorted_rows.sort();
    let mut after_sorted = after.clone();
    after_sorted.sort();
    assert_eq!(
        sorted_rows, after_sorted,
        "the rows changed, not just their order"
    );
    // numbers compare as numbers: 9 before 10 (text order would put "10" first)
    assert!(now.first() < now.last());
    let aria = dom
        .split("<section id=\"AUD001\">")
        .nth(1)
        .unwrap()
        .split("</thead>")
        .next()
        .unwrap();
    assert!(
        aria.contains("aria-sort=\"ascending\">requests</th>"),
        "{aria}"
    );

    let users: Vec<String> = section_rows(&dom, "AUD002")
        .iter()
        .map(|r| r[0].clone())
        .collect();
    assert!(users.len() > 3);
    let mut desc = users.clone();
    desc.sort_by_key(|s| std::cmp::Reverse(s.to_lowercase()));
    let lower = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
    assert_eq!(
        lower(&users),
        lower(&desc),
        "not descending by text after two clicks"
    );
}
