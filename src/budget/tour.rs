//! The serving budget's part of `llm-workbench tour`: a few catalog models on an H100 and on
//! this machine (from the machine records the tour has just written).

use super::{Settings, arch, hardware, measured, plan};
use serde::Serialize;

/// One budget line of the tour.
#[derive(Debug, Clone, Serialize)]
pub struct TourLine {
    pub model: String,
    pub hardware: String,
    pub context_tokens: u64,
    pub weights_dtype: String,
    pub weight_bytes: f64,
    pub kv_bytes_per_token: f64,
    pub max_concurrency: f64,
    pub decode_tokens_per_s_aggregate: f64,
    pub usd_per_mtok_output: Option<f64>,
}

/// The budget section: lines, and what could not be computed (with why).
#[derive(Debug, Clone, Serialize)]
pub struct BudgetTour {
    pub lines: Vec<TourLine>,
    pub notes: Vec<String>,
}

/// (model, hardware, context) cases the tour shows.
pub const CASES: [(&str, &str, u64); 4] = [
    ("llama-3.1-8b", "h100-sxm", 8192),
    ("gpt-oss-20b", "h100-sxm", 32768),
    ("smollm2-135m", hardware::THIS_MACHINE, 2048),
    ("gpt2-small", hardware::THIS_MACHINE, 1024),
];

/// Runs the tour cases; a case that cannot run becomes a note, not a failure.
pub fn run() -> BudgetTour {
    run_in(&crate::records::records_dir())
}

/// [`run`] with this machine's figures from the records in `dir`.
pub fn run_in(dir: &std::path::Path) -> BudgetTour {
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    for (model, hw, context) in CASES {
        let result = arch::resolve(model).and_then(|a| {
            let h = hardware::resolve(hw, dir)?;
            let s = Settings {
                context_tokens: context,
                ..Settings::default()
            };
            plan(&a, &h, &s)
        });
        match result {
            Ok(b) => lines.push(TourLine {
                model: b.model,
                hardware: b.hardware,
                context_tokens: b.context_tokens,
                weights_dtype: b.weights_dtype,
                weight_bytes: b.weight_bytes,
                kv_bytes_per_token: b.kv_bytes_per_token,
                max_concurrency: b.max_concurrency,
                decode_tokens_per_s_aggregate: b.decode_tokens_per_s_aggregate,
                usd_per_mtok_output: b.usd_per_mtok_output,
            }),
            Err(e) => notes.push(format!("{model} on {hw}: {e}")),
        }
    }
    notes.extend(predicted_vs_measured(dir));
    BudgetTour { lines, notes }
}

/// The tour's note on this machine's chapter 04 and 09 records against the budget's roofline, with
/// each record file that could not be read named.
fn predicted_vs_measured(dir: &std::path::Path) -> Vec<String> {
    let read = hardware::resolve(hardware::THIS_MACHINE, dir)
        .and_then(|h| Ok((h, crate::records::read_dir_if_present(dir)?)));
    let (h, set) = match read {
        Ok(read) => read,
        Err(e) => return vec![format!("predicted vs measured: {e}")],
    };
    let mut notes: Vec<String> = set.skipped.iter().map(|s| format!("skipped {s}")).collect();
    let m = measured::compare(&set.records, &h, &dir.display().to_string());
    match (&m.missing, m.median_efficiency) {
        (Some(why), _) => notes.push(format!("predicted vs measured: {why}")),
        (None, Some(e)) => notes.push(format!(
            "predicted vs measured: {} chapter 04/09 decode records reach {:.0}% of the bandwidth roofline (median)",
            m.comparisons.len(),
            e * 100.0
        )),
        (None, None) => {}
    }
    notes
}
