//! Accelerators: the shipped catalog (`data/hardware.yaml`) and `this-machine`, built from the
//! limits `llm-workbench machine` measured and the system memory.

use crate::bail_input;
use crate::error::bad_input;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const CATALOG_YAML: &str = include_str!("../../data/hardware.yaml");
pub const THIS_MACHINE: &str = "this-machine";

/// One entry of `data/hardware.yaml`, as written there (MiB, GB/s, TFLOP/s).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    name: String,
    memory_mib: f64,
    bandwidth_gb_s: f64,
    peak_tflops: BTreeMap<String, f64>,
    spec_source: String,
    usd_per_hour: Option<f64>,
    price_as_of: Option<String>,
    price_source: Option<String>,
}

/// An accelerator in base units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hardware {
    pub id: String,
    pub name: String,
    /// Memory one device offers, bytes.
    pub memory_bytes: f64,
    pub bandwidth_bytes_per_s: f64,
    /// Dense peak FLOP/s per dtype (`fp32`, `bf16`, `fp8`, …).
    pub peak_flops: BTreeMap<String, f64>,
    pub spec_source: String,
    /// Rental price of one device; `None` where there is none (this machine).
    pub usd_per_hour: Option<f64>,
    pub price_as_of: Option<String>,
    pub price_source: Option<String>,
}

impl Hardware {
    /// Peak FLOP/s for a compute dtype, falling back to bf16 then fp32 (e.g. fp8 weights on an
    /// A100 run as bf16 matmuls; a CPU only has a measured fp32 rate). Returns the dtype used.
    pub fn peak_flops_for(&self, dtype: &str) -> (f64, String) {
        for d in [dtype, "bf16", "fp32"] {
            if let Some(v) = self.peak_flops.get(d) {
                return (*v, d.to_string());
            }
        }
        let (d, v) = self
            .peak_flops
            .iter()
            .next()
            .map(|(d, v)| (d.clone(), *v))
            .unwrap_or(("none".into(), 0.0));
        (v, d)
    }
}

fn from_entry(e: Entry) -> Hardware {
    Hardware {
        id: e.id,
        name: e.name,
        memory_bytes: e.memory_mib * 1024.0 * 1024.0,
        bandwidth_bytes_per_s: e.bandwidth_gb_s * 1e9,
        peak_flops: e
            .peak_tflops
            .into_iter()
            .map(|(k, v)| (k, v * 1e12))
            .collect(),
        spec_source: e.spec_source,
        usd_per_hour: e.usd_per_hour,
        price_as_of: e.price_as_of,
        price_source: e.price_source,
    }
}

/// Parses a hardware catalog; errors name the file, line and column, or the bad field.
pub fn parse_catalog(yaml: &str, origin: &str) -> anyhow::Result<Vec<Hardware>> {
    let list: Vec<Entry> = serde_yaml_ng::from_str(yaml).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        bad_input(
            format!("{origin}{at}"),
            e.to_string().lines().next().unwrap_or_default(),
        )
    })?;
    for e in &list {
        let bad = |field: &str| -> anyhow::Result<()> {
            bail_input!("{origin}: hardware {}: `{field}` must be positive", e.id)
        };
        if !positive(e.memory_mib) {
            bad("memory_mib")?;
        }
        if !positive(e.bandwidth_gb_s) {
            bad("bandwidth_gb_s")?;
        }
        if e.peak_tflops.is_empty() || e.peak_tflops.values().any(|v| !positive(*v)) {
            bad("peak_tflops")?;
        }
        if e.usd_per_hour.is_some_and(|p| p < 0.0 || p.is_nan()) {
            bad("usd_per_hour")?;
        }
    }
    Ok(list.into_iter().map(from_entry).collect())
}

fn positive(v: f64) -> bool {
    v > 0.0
}

/// The shipped catalog.
pub fn catalog() -> Vec<Hardware> {
    match parse_catalog(CATALOG_YAML, "data/hardware.yaml") {
        Ok(list) => list,
        Err(e) => unreachable!("the shipped hardware catalog is invalid: {e}"),
    }
}

/// System memory in bytes, from /proc/meminfo (`MemTotal`).
pub fn system_memory_bytes() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// `this-machine`: memory = system RAM, bandwidth and fp32 peak = the latest measured limits.
pub fn this_machine(records_dir: &Path) -> anyhow::Result<Hardware> {
    let Some(limits) = crate::records::latest_limits(records_dir)? else {
        bail_input!(
            "--hardware this-machine: no machine records in {}; run `llm-workbench machine` first",
            records_dir.display()
        );
    };
    let Some(memory_bytes) = system_memory_bytes() else {
        bail_input!("--hardware this-machine: cannot read MemTotal from /proc/meminfo");
    };
    Ok(Hardware {
        id: THIS_MACHINE.into(),
        name: format!(
            "this machine ({} threads, measured)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ),
        memory_bytes,
        bandwidth_bytes_per_s: limits.bandwidth_gb_s * 1e9,
        peak_flops: BTreeMap::from([("fp32".to_string(), limits.matmul_gflops * 1e9)]),
        spec_source: format!(
            "measured by `llm-workbench machine` (records in {}); memory from /proc/meminfo",
            records_dir.display()
        ),
        usd_per_hour: None,
        price_as_of: None,
        price_source: None,
    })
}

/// Looks up a hardware id (`this-machine` included); unknown ids list the close matches.
pub fn resolve(id: &str, records_dir: &Path) -> anyhow::Result<Hardware> {
    let lower = id.to_lowercase();
    if lower == THIS_MACHINE {
        return this_machine(records_dir);
    }
    let list = catalog();
    if let Some(h) = list.iter().find(|h| h.id == lower) {
        return Ok(h.clone());
    }
    let ids: Vec<&str> = list
        .iter()
        .map(|h| h.id.as_str())
        .chain([THIS_MACHINE])
        .collect();
    let close = super::arch::close_matches(&lower, ids.iter().copied());
    if close.is_empty() {
        bail_input!(
            "--hardware: unknown hardware `{id}`; known: {}",
            ids.join(", ")
        );
    }
    bail_input!(
        "--hardware: unknown hardware `{id}`; did you mean {}?",
        close.join(", ")
    )
}
