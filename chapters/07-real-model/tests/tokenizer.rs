//! The tokenizer built from the GGUF metadata on chapter 01's encoder gives llama.cpp's own ids
//! (fixture `tokenize.json`, made with llama-cpp-python on the same file): chapter 01's corpora,
//! the parity prompts raw and chat-formatted, multi-turn chat text, edge cases, and special
//! tokens parsed or taken literally. Decoding gives llama.cpp's bytes back, and the text.

mod common;

use common::{TOKENIZER, fixture, hex};

#[test]
fn ids_equal_llama_cpp_on_every_case() {
    let t = fixture("tokenize.json");
    let tok = &*TOKENIZER;
    assert_eq!(
        tok.bos,
        t["tokenizer"]["bos_token_id"].as_u64().map(|v| v as u32)
    );
    assert_eq!(
        tok.eos,
        t["tokenizer"]["eos_token_id"].as_u64().map(|v| v as u32)
    );
    assert_eq!(Some(tok.add_bos), t["tokenizer"]["add_bos_token"].as_bool());
    let cases = t["cases"].as_array().unwrap();
    assert!(cases.len() >= 40);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let ours = if case["parse_special"].as_bool().unwrap() {
            tok.encode_chat(text)
        } else {
            tok.encode_raw(text)
        };
        assert_eq!(ours, want, "{name}");
        let bytes = tok.tokenizer.decode_bytes(&ours).unwrap();
        assert_eq!(
            bytes,
            hex(case["detok"].as_str().unwrap()),
            "{name}: decode"
        );
        if case["detok_equals_text"].as_bool() == Some(true) {
            assert_eq!(bytes, text.as_bytes(), "{name}: decode(encode(x)) == x");
        }
    }
}

/// The chat prompt rendered from the file's template equals the jinja2 rendering of it.
#[test]
fn chat_template_renders_as_jinja_does() {
    let t = fixture("tokenize.json");
    let template = TOKENIZER.chat_template.as_deref().unwrap();
    assert_eq!(template, t["chat_template"].as_str().unwrap());
    let mut rendered = 0;
    for case in t["cases"].as_array().unwrap() {
        // One user turn with the generation prompt: what `--chat` renders.
        let messages = case.get("messages").and_then(|m| m.as_array());
        let Some([message]) = messages.map(|m| m.as_slice()) else {
            continue;
        };
        if message["role"] != "user" || case["add_generation_prompt"] != true {
            continue;
        }
        let user = message["content"].as_str().unwrap();
        assert_eq!(
            ch07_real_model::chat_prompt(template, user).unwrap(),
            case["text"].as_str().unwrap()
        );
        rendered += 1;
    }
    assert!(rendered >= 12, "{rendered}");
}
