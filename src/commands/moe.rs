//! `llm-workbench moe`: chapter 06's demonstration. The load of a balanced and a skewed router
//! (with the histograms drawn into the report directory) and the MoE layer against its two
//! dense baselines at one size. `tour` runs it with the defaults.

use crate::error::bad_input;
use crate::output::{JsonFlag, emit};
use crate::plot::{Axes, Unit, bar_chart_with_lines, format_value, report_dir};
use crate::table::{Table, thousands};
use ch06_moe::MoeConfig;
use ch06_moe::demo::{LoadDemo, SpeedDemo, load_demo, speed_demo};
use clap::Args;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// Sizes that keep the demonstration within about a GiB: the speed run's dense baseline is
/// `experts × 512` wide (at 256 experts, three 256 × 131,072 f32 matrices, 384 MiB), and its
/// activations are `speed tokens × experts × 512` floats, held under `MAX_DENSE_BYTES`.
const MAX_TOKENS: usize = 65_536;
const MAX_EXPERTS: usize = 256;
const MAX_DENSE_BYTES: usize = 1 << 30;

#[derive(Debug, Clone, Args)]
pub struct MoeArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub device: crate::device::DeviceFlag,
    /// Tokens routed in the load demonstration (the speed runs use half as many).
    #[arg(long, default_value_t = 2048)]
    pub tokens: usize,
    /// Number of experts.
    #[arg(long, default_value_t = 8)]
    pub experts: usize,
    /// Experts each token is sent to.
    #[arg(long, default_value_t = 2)]
    pub top_k: usize,
    /// Capacity factor of the load demonstration: each expert keeps at most
    /// `factor · tokens · top_k / experts` assignments, the rest are dropped.
    #[arg(long, default_value_t = 1.25, allow_hyphen_values = true)]
    pub capacity_factor: f64,
    /// Skew of the second router: 0 is balanced, larger favours low-numbered experts.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub skew: f64,
    /// Small sizes: 512 tokens for the load, 256 for the speed runs.
    #[arg(long, conflicts_with = "tokens")]
    pub quick: bool,
}

