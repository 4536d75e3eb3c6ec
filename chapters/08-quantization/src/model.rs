//! Chapter 07's model with its weight matrices kept packed: every `Linear` of chapter 03's
//! decoder becomes a [`QMatrix`] multiplied by this chapter's kernel, so decoding reads 5 bits
//! per weight (Q4_1) instead of 32. Everything else — RMSNorm, RoPE, grouped attention, the KV
//! caches — is the earlier chapters' code, unchanged. The block reads as chapter 03's:
//!
//! ```text
//! x ─ embed row ─▶ [b, s, hidden]
//!   each block:  h = x + W_o · Attention(RoPE(W_q·n), RoPE(W_k·n), W_v·n)     n = RMSNorm(x)
//!                x = h + W_down · (SiLU(W_gate·n') ⊙ W_up·n')                n' = RMSNorm(h)
//! ─ RMSNorm ─ W_head (tied: the embedding matrix) ─▶ logits [b, s, vocab]
//! ```
//!
//! `--weights` chooses the form: `native` keeps each matrix as the GGUF stores it (converting
//! only types the kernel does not read, to Q8_0); `f32`, `f16`, `q8_0` and `q4_1` convert every
//! matrix (the embedding too, which the tied LM head reads) to that form. Converting a Q4_1
//! matrix to f32 is exact, so `f32` is the file's weights at full width.
//!
//! `activations` chooses the arithmetic of the quantized forms: `f32` computes what chapter
//! 07's model computes (the same logits to 10⁻⁴), `q8` rounds activations to 8 bits as
//! llama.cpp does — closer to llama.cpp's logits, and faster.

use crate::kernel::{Activations, Form, QMatrix};
use burn::module::Param;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use ch02_attention::{merge_heads, split_heads};
use ch03_transformer_block::attention::grouped_attention;
use ch03_transformer_block::{
    CausalLm, LlamaConfig, ModelError, RmsNorm, RmsNormConfig, Rope, RopeStyle,
};
use ch07_real_model::{GgmlType, Gguf, GgufError, config_from_gguf, rope_row_order};

/// Which form the weight matrices are kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// As the file stores them (types the kernel does not read become Q8_0).
    Native,
    /// Every matrix converted to this form.
    All(Form),
}

