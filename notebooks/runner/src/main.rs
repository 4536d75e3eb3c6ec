//! Runs Jupyter notebooks written for the evcxr Rust kernel the way a learner would: every code
//! cell, top to bottom, each notebook starting from a cleared context. The first cell that fails to compile,
//! panics, returns an error through `?` or writes to stderr stops its notebook and is reported
//! by notebook and cell number; the exit code is 1 when any notebook failed and 2 when a
//! notebook cannot be read.
//!
//! With `--executed DIR` each notebook is also written to DIR with the outputs of this run
//! (text, images and the error, if any), so the results can be read without a kernel.

use evcxr::{CommandContext, EvalContextOutputs, EvalOutputs};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: workbench-notebooks [--workdir DIR] [--executed DIR] \
[--cell-timeout SECONDS] [--verbose] NOTEBOOK.ipynb...

Runs every code cell of each notebook in order with evcxr; the first cell that does not
compile, panics, returns an error through `?` or writes to stderr stops its notebook and is
reported as `FAILED <notebook> cell <n>` (n counts all cells, from 1).
  --workdir DIR         run from DIR (where relative `:dep` paths resolve); default: the
                        notebook's own folder, as in Jupyter
  --executed DIR        also write each notebook with this run's outputs to DIR
  --cell-timeout SECS   fail a cell still running after SECS seconds (default 1200)
  --verbose             print every cell's output, not only the failing cell's
Exit code: 0 all passed, 1 a cell failed, 2 a notebook could not be read.";

/// The kernel spec `evcxr_jupyter --install` registers.
const KERNEL_NAME: &str = "rust";

struct Options {
    notebooks: Vec<PathBuf>,
    workdir: Option<PathBuf>,
    executed: Option<PathBuf>,
    cell_timeout: Duration,
    verbose: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        notebooks: Vec::new(),
        workdir: None,
        executed: None,
        cell_timeout: Duration::from_secs(1200),
        verbose: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--version" => {
                println!("workbench-notebooks {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "--workdir" => options.workdir = Some(value("--workdir")?.into()),
            "--executed" => options.executed = Some(value("--executed")?.into()),
            "--cell-timeout" => {
                let raw = value("--cell-timeout")?;
                let seconds: u64 = raw.parse().ok().filter(|s| *s > 0).ok_or(format!(
                    "--cell-timeout wants a positive number of seconds, got `{raw}`"
                ))?;
                options.cell_timeout = Duration::from_secs(seconds);
            }
            "--verbose" => options.verbose = true,
            flag if flag.starts_with("--") => return Err(format!("unknown flag `{flag}`")),
            path => options.notebooks.push(path.into()),
        }
    }
    if options.notebooks.is_empty() {
        return Err("no notebooks given".into());
    }
    Ok(options)
}

/// One code cell: its position among all cells (1-based, as Jupyter shows them) and its source.
struct CodeCell {
    number: usize,
    source: String,
}

/// Reads a notebook and checks it is one for the evcxr kernel.
fn read_notebook(path: &Path) -> Result<(Value, Vec<CodeCell>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let notebook: Value =
        serde_json::from_str(&text).map_err(|e| format!("invalid notebook JSON: {e}"))?;
    if notebook["nbformat"] != 4 {
        return Err(format!("nbformat is {}, expected 4", notebook["nbformat"]));
    }
    let kernel = &notebook["metadata"]["kernelspec"]["name"];
    if kernel != KERNEL_NAME {
        return Err(format!(
            "kernel spec is {kernel}, expected \"{KERNEL_NAME}\" (evcxr)"
        ));
    }
    let cells = notebook["cells"]
        .as_array()
        .ok_or("it has no `cells` array")?;
    let mut code = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        if cell["cell_type"] == "code" {
            code.push(CodeCell {
                number: i + 1,
                source: source_text(&cell["source"]),
            });
        }
    }
    Ok((notebook, code))
}

