//! The `tokenizers` crate's BPE trainer set up as ours is: the same split pattern, then GPT-2's
//! byte-level mapping, the full byte alphabet, no minimum frequency, one thread. Shared by the
//! merge-parity test and the training bench, so both compare against the same reference.

use ch01_bpe::Pattern;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
    SplitDelimiterBehavior, TokenizerBuilder, TokenizerImpl,
};

pub type HfBpe = TokenizerImpl<
    BPE,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// A `tokenizers` BPE trained on `text` to `vocab_size` tokens.
pub fn hf_train(text: &str, vocab_size: usize, pattern: Pattern) -> HfBpe {
    tokenizers::utils::parallelism::set_parallelism(false);
    let byte_level = ByteLevel::new(false, true, false);
    let pre: PreTokenizerWrapper = match pattern.regex() {
        None => byte_level.into(),
        Some(re) => Sequence::new(vec![
            Split::new(
                SplitPattern::Regex(re.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .expect("the pattern compiles in tokenizers' regex engine")
            .into(),
            byte_level.into(),
        ])
        .into(),
    };
    let mut tok: HfBpe = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_pre_tokenizer(Some(pre))
        .build()
        .expect("a model and a pre-tokenizer are all the builder needs");
    let mut trainer = BpeTrainer::builder()
        .vocab_size(vocab_size)
        .min_frequency(0)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    tok.train(&mut trainer, [text].into_iter())
        .expect("training on an in-memory text");
    tok
}
