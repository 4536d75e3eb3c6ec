//! `llm-workbench bpe …`: chapter 01's tokenizers on the command line — train, encode,
//! decode, count — and the chapter's demonstration for `tour` (token inflation by language).
//!
//! The algorithm lives in the `ch01-bpe` crate; this module parses arguments and files,
//! turns the chapter's errors (all of them bad input) into exit code 2, and prints.

use crate::error::BadInput;
use crate::output::{JsonFlag, emit};
use crate::table::{Table, thousands};
use ch01_bpe::{FastTrainer, NaiveTrainer, Pattern, TextStats, Tokenizer, TrainConfig};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum BpeCommand {
    /// Train a byte-level BPE tokenizer on a corpus and save it as tokenizer.json.
    Train(TrainArgs),
    /// Encode a UTF-8 file to token ids.
    Encode(EncodeArgs),
    /// Decode token ids (a file of `{"ids": [...]}`, a JSON list, or whitespace-separated) to text.
    Decode(DecodeArgs),
    /// Count tokens, characters and bytes of files, and tokens per 1,000 characters.
    Count(CountArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PatternArg {
    Gpt2,
    Cl100k,
    O200k,
    None,
}

impl From<PatternArg> for Pattern {
    fn from(p: PatternArg) -> Self {
        match p {
            PatternArg::Gpt2 => Pattern::Gpt2,
            PatternArg::Cl100k => Pattern::Cl100k,
            PatternArg::O200k => Pattern::O200k,
            PatternArg::None => Pattern::None,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TrainerArg {
    /// Pair counts + priority queue, updating only the words a merge touches.
    Fast,
    /// Recount every pair for every merge (the lesson's starting point; slow).
    Naive,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    /// UTF-8 text file to learn merges from.
    #[arg(long)]
    pub corpus: PathBuf,
    /// Tokens in the vocabulary: 256 bytes + merges (special tokens come after).
    #[arg(long)]
    pub vocab_size: usize,
    /// Pre-tokenization split pattern.
    #[arg(long, value_enum, default_value = "cl100k")]
    pub pattern: PatternArg,
    /// Where to write tokenizer.json.
    #[arg(long = "out")]
    pub out_path: PathBuf,
    /// A special token to add after the merges (repeatable), e.g. `<|endoftext|>`.
    #[arg(long = "special")]
    pub specials: Vec<String>,
    #[arg(long, value_enum, default_value = "fast")]
    pub trainer: TrainerArg,
}

#[derive(Debug, Args)]
pub struct TokenizerArg {
    /// cl100k_base, o200k_base, r50k_base, a tokenizer.json, or a .tiktoken rank file.
    #[arg(long)]
    pub tokenizer: String,
    /// Split pattern for a rank file whose name is not a known encoding [default: cl100k].
    #[arg(long, value_enum)]
    pub pattern: Option<PatternArg>,
}

impl TokenizerArg {
    fn load(&self) -> anyhow::Result<Arc<Tokenizer>> {
        ch01_bpe::load(&self.tokenizer, self.pattern.map(Pattern::from)).map_err(input)
    }
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub tokenizer: TokenizerArg,
    /// Let special-token text (`<|endoftext|>`) become its special id; otherwise it is an error.
    #[arg(long)]
    pub allow_special: bool,
    /// UTF-8 text file to encode.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub tokenizer: TokenizerArg,
    /// File of ids: `{"ids": [...]}`, `[...]`, or integers separated by spaces, commas or lines.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct CountArgs {
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(flatten)]
    pub tokenizer: TokenizerArg,
    /// UTF-8 text files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Every error of the chapter is the user's input.
fn input(e: ch01_bpe::Error) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

/// A UTF-8 file; invalid UTF-8 names the byte offset. Empty is fine here (not for training).
fn read_text(path: &Path) -> anyhow::Result<String> {
    match ch01_bpe::read_corpus(path) {
        Err(ch01_bpe::Error::EmptyCorpus { .. }) => Ok(String::new()),
        other => other.map_err(input),
    }
}

pub fn run(cmd: &BpeCommand) -> anyhow::Result<()> {
    match cmd {
        BpeCommand::Train(args) => emit(&train(args)?, args.out),
        BpeCommand::Encode(args) => emit(&encode(args)?, args.out),
        BpeCommand::Decode(args) => emit(&decode(args)?, args.out),
        BpeCommand::Count(args) => emit(&count(args)?, args.out),
    }
}

#[derive(Debug, Serialize)]
pub struct TrainOutput {
    pub corpus: String,
    pub pattern: String,
    pub trainer: String,
    pub vocab_size: usize,
    pub merges: usize,
    pub special_tokens: Vec<String>,
    pub train_seconds: f64,
    pub corpus_bytes: usize,
    /// The corpus encoded with the new tokenizer.
    pub corpus_tokens: usize,
    pub bytes_per_token: f64,
    pub out: String,
}

impl fmt::Display for TrainOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "trained {} merges ({} trainer, pattern {}) on {} in {:.3} s; vocab {} ids",
            self.merges,
            self.trainer,
            self.pattern,
            self.corpus,
            self.train_seconds,
            self.vocab_size
        )?;
        writeln!(
            f,
            "corpus: {} bytes -> {} tokens ({:.2} bytes per token)",
            thousands(self.corpus_bytes as f64, 0),
            thousands(self.corpus_tokens as f64, 0),
            self.bytes_per_token
        )?;
        writeln!(f, "wrote {}", self.out)
    }
}

pub fn train(args: &TrainArgs) -> anyhow::Result<TrainOutput> {
    if args.vocab_size < 256 {
        return Err(input(ch01_bpe::Error::VocabTooSmall(args.vocab_size)));
    }
    let text = ch01_bpe::read_corpus(&args.corpus).map_err(input)?;
    let config = TrainConfig {
        special_tokens: args.specials.clone(),
        ..TrainConfig::new(args.vocab_size, args.pattern.into())
    };
    let start = Instant::now();
    let trained = match args.trainer {
        TrainerArg::Fast => ch01_bpe::train(&FastTrainer, &text, &config),
        TrainerArg::Naive => ch01_bpe::train(&NaiveTrainer, &text, &config),
    }
    .map_err(input)?;
    let train_seconds = start.elapsed().as_secs_f64();
    let json = ch01_bpe::hf::to_tokenizer_json(&trained.tokenizer).map_err(input)?;
    crate::output::write_atomic(&args.out_path, json.as_bytes())
        .map_err(|e| crate::error::bad_input(args.out_path.display(), e))?;
    let stats = TextStats::of(&trained.tokenizer, &text);
    Ok(TrainOutput {
        corpus: args.corpus.display().to_string(),
        pattern: config.pattern.to_string(),
        trainer: format!("{:?}", args.trainer).to_lowercase(),
        vocab_size: trained.tokenizer.vocab_size(),
        merges: trained.merges.len(),
        special_tokens: args.specials.clone(),
        train_seconds,
        corpus_bytes: stats.bytes,
        corpus_tokens: stats.tokens,
        bytes_per_token: stats.bytes_per_token(),
        out: args.out_path.display().to_string(),
    })
}

#[derive(Debug, Serialize)]
pub struct EncodeOutput {
    pub ids: Vec<u32>,
}

impl fmt::Display for EncodeOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.ids.iter().map(u32::to_string).collect();
        writeln!(f, "{}", ids.join(" "))
    }
}

