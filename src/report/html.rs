//! `llm-workbench report --html`: the whole report as one page that opens from disk — inline
//! CSS and SVG, no script, no network — with a table of contents, this machine's limits, what
//! changed since each bench's previous run, every chapter's tables and charts, the real model
//! against llama.cpp, the two calculators, and the runs the records came from.

use super::compare::{Change, Verdict};
use super::{chapter_title, format_seconds, percent_of_limit};
use crate::plot::Chart;
use crate::records::{History, Record};
use crate::table::{bytes, thousands};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `report --html` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub path: String,
    /// Section ids, in page order (the table of contents links to each).
    pub sections: Vec<String>,
    pub charts: usize,
    pub records: usize,
    pub skipped: Vec<String>,
}

impl std::fmt::Display for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "report page: {} ({} records, {} charts)",
            self.path, self.records, self.charts
        )
    }
}

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1180px;margin:0 auto;
padding:1rem 1.5rem 4rem;color:#1b1f24;line-height:1.45;background:#fff}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin-top:1.6rem}.meta,.note,figcaption{color:#57606a;font-size:.92rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.86rem;display:block;overflow-x:auto}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#fbfcfd}
.faster{color:#1a7f37;font-weight:600}.slower{color:#cf222e;font-weight:600}
figure{margin:1rem 0 2rem}figure svg{max-width:100%;height:auto;border:1px solid #eaeef2}
nav ol{columns:2}code{background:#f6f8fa;padding:0 .25rem;border-radius:3px}
.empty{font-size:1.1rem;padding:1rem;background:#fff8c5;border:1px solid #d4a72c;border-radius:6px}
";

/// A page under construction: its sections and their table of contents.
struct Builder {
    toc: Vec<(String, String)>,
    body: String,
    charts: usize,
}

impl Builder {
    fn section(&mut self, id: &str, title: &str) {
        self.toc.push((id.to_string(), title.to_string()));
        let _ = write!(
            self.body,
            "<section id=\"{}\"><h2>{}</h2>",
            esc(id),
            esc(title)
        );
    }

    fn end(&mut self) {
        self.body.push_str("</section>\n");
    }

    fn p(&mut self, class: &str, html: &str) {
        let _ = write!(self.body, "<p class=\"{class}\">{html}</p>");
    }

    /// A table; cells are HTML (escape text before passing it), numeric columns by index.
    fn table(&mut self, head: &[&str], rows: &[Vec<String>], numeric: &[usize]) {
        self.body.push_str("<table><thead><tr>");
        for h in head {
            let _ = write!(self.body, "<th>{}</th>", esc(h));
        }
        self.body.push_str("</tr></thead><tbody>");
        for row in rows {
            self.body.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let class = if numeric.contains(&i) {
                    " class=\"n\""
                } else {
                    ""
                };
                let _ = write!(self.body, "<td{class}>{cell}</td>");
            }
            self.body.push_str("</tr>");
        }
        self.body.push_str("</tbody></table>");
    }

    /// A chart drawn inline, captioned with what it shows and where it was measured.
    fn figure(&mut self, chart: &Chart, caption: &str) -> anyhow::Result<()> {
        let svg = chart.svg()?;
        self.charts += 1;
        let _ = write!(
            self.body,
            "<figure id=\"fig-{}\">{}<figcaption>{}</figcaption></figure>",
            esc(&chart.stem),
            svg.0,
            esc(caption)
        );
        Ok(())
    }
}

/// Writes `out_dir/index.html` from the records in `records_dir` (which may not exist yet:
/// the page then says how to make some).
pub fn write_page(records_dir: &Path, history: &History, out_dir: &Path) -> anyhow::Result<Page> {
    let latest = history.latest();
    let mut b = Builder {
        toc: Vec::new(),
        body: String::new(),
        charts: 0,
    };
    let machines = machines_text(&latest);
    if !history.skipped.is_empty() {
        let items: Vec<String> = history.skipped.iter().map(|s| esc(s)).collect();
        b.p(
            "note",
            &format!(
                "Not read (each left out of everything below): {}",
                items.join("; ")
            ),
        );
    }
    if latest.is_empty() {
        b.p(
            "empty",
            &format!(
                "No records yet in <code>{}</code>: run <code>llm-workbench tour</code> or \
                 <code>cargo bench</code>, then <code>llm-workbench report --html</code> again. \
                 The calculators below need no records.",
                esc(&records_dir.display().to_string())
            ),
        );
    } else {
        machine_section(&mut b, &latest);
        changes_section(&mut b, history);
        devices_section(&mut b, &latest);
        chapter_sections(&mut b, &latest, &machines)?;
    }
    calculator_sections(&mut b, records_dir, &latest)?;
    if !history.runs.is_empty() {
        runs_section(&mut b, history);
    }

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>llm-workbench report</title><style>{STYLE}</style></head><body>\
         <header><h1>llm-workbench report</h1><p class=\"meta\">Generated {} from \
         <code>{}</code>: {} records in {} runs{}.</p></header>",
        crate::records::utc_text(crate::records::now_unix_s()),
        esc(&records_dir.display().to_string()),
        latest.len(),
        history.runs.len(),
        if machines.is_empty() {
            String::new()
        } else {
            format!("; measured on {}", esc(&machines))
        }
    );
    html.push_str("<nav id=\"contents\"><h2>Contents</h2><ol>");
    for (id, title) in &b.toc {
        let _ = write!(html, "<li><a href=\"#{}\">{}</a></li>", esc(id), esc(title));
    }
    html.push_str("</ol></nav>\n");
    html.push_str(&b.body);
    html.push_str("</body></html>\n");

    if out_dir.exists() && !out_dir.is_dir() {
        return Err(crate::error::bad_input(
            format!("--out {}", out_dir.display()),
            "is a file: the page's folder must be a folder",
        ));
    }
    std::fs::create_dir_all(out_dir)?;
    let path = out_dir.join("index.html");
    crate::output::write_atomic(&path, html.as_bytes())?;
    Ok(Page {
        path: path.display().to_string(),
        sections: b.toc.into_iter().map(|(id, _)| id).collect(),
        charts: b.charts,
        records: latest.len(),
        skipped: history.skipped.clone(),
    })
}

/// The machines the records were measured on, `; `-separated.
fn machines_text(records: &[Record]) -> String {
    let mut m: Vec<String> = records
        .iter()
        .filter_map(|r| r.machine.as_ref().map(|m| m.to_string()))
        .collect();
    m.sort();
    m.dedup();
    m.join("; ")
}

fn machine_section(b: &mut Builder, latest: &[Record]) {
    b.section("machine", "Machine limits");
    let rows: Vec<Vec<String>> = latest
        .iter()
        .filter(|r| r.chapter == "machine")
        .map(|r| {
            vec![
                esc(&r.bench_id),
                thousands(r.throughput.value, 1),
                esc(&r.throughput.unit),
                esc(&r.machine.as_ref().map_or("-".into(), |m| m.to_string())),
                crate::records::utc_text(r.unix_time_s),
            ]
        })
        .collect();
    if rows.is_empty() {
        b.p(
            "note",
            "No machine records: run <code>llm-workbench machine</code> to measure this \
             machine's matmul rate and read bandwidth, the denominators of every \
             \"% of limit\" below.",
        );
    } else {
        b.p(
            "note",
            "Best f32 matmul rate (burn flex) and read bandwidth, with one thread and with all: \
             the ceilings the benches are read against.",
        );
        b.table(
            &["measure", "value", "unit", "machine", "measured"],
            &rows,
            &[1],
        );
    }
    b.end();
}

/// Benches measured on more than one device (`--device`, `WORKBENCH_DEVICE`), side by side;
/// no section when every record ran on one.
fn devices_section(b: &mut Builder, latest: &[Record]) {
    let comparisons = super::device_comparison(latest);
    if comparisons.is_empty() {
        return;
    }
    b.section("devices", "Devices compared");
    b.p(
        "note",
        "The same bench on each device it was measured on (the latest record of each), and the \
         ratio of its throughput to flex's on this CPU. Percentages of the machine's limits \
         elsewhere in this page are the CPU's and apply to flex records only.",
    );
    let rows: Vec<Vec<String>> = comparisons
        .iter()
        .flat_map(|c| {
            c.measured.iter().map(move |m| {
                vec![
                    esc(&c.bench_id),
                    esc(&m.device),
                    thousands(m.throughput, 2),
                    esc(&c.unit),
                    m.times_flex.map_or("-".into(), |x| format!("{x:.2}×")),
                ]
            })
        })
        .collect();
    b.table(
        &["bench", "device", "throughput", "unit", "× flex"],
        &rows,
        &[2, 4],
    );
    b.end();
}

fn verdict_cell(v: Verdict) -> String {
    match v {
        Verdict::Faster => "<span class=\"faster\">faster</span>".into(),
        Verdict::Slower => "<span class=\"slower\">slower</span>".into(),
        v => v.text().into(),
    }
}

fn changes_section(b: &mut Builder, history: &History) {
    b.section("changes", "Changes since the previous run");
    let pairs = history.latest_pairs();
    if pairs.is_empty() {
        b.p(
            "note",
            "Every bench has been measured once: run a bench again to see what changed.",
        );
        b.end();
        return;
    }
    b.p(
        "note",
        "Each bench's latest record against its previous one. Faster or slower only when the \
         two interquartile ranges of run times do not overlap; \"no spread\" where a record \
         kept none.",
    );
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|(a, c)| {
            let change = Change::between(a, c);
            vec![
                esc(&c.bench_id),
                format!("{} → {}", esc(a.run()), esc(c.run())),
                format!(
                    "{} {}",
                    thousands(a.throughput.value, 3),
                    esc(&a.throughput.unit)
                ),
                format!(
                    "{} {}",
                    thousands(c.throughput.value, 3),
                    esc(&c.throughput.unit)
                ),
                super::compare::ratio_text(change.throughput_ratio),
                verdict_cell(change.verdict),
            ]
        })
        .collect();
    b.table(
        &[
            "bench",
            "runs",
            "previous",
            "latest",
            "latest/previous",
            "change",
        ],
        &rows,
        &[2, 3, 4],
    );
    b.end();
}

/// Bench-id segments that name the reference a chapter is measured against: a record's
/// "vs anchor" is its throughput over the record whose id has the anchor in that place.
/// Every ratio is ours ÷ the anchor's throughput (above 1: faster than the anchor).
const ANCHORS: [&str; 5] = [
    "tiktoken-rs",
    "tokenizers",
    "burn_fused",
    "concat",
    "llguidance",
];

/// A parameter that holds a throughput ratio to an engine measured beside the bench in the
/// same run (llama.cpp is not a record of its own).
const RATIO_PARAMS: [(&str, &str); 1] = [("ratio_to_llama_cpp", "llama.cpp")];

/// `1.31× burn_fused` for a record with an anchor (none on the anchor's own row).
fn anchor_ratio(r: &Record, all: &[Record]) -> Option<String> {
    if let Some((name, v)) = RATIO_PARAMS
        .iter()
        .find_map(|(key, name)| Some((name, r.params.get(*key)?.as_f64()?)))
    {
        return Some(format!("{v:.2}× {name}"));
    }
    let parts: Vec<&str> = r.bench_id.split('/').collect();
    if parts.iter().any(|p| ANCHORS.contains(p)) {
        return None;
    }
    for anchor in ANCHORS {
        for i in 0..parts.len() {
            if parts[i] == anchor {
                continue;
            }
            let mut id = parts.clone();
            id[i] = anchor;
            let id = id.join("/");
            if let Some(a) = all
                .iter()
                .find(|a| a.bench_id == id && a.throughput.unit == r.throughput.unit)
            {
                return Some(format!(
                    "{:.2}× {anchor}",
                    r.throughput.value / a.throughput.value
                ));
            }
        }
    }
    None
}

/// Scalar parameters, shortest first, as `key=value` (the long ones live in the record).
fn params_text(r: &Record) -> String {
    let Some(map) = r.params.as_object() else {
        return String::new();
    };
    let mut parts: Vec<String> = map
        .iter()
        .filter(|(k, _)| !k.starts_with("ratio_to_") && !k.starts_with("llama_cpp"))
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some(format!("{k}={s}")),
            serde_json::Value::Number(n) => Some(format!("{k}={n}")),
            serde_json::Value::Bool(b) => Some(format!("{k}={b}")),
            _ => None,
        })
        .collect();
    parts.sort_by_key(|p| p.len());
    parts.truncate(6);
    parts.join(" ")
}