impl Default for MoeArgs {
    fn default() -> Self {
        MoeArgs {
            out: JsonFlag { json: false },
            device: Default::default(),
            tokens: 2048,
            experts: 8,
            top_k: 2,
            capacity_factor: 1.25,
            skew: 1.0,
            quick: false,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct MoeTour {
    /// A balanced and a skewed router (8 experts, top-2, capacity factor 1.25 by default).
    pub loads: Vec<LoadDemo>,
    pub speed: SpeedDemo,
    pub charts: Vec<String>,
}

/// Runs the demonstration: a balanced and a skewed router, then MoE vs dense time.
pub fn demonstrate(args: &MoeArgs) -> anyhow::Result<MoeTour> {
    let input = |e| bad_input("moe", e);
    if !(args.skew.is_finite() && args.skew >= 0.0) {
        return Err(bad_input(
            "moe",
            format!("--skew {}: must be zero or positive", args.skew),
        ));
    }
    let device = args.device.open()?;
    device.seed(6);
    let tokens = if args.quick { 512 } else { args.tokens };
    if !(1..=MAX_TOKENS).contains(&tokens) {
        return Err(bad_input(
            "moe",
            format!("--tokens {tokens}: must be from 1 to {MAX_TOKENS}"),
        ));
    }
    // The dense baseline of the speed run is `experts` times as wide as one expert.
    if args.experts > MAX_EXPERTS {
        return Err(bad_input(
            "moe",
            format!(
                "--experts {}: at most {MAX_EXPERTS} (the dense baseline grows with it)",
                args.experts
            ),
        ));
    }
    let config = MoeConfig::new(256, 64, args.experts, args.top_k)
        .with_capacity_factor(Some(args.capacity_factor));
    config.validate().map_err(input)?;
    let mut loads = Vec::new();
    let mut charts = Vec::new();
    // Refused before any chart is drawn: bad input writes nothing.
    let speed_config = MoeConfig::new(256, 512, args.experts, args.top_k);
    let speed_tokens = if args.quick { 256 } else { tokens.div_ceil(2) };
    let dense_bytes = speed_tokens * args.experts * 512 * 4;
    if dense_bytes > MAX_DENSE_BYTES {
        return Err(bad_input(
            "moe",
            format!(
                "--tokens {tokens} with --experts {}: the dense baseline's activations would take \
                 {} MiB, more than {} MiB; use fewer tokens or experts",
                args.experts,
                dense_bytes >> 20,
                MAX_DENSE_BYTES >> 20
            ),
        ));
    }
    for (stem, skew) in [
        ("moe-tour-load-balanced", 0.0),
        ("moe-tour-load-skewed", args.skew),
    ] {
        let demo = load_demo(&config, tokens, skew, &device).map_err(input)?;
        for p in load_chart(&report_dir().join(stem), &demo)? {
            charts.push(p.display().to_string());
        }
        loads.push(demo);
    }
    let speed = speed_demo(&speed_config, speed_tokens, 5, &device).map_err(input)?;
    Ok(MoeTour {
        loads,
        speed,
        charts,
    })
}

/// The tokens routed to each expert as bars, with the capacity (when there is one) and the fair
/// share of a perfectly balanced router (`tokens × top_k / experts`) as lines across them.
pub fn load_chart(stem: &std::path::Path, demo: &LoadDemo) -> anyhow::Result<Vec<PathBuf>> {
    let bars: Vec<(String, f64)> = (demo.load.tokens_per_expert.iter().enumerate())
        .map(|(e, &n)| (e.to_string(), n as f64))
        .collect();
    let fair = (demo.tokens * demo.top_k) as f64 / demo.experts as f64;
    let mut lines = Vec::new();
    if let Some(cap) = demo.load.capacity {
        let factor = demo
            .capacity_factor
            .map_or(String::new(), |f| format!(" (factor {f})"));
        lines.push((
            format!("capacity: {} per expert{factor}", thousands(cap as f64, 0)),
            cap as f64,
        ));
    }
    lines.push((
        format!(
            "fair share: {} ({} tokens × top-{} / {} experts)",
            format_value(Unit::Plain, fair),
            thousands(demo.tokens as f64, 0),
            demo.top_k,
            demo.experts
        ),
        fair,
    ));
    let title = format!(
        "Tokens per expert, {} router: CV {:.2}, {:.1}% dropped",
        demo.router,
        demo.load.coefficient_of_variation,
        demo.load.drop_rate * 100.0
    );
    let axes = Axes {
        title: &title,
        x: "expert",
        y: "token assignments routed (before the capacity cut)",
        log_x: false,
        log_y: false,
    };
    bar_chart_with_lines(stem, axes, &bars, &lines)
}

pub fn run(args: &MoeArgs) -> anyhow::Result<()> {
    emit(&demonstrate(args)?, args.out)
}

impl fmt::Display for MoeTour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = Table::new([
            "router",
            "tokens per expert",
            "CV",
            "max/mean − 1",
            "dropped",
            "aux loss",
            "z-loss",
        ]);
        for d in &self.loads {
            t.row([
                d.router.clone(),
                format!("{:?}", d.load.tokens_per_expert),
                format!("{:.2}", d.load.coefficient_of_variation),
                format!("{:.2}", d.load.max_violation),
                format!("{:.1}%", d.load.drop_rate * 100.0),
                format!("{:.3}", d.aux_loss),
                format!("{:.2}", d.z_loss),
            ]);
        }
        let (d0, cap) = (&self.loads[0], self.loads[0].load.capacity.unwrap_or(0));
        writeln!(
            f,
            "Routing {} tokens to top-{} of {} experts, capacity {cap} per expert:\n{t}",
            d0.tokens, d0.top_k, d0.experts
        )?;
        let s = &self.speed;
        let mut t = Table::new(["layer", "params (active / total)", "µs per token"]);
        let per_token = |secs: f64| thousands(secs / s.tokens as f64 * 1e6, 2);
        t.row([
            format!("MoE {} experts top-{}", s.experts, s.top_k),
            format!(
                "{} / {}",
                thousands(s.active_params as f64, 0),
                thousands(s.total_params as f64, 0)
            ),
            per_token(s.moe_s),
        ]);
        let dense = |experts: usize| thousands((3 * s.hidden * experts * s.intermediate) as f64, 0);
        t.row([
            "dense, same active params".into(),
            dense(s.top_k),
            per_token(s.dense_active_s),
        ]);
        t.row([
            "dense, same total params".into(),
            dense(s.experts),
            per_token(s.dense_total_s),
        ]);
        writeln!(
            f,
            "MoE vs dense SwiGLU, hidden {}, {} tokens:\n{t}",
            s.hidden, s.tokens
        )?;
        writeln!(
            f,
            "routing + dispatch + combine: {:.1}% of the MoE layer's time",
            s.phases.overhead_share() * 100.0
        )
    }
}