pub fn encode(args: &EncodeArgs) -> anyhow::Result<EncodeOutput> {
    let tok = args.tokenizer.load()?;
    let text = read_text(&args.file)?;
    let allowed = if args.allow_special {
        ch01_bpe::AllowedSpecial::All
    } else {
        ch01_bpe::AllowedSpecial::None
    };
    let ids = tok
        .encode(&text, &allowed)
        .map_err(|e| BadInput(format!("{}: {e}", args.file.display())))?;
    Ok(EncodeOutput { ids })
}

#[derive(Debug, Serialize)]
pub struct DecodeOutput {
    pub text: String,
    /// False when the ids cut a character in half (the text then holds U+FFFD).
    pub valid_utf8: bool,
}

impl fmt::Display for DecodeOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Ids from `{"ids": [...]}`, `[...]`, or integers separated by whitespace or commas.
pub fn parse_ids(text: &str, path: &str) -> anyhow::Result<Vec<u32>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| BadInput(format!("{path}:{}:{}: {e}", e.line(), e.column())))?;
        let list = value.get("ids").unwrap_or(&value);
        let list = list
            .as_array()
            .ok_or_else(|| BadInput(format!("{path}: expected {{\"ids\": [...]}} or a list")))?;
        return list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| {
                        BadInput(format!("{path}: ids[{i}] = {v} is not a token id")).into()
                    })
            })
            .collect();
    }
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>()
                .map_err(|_| BadInput(format!("{path}: {s:?} is not a token id")).into())
        })
        .collect()
}