fn time_text(r: &Record) -> String {
    match r.spread {
        Some(s) => format!(
            "{} ({}–{}, {} runs)",
            format_seconds(r.time_s),
            format_seconds(s.p25_s),
            format_seconds(s.p75_s),
            s.runs
        ),
        None => format_seconds(r.time_s),
    }
}

fn chapter_sections(b: &mut Builder, latest: &[Record], machines: &str) -> anyhow::Result<()> {
    let charts = super::chart_specs(latest);
    let mut chapters: Vec<&str> = latest
        .iter()
        .map(|r| r.chapter.as_str())
        .filter(|c| *c != "machine")
        .collect();
    chapters.dedup();
    for chapter in chapters {
        let title = chapter_title(chapter);
        b.section(&format!("ch-{chapter}"), &title);
        if matches!(chapter, "07-real-model" | "08-quantization") {
            b.p(
                "note",
                "SmolLM2-135M-Instruct from its GGUF file, timed beside llama.cpp on the same \
                 file, prompt, thread count and token count: \"vs anchor\" is ours ÷ theirs \
                 (above 1 is faster). The parity records (when the quantization bench has run) are teacher-forced agreement \
                 with llama.cpp's greedy tokens (13 prompts × 32 steps): how often our arg-max \
                 is its next token, over all steps and over the clear ones (top-2 gap ≥ 1 \
                 logit); the chapter tests hold the bars.",
            );
        }
        let records: Vec<&Record> = latest.iter().filter(|r| r.chapter == chapter).collect();
        let rows: Vec<Vec<String>> = records
            .iter()
            .map(|r| {
                vec![
                    esc(&r.bench_id),
                    esc(&params_text(r)),
                    thousands(r.throughput.value, 2),
                    esc(&r.throughput.unit),
                    percent_of_limit(r).map_or("-".into(), |p| format!("{p:.1}%")),
                    esc(&anchor_ratio(r, latest).unwrap_or_else(|| "-".into())),
                    esc(&time_text(r)),
                    r.bytes.map_or("-".into(), |s| bytes(s.peak_bytes as f64)),
                    esc(&format!("{} @ {}", r.run(), r.git_rev)),
                ]
            })
            .collect();
        b.table(
            &[
                "bench",
                "parameters",
                "throughput",
                "unit",
                "% of limit",
                "vs anchor",
                "time (quartiles)",
                "peak bytes",
                "run @ rev",
            ],
            &rows,
            &[2, 4, 7],
        );
        for (_, chart) in charts.iter().filter(|(c, _)| c == chapter) {
            let caption = format!(
                "{}: {} against {}, log–log. Measured on {}.",
                chart.title,
                chart.y,
                chart.x,
                if machines.is_empty() {
                    "this machine"
                } else {
                    machines
                }
            );
            b.figure(chart, &caption)?;
        }
        b.end();
    }
    Ok(())
}