/// nbformat stores a cell's source as one string or as a list of lines.
fn source_text(source: &Value) -> String {
    match source {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// What one cell produced, for the report and the executed copy.
#[derive(Default)]
struct CellResult {
    stdout: Vec<String>,
    stderr: Vec<String>,
    display: Vec<(String, String)>,
    error: Option<String>,
    seconds: f64,
    /// Of `seconds`, the time evcxr spent running the compiled cell; the rest is type analysis,
    /// compiling and linking the cell (and, for a `:dep` cell, building the new dependencies).
    run_seconds: f64,
}

/// Lines a cell printed, collected as they arrive: evcxr waits until its stdout channel has
/// been read before it returns from a cell, so the channels are drained on threads of their own.
#[derive(Clone, Default)]
struct Printed {
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Printed {
    fn collect(outputs: EvalContextOutputs) -> Printed {
        let printed = Printed::default();
        for (receiver, lines) in [
            (outputs.stdout, Arc::clone(&printed.stdout)),
            (outputs.stderr, Arc::clone(&printed.stderr)),
        ] {
            std::thread::spawn(move || {
                for line in receiver {
                    lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        printed
    }

    fn take(&self, result: &mut CellResult) {
        // evcxr returns once the child's stdout is read; the last lines of its stderr, read on
        // another thread, and the last line taken from a channel may still be on their way.
        std::thread::sleep(Duration::from_millis(100));
        let take = |lines: &Mutex<Vec<String>>| {
            std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()))
        };
        result.stdout = take(&self.stdout);
        result.stderr = take(&self.stderr);
    }
}

/// Kills the process when a cell runs longer than the limit, so a hung cell fails the check
/// instead of hanging it.
fn start_watchdog(limit: Duration) -> Arc<Mutex<Option<(Instant, String)>>> {
    let running: Arc<Mutex<Option<(Instant, String)>>> = Arc::default();
    let watched = Arc::clone(&running);
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let guard = watched.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((started, cell)) = guard.as_ref()
                && started.elapsed() > limit
            {
                eprintln!("FAILED {cell}: still running after {} s", limit.as_secs());
                std::process::exit(1);
            }
        }
    });
    running
}

fn describe_error(error: &evcxr::Error, source: &str) -> String {
    let evcxr::Error::CompilationErrors(errors) = error else {
        return error.to_string();
    };
    let lines: Vec<&str> = source.lines().collect();
    let mut text = String::new();
    for error in errors {
        text.push_str(&format!(
            "{}: {}\n",
            error.level(),
            error.message().trim_end()
        ));
        for spanned in error.spanned_messages() {
            if let Some(span) = &spanned.span
                && error.is_from_user_code()
            {
                let line = lines.get(span.start_line.wrapping_sub(1)).unwrap_or(&"");
                text.push_str(&format!(
                    "  line {}: {}\n",
                    span.start_line,
                    line.trim_end()
                ));
                if !spanned.label.is_empty() {
                    text.push_str(&format!("          {}\n", spanned.label));
                }
            }
        }
        for help in error.help() {
            text.push_str(&format!("  help: {help}\n"));
        }
    }
    text.trim_end().to_owned()
}

/// One evcxr context, kept from notebook to notebook: `:clear` between two notebooks drops every
/// variable, item and dependency and restarts the process that runs the cells, as a fresh
/// kernel would, but keeps evcxr's rust-analyzer and build directory warm, which saves the
/// start-up of each.
struct Kernel {
    context: CommandContext,
    printed: Printed,
}

impl Kernel {
    fn start() -> Result<Kernel, String> {
        let (mut context, outputs) =
            CommandContext::new().map_err(|e| format!("evcxr did not start: {e}"))?;
        let printed = Printed::collect(outputs);
        // By default evcxr catches a cell's panic and carries on; let it end the cell's process
        // instead, so that `execute` reports it.
        context
            .execute(":preserve_vars_on_panic 0")
            .map_err(|e| format!("evcxr did not take its settings: {e}"))?;
        Ok(Kernel { context, printed })
    }

    /// Forgets the previous notebook: what the next one sees is what a new kernel would show.
    fn clear(&mut self) -> Result<(), String> {
        self.context
            .execute(":clear")
            .map_err(|e| format!("evcxr did not clear its state: {e}"))?;
        self.printed.take(&mut CellResult::default());
        Ok(())
    }
}

/// Runs every code cell of one notebook; returns each executed cell's result and whether all
/// of them succeeded.
fn run_cells(
    kernel: &mut Kernel,
    label: &str,
    cells: &[CodeCell],
    watchdog: &Mutex<Option<(Instant, String)>>,
    verbose: bool,
) -> Result<Vec<(usize, CellResult)>, String> {
    let Kernel { context, printed } = kernel;
    let mut results = Vec::new();
    for cell in cells {
        if cell.source.trim().is_empty() {
            continue;
        }
        let name = format!("{label} cell {}", cell.number);
        let first_line = cell
            .source
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        eprint!(
            "  cell {:>2}: {:<60} ",
            cell.number,
            truncate(first_line.trim(), 60)
        );
        *watchdog.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), name.clone()));
        let started = Instant::now();
        let outcome = context.execute(&cell.source);
        *watchdog.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let mut result = CellResult {
            seconds: started.elapsed().as_secs_f64(),
            ..Default::default()
        };
        match outcome {
            Ok(EvalOutputs {
                content_by_mime_type,
                phases,
                ..
            }) => {
                let mut display: Vec<_> = content_by_mime_type.into_iter().collect();
                display.sort();
                result.display = display;
                result.run_seconds = phases
                    .iter()
                    .filter(|phase| phase.name == "Execution")
                    .map(|phase| phase.duration.as_secs_f64())
                    .sum();
            }
            Err(error) => {
                // A panicking child writes its message to stderr just before it dies.
                std::thread::sleep(Duration::from_millis(300));
                result.error = Some(describe_error(&error, &cell.source));
            }
        }
        printed.take(&mut result);
        // An error returned with `?` is not an evcxr error: its generated wrapper prints it to
        // stderr and goes on. Notebooks print to stdout, so anything on stderr fails the cell.
        if result.error.is_none() && result.stderr.iter().any(|l| !l.trim().is_empty()) {
            result.error = Some(format!(
                "the cell wrote to stderr (an error returned with `?`, or a warning):\n{}",
                result.stderr.join("\n")
            ));
        }
        let failed = result.error.is_some();
        eprintln!(
            "{} ({:.1} s, run {:.1})",
            if failed { "FAILED" } else { "ok" },
            result.seconds,
            result.run_seconds
        );
        if verbose || failed {
            let printed: Vec<&String> = result.stdout.iter().chain(&result.stderr).collect();
            // A failing cell's output is cut to its first and last lines: the panic message
            // comes first, a backtrace after it, and an error at the end.
            let cut = !verbose && printed.len() > 40;
            for (i, line) in printed.iter().enumerate() {
                if cut && i == 20 {
                    eprintln!("      | … {} lines …", printed.len() - 40);
                }
                if !cut || i < 20 || i >= printed.len() - 20 {
                    eprintln!("      | {line}");
                }
            }
        }
        if let Some(error) = &result.error {
            eprintln!("FAILED {name}:");
            for line in error.lines() {
                eprintln!("      {line}");
            }
        }
        results.push((cell.number, result));
        if failed {
            break;
        }
    }
    Ok(results)
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// The notebook with this run's outputs in its code cells.
fn with_outputs(mut notebook: Value, results: &[(usize, CellResult)]) -> Value {
    let Some(cells) = notebook["cells"].as_array_mut() else {
        return notebook;
    };
    for (count, (number, result)) in results.iter().enumerate() {
        let cell = &mut cells[number - 1];
        let mut outputs = Vec::new();
        for (name, lines) in [("stdout", &result.stdout), ("stderr", &result.stderr)] {
            if !lines.is_empty() {
                let text: Vec<String> = lines.iter().map(|l| format!("{l}\n")).collect();
                outputs.push(json!({"output_type": "stream", "name": name, "text": text}));
            }
        }
        if !result.display.is_empty() {
            let data: serde_json::Map<String, Value> = result
                .display
                .iter()
                .map(|(mime, content)| (mime.clone(), Value::String(content.clone())))
                .collect();
            outputs.push(json!({
                "output_type": "execute_result",
                "execution_count": count + 1,
                "data": data,
                "metadata": {}
            }));
        }
        if let Some(error) = &result.error {
            outputs.push(json!({
                "output_type": "error",
                "ename": "Error",
                "evalue": error.lines().next().unwrap_or(""),
                "traceback": error.lines().collect::<Vec<_>>()
            }));
        }
        cell["outputs"] = Value::Array(outputs);
        cell["execution_count"] = json!(count + 1);
    }
    notebook
}