impl Weights {
    /// The names `--weights` accepts.
    pub const NAMES: [&'static str; 5] = ["native", "f32", "f16", "q8_0", "q4_1"];

    pub fn parse(name: &str) -> Option<Weights> {
        match name {
            "native" => Some(Weights::Native),
            other => Form::parse(other).map(Weights::All),
        }
    }

    /// Whether any matrix is kept in a quantized form (where `activations` matters).
    pub fn is_quantized(self) -> bool {
        match self {
            Weights::Native => true,
            Weights::All(form) => form.is_quantized(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Weights::Native => "native",
            Weights::All(form) => form.name(),
        }
    }

    /// The form a matrix stored as `stored` is kept in.
    pub fn form_for(self, stored: GgmlType) -> Form {
        match self {
            Weights::All(form) => form,
            Weights::Native => Form::from_ggml(stored).unwrap_or(Form::Q8_0),
        }
    }
}

/// One decoder block: chapter 03's `DecoderBlock` with packed projections.
#[derive(Debug, Clone)]
pub struct QuantizedBlock {
    pub attn_norm: RmsNorm,
    /// W_q, W_k, W_v: one product when they share a form.
    pub qkv: Stacked,
    pub o: QMatrix,
    pub ffn_norm: RmsNorm,
    /// W_gate, W_up: one product when they share a form.
    pub gate_up: Stacked,
    pub down: QMatrix,
}

/// Matrices that read the same input, kept as one stacked matrix when they share a form, so a
/// step makes one pass over the input and one parallel product instead of several (vLLM's
/// `QKVParallelLinear` and `MergedColumnParallelLinear` merge them for the same reason). A
/// file that stores them in different types keeps them apart.
#[derive(Debug, Clone)]
pub struct Stacked {
    groups: Vec<QMatrix>,
    /// Output width of each original matrix, in order.
    widths: Vec<usize>,
}

impl Stacked {
    fn new(parts: Vec<QMatrix>) -> Result<Self, String> {
        let widths = parts.iter().map(|p| p.rows).collect();
        let mut groups: Vec<Vec<QMatrix>> = Vec::new();
        for p in parts {
            match groups.last_mut() {
                Some(g) if g[0].form == p.form => g.push(p),
                _ => groups.push(vec![p]),
            }
        }
        let groups = groups
            .iter()
            .map(|g| QMatrix::stack(g))
            .collect::<Result<_, _>>()?;
        Ok(Stacked { groups, widths })
    }

    /// Each original matrix's product with `x: [b, s, cols]`, in order.
    fn forward(&self, x: Tensor<3>, activations: Activations) -> Vec<Tensor<3>> {
        let outputs: Vec<Tensor<3>> = self
            .groups
            .iter()
            .map(|g| project(g, x.clone(), activations))
            .collect();
        let all = if outputs.len() == 1 {
            outputs.into_iter().next().expect("one group")
        } else {
            Tensor::cat(outputs, 2)
        };
        let mut at = 0;
        self.widths
            .iter()
            .map(|&w| {
                at += w;
                all.clone().narrow(2, at - w, w)
            })
            .collect()
    }

    fn bytes(&self) -> usize {
        self.groups.iter().map(QMatrix::bytes).sum()
    }

    /// The stacked matrices: their rows, one after another, are the parts' rows in order.
    pub(crate) fn groups(&self) -> &[QMatrix] {
        &self.groups
    }
}

#[derive(Debug, Clone)]
pub struct QuantizedLlama {
    pub config: LlamaConfig,
    pub weights: Weights,
    /// How the quantized forms multiply: f32 activations (exact) or 8-bit (llama.cpp's).
    pub activations: Activations,
    /// `[vocab, hidden]`: a row per token id.
    pub embed: QMatrix,
    pub layers: Vec<QuantizedBlock>,
    pub norm: RmsNorm,
    /// `None` when the LM head is tied to `embed`.
    pub head: Option<QMatrix>,
    pub(crate) rope: Rope,
    device: Device,
}

/// `x: [b, s, cols]` · `Wᵀ` → `[b, s, rows]` on the kernel.
fn project(w: &QMatrix, x: Tensor<3>, activations: Activations) -> Tensor<3> {
    let [b, s, _] = x.dims();
    let device = x.device();
    let x = x
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 activations");
    let y = w.matmul(&x, b * s, activations);
    Tensor::from_data(TensorData::new(y, [b, s, w.rows]), &device)
}

impl QuantizedBlock {
    /// The block over `x: [b, s, hidden]` at positions `start..`; `kv` as in chapter 03.
    fn forward(
        &self,
        x: Tensor<3>,
        start: usize,
        model: &QuantizedLlama,
        kv: impl FnOnce(Tensor<4>, Tensor<4>) -> (Tensor<4>, Tensor<4>),
    ) -> Result<Tensor<3>, ModelError> {
        let (heads, kv_heads) = (model.config.num_attention_heads, model.config.kv_heads());
        let (rope, project) = (&model.rope, |w: &QMatrix, x: Tensor<3>| {
            project(w, x, model.activations)
        });
        let n = self.attn_norm.forward(x.clone());
        let [q, k, v]: [Tensor<3>; 3] = self
            .qkv
            .forward(n, model.activations)
            .try_into()
            .expect("q, k, v");
        let (q, k, v) = (
            split_heads(q, heads),
            split_heads(k, kv_heads),
            split_heads(v, kv_heads),
        ); // [b, h|kv, s, d]
        let q = rope.apply(q, start, RopeStyle::SplitHalves);
        let k = rope.apply(k, start, RopeStyle::SplitHalves);
        let (k, v) = kv(k, v);
        let context = grouped_attention(q, k, v)?; // [b, h, s, d]
        let h = x + project(&self.o, merge_heads(context)); // [b, s, hidden]
        let n = self.ffn_norm.forward(h.clone());
        let [gate, up]: [Tensor<3>; 2] = self
            .gate_up
            .forward(n, model.activations)
            .try_into()
            .expect("gate, up");
        Ok(h + project(&self.down, silu(gate) * up))
    }

    fn bytes(&self) -> usize {
        self.qkv.bytes() + self.o.bytes() + self.gate_up.bytes() + self.down.bytes()
    }
}

impl QuantizedLlama {
    /// Bytes of the blocks' matrices and of the norms' f32 gains.
    fn block_and_norm_bytes(&self) -> usize {
        let blocks: usize = self.layers.iter().map(QuantizedBlock::bytes).sum();
        blocks + (2 * self.layers.len() + 1) * self.config.hidden_size * 4
    }

    /// Bytes of weights one decode step reads: every block matrix and the LM head once, one
    /// embedding row, and the norms.
    pub fn weight_bytes_per_token(&self) -> usize {
        let head = self.head.as_ref().unwrap_or(&self.embed).bytes();
        self.block_and_norm_bytes() + head + self.embed.row_bytes()
    }

    /// Bytes of all weights held in memory.
    pub fn weight_bytes(&self) -> usize {
        self.block_and_norm_bytes()
            + self.embed.bytes()
            + self.head.as_ref().map_or(0, QMatrix::bytes)
    }
}

impl CausalLm for QuantizedLlama {
    fn forward_kv(
        &self,
        ids: Tensor<2, Int>,
        start: usize,
        kv: &mut dyn FnMut(usize, Tensor<4>, Tensor<4>) -> (Tensor<4>, Tensor<4>),
    ) -> Result<Tensor<3>, ModelError> {
        let [b, s] = ids.dims();
        if s == 0 {
            return Err(ModelError::Empty);
        }
        let max = self.config.max_position_embeddings;
        if start + s > max {
            return Err(ModelError::PositionsTooLong {
                start,
                end: start + s,
                max,
            });
        }
        let ids = ids
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .expect("int ids");
        let hidden = self.config.hidden_size;
        let rows: Vec<f32> = ids
            .iter()
            .flat_map(|&id| self.embed.dequantize_row(id as usize))
            .collect();
        let mut x = Tensor::from_data(TensorData::new(rows, [b, s, hidden]), &self.device);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x, start, self, |k, v| kv(i, k, v))?;
        }
        let head = self.head.as_ref().unwrap_or(&self.embed);
        Ok(project(head, self.norm.forward(x), self.activations))
    }

    fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }

    fn device(&self) -> Device {
        self.device.clone()
    }
}

/// The GGUF file's model with its matrices in `weights`' forms, multiplied with `activations`.
pub fn load_quantized(
    gguf: &Gguf,
    weights: Weights,
    activations: Activations,
    device: &Device,
) -> Result<QuantizedLlama, GgufError> {
    let config = config_from_gguf(gguf)?;
    let error = |message: String| GgufError {
        path: gguf.path.clone(),
        message,
    };
    // A matrix of `rows` outputs × `cols` inputs, stored with ne = [cols, rows].
    let matrix = |name: &str, rows: usize, cols: usize| -> Result<QMatrix, GgufError> {
        let info = gguf.tensor(name)?;
        if info.dims != [cols as u64, rows as u64] {
            return Err(error(format!(
                "tensor `{name}` has ne {:?}, the config implies [{cols}, {rows}]",
                info.dims
            )));
        }
        let form = weights.form_for(info.ggml_type);
        let packed = if Form::from_ggml(info.ggml_type) == Some(form) {
            QMatrix::from_ggml_bytes(form, gguf.tensor_bytes(info)?, rows, cols)
        } else {
            QMatrix::from_f32(form, &gguf.dequantize(name)?, rows, cols)
        };
        packed.map_err(|e| error(format!("tensor `{name}`: {e}")))
    };
    let vector = |name: &str| -> Result<RmsNorm, GgufError> {
        let hidden = config.hidden_size;
        let values = gguf.dequantize(name)?;
        if values.len() != hidden {
            return Err(error(format!(
                "tensor `{name}` has {} values, expected {hidden}",
                values.len()
            )));
        }
        let mut norm = RmsNormConfig::new(hidden)
            .with_eps(config.rms_norm_eps)
            .init(device);
        norm.weight =
            Param::from_tensor(Tensor::from_data(TensorData::new(values, [hidden]), device));
        Ok(norm)
    };
    let (hidden, ffn, d) = (
        config.hidden_size,
        config.intermediate_size,
        config.head_dim(),
    );
    let (heads, kv_heads) = (config.num_attention_heads, config.kv_heads());
    let stacked = |parts| Stacked::new(parts).map_err(&error);
    let layers = (0..config.num_hidden_layers)
        .map(|i| {
            let name = |t: &str| format!("blk.{i}.{t}.weight");
            Ok(QuantizedBlock {
                attn_norm: vector(&name("attn_norm"))?,
                // Q and K rows back from llama.cpp's RoPE order to chapter 03's (chapter 07).
                qkv: stacked(vec![
                    matrix(&name("attn_q"), heads * d, hidden)?
                        .permute_rows(&rope_row_order(heads, d)),
                    matrix(&name("attn_k"), kv_heads * d, hidden)?
                        .permute_rows(&rope_row_order(kv_heads, d)),
                    matrix(&name("attn_v"), kv_heads * d, hidden)?,
                ])?,
                o: matrix(&name("attn_output"), hidden, heads * d)?,
                ffn_norm: vector(&name("ffn_norm"))?,
                gate_up: stacked(vec![
                    matrix(&name("ffn_gate"), ffn, hidden)?,
                    matrix(&name("ffn_up"), ffn, hidden)?,
                ])?,
                down: matrix(&name("ffn_down"), hidden, ffn)?,
            })
        })
        .collect::<Result<Vec<_>, GgufError>>()?;
    Ok(QuantizedLlama {
        embed: matrix("token_embd.weight", config.vocab_size, hidden)?,
        head: if config.tie_word_embeddings {
            None
        } else {
            Some(matrix("output.weight", config.vocab_size, hidden)?)
        },
        norm: vector("output_norm.weight")?,
        layers,
        rope: Rope {
            theta: config.rope_theta,
            llama3: config.rope_scaling,
        },
        weights,
        activations,
        config,
        device: device.clone(),
    })
}
