//! The chapters on burn's wgpu backend (`cargo test --features wgpu --test wgpu_device`): CI
//! runs it on Mesa's lavapipe, a Vulkan implementation on the CPU, so the GPU code path —
//! kernels compiled to SPIR-V, buffers on a device, results read back — is exercised on a
//! machine with no GPU.
//!
//! A subset of the chapter tests, chosen for what a device changes: attention in every form
//! against burn's fused op (chapter 02), grouped-query attention against its per-head loop
//! (chapter 05), the same weights giving the same logits on wgpu as on flex (chapter 03), and
//! every cache decoding the tokens of no cache (chapter 04). The rest (tokenizers, calculators,
//! chapter 08's CPU kernels) does not touch a device. Every kernel is compiled on first use, and
//! lavapipe runs them on 2 CPU cores, so each check is one small shape: the file takes about a
//! minute here, most of it shader compilation.
//!
//! Tolerances: a GPU sums in its own order (workgroup reductions), so results are compared
//! with an absolute tolerance stated per check, not for bit equality.
#![cfg(feature = "wgpu")]

use burn::module::Module;
use burn::tensor::module::attention as burn_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Distribution, Tensor};
use ch03_transformer_block::{LlamaConfig, LlamaModel};
use ch04_kv_cache::paged::BlockPool;
use ch04_kv_cache::{
    ConcatCache, Overflow, PagedCache, PreallocCache, generate_cached, generate_no_cache,
};
use llm_workbench::device::DeviceChoice;

fn wgpu() -> Device {
    DeviceChoice::Wgpu
        .open()
        .expect("built with --features wgpu")
}

/// Largest |a − b| over two tensors of one shape.
fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// A tensor's values, moved to another device through host memory.
fn on<const D: usize>(t: &Tensor<D>, device: &Device) -> Tensor<D> {
    Tensor::from_data(t.to_data(), device)
}

/// Chapter 02 on wgpu: the step-by-step and tiled forms against burn's fused op on the same
/// device, and wgpu's fused op against flex's on the same input. Tolerance 1e-5 (lavapipe
/// measured 5.7e-7 at s = 256 from the command line).
#[test]
fn attention_forms_agree_on_wgpu() {
    let (gpu, cpu) = (wgpu(), Device::flex());
    let shape = [1, 4, 96, 32];
    let n = Distribution::Normal(0.0, 1.0);
    let [q, k, v] = [0, 1, 2].map(|_| Tensor::<4>::random(shape, n, &cpu));
    let [gq, gk, gv] = [&q, &k, &v].map(|t| on(t, &gpu));
    for causal in [true, false] {
        let options = AttentionModuleOptions {
            is_causal: causal,
            ..Default::default()
        };
        let fused = burn_attention(gq.clone(), gk.clone(), gv.clone(), None, None, options);
        let steps =
            ch02_attention::attention(gq.clone(), gk.clone(), gv.clone(), causal, None).unwrap();
        let tiled =
            ch02_attention::tiled_attention(gq.clone(), gk.clone(), gv.clone(), causal, None, 32)
                .unwrap();
        let flex = burn_attention(q.clone(), k.clone(), v.clone(), None, None, options);
        let d_steps = max_diff(steps, fused.clone());
        let d_tiled = max_diff(tiled, fused.clone());
        let d_device = max_diff(on(&fused, &cpu), flex);
        println!(
            "causal {causal}: steps {d_steps:e}, tiled {d_tiled:e}, wgpu vs flex {d_device:e}"
        );
        for d in [d_steps, d_tiled, d_device] {
            assert!(d <= 1e-5, "causal {causal}: {d}");
        }
    }
}

/// Chapter 05 on wgpu: 8 query heads sharing 2 and 1 KV heads, broadcast form against the
/// per-head loop. Tolerance 1e-5.
#[test]
fn grouped_attention_matches_its_loop_on_wgpu() {
    let gpu = wgpu();
    let n = Distribution::Normal(0.0, 1.0);
    for kv in [2, 1] {
        let q = Tensor::<4>::random([1, 8, 40, 16], n, &gpu);
        let k = Tensor::<4>::random([1, kv, 40, 16], n, &gpu);
        let v = Tensor::<4>::random([1, kv, 40, 16], n, &gpu);
        let ours =
            ch05_gqa::share::grouped_attention(q.clone(), k.clone(), v.clone(), true).unwrap();
        let looped = ch05_gqa::per_head_loop(q, k, v, true).unwrap();
        let d = max_diff(ours, looped);
        println!("kv heads {kv}: {d:e}");
        assert!(d <= 1e-5, "kv heads {kv}: {d}");
    }
}

/// A small grouped-query model (4 query heads, 2 KV heads).
fn config() -> LlamaConfig {
    LlamaConfig {
        num_key_value_heads: Some(2),
        max_position_embeddings: 64,
        ..LlamaConfig::new(64, 176, 2, 4, 97)
    }
}

/// Chapters 03 and 04 on wgpu: the same weights give flex's logits (tolerance 1e-4: two
/// layers of sums in another order), and every cache decodes exactly the tokens of decoding
/// without one, with logits within 1e-4 at every step.
#[test]
fn the_model_and_every_cache_on_wgpu() {
    let (gpu, cpu) = (wgpu(), Device::flex());
    cpu.seed(7);
    let on_cpu = LlamaModel::new(&config(), &cpu).unwrap();
    let on_gpu = on_cpu.clone().to_device(&gpu);
    let prompt: Vec<u32> = (0..12).map(|i| (i * 13 + 3) % 97).collect();
    let new = 6;

    let reference = generate_no_cache(&on_cpu, &prompt, new).unwrap();
    let uncached = generate_no_cache(&on_gpu, &prompt, new).unwrap();
    assert_eq!(uncached.tokens, reference.tokens, "wgpu vs flex tokens");
    let logit_diff = |a: &ch04_kv_cache::Generation, b: &ch04_kv_cache::Generation| {
        a.step_logits
            .iter()
            .zip(&b.step_logits)
            .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
            .fold(0f32, f32::max)
    };
    let d = logit_diff(&uncached, &reference);
    println!("wgpu vs flex, no cache: {d:e}");
    assert!(d <= 1e-4, "{d}");

    let c = config();
    let (l, kv, hd) = (c.num_hidden_layers, c.kv_heads(), c.head_dim());
    let total = prompt.len() + new;
    let pool = BlockPool::new(l, kv, hd, total.div_ceil(4), 4, &gpu).unwrap();
    let caches: Vec<(&str, Box<dyn ch04_kv_cache::KvCache>)> = vec![
        ("concat", Box::new(ConcatCache::new(l))),
        (
            "prealloc",
            Box::new(PreallocCache::new(l, 1, kv, hd, total, Overflow::Error, &gpu).unwrap()),
        ),
        ("paged", Box::new(PagedCache::new(pool.shared()))),
    ];
    for (name, mut cache) in caches {
        let got = generate_cached(&on_gpu, cache.as_mut(), &prompt, new).unwrap();
        assert_eq!(got.tokens, uncached.tokens, "{name}: tokens differ");
        let d = logit_diff(&got, &uncached);
        println!("{name} vs no cache on wgpu: {d:e}");
        assert!(d <= 1e-4, "{name}: {d}");
    }
}
