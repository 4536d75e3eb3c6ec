//! `llm-workbench gqa`: chapter 05 from the command line — which real models share K/V heads,
//! what it saves per token, and the equivalence of the broadcast, looped and fused forms.

use crate::budget::arch::catalog;
use crate::budget::calc::{KvDtype, kv_bytes_per_token};
use crate::output::{JsonFlag, emit};
use crate::table::{Table, bytes};
use burn::tensor::module::attention as burn_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Distribution, Tensor};
use ch05_gqa::share::grouped_attention;
use clap::Args;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct GqaArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub device: crate::device::DeviceFlag,
}

/// One catalog model's attention sharing.
#[derive(Debug, Serialize)]
pub struct ModelSharing {
    pub id: String,
    pub attention: &'static str,
    pub heads: u64,
    pub kv_heads: u64,
    /// Query heads per K/V head.
    pub group: u64,
    pub kv_bytes_per_token_bf16: f64,
    /// The same model with one K/V head per query head (MHA), for comparison.
    pub mha_kv_bytes_per_token_bf16: f64,
}

/// The largest difference between the broadcast form and the per-head loop, and burn's fused
/// op, for one shape.
#[derive(Debug, Serialize)]
pub struct Agreement {
    pub heads: usize,
    pub kv_heads: usize,
    pub max_abs_diff_vs_loop: f32,
    pub max_abs_diff_vs_burn: f32,
}

#[derive(Debug, Serialize)]
pub struct GqaOutput {
    pub models: Vec<ModelSharing>,
    pub agreement: Vec<Agreement>,
}

pub fn models() -> Vec<ModelSharing> {
    catalog()
        .into_iter()
        .map(|a| {
            // The same model with a K and a V head per query head.
            let mut mha = a.clone();
            mha.kv_heads = a.heads;
            ModelSharing {
                attention: a.attention_kind(),
                heads: a.heads,
                kv_heads: a.kv_heads,
                group: a.heads / a.kv_heads.max(1),
                kv_bytes_per_token_bf16: kv_bytes_per_token(&a, KvDtype::Bf16, 1),
                mha_kv_bytes_per_token_bf16: match &a.mla {
                    // MLA's uncompressed equivalent: full K (nope + rope dims) and V per head.
                    Some(m) => {
                        (a.layers
                            * a.heads
                            * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim))
                            as f64
                            * KvDtype::Bf16.bytes()
                    }
                    None => kv_bytes_per_token(&mha, KvDtype::Bf16, 1),
                },
                id: a.id,
            }
        })
        .collect()
}

pub fn agreement(device: &Device) -> anyhow::Result<Vec<Agreement>> {
    let n = Distribution::Normal(0.0, 1.0);
    [8usize, 2, 1]
        .into_iter()
        .map(|kv| {
            let q = Tensor::<4>::random([1, 8, 64, 64], n, device);
            let k = Tensor::<4>::random([1, kv, 64, 64], n, device);
            let v = Tensor::<4>::random([1, kv, 64, 64], n, device);
            let ours = grouped_attention(q.clone(), k.clone(), v.clone(), true)?;
            let looped = ch05_gqa::per_head_loop(q.clone(), k.clone(), v.clone(), true)?;
            let options = AttentionModuleOptions {
                is_causal: true,
                ..Default::default()
            };
            let fused = burn_attention(q, k, v, None, None, options);
            let diff = |x: Tensor<4>| (ours.clone() - x).abs().max().into_scalar::<f32>();
            Ok(Agreement {
                heads: 8,
                kv_heads: kv,
                max_abs_diff_vs_loop: diff(looped),
                max_abs_diff_vs_burn: diff(fused),
            })
        })
        .collect()
}

pub fn report(device: &Device) -> anyhow::Result<GqaOutput> {
    Ok(GqaOutput {
        models: models(),
        agreement: agreement(device)?,
    })
}

impl std::fmt::Display for GqaOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t = Table::new([
            "model",
            "attention",
            "heads",
            "kv heads",
            "group",
            "KV/token bf16",
            "if MHA",
            "saved",
        ]);
        for m in &self.models {
            t.row([
                m.id.clone(),
                m.attention.to_string(),
                m.heads.to_string(),
                m.kv_heads.to_string(),
                m.group.to_string(),
                bytes(m.kv_bytes_per_token_bf16),
                bytes(m.mha_kv_bytes_per_token_bf16),
                format!(
                    "{:.1}×",
                    m.mha_kv_bytes_per_token_bf16 / m.kv_bytes_per_token_bf16
                ),
            ]);
        }
        writeln!(f, "{t}")?;
        let mut t = Table::new([
            "heads",
            "kv heads",
            "max |Δ| vs per-head loop",
            "max |Δ| vs burn fused",
        ]);
        for a in &self.agreement {
            t.row([
                a.heads.to_string(),
                a.kv_heads.to_string(),
                format!("{:.1e}", a.max_abs_diff_vs_loop),
                format!("{:.1e}", a.max_abs_diff_vs_burn),
            ]);
        }
        write!(f, "{t}")
    }
}

pub fn run(args: &GqaArgs) -> anyhow::Result<()> {
    emit(&report(&args.device.open()?)?, args.out)
}
