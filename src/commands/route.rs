//! `llm-workbench route …`: read the catalog, workload, policy and evidence files, call the
//! cost router, print tables (or `--json`), draw the chart, write the audit log.

use super::toolcall::load_scores;
use crate::error::read_user_file;
use crate::output::{JsonFlag, emit};
use crate::router::audit::{self, AuditLine, OutcomeLine};
use crate::router::catalog::{self, Catalog, budget_quote};
use crate::router::gate::Scores;
use crate::router::plan::{Plan, SensitivityRow, TierRow};
use crate::router::policy::{self, Policy};
use crate::router::workload::{self, Ch01Tokenizers, Workload};
use crate::router::{litellm, ratio, route, usd, usd_per_task};
use crate::table::{Table, thousands};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::data::{MODELS_YAML, REFERENCE_WORKLOAD_YAML as REFERENCE_YAML, read_user_or_shipped};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RouteArgs {
    #[command(subcommand)]
    pub sub: Option<RouteSub>,
    #[command(flatten)]
    pub plan: PlanArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Model catalog (YAML).
    #[arg(long, default_value = "data/models.yaml")]
    pub catalog: PathBuf,
    /// Workload (YAML): task types, tasks per day, days, tokens per task.
    #[arg(long, default_value = "data/workloads/reference.yaml")]
    pub workload: PathBuf,
    /// Routing policy (YAML) [default: the shipped data/policies/default.yaml].
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Tool-call outputs (JSONL) to score as quality-gate evidence; may be repeated.
    #[arg(long)]
    pub outputs: Vec<PathBuf>,
    /// Append one line per routing decision to this JSONL audit log.
    #[arg(long)]
    pub audit: Option<PathBuf>,
    /// What an hour of this machine costs, for the self-hosted-cpu models that `--outputs`
    /// runs of `toolcall run` add (default: $0.10, about a 2-vCPU cloud VM on demand).
    #[arg(long, default_value_t = crate::router::catalog::DEFAULT_CPU_USD_PER_HOUR, allow_negative_numbers = true)]
    pub cpu_usd_per_hour: f64,
    /// Do not draw the monthly-cost-by-tier chart.
    #[arg(long)]
    pub no_chart: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum RouteSub {
    /// Spend per task type and tier from an audit log, cheaper tiers that serve, escalations.
    Review(ReviewArgs),
    /// Turn LiteLLM's JSON price file into a catalog (YAML on stdout).
    ImportLitellm(ImportArgs),
    /// Compare the prices of two catalogs (YAML catalogs or LiteLLM JSON), model by model.
    ComparePrices(CompareArgs),
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Audit log written by `route --audit`.
    #[arg(long)]
    pub audit: PathBuf,
    /// Outcomes (JSONL): {taskType, model, tier?, ok} or {taskType, model, tier?, tasks, failures}.
    #[arg(long)]
    pub outcomes: PathBuf,
    /// Catalog that gives tier order and prices.
    #[arg(long, default_value = "data/models.yaml")]
    pub catalog: PathBuf,
    /// Policy with the escalation rule [default: the shipped default policy].
    #[arg(long)]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// LiteLLM's model_prices_and_context_window.json (or a file in its format).
    #[arg(long)]
    pub prices: PathBuf,
    /// Tier rule PATTERN=TIER (`*` matches anything), first match wins; repeatable.
    #[arg(long = "tier", value_name = "PATTERN=TIER", required = true)]
    pub tiers: Vec<String>,
    /// The date the price file was read (recorded as each entry's priceAsOf).
    #[arg(long)]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Catalog A (.yaml) or LiteLLM prices (.json).
    pub a: PathBuf,
    /// Catalog B (.yaml) or LiteLLM prices (.json).
    pub b: PathBuf,
    #[command(flatten)]
    pub out: JsonFlag,
}

fn name(path: &Path) -> String {
    path.display().to_string()
}

fn load_catalog(path: &Path) -> anyhow::Result<Catalog> {
    let parsed = catalog::parse_with(&read_user_or_shipped(path)?, &name(path), &budget_quote);
    match parsed {
        Err(e) if path.extension().is_some_and(|x| x == "json") => {
            Err(crate::error::BadInput(format!(
                "{e} (a LiteLLM price file? turn it into a catalog with `route import-litellm`)"
            ))
            .into())
        }
        other => other,
    }
}

fn load_policy(path: Option<&Path>, catalog: &Catalog) -> anyhow::Result<(Policy, String)> {
    let (p, file) = match path {
        Some(p) => (policy::parse(&read_user_file(p)?, &name(p))?, name(p)),
        None => (
            policy::default_policy(),
            "data/policies/default.yaml (built in)".to_string(),
        ),
    };
    p.check_tiers(catalog, &file)?;
    Ok((p, file))
}

/// Everything `route` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteReport {
    pub catalog: String,
    pub workload: Workload,
    pub policy: String,
    pub tiers: Vec<TierRow>,
    pub plan: Plan,
    pub sensitivity: Vec<SensitivityRow>,
    pub evidence: Option<Scores>,
    pub audit_lines_written: Option<usize>,
    pub audit_file: Option<String>,
    pub chart: Vec<String>,
}

