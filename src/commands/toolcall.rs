//! `llm-workbench toolcall …`: score model outputs against the five-tool schema.

use crate::error::read_user_file;
use crate::output::{JsonFlag, emit};
use crate::router::gate::{self, Scores};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ToolcallArgs {
    #[command(subcommand)]
    pub sub: ToolcallSub,
}

#[derive(Debug, Subcommand)]
pub enum ToolcallSub {
    /// Score tool-call outputs (JSONL): valid-JSON and schema-match rates per model and task type.
    Score(ScoreArgs),
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Outputs (JSONL): {model, taskType?, output, expectedTool?, usage?}; may be repeated.
    #[arg(long, required = true)]
    pub outputs: Vec<PathBuf>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Scores outputs files; a run where no line could be read is bad input.
pub fn load_scores(paths: &[PathBuf]) -> anyhow::Result<Scores> {
    let inputs = paths
        .iter()
        .map(|p| Ok((p.display().to_string(), read_user_file(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let scores = gate::score_files(&inputs);
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

/// Runs `llm-workbench toolcall …`.
pub fn run(args: &ToolcallArgs) -> anyhow::Result<()> {
    match &args.sub {
        ToolcallSub::Score(s) => emit(&load_scores(&s.outputs)?, s.out),
    }
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
            "in tok",
            "answer tok",
            "thinking tok",
        ]);
        let tok = |v: Option<f64>| v.map_or("-".to_string(), |v| crate::table::thousands(v, 0));
        for s in &self.scores {
            t.row([
                s.model.clone(),
                s.task_type.clone(),
                s.outputs.to_string(),
                s.empty_answers.to_string(),
                format!("{:.1}%", 100.0 * s.valid_json_rate),
                format!("{:.1}%", 100.0 * s.schema_match_rate),
                tok(s.mean_input_tokens),
                tok(s
                    .mean_output_tokens
                    .zip(s.mean_thinking_tokens)
                    .map(|(o, th)| o - th)),
                tok(s.mean_thinking_tokens),
            ]);
        }
        writeln!(f, "Tool-call quality ({}):\n{t}", self.files.join(", "))?;
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
