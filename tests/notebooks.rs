//! The notebooks in `notebooks/`: each is valid nbformat 4 JSON for the evcxr kernel, committed
//! without outputs, and one exists for every chapter crate. Executing them is `notebooks/check`'s
//! job, not a test's: it installs evcxr and takes minutes. Its own self-test (run before the
//! notebooks, and by `notebooks/check --self-test`) proves that it fails on a broken cell.

use serde_json::Value;
use std::path::{Path, PathBuf};

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