/// Draws [`cost_chart_spec`] into the report folder.
pub fn cost_chart(tiers: &[TierRow], workload: &Workload) -> anyhow::Result<Vec<PathBuf>> {
    cost_chart_spec(tiers, workload).write(&crate::plot::report_dir())
}

/// The monthly cost per tier on a log scale (tiers span two orders of magnitude).
pub fn cost_chart_spec(tiers: &[TierRow], workload: &Workload) -> crate::plot::Chart {
    let bars: Vec<(String, f64)> = tiers
        .iter()
        .filter_map(|t| t.usd_total.map(|v| (t.tier.clone(), v)))
        .collect();
    let title = format!("Cost by tier, {} ({} days)", workload.name, workload.days);
    // The workload's name is user text: keep it to characters that are safe in a file name.
    let stem: String = workload
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    crate::plot::Chart::bar(
        &format!("route-cost-by-tier-{stem}"),
        &title,
        "tier",
        "USD (log scale)",
        true,
        bars,
    )
}

fn run_plan(args: &PlanArgs) -> anyhow::Result<()> {
    if !(args.cpu_usd_per_hour.is_finite() && args.cpu_usd_per_hour > 0.0) {
        crate::bail_input!(
            "--cpu-usd-per-hour {}: a price must be a number > 0",
            args.cpu_usd_per_hour
        );
    }
    let mut catalog = load_catalog(&args.catalog)?;
    let workload = workload::parse(
        &read_user_or_shipped(&args.workload)?,
        &name(&args.workload),
        &Ch01Tokenizers,
    )?;
    let (policy, policy_file) = load_policy(args.policy.as_deref(), &catalog)?;
    let evidence = if args.outputs.is_empty() {
        None
    } else {
        Some(load_scores(&args.outputs)?)
    };
    if let Some(e) = &evidence {
        crate::router::catalog::add_measured_cpu_models(&mut catalog, e, args.cpu_usd_per_hour);
    }
    let (tiers, plan, sensitivity) = route(&catalog, &policy, evidence.as_ref(), &workload)?;
    // The chart first: a command that fails must not have logged decisions it did not report.
    let chart = if args.no_chart {
        Vec::new()
    } else {
        cost_chart(&tiers, &workload)?
    };
    let mut written = None;
    if let Some(path) = &args.audit {
        let lines = audit::audit_lines(&plan, &audit::now_rfc3339());
        audit::append(path, &lines)?;
        written = Some(lines.len());
    }
    let report = RouteReport {
        catalog: name(&args.catalog),
        workload,
        policy: policy_file,
        tiers,
        plan,
        sensitivity,
        evidence,
        audit_lines_written: written,
        audit_file: args.audit.as_deref().map(name),
        chart: chart.iter().map(|p| name(p)).collect(),
    };
    emit(&report, args.out)
}