pub fn decode(args: &DecodeArgs) -> anyhow::Result<DecodeOutput> {
    let tok = args.tokenizer.load()?;
    let shown = args.file.display().to_string();
    let ids = parse_ids(&read_text(&args.file)?, &shown)?;
    let bytes = tok
        .decode_bytes(&ids)
        .map_err(|e| BadInput(format!("{shown}: {e}")))?;
    let (text, valid_utf8) = match String::from_utf8(bytes) {
        Ok(s) => (s, true),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
    };
    Ok(DecodeOutput { text, valid_utf8 })
}

/// One file's size under one tokenizer.
#[derive(Debug, Clone, Serialize)]
pub struct CountRow {
    pub file: String,
    pub tokens: usize,
    pub characters: usize,
    pub bytes: usize,
    pub tokens_per_1k_chars: f64,
}

impl CountRow {
    fn new(file: String, s: TextStats) -> Self {
        CountRow {
            file,
            tokens: s.tokens,
            characters: s.characters,
            bytes: s.bytes,
            tokens_per_1k_chars: s.tokens_per_1k_chars(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CountOutput {
    pub tokenizer: String,
    pub files: Vec<CountRow>,
}

impl fmt::Display for CountOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tokenizer: {}", self.tokenizer)?;
        let mut t = Table::new(["file", "tokens", "characters", "bytes", "tokens / 1k chars"]);
        for r in &self.files {
            t.row([
                r.file.clone(),
                thousands(r.tokens as f64, 0),
                thousands(r.characters as f64, 0),
                thousands(r.bytes as f64, 0),
                format!("{:.1}", r.tokens_per_1k_chars),
            ]);
        }
        write!(f, "{t}")
    }
}

pub fn count(args: &CountArgs) -> anyhow::Result<CountOutput> {
    let tok = args.tokenizer.load()?;
    let mut files = Vec::new();
    for path in &args.files {
        let text = read_text(path)?;
        files.push(CountRow::new(
            path.display().to_string(),
            TextStats::of(&tok, &text),
        ));
    }
    Ok(CountOutput {
        tokenizer: args.tokenizer.tokenizer.clone(),
        files,
    })
}

/// The corpora that hold the same essay, in English, Korean and Arabic.
pub const SAME_ESSAY: [&str; 3] = ["english.txt", "korean.txt", "arabic.txt"];

/// One corpus under the three tokenizers of the demonstration.
#[derive(Debug, Clone, Serialize)]
pub struct InflationRow {
    pub corpus: String,
    pub characters: usize,
    pub bytes: usize,
    pub trained_tokens: usize,
    pub cl100k_tokens: usize,
    pub o200k_tokens: usize,
    pub cl100k_tokens_per_1k_chars: f64,
    pub o200k_tokens_per_1k_chars: f64,
    /// cl100k tokens relative to english.txt, for the corpora that hold the same essay
    /// (english, korean, arabic): what the same request costs in each language.
    pub cl100k_vs_english: Option<f64>,
    pub o200k_vs_english: Option<f64>,
}

/// Chapter 01's part of `tour`: train a small tokenizer on the shipped corpora (embedded in the
/// binary, see [`crate::data`]), then count
/// every corpus with it, cl100k_base and o200k_base.
#[derive(Debug, Serialize)]
pub struct BpeTour {
    pub trained_vocab_size: usize,
    pub trained_merges: usize,
    pub train_seconds: f64,
    pub training_bytes: usize,
    pub rows: Vec<InflationRow>,
}

pub fn tour_section(vocab_size: usize) -> anyhow::Result<BpeTour> {
    // The shipped corpora, embedded: sorted by name.
    let corpora: Vec<(String, String)> = crate::data::CORPORA
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    let all: String = corpora
        .iter()
        .map(|c| c.1.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let start = Instant::now();
    let trained = ch01_bpe::train(
        &FastTrainer,
        &all,
        &TrainConfig::new(vocab_size, Pattern::Cl100k),
    )
    .map_err(input)?;
    let train_seconds = start.elapsed().as_secs_f64();
    let cl100k = ch01_bpe::load("cl100k_base", None).map_err(input)?;
    let o200k = ch01_bpe::load("o200k_base", None).map_err(input)?;
    let english = corpora
        .iter()
        .find(|c| c.0 == "english.txt")
        .map(|c| (cl100k.count(&c.1), o200k.count(&c.1)));
    let rows = corpora
        .iter()
        .map(|(name, text)| {
            let (c, o) = (TextStats::of(&cl100k, text), TextStats::of(&o200k, text));
            let same_essay = SAME_ESSAY.contains(&name.as_str());
            let ratio = |tokens: usize, base: Option<usize>| {
                base.filter(|_| same_essay)
                    .map(|b| tokens as f64 / b as f64)
            };
            InflationRow {
                corpus: name.clone(),
                characters: c.characters,
                bytes: c.bytes,
                trained_tokens: trained.tokenizer.count(text),
                cl100k_tokens: c.tokens,
                o200k_tokens: o.tokens,
                cl100k_tokens_per_1k_chars: c.tokens_per_1k_chars(),
                o200k_tokens_per_1k_chars: o.tokens_per_1k_chars(),
                cl100k_vs_english: ratio(c.tokens, english.map(|e| e.0)),
                o200k_vs_english: ratio(o.tokens, english.map(|e| e.1)),
            }
        })
        .collect();
    Ok(BpeTour {
        trained_vocab_size: trained.tokenizer.vocab_size(),
        trained_merges: trained.merges.len(),
        train_seconds,
        training_bytes: all.len(),
        rows,
    })
}

impl fmt::Display for BpeTour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "trained a {}-token BPE ({} merges, cl100k pattern) on {} of shipped corpora in {:.3} s",
            self.trained_vocab_size,
            self.trained_merges,
            crate::table::bytes(self.training_bytes as f64),
            self.train_seconds
        )?;
        let mut t = Table::new([
            "corpus",
            "chars",
            "bytes",
            "trained",
            "cl100k",
            "o200k",
            "cl100k /1k ch",
            "o200k /1k ch",
            "cl100k × en",
            "o200k × en",
        ]);
        for r in &self.rows {
            t.row([
                r.corpus.clone(),
                thousands(r.characters as f64, 0),
                thousands(r.bytes as f64, 0),
                thousands(r.trained_tokens as f64, 0),
                thousands(r.cl100k_tokens as f64, 0),
                thousands(r.o200k_tokens as f64, 0),
                format!("{:.0}", r.cl100k_tokens_per_1k_chars),
                format!("{:.0}", r.o200k_tokens_per_1k_chars),
                r.cl100k_vs_english
                    .map_or(String::new(), |v| format!("{v:.2}")),
                r.o200k_vs_english
                    .map_or(String::new(), |v| format!("{v:.2}")),
            ]);
        }
        write!(f, "{t}")?;
        writeln!(
            f,
            "english, korean and arabic say the same thing: \"× en\" is what the same request costs in tokens."
        )
    }
}
