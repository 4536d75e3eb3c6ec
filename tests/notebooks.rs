//! The notebooks in `notebooks/`: each is valid nbformat 4 JSON for the evcxr kernel, committed
//! without outputs, and one exists for every chapter crate; `notebooks/check` fails on a broken
//! cell and names the notebook and the cell.

mod common;

use common::{run, temp_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn notebooks() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root().join("notebooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    found.sort();
    found
}

fn source(cell: &Value) -> String {
    match &cell["source"] {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// What the repository requires of a committed notebook.
fn check_notebook(text: &str) -> Result<Value, String> {
    let notebook: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    if notebook["nbformat"] != 4 {
        return Err(format!("nbformat {} is not 4", notebook["nbformat"]));
    }
    let spec = &notebook["metadata"]["kernelspec"];
    if spec["name"] != "rust" || spec["language"] != "rust" {
        return Err(format!(
            "kernel spec {spec} is not evcxr's (name and language \"rust\")"
        ));
    }
    let cells = notebook["cells"].as_array().ok_or("no cells array")?;
    if !cells.iter().any(|c| c["cell_type"] == "code") {
        return Err("no code cells".into());
    }
    for (i, cell) in cells.iter().enumerate() {
        let n = i + 1;
        match cell["cell_type"].as_str() {
            Some("markdown" | "raw") => {}
            Some("code") => {
                if cell["outputs"] != Value::Array(vec![]) || !cell["execution_count"].is_null() {
                    return Err(format!(
                        "cell {n} has stale outputs; clear them before committing"
                    ));
                }
            }
            other => return Err(format!("cell {n} has cell_type {other:?}")),
        }
        if !matches!(cell["source"], Value::String(_) | Value::Array(_)) {
            return Err(format!("cell {n} has no source"));
        }
    }
    Ok(notebook)
}

#[test]
fn every_chapter_and_the_calculators_have_a_notebook_for_the_evcxr_kernel() {
    let names: Vec<String> = notebooks()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut chapters: Vec<String> = std::fs::read_dir(root().join("chapters"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    chapters.sort();
    assert!(chapters.len() >= 6, "chapters: {chapters:?}");
    for chapter in &chapters {
        let path = root().join("notebooks").join(format!("{chapter}.ipynb"));
        assert!(
            names.contains(chapter),
            "chapter {chapter} has no notebook {}",
            path.display()
        );
        let notebook = check_notebook(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // The notebook imports the chapter rather than re-implementing it.
        let dep = format!("path = \"../chapters/{chapter}\"");
        let imports = notebook["cells"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["cell_type"] == "code" && source(c).contains(&dep));
        assert!(
            imports,
            "{chapter}.ipynb does not `:dep` its chapter by path ({dep})"
        );
    }
    assert!(
        names.contains(&"calculators".to_string()),
        "notebooks: {names:?}"
    );
    for path in notebooks() {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(problem) = check_notebook(&text) {
            panic!("{}: {problem}", path.display());
        }
    }
}

#[test]
fn invalid_json_a_foreign_kernel_and_stale_outputs_are_rejected() {
    let good = std::fs::read_to_string(root().join("notebooks/01-bpe.ipynb")).unwrap();
    assert!(check_notebook(&good).is_ok());

    let truncated = &good[..good.len() / 2];
    assert!(
        check_notebook(truncated)
            .unwrap_err()
            .contains("invalid JSON")
    );

    let python = good.replacen("\"name\": \"rust\"", "\"name\": \"python3\"", 1);
    assert!(check_notebook(&python).unwrap_err().contains("kernel spec"));

    let mut stale: Value = serde_json::from_str(&good).unwrap();
    let cell = stale["cells"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["cell_type"] == "code")
        .unwrap();
    cell["execution_count"] = 3.into();
    assert!(
        check_notebook(&stale.to_string())
            .unwrap_err()
            .contains("stale outputs")
    );
}

/// A copy of the chapter 01 notebook whose `n`-th code cell (1-based, the `:dep` cell being
/// the first) is replaced by `code`; returns the copy and that cell's number among all cells.
fn broken_copy(dir: &Path, name: &str, n: usize, code: &str) -> (PathBuf, usize) {
    let text = std::fs::read_to_string(root().join("notebooks/01-bpe.ipynb")).unwrap();
    let mut notebook: Value = serde_json::from_str(&text).unwrap();
    let cells = notebook["cells"].as_array_mut().unwrap();
    let (index, cell) = cells
        .iter_mut()
        .enumerate()
        .filter(|(_, c)| c["cell_type"] == "code")
        .nth(n - 1)
        .unwrap();
    cell["source"] = Value::String(code.to_string());
    let path = dir.join(name);
    std::fs::write(&path, notebook.to_string()).unwrap();
    (path, index + 1)
}

/// Runs `notebooks/check` on the given notebooks (installing the runner first if it is missing).
fn check(args: &[&Path], executed: &Path) -> (i32, String) {
    let mut cmd = Command::new(root().join("notebooks/check"));
    cmd.arg("--workdir")
        .arg(root().join("notebooks"))
        .args(args)
        .env("NOTEBOOKS_EXECUTED", executed);
    let (code, _, stderr) = run(&mut cmd);
    (code, stderr)
}

#[test]
fn the_check_fails_on_a_broken_cell_and_names_the_notebook_and_the_cell() {
    let dir = temp_dir("notebooks-broken");
    let executed = dir.join("executed");
    let (compile, compile_cell) = broken_copy(
        &dir,
        "broken-compile.ipynb",
        2,
        "let ids = ch01_bpe::no_such_function(\"hello\");",
    );
    let (panics, panic_cell) = broken_copy(
        &dir,
        "broken-panic.ipynb",
        2,
        "let empty: Vec<u32> = Vec::new();\nlet first = empty[3];\nprintln!(\"{first}\");",
    );
    let (errs, error_cell) = broken_copy(
        &dir,
        "broken-error.ipynb",
        2,
        "let n: u32 = \"twelve\".parse()?;\nprintln!(\"{n}\");",
    );
    let (code, stderr) = check(&[&compile, &panics, &errs], &executed);
    assert_eq!(code, 1, "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("FAILED broken-compile.ipynb cell {compile_cell}:")),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("no_such_function"),
        "the compile error is shown:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("FAILED broken-panic.ipynb cell {panic_cell}:")),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("index out of bounds"),
        "the panic is shown:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("FAILED broken-error.ipynb cell {error_cell}:")),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("invalid digit"),
        "the `?` error is shown:\n{stderr}"
    );
    assert!(stderr.contains("0 passed, 3 failed"), "stderr:\n{stderr}");

    // The failing cell is the last one run, and its error is kept in the executed copy.
    let copy: Value = serde_json::from_str(
        &std::fs::read_to_string(executed.join("broken-compile.ipynb")).unwrap(),
    )
    .unwrap();
    let cells = copy["cells"].as_array().unwrap();
    let failed = &cells[compile_cell - 1]["outputs"];
    assert!(
        failed
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["output_type"] == "error")
    );
    assert!(
        cells[compile_cell..]
            .iter()
            .all(|c| c["cell_type"] != "code" || c["execution_count"].is_null())
    );
}

#[test]
fn the_check_rejects_an_unreadable_notebook_with_exit_code_2() {
    let dir = temp_dir("notebooks-corrupt");
    let corrupt = dir.join("corrupt.ipynb");
    std::fs::write(&corrupt, "{\"cells\": [").unwrap();
    let (code, stderr) = check(&[&corrupt], &dir);
    assert_eq!(code, 2, "stderr:\n{stderr}");
    assert!(
        stderr.contains("corrupt.ipynb: invalid notebook JSON"),
        "stderr:\n{stderr}"
    );
}