fn run_review(args: &ReviewArgs) -> anyhow::Result<()> {
    let catalog = load_catalog(&args.catalog)?;
    let (policy, _) = load_policy(args.policy.as_deref(), &catalog)?;
    let (mut bad, mut n) = (Vec::new(), 0);
    let lines: Vec<AuditLine> = audit::read_jsonl(
        &read_user_file(&args.audit)?,
        &name(&args.audit),
        &mut bad,
        &mut n,
    );
    if lines.is_empty() {
        crate::bail_input!(
            "{}: no audit line could be read ({n} malformed)",
            name(&args.audit)
        );
    }
    let outcomes: Vec<OutcomeLine> = audit::read_jsonl(
        &read_user_file(&args.outcomes)?,
        &name(&args.outcomes),
        &mut bad,
        &mut n,
    );
    emit(
        &audit::review(&catalog, &policy, &lines, &outcomes, bad, n),
        args.out,
    )
}

/// `import-litellm` output: the catalog (printed as YAML) and what was left out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    pub catalog: Catalog,
    pub unmatched: Vec<String>,
    pub skipped: Vec<(String, String)>,
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "# Imported from LiteLLM prices: {} model(s); {} matched no --tier rule; {} without token prices.",
            self.catalog.models.len(),
            self.unmatched.len(),
            self.skipped.len()
        )?;
        write!(
            f,
            "{}",
            serde_yaml_ng::to_string(&self.catalog).map_err(|_| std::fmt::Error)?
        )
    }
}

