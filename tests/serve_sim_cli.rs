//! `llm-workbench serve-sim` as a user runs it: the shipped trace served on the real model with
//! every request's tokens counted, static batching's longer waits, and bad input — flags,
//! trace entries, a request longer than the context, a pool too small — refused with exit 2
//! and one line naming the field, before the model is loaded.

mod common;

use common::{assert_bad_input, bin, json, models_dir, temp_dir};

fn serve_sim(args: &[&str]) -> std::process::Command {
    let mut cmd = bin();
    cmd.env("WORKBENCH_MODELS", models_dir())
        .arg("serve-sim")
        .args(args);
    cmd
}

#[test]
fn the_shipped_trace_is_served_and_every_request_gets_its_tokens() {
    let v = json(&mut serve_sim(&[
        "--trace",
        "data/serving/trace.yaml",
        "--max-batch",
        "4",
        "--max-step-tokens",
        "64",
        "--json",
    ]));
    let trace =
        ch09_serving::parse_trace(&std::fs::read_to_string("data/serving/trace.yaml").unwrap())
            .unwrap();
    let requests = v["requests"].as_array().unwrap();
    assert_eq!(requests.len(), trace.len());
    for (r, t) in requests.iter().zip(&trace) {
        assert_eq!(r["output_tokens"].as_i64().unwrap(), t.output_tokens);
        assert_eq!(r["prompt_tokens"].as_i64().unwrap(), t.prompt_tokens);
        let (arrival, first, finish) = (
            r["arrival_s"].as_f64().unwrap(),
            r["first_token_s"].as_f64().unwrap(),
            r["finish_s"].as_f64().unwrap(),
        );
        assert_eq!(arrival, t.arrival_s);
        assert!(arrival < first && first <= finish, "{r}");
    }
    let s = &v["summary"];
    let total: i64 = trace.iter().map(|t| t.output_tokens).sum();
    assert_eq!(s["output_tokens"].as_i64().unwrap(), total);
    assert!(s["output_tokens_per_s"].as_f64().unwrap() > 0.0);
    // Several requests ran together, and no step exceeded the batch limit.
    let mean_batch = s["mean_batch"].as_f64().unwrap();
    assert!(mean_batch > 1.0 && mean_batch <= 4.0, "{mean_batch}");
    assert_eq!(v["config"]["batching"], "continuous");
    assert_eq!(v["device"]["backend"], "flex");
}

#[test]
fn bad_input_is_refused_before_the_model_loads() {
    assert_bad_input(&mut serve_sim(&["--requests", "0"]), &["--requests 0"]);
    assert_bad_input(&mut serve_sim(&["--rate", "-1"]), &["--rate -1"]);
    assert_bad_input(&mut serve_sim(&["--max-batch", "0"]), &["--max-batch 0"]);
    assert_bad_input(&mut serve_sim(&["--requests", "-3"]), &["--requests -3"]);
    assert_bad_input(
        &mut serve_sim(&["--requests", "1000000000"]),
        &["--requests 1000000000"],
    );
    // Lengths are checked before any prompt is built: a trillion tokens is refused, not
    // allocated; a pool larger than this machine's memory likewise.
    assert_bad_input(
        &mut serve_sim(&["--prompt-tokens", "1000000000000"]),
        &["exceeds the model context of 8192"],
    );
    assert_bad_input(
        &mut serve_sim(&["--pool-blocks", "1000000000000"]),
        &["--pool-blocks 1000000000000", "more than this machine's"],
    );
    assert_bad_input(
        &mut serve_sim(&["--prompt-tokens", "9000"]),
        &["prompt_tokens", "exceeds the model context of 8192"],
    );
    assert_bad_input(
        &mut serve_sim(&["--pool-blocks", "2"]),
        &["KV pool is too small", "the minimum is"],
    );
    assert_bad_input(
        &mut serve_sim(&["--model", "nonexistent"]),
        &["--model nonexistent"],
    );
    let dir = temp_dir("serve_sim_bad_traces");
    for (name, text, mention) in [
        (
            "negative_arrival.yaml",
            "- {arrival_s: 0, prompt_tokens: 8, output_tokens: 4}\n- {arrival_s: -2.5, prompt_tokens: 8, output_tokens: 4}\n",
            "request 1: arrival_s is -2.5",
        ),
        (
            "negative_length.yaml",
            "- {arrival_s: 0, prompt_tokens: 8, output_tokens: -4}\n",
            "request 0: output_tokens is -4",
        ),
        (
            "too_long.yaml",
            "- {arrival_s: 0, prompt_tokens: 8190, output_tokens: 4}\n",
            "request 0: prompt_tokens (8190) + output_tokens (4)",
        ),
        (
            "typo.yaml",
            "- {arrival_s: 0, prompt_token: 8, output_tokens: 4}\n",
            "prompt_token",
        ),
        ("empty.yaml", "[]\n", "no requests"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        assert_bad_input(
            &mut serve_sim(&["--trace", path.to_str().unwrap()]),
            &[mention],
        );
    }
    assert_bad_input(
        &mut serve_sim(&["--trace", dir.join("missing.yaml").to_str().unwrap()]),
        &["missing.yaml"],
    );
}