fn main() -> ExitCode {
    // Must come first: evcxr re-runs this binary as the process that executes the cells.
    evcxr::runtime_hook();
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message} (see --help)");
            return ExitCode::from(2);
        }
    };
    let watchdog = start_watchdog(options.cell_timeout);
    let start_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let (mut passed, mut failed, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    let mut kernel: Option<Kernel> = None;
    for path in &options.notebooks {
        let path = start_dir.join(path);
        let label = path.file_name().map_or(path.display().to_string(), |n| {
            n.to_string_lossy().into_owned()
        });
        let (notebook, cells) = match read_notebook(&path) {
            Ok(read) => read,
            Err(message) => {
                eprintln!("error: {}: {message}", path.display());
                unreadable.push(label);
                continue;
            }
        };
        // Relative `:dep` paths resolve from the working directory, as in Jupyter, where the
        // kernel starts in the notebook's folder.
        let workdir = match &options.workdir {
            Some(dir) => start_dir.join(dir),
            None => path.parent().map_or(start_dir.clone(), Path::to_path_buf),
        };
        if let Err(e) = std::env::set_current_dir(&workdir) {
            eprintln!("error: {label}: cannot enter {}: {e}", workdir.display());
            unreadable.push(label);
            continue;
        }
        eprintln!("{label} ({} code cells)", cells.len());
        let notebook_started = Instant::now();
        let ran = match kernel.take() {
            Some(mut warm) => warm.clear().map(|()| warm),
            None => Kernel::start(),
        }
        .and_then(|mut warm| {
            let results = run_cells(&mut warm, &label, &cells, &watchdog, options.verbose)?;
            Ok((warm, results))
        });
        let results = match ran {
            Ok((warm, results)) => {
                kernel = Some(warm);
                results
            }
            Err(message) => {
                eprintln!("FAILED {label}: {message}");
                failed.push(label);
                continue;
            }
        };
        let ok = results.iter().all(|(_, r)| r.error.is_none());
        if !ok {
            // A notebook that failed may have left its process in any state: start afresh.
            kernel = None;
        }
        let cells_seconds: f64 = results.iter().map(|(_, r)| r.seconds).sum();
        let run_seconds: f64 = results.iter().map(|(_, r)| r.run_seconds).sum();
        eprintln!(
            "{label}: {} in {:.0} s (compiling {:.0} s, running {:.0} s, starting or clearing evcxr {:.0} s)",
            if ok { "passed" } else { "FAILED" },
            notebook_started.elapsed().as_secs_f64(),
            cells_seconds - run_seconds,
            run_seconds,
            notebook_started.elapsed().as_secs_f64() - cells_seconds
        );
        if let Some(dir) = &options.executed {
            let dir = start_dir.join(dir);
            let written = std::fs::create_dir_all(&dir).and_then(|()| {
                let text = serde_json::to_string_pretty(&with_outputs(notebook, &results))?;
                std::fs::write(dir.join(&label), text + "\n")
            });
            if let Err(e) = written {
                eprintln!("warning: could not write the executed copy of {label}: {e}");
            }
        }
        if ok {
            passed.push(label)
        } else {
            failed.push(label)
        }
    }
    eprintln!(
        "notebooks: {} passed, {} failed, {} unreadable ({:.0} s)",
        passed.len(),
        failed.len(),
        unreadable.len(),
        started.elapsed().as_secs_f64()
    );
    for label in &failed {
        eprintln!("  failed: {label}");
    }
    match (unreadable.is_empty(), failed.is_empty()) {
        (false, _) => ExitCode::from(2),
        (true, false) => ExitCode::from(1),
        (true, true) => ExitCode::SUCCESS,
    }
}