fn run_import(args: &ImportArgs) -> anyhow::Result<()> {
    let rules = args
        .tiers
        .iter()
        .map(|r| match r.split_once('=') {
            Some((p, t)) if !p.is_empty() && !t.is_empty() => Ok((p.to_string(), t.to_string())),
            _ => Err(crate::error::BadInput(format!("--tier `{r}`: expected PATTERN=TIER")).into()),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let lite = litellm::parse(&read_user_file(&args.prices)?, &name(&args.prices))?;
    let source = format!("LiteLLM price file {}", name(&args.prices));
    let (catalog, unmatched) = litellm::to_catalog(&lite, &rules, &source, args.as_of.as_deref())?;
    emit(
        &Imported {
            catalog,
            unmatched,
            skipped: lite.skipped,
        },
        args.out,
    )
}

fn price_list(path: &Path) -> anyhow::Result<Vec<litellm::PriceEntry>> {
    let text = read_user_file(path)?;
    if path.extension().is_some_and(|e| e == "json") {
        Ok(litellm::parse(&text, &name(path))?.entries)
    } else {
        Ok(catalog::parse_with(&text, &name(path), &budget_quote)?
            .models
            .iter()
            .map(Into::into)
            .collect())
    }
}

/// Runs `llm-workbench route …`.
pub fn run(args: &RouteArgs) -> anyhow::Result<()> {
    match &args.sub {
        None => run_plan(&args.plan),
        Some(RouteSub::Review(r)) => run_review(r),
        Some(RouteSub::ImportLitellm(i)) => run_import(i),
        Some(RouteSub::ComparePrices(c)) => {
            let cmp = litellm::compare(
                &price_list(&c.a)?,
                &price_list(&c.b)?,
                &name(&c.a),
                &name(&c.b),
            );
            emit(&cmp, c.out)
        }
    }
}

fn period(days: f64) -> String {
    if days == 30.0 {
        "monthly (30 d)".to_string()
    } else {
        format!("per {days} days")
    }
}

/// The per-tier comparison as a text table.
pub fn tier_table_text(tiers: &[TierRow], days: f64) -> String {
    let mut t = Table::new([
        "tier",
        "model",
        "per task",
        period(days).as_str(),
        "cheaper than premium",
        "price",
    ]);
    for r in tiers {
        match &r.unavailable {
            Some(why) => t.row([r.tier.as_str(), "-", "-", "-", "-", why.as_str()]),
            None => t.row([
                r.tier.clone(),
                r.models.join(", "),
                r.usd_per_task.map_or("-".into(), usd_per_task),
                r.usd_total.map_or("-".into(), usd),
                r.cheaper_than_premium.map_or("-".into(), ratio),
                r.price.clone(),
            ]),
        };
    }
    let mut text = t.to_string();
    for r in tiers {
        if let Some(d) = r.dedicated_usd {
            text.push_str(&format!(
                "{}: the per-token price assumes the machines fully busy; rented for the whole {} days they cost {} whatever the load.\n",
                r.tier,
                days,
                usd(d)
            ));
        }
    }
    text
}

impl std::fmt::Display for RouteReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = &self.workload;
        writeln!(
            f,
            "Workload `{}`: {} task type(s), {} days; catalog {}; policy {}",
            w.name,
            w.task_types.len(),
            w.days,
            self.catalog,
            self.policy
        )?;
        writeln!(
            f,
            "\nThe whole workload on each tier (cheapest model of the tier):"
        )?;
        write!(f, "{}", tier_table_text(&self.tiers, w.days))?;

        let p = &self.plan;
        writeln!(f, "\nRouting plan (cheapest eligible model per task type):")?;
        let mut t = Table::new([
            "task type",
            "allowed tiers",
            "model",
            "tier",
            "in tok",
            "out tok",
            "tasks/day",
            "per task",
            period(p.days).as_str(),
        ]);
        for c in &p.choices {
            let allowed = if c.named_by_policy {
                c.allowed_tiers.join(", ")
            } else {
                format!("{} (default)", c.allowed_tiers.join(", "))
            };
            t.row([
                c.task_type.clone(),
                allowed,
                c.model.clone(),
                c.tier.clone(),
                thousands(c.input_tokens, 0),
                thousands(c.output_tokens, 0),
                thousands(c.tasks_per_day, 0),
                usd_per_task(c.usd_per_task),
                usd(c.usd_total),
            ]);
        }
        write!(f, "{t}")?;
        let saving = |label: &str, base: Option<f64>| match base {
            Some(b) if b > 0.0 => format!(
                "vs all-{label} {}: saves {} ({:.1}%)",
                usd(b),
                usd(b - p.usd_total),
                100.0 * (b - p.usd_total) / b
            ),
            _ => format!("all-{label}: not possible with this catalog"),
        };
        writeln!(
            f,
            "Plan total {}; {}; {}",
            usd(p.usd_total),
            saving("premium", p.all_premium_usd),
            saving("standard", p.all_standard_usd)
        )?;
        for c in &p.choices {
            for r in &c.refused {
                writeln!(
                    f,
                    "  {}: refused {} [{}]: {}",
                    c.task_type, r.model, r.tier, r.reason
                )?;
            }
        }

        writeln!(f, "\nSensitivity (re-routed under each change):")?;
        let mut t = Table::new(["scenario", "total", "vs base", "re-routed"]);
        for s in &self.sensitivity {
            match (&s.error, s.usd_total) {
                (Some(e), _) => t.row([s.scenario.clone(), "-".into(), "-".into(), e.clone()]),
                (None, total) => t.row([
                    s.scenario.clone(),
                    total.map_or("-".into(), usd),
                    s.vs_base.map_or("-".into(), |v| format!("{v:.2}×")),
                    s.rerouted.join(", "),
                ]),
            };
        }
        write!(f, "{t}")?;
        if let Some(e) = &self.evidence {
            writeln!(f)?;
            write!(f, "{e}")?;
        }
        if let (Some(n), Some(file)) = (self.audit_lines_written, &self.audit_file) {
            writeln!(f, "\n{n} decision(s) appended to {file}")?;
        }
        if !self.chart.is_empty() {
            writeln!(f, "\nChart: {}", self.chart.join(", "))?;
        }
        Ok(())
    }
}

/// The tour's section: the shipped catalog on the reference workload.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TourRoute {
    pub workload: Workload,
    pub tiers: Vec<TierRow>,
    pub plan: Plan,
    pub chart: Vec<String>,
}

/// Runs the router on the embedded reference workload and catalog and draws the chart.
pub fn tour_section() -> anyhow::Result<TourRoute> {
    let mut section = reference_route()?;
    let chart = cost_chart(&section.tiers, &section.workload)?;
    section.chart = chart.iter().map(|p| name(p)).collect();
    Ok(section)
}