fn calculator_sections(
    b: &mut Builder,
    records_dir: &Path,
    latest: &[Record],
) -> anyhow::Result<()> {
    use crate::budget::{hardware, measured};
    b.section("budget", "Serving budget");
    let tour = crate::budget::tour::run_in(records_dir);
    let rows: Vec<Vec<String>> = tour
        .lines
        .iter()
        .map(|l| {
            vec![
                esc(&l.model),
                esc(&l.hardware),
                thousands(l.context_tokens as f64, 0),
                esc(&l.weights_dtype),
                bytes(l.weight_bytes),
                bytes(l.kv_bytes_per_token),
                thousands(l.max_concurrency, 1),
                thousands(l.decode_tokens_per_s_aggregate, 0),
                l.usd_per_mtok_output
                    .map_or("-".into(), |u| format!("${u:.3}")),
            ]
        })
        .collect();
    b.p(
        "note",
        "Catalog models at 90% of GPU memory, KV in blocks of 16 tokens (vLLM's defaults); \
         decode tokens/s is the roofline at the maximum batch; $/1M output tokens at the \
         catalog's hourly price with the GPUs fully busy.",
    );
    b.table(
        &[
            "model",
            "hardware",
            "context",
            "weights",
            "weight bytes",
            "KV per token",
            "max concurrency",
            "decode tok/s",
            "$/1M out",
        ],
        &rows,
        &[2, 4, 5, 6, 7, 8],
    );
    for note in &tour.notes {
        b.p("note", &esc(note));
    }
    for chart in crate::commands::budget::tour_sweep_charts()? {
        let caption = format!(
            "{} — computed from the catalogs, not measured.",
            chart.title
        );
        b.figure(&chart, &caption)?;
    }
    b.end();

    b.section("predicted", "Predicted vs measured decode");
    match hardware::resolve(hardware::THIS_MACHINE, records_dir) {
        Err(e) => b.p("note", &esc(&e.to_string())),
        Ok(h) => {
            let m = measured::compare(latest, &h, &records_dir.display().to_string());
            if let Some(why) = &m.missing {
                b.p("note", &esc(why));
            } else {
                b.p(
                    "note",
                    &esc(&format!(
                        "Chapter 04's and 09's decode records on {} against the budget's \
                         roofline for the same shape ({} GB/s, {} GFLOP/s measured); the \
                         median efficiencies are what `budget --calibrate` applies.",
                        h.name,
                        thousands(h.bandwidth_bytes_per_s / 1e9, 1),
                        thousands(h.peak_flops_for("fp32").0 / 1e9, 0)
                    )),
                );
                let rows: Vec<Vec<String>> = m
                    .comparisons
                    .iter()
                    .map(|c| {
                        vec![
                            esc(&c.bench_id),
                            thousands(c.context_tokens as f64, 0),
                            c.batch.to_string(),
                            thousands(c.measured_tokens_per_s, 1),
                            thousands(c.predicted_tokens_per_s, 1),
                            format!("{:.0}%", 100.0 * c.implied_efficiency),
                            c.bound.to_string(),
                        ]
                    })
                    .collect();
                b.table(
                    &[
                        "record",
                        "context",
                        "batch",
                        "measured tok/s",
                        "predicted tok/s",
                        "measured/predicted",
                        "bound",
                    ],
                    &rows,
                    &[1, 2, 3, 4, 5],
                );
                if let Some(e) = m.median_efficiency {
                    let compute = m.median_compute_efficiency.map_or(String::new(), |c| {
                        format!(
                            " Compute-bound (median): {:.0}% of the matmul peak.",
                            100.0 * c
                        )
                    });
                    b.p(
                        "note",
                        &format!("Bandwidth efficiency (median): {:.0}%.{compute}", 100.0 * e),
                    );
                }
            }
        }
    }
    b.end();

    b.section("router", "Cost router");
    let route = crate::commands::route::reference_route()?;
    let days = route.workload.days;
    b.p(
        "note",
        &esc(&format!(
            "The shipped catalog on the reference workload `{}` ({} days); each tier's cheapest \
             model, and the plan the default policy picks.",
            route.workload.name, days
        )),
    );
    let rows: Vec<Vec<String>> = route
        .tiers
        .iter()
        .map(|t| {
            vec![
                esc(&t.tier),
                esc(&t.models.join(", ")),
                t.usd_per_task.map_or("-".into(), |u| format!("${u:.5}")),
                t.usd_total.map_or("-".into(), crate::router::usd),
                t.cheaper_than_premium
                    .map_or("-".into(), |x| format!("{x:.1}×")),
                esc(&t.price),
                esc(t.unavailable.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    b.table(
        &[
            "tier",
            "models",
            "$ per task",
            "$ for the period",
            "cheaper than premium",
            "price",
            "unavailable",
        ],
        &rows,
        &[2, 3, 4],
    );
    let plan_rows: Vec<Vec<String>> = route
        .plan
        .choices
        .iter()
        .map(|c| {
            vec![
                esc(&c.task_type),
                esc(&c.tier),
                esc(&c.model),
                crate::router::usd(c.usd_total),
            ]
        })
        .collect();
    b.table(
        &["task type", "tier", "model", "$ for the period"],
        &plan_rows,
        &[3],
    );
    let chart = crate::commands::route::cost_chart_spec(&route.tiers, &route.workload);
    let caption = format!(
        "{} — list prices and estimates from data/models.yaml, not measured.",
        chart.title
    );
    b.figure(&chart, &caption)?;
    b.end();
    Ok(())
}

fn runs_section(b: &mut Builder, history: &History) {
    b.section("runs", "Runs");
    let rows: Vec<Vec<String>> = history
        .runs
        .iter()
        .rev()
        .map(|run| {
            let line = super::run_line(run);
            vec![
                esc(&line.id),
                esc(&line.time),
                line.records.to_string(),
                esc(&line.chapters.join(" ")),
                esc(&line.git_revs.join(" ")),
                esc(&line.machines.join("; ")),
                esc(&line.devices.join("; ")),
            ]
        })
        .collect();
    b.p(
        "note",
        "Newest first. Compare two with <code>llm-workbench report --compare A B</code>.",
    );
    b.table(
        &[
            "run", "started", "records", "chapters", "rev", "machine", "device",
        ],
        &rows,
        &[2],
    );
    b.end();
}

/// The default folder of the page: the report folder beside the records.
pub fn default_out(records_dir: &Path) -> PathBuf {
    crate::plot::charts_dir_for(records_dir)
}
