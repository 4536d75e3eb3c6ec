//! `llm-workbench toolcall …`: tool-call outputs scored against the five-tool schema, the
//! schema itself, and runs of a local model on the shipped requests (free or constrained).

use super::generate::{CacheKind, Request, open_real_model, run_generation_masked};
use crate::data::read_user_or_shipped;
use crate::error::{BadInput, bad_input, read_user_file};
use crate::output::{JsonFlag, emit, write_atomic};
use crate::records::{Record, Throughput};
use crate::router::gate::{self, Scores, tool_specs};
use crate::router::requests::{self, ToolRequest};
use ch07_real_model::Sampling;
use ch07_real_model::constrain::ToolCallConstraint;
use ch07_real_model::fetch;
use ch07_real_model::toolschema::{ToolSpec, from_json_schema, to_json_schema};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Args)]
pub struct ToolcallArgs {
    #[command(subcommand)]
    pub sub: ToolcallSub,
}

#[derive(Debug, Subcommand)]
pub enum ToolcallSub {
    /// Score tool-call outputs (JSONL): valid JSON, schema match, right tool and right
    /// arguments per model and task type.
    Score(ScoreArgs),
    /// Print the five tools as one JSON Schema (what `--tools` and serving engines read).
    Schema(SchemaArgs),
    /// Ask a local model every request of a request file and write its outputs (JSONL).
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Outputs (JSONL): {model, taskType?, output, expectedTool?, expectedParams?, usage?,
    /// latencyMs?}; may be repeated.
    #[arg(long, required = true)]
    pub outputs: Vec<PathBuf>,
    /// Score against another tool set, a JSON Schema (default: the five reference tools).
    #[arg(long)]
    pub tools: Option<PathBuf>,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write the schema to this file instead of printing it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The model: `smollm2` (after `llm-workbench fetch smollm2`) or a llama-architecture .gguf.
    #[arg(long)]
    pub model: String,
    /// Grammar-constrained decoding: only tokens that keep the output a valid call are allowed.
    #[arg(long)]
    pub constrained: bool,
    /// Where the outputs go (JSONL, one line per request; written whole at the end).
    #[arg(long)]
    pub out: PathBuf,
    /// The requests (YAML): id, language, request, expectedTool, expectedParams.
    #[arg(long, default_value = "data/toolcalls/requests.yaml")]
    pub requests: PathBuf,
    /// Another tool set, as a JSON Schema (`toolcall schema` prints the default one).
    #[arg(long)]
    pub tools: Option<PathBuf>,
    /// Only the first N requests.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Tokens the model may write per request.
    #[arg(long, default_value_t = 96)]
    pub max_new_tokens: usize,
    /// The form the weight matrices are kept in (as `generate --weights`).
    #[arg(long, default_value = "native")]
    pub weights: String,
    /// `f32` or `q8` activations (as `generate --activations`).
    #[arg(long, default_value = "f32")]
    pub activations: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// Scores outputs files; a run where no line could be read is bad input.
pub fn load_scores(paths: &[PathBuf]) -> anyhow::Result<Scores> {
    load_scores_with(paths, &tool_specs())
}

fn load_scores_with(paths: &[PathBuf], tools: &[ToolSpec]) -> anyhow::Result<Scores> {
    let inputs = paths
        .iter()
        .map(|p| Ok((p.display().to_string(), read_user_file(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let scores = gate::score_files(&inputs, tools);
    if scores.scores.is_empty() {
        let first = scores
            .malformed
            .first()
            .map_or(String::new(), |m| format!("; first: {}", m.reason));
        crate::bail_input!(
            "{}: no output could be scored ({} malformed line(s){first})",
            scores.files.join(", "),
            scores.malformed_lines
        );
    }
    Ok(scores)
}

/// Reads a tool set from a JSON Schema file; what the constrainer cannot express is refused.
pub fn load_tools(path: &Path) -> anyhow::Result<Vec<ToolSpec>> {
    let file = path.display();
    let value: serde_json::Value = serde_json::from_str(&read_user_file(path)?)
        .map_err(|e| BadInput(format!("{file}: not JSON: {e}")))?;
    from_json_schema(&value).map_err(|e| BadInput(format!("{file}: {e}")).into())
}

/// `--tools FILE` when given, else the router's five tools.
fn tools_or_default(path: Option<&Path>) -> anyhow::Result<Vec<ToolSpec>> {
    path.map_or_else(|| Ok(tool_specs()), load_tools)
}

/// Writes `bytes` to `path` whole (or not at all); a failure names the file.
fn write_out(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic(path, bytes).map_err(|e| bad_input(path.display(), e))
}

/// Runs `llm-workbench toolcall …`.
pub fn run(args: &ToolcallArgs) -> anyhow::Result<()> {
    match &args.sub {
        ToolcallSub::Score(s) => {
            let tools = tools_or_default(s.tools.as_deref())?;
            emit(&load_scores_with(&s.outputs, &tools)?, s.out)
        }
        ToolcallSub::Schema(s) => {
            let text = serde_json::to_string_pretty(&to_json_schema(&tool_specs()))? + "\n";
            match &s.out {
                Some(path) => write_out(path, text.as_bytes()),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        ToolcallSub::Run(r) => emit(&run_requests(r)?, r.json),
    }
}

/// What `toolcall run` wrote, scored.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub model: String,
    pub out: String,
    pub constrained: bool,
    pub scores: Scores,
}

impl std::fmt::Display for RunReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} → {}", self.model, self.out)?;
        write!(f, "{}", self.scores)
    }
}

/// The id a run's outputs carry: the budget's id of the model (or the file's name), where it
/// ran, the weights and activations when not the defaults, and whether decoding was
/// constrained; the router prices it as a `self-hosted-cpu` model, so runs of different set-ups
/// never merge into one.
fn run_model_id(args: &RunArgs) -> String {
    let mut id = match fetch::spec(&args.model) {
        Ok(known) => known.budget_id.to_string(),
        Err(_) => Path::new(&args.model)
            .file_stem()
            .map_or(args.model.clone(), |s| s.to_string_lossy().to_lowercase()),
    };
    id.push_str("-cpu");
    for (value, default) in [(&args.weights, "native"), (&args.activations, "f32")] {
        if value != default {
            id.push('-');
            id.push_str(value);
        }
    }
    if args.constrained {
        id.push_str("-constrained");
    }
    id
}

fn run_requests(args: &RunArgs) -> anyhow::Result<RunReport> {
    if args.max_new_tokens == 0 {
        crate::bail_input!("--max-new-tokens 0: a call needs at least one token");
    }
    if args.limit == Some(0) {
        crate::bail_input!("--limit 0: no request would be run");
    }
    if let Some(folder) = args.out.parent().filter(|p| !p.as_os_str().is_empty())
        && !folder.is_dir()
    {
        crate::bail_input!(
            "--out {}: no folder {}",
            args.out.display(),
            folder.display()
        );
    }
    let tools = tools_or_default(args.tools.as_deref())?;
    let file = args.requests.display().to_string();
    let mut all = requests::parse(&read_user_or_shipped(&args.requests)?, &file, &tools)?;
    all.truncate(args.limit.unwrap_or(usize::MAX));
    // Chapter 08's packed weights (the default) are CPU kernels: the run is on flex.
    let real = open_real_model(
        &args.model,
        &args.weights,
        &args.activations,
        &crate::device::cpu(),
    )?;
    let end_of_turn = real
        .tokenizer
        .special_id("<|im_end|>")
        .or(real.tokenizer.eos)
        .filter(|&id| (id as usize) < real.tokenizer.tokenizer.vocab_size())
        .ok_or_else(|| BadInput(format!("--model {}: no end-of-turn token", args.model)))?;
    let constraint = args
        .constrained
        .then(|| ToolCallConstraint::new(&tools, &real.tokenizer.tokenizer, end_of_turn));
    let model_id = run_model_id(args);
    let mut lines = String::new();
    for (i, r) in all.iter().enumerate() {
        let line = run_one(&real, &tools, constraint.as_ref(), &model_id, r, args)?;
        eprintln!(
            "[{}/{}] {} ({:.0} ms): {}",
            i + 1,
            all.len(),
            r.id,
            line["latencyMs"].as_f64().unwrap_or(0.0),
            line["output"].as_str().unwrap_or("")
        );
        lines.push_str(&serde_json::to_string(&line)?);
        lines.push('\n');
    }
    write_out(&args.out, lines.as_bytes())?;
    let out = args.out.display().to_string();
    let report = RunReport {
        model: model_id,
        scores: gate::score_files(&[(out.clone(), lines)], &tools),
        out,
        constrained: args.constrained,
    };
    // A record stands for a whole run: a `--limit` sample would overwrite it with a few
    // requests' figures.
    match (report.scores.scores.first(), args.limit) {
        (Some(score), None) => match run_record(score, all.len(), args) {
            Some(record) => eprintln!("record: {}", record.write()?.display()),
            None => eprintln!("record: not written (the run has no timings)"),
        },
        _ => eprintln!("record: not written (--limit runs a sample, not the request set)"),
    }
    Ok(report)
}

/// The run's scores and speed as a record (`toolcall/run/<model id>`), beside the benches'
/// records, so the report shows the experiment with the machine it ran on.
fn run_record(score: &gate::Score, requests: usize, args: &RunArgs) -> Option<Record> {
    let measured = score.measured.filter(|m| m.mean_latency_ms > 0.0)?;
    let params = json!({
        "requests": requests,
        "constrained": args.constrained,
        "weights": args.weights,
        "activations": args.activations,
        "max_new_tokens": args.max_new_tokens,
        "valid_json_rate": score.valid_json_rate,
        "schema_match_rate": score.schema_match_rate,
        "right_tool_rate": score.right_tool_rate,
        "right_args_rate": score.right_args_rate,
        "mean_input_tokens": score.mean_input_tokens,
        "mean_output_tokens": score.mean_output_tokens,
        "prefill_tokens_per_s": measured.prefill_tokens_per_s,
        "decode_tokens_per_s": measured.decode_tokens_per_s,
        "mask_ms_per_token": measured.mask_ms_per_token,
    });
    Some(Record::new(
        &format!("toolcall/run/{}", score.model),
        "07-real-model",
        params,
        Throughput {
            value: 1e3 / measured.mean_latency_ms,
            unit: "requests/s".into(),
        },
        measured.mean_latency_ms / 1e3,
    ))
}

/// One request through the model: the prompt in its chat template, greedy decoding (masked
/// when constrained), the output line with its tokens and timings.
fn run_one(
    real: &super::generate::RealModel,
    tools: &[ToolSpec],
    constraint: Option<&ToolCallConstraint>,
    model_id: &str,
    r: &ToolRequest,
    args: &RunArgs,
) -> anyhow::Result<serde_json::Value> {
    let prompt = real.prompt_ids(&requests::prompt(tools, &r.request), true)?;
    let mut state = constraint.map(|c| c.dfa.start);
    let (mut consumed, mut mask_s) = (0, 0.0);
    let mut mask = |new: &[u32], logits: &mut [f32]| {
        if let (Some(c), Some(s)) = (constraint, state.as_mut()) {
            let t = Instant::now();
            for &token in &new[consumed..] {
                *s = c.advance(*s, token);
            }
            consumed = new.len();
            c.mask_within(*s, args.max_new_tokens - new.len())
                .apply(logits);
            mask_s += t.elapsed().as_secs_f64();
        }
    };
    let start = Instant::now();
    let g = run_generation_masked(
        &real.model,
        &real.config,
        CacheKind::Prealloc,
        Request {
            prompt: &prompt,
            max_new_tokens: args.max_new_tokens,
            sampling: Sampling::greedy(),
            stop: &real.stop_tokens(),
        },
        &mut mask,
        |_| {},
    )?;
    let latency_ms = start.elapsed().as_secs_f64() * 1e3;
    let text = real.tokenizer.tokenizer.decode_bytes(&g.new_tokens)?;
    Ok(json!({
        "model": model_id,
        "taskType": "tool-calls",
        "id": r.id,
        "language": r.language,
        "request": r.request,
        "expectedTool": r.expected_tool,
        "expectedParams": r.expected_params,
        "output": String::from_utf8_lossy(&text),
        // The end-of-turn token is generated (and billed) output too.
        "usage": {
            "inputTokens": prompt.len(),
            "outputTokens": g.new_tokens.len() + usize::from(g.stopped_by.is_some()),
        },
        "latencyMs": latency_ms,
        "prefillMs": g.prefill_s * 1e3,
        "decodeMs": g.decode_s * 1e3,
        "maskMs": mask_s * 1e3,
        "constrained": constraint.is_some(),
        "weights": format!("{}, {} activations", args.weights, args.activations),
    }))
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t = crate::table::Table::new([
            "model",
            "task type",
            "outputs",
            "empty",
            "valid JSON",
            "schema match",
            "right tool",
            "right args",
            "in tok",
            "answer tok",
            "thinking tok",
            "ms/request",
        ]);
        let tok = |v: Option<f64>| v.map_or("-".to_string(), |v| crate::table::thousands(v, 0));
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
        for s in &self.scores {
            t.row([
                s.model.clone(),
                s.task_type.clone(),
                s.outputs.to_string(),
                s.empty_answers.to_string(),
                pct(Some(s.valid_json_rate)),
                pct(Some(s.schema_match_rate)),
                pct(s.right_tool_rate),
                pct(s.right_args_rate),
                tok(s.mean_input_tokens),
                tok(s
                    .mean_output_tokens
                    .zip(s.mean_thinking_tokens)
                    .map(|(o, th)| o - th)),
                tok(s.mean_thinking_tokens),
                tok(s.measured.map(|m| m.mean_latency_ms)),
            ]);
        }
        writeln!(f, "Tool-call quality ({}):\n{t}", self.files.join(", "))?;
        for s in &self.scores {
            if let Some(m) = s.measured {
                writeln!(
                    f,
                    "  {}: prefill {:.0} tok/s, decode {:.1} tok/s{}",
                    s.model,
                    m.prefill_tokens_per_s,
                    m.decode_tokens_per_s,
                    m.mask_ms_per_token
                        .map_or(String::new(), |ms| format!(", mask {ms:.2} ms/token"))
                )?;
            }
        }
        for s in &self.scores {
            for (line, why) in &s.failures {
                writeln!(f, "  {} at {line}: {why}", s.model)?;
            }
        }
        if self.malformed_lines > 0 {
            writeln!(f, "{} malformed line(s) skipped:", self.malformed_lines)?;
            for m in &self.malformed {
                writeln!(f, "  {}", m.reason)?;
            }
        }
        Ok(())
    }
}