/// The router on the embedded reference workload and catalog (no chart drawn).
pub fn reference_route() -> anyhow::Result<TourRoute> {
    let catalog = catalog::parse_with(MODELS_YAML, "data/models.yaml", &budget_quote)?;
    let workload = workload::parse(
        REFERENCE_YAML,
        "data/workloads/reference.yaml",
        &Ch01Tokenizers,
    )?;
    let (tiers, plan, _) = route(&catalog, &policy::default_policy(), None, &workload)?;
    Ok(TourRoute {
        workload,
        tiers,
        plan,
        chart: Vec::new(),
    })
}

impl std::fmt::Display for TourRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = &self.workload;
        for t in &w.task_types {
            writeln!(
                f,
                "Workload `{}`: {} in + {} out tokens per task, {} tasks/day, {} days.",
                w.name,
                thousands(t.input_tokens, 0),
                thousands(t.output_tokens, 0),
                thousands(t.tasks_per_day, 0),
                w.days
            )?;
        }
        write!(f, "{}", tier_table_text(&self.tiers, self.workload.days))?;
        let p = &self.plan;
        if let Some(c) = p.choices.first() {
            writeln!(
                f,
                "Policy default: `{}` goes to {} ({}), {} per month{}.",
                c.task_type,
                c.tier,
                c.model,
                usd(p.usd_total),
                p.savings_vs_premium_usd.map_or(String::new(), |s| format!(
                    ", {} less than all-premium",
                    usd(s)
                ))
            )?;
        }
        writeln!(f, "Chart: {}", self.chart.join(", "))
    }
}

impl std::fmt::Display for audit::Review {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::table::Table;
        let mut t = Table::new(["task type", "tier", "decisions", "spend"]);
        for s in &self.spend {
            t.row([
                s.task_type.clone(),
                s.tier.clone(),
                s.decisions.to_string(),
                usd(s.usd),
            ]);
        }
        t.row([
            "total".to_string(),
            String::new(),
            String::new(),
            usd(self.usd_total),
        ]);
        writeln!(f, "Spend by task type and tier (audit log):\n{t}")?;
        let mut t = Table::new(["task type", "tier", "outcomes", "failures", "failure rate"]);
        for o in &self.outcomes {
            t.row([
                o.task_type.clone(),
                o.tier.clone(),
                o.outcomes.to_string(),
                o.failures.to_string(),
                format!("{:.1}%", 100.0 * o.failure_rate),
            ]);
        }
        writeln!(f, "Outcomes:\n{t}")?;
        if self.flags.is_empty() {
            writeln!(f, "No flags: every task type stays where it is.")?;
        }
        for fl in &self.flags {
            writeln!(f, "[{}] {}: {}", fl.kind, fl.task_type, fl.reason)?;
        }
        if self.malformed_lines > 0 {
            writeln!(f, "{} malformed line(s) skipped:", self.malformed_lines)?;
            for b in &self.malformed {
                writeln!(f, "  {}: {}", b.at, b.reason)?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for litellm::Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t = crate::table::Table::new([
            "model (A)",
            "model (B)",
            "in A",
            "in B",
            "out A",
            "out B",
            "B / A at 1000+300",
        ]);
        let p = |v: f64| crate::table::thousands(v, 3);
        for d in &self.matched {
            t.row([
                d.id_a.clone(),
                d.id_b.clone(),
                p(d.input_a),
                p(d.input_b),
                p(d.output_a),
                p(d.output_b),
                format!("{:.2}", d.b_over_a),
            ]);
        }
        writeln!(
            f,
            "Prices in USD per 1M tokens. A = {}, B = {}",
            self.file_a, self.file_b
        )?;
        writeln!(f, "{t}")?;
        writeln!(
            f,
            "{} model(s) only in A{}; {} only in B.",
            self.only_in_a.len(),
            if self.only_in_a.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.only_in_a.join(", "))
            },
            self.only_in_b
        )
    }
}
