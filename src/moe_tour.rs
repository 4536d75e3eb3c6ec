//! Chapter 06's demonstration for `tour`: the load of a balanced and a skewed router (with the
//! histograms drawn into the report directory) and the MoE layer against its two dense
//! baselines at one size.

use crate::plot::{Axes, bar_chart, report_dir};
use crate::table::{Table, thousands};
use burn::tensor::Device;
use ch06_moe::MoeConfig;
use ch06_moe::demo::{LoadDemo, SpeedDemo, load_demo, speed_demo};
use serde::Serialize;
use std::fmt;

#[derive(Debug, Serialize)]
pub struct MoeTour {
    /// 8 experts, top-2, capacity factor 1.25: a balanced and a skewed router.
    pub loads: Vec<LoadDemo>,
    pub speed: SpeedDemo,
    pub charts: Vec<String>,
}

pub fn tour(quick: bool) -> anyhow::Result<MoeTour> {
    let device = Device::flex();
    device.seed(6);
    let tokens = if quick { 512 } else { 2048 };
    let config = MoeConfig::new(256, 64, 8, 2).with_capacity_factor(Some(1.25));
    let mut loads = Vec::new();
    let mut charts = Vec::new();
    for (stem, skew) in [
        ("moe-tour-load-balanced", 0.0),
        ("moe-tour-load-skewed", 1.0),
    ] {
        let demo = load_demo(&config, tokens, skew, &device)?;
        let bars: Vec<(String, f64)> = (demo.load.tokens_per_expert.iter().enumerate())
            .map(|(e, &n)| (format!("expert {e}"), n as f64))
            .collect();
        let title = format!(
            "{} router, {tokens} tokens, top-2 of 8: tokens per expert",
            demo.router
        );
        let axes = Axes {
            title: &title,
            x: "expert",
            y: "token assignments",
            log_x: false,
            log_y: false,
        };
        for p in bar_chart(&report_dir().join(stem), axes, &bars)? {
            charts.push(p.display().to_string());
        }
        loads.push(demo);
    }
    let speed_config = MoeConfig::new(256, 512, 8, 2);
    let speed = speed_demo(&speed_config, if quick { 256 } else { 1024 }, 5, &device)?;
    Ok(MoeTour {
        loads,
        speed,
        charts,
    })
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
