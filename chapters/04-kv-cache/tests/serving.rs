//! The serving simulation refuses what it cannot run and never passes off an unfinished run as
//! a result.

use ch04_kv_cache::{Preemption, ServingConfig, ServingError, simulate, try_simulate};

/// A config small enough that a run takes no time.
fn small() -> ServingConfig {
    ServingConfig {
        pool_tokens: 1024,
        block_size: 16,
        max_len: 256,
        requests: 20,
        arrivals_per_step: 2,
        prompt_tokens: (8, 64),
        output_tokens: (8, 64),
        seed: 1,
        preemption: Preemption::Recompute,
    }
}

#[test]
fn a_reversed_length_range_is_an_error_naming_it() {
    // `lo + state % (hi - lo + 1)` used to underflow on these.
    let c = ServingConfig {
        prompt_tokens: (512, 16),
        ..ServingConfig::default()
    };
    let err = try_simulate(&c).unwrap_err();
    assert_eq!(
        err,
        ServingError::ReversedRange {
            field: "prompt_tokens",
            lo: 512,
            hi: 16
        }
    );
    assert!(
        err.to_string()
            .contains("prompt_tokens is (512, 16): its minimum is above its maximum"),
        "{err}"
    );
    let c = ServingConfig {
        output_tokens: (9, 8),
        ..small()
    };
    assert!(matches!(
        try_simulate(&c),
        Err(ServingError::ReversedRange {
            field: "output_tokens",
            ..
        })
    ));
}

#[test]
fn zero_sizes_and_empty_lengths_are_errors() {
    let cases: [(ServingConfig, &str); 6] = [
        (
            ServingConfig {
                arrivals_per_step: 0,
                ..small()
            },
            "arrivals_per_step",
        ),
        (
            ServingConfig {
                pool_tokens: 0,
                ..small()
            },
            "pool_tokens",
        ),
        (
            ServingConfig {
                block_size: 0,
                ..small()
            },
            "block_size",
        ),
        (
            ServingConfig {
                max_len: 0,
                ..small()
            },
            "max_len",
        ),
        (
            ServingConfig {
                output_tokens: (0, 4),
                ..small()
            },
            "the minimum of output_tokens",
        ),
        (
            ServingConfig {
                prompt_tokens: (0, 4),
                ..small()
            },
            "the minimum of prompt_tokens",
        ),
    ];
    for (c, field) in cases {
        assert_eq!(try_simulate(&c), Err(ServingError::Zero { field }), "{c:?}");
    }
}

/// A request that one policy can never serve used to keep the simulation waiting until its
/// step guard (10 million steps) stopped it, and the stopped run came back as an ordinary
/// result. Now the configuration is refused up front, naming the limit.
#[test]
fn a_request_that_can_never_be_served_is_an_error_not_a_result() {
    // Longer than max_len: the pre-allocated policy can never admit it.
    let c = ServingConfig {
        prompt_tokens: (200, 200),
        output_tokens: (100, 100),
        ..small()
    };
    assert_eq!(
        try_simulate(&c),
        Err(ServingError::LongerThanMaxLen {
            longest: 300,
            max_len: 256
        })
    );
    // max_len above the pool: not one pre-allocated slot.
    let c = ServingConfig {
        max_len: 2048,
        ..small()
    };
    assert_eq!(
        try_simulate(&c),
        Err(ServingError::MaxLenAbovePool {
            max_len: 2048,
            pool_tokens: 1024
        })
    );
    // 100 tokens fit max_len = pool_tokens = 100, but need 7 blocks of 16 and the pool has 6:
    // the paged policy would pre-empt the request and re-admit it for ever.
    let c = ServingConfig {
        pool_tokens: 100,
        max_len: 100,
        prompt_tokens: (50, 50),
        output_tokens: (50, 50),
        ..small()
    };
    let err = try_simulate(&c).unwrap_err();
    assert_eq!(
        err,
        ServingError::PoolTooSmall {
            longest: 100,
            needed: 7,
            block_size: 16,
            pool_tokens: 100,
            pool_blocks: 6
        }
    );
    assert!(err.to_string().contains("could never finish it"), "{err}");
}

#[test]
fn a_valid_config_runs_to_completion() {
    let c = small();
    let [pre, paged] = try_simulate(&c).unwrap();
    for r in [&pre, &paged] {
        assert_eq!(r.steps, r.running_per_step.len());
        assert!(r.tokens_generated >= 20 * 8, "{}", r.tokens_generated);
    }
    assert_eq!(simulate(&c), [pre, paged]);
    // Requests that fill the pool exactly are still served.
    let c = ServingConfig {
        pool_tokens: 96,
        max_len: 96,
        prompt_tokens: (48, 48),
        output_tokens: (48, 48),
        ..small()
    };
    let [pre, paged] = try_simulate(&c).unwrap();
    assert_eq!((pre.peak_running, paged.peak_running), (1, 1));
    assert_eq!(
        try_simulate(&ServingConfig { requests: 0, ..c }).unwrap()[1].steps,
        0
    );
}

/// The default configuration passes the checks, and they change nothing in its run: the
/// README's table (chapter 04, §5) is still what it measures.
#[test]
fn the_default_run_is_unchanged() {
    let [pre, paged] = try_simulate(&ServingConfig::default()).unwrap();
    assert_eq!((pre.steps, pre.peak_running, pre.preemptions), (6728, 8, 0));
    assert_eq!(
        (paged.steps, paged.peak_running, paged.preemptions),
        (1675, 61, 190)
    );
}

#[test]
#[should_panic(expected = "serving simulation: prompt_tokens is (9, 8)")]
fn simulate_panics_with_the_message_on_a_bad_config() {
    simulate(&ServingConfig {
        prompt_tokens: (9, 8),
        ..small()
    });
}

/// Swapping keeps a pre-empted sequence's work: nothing is generated twice, every token it had
/// cached goes out and comes back (twice its length per pre-emption), and the run takes no
/// more steps than recomputing. Recompute swaps nothing.
#[test]
fn swap_keeps_the_work_and_counts_what_it_moves() {
    // The default run pre-empts (the pool is smaller than its peak demand).
    let recompute = &simulate(&ServingConfig::default())[1];
    let swap = &simulate(&ServingConfig {
        preemption: Preemption::Swap,
        ..ServingConfig::default()
    })[1];
    assert!(recompute.preemptions > 0 && recompute.tokens_lost_to_preemption > 0);
    assert_eq!(recompute.tokens_swapped, 0);
    assert!(swap.preemptions > 0);
    assert_eq!(swap.tokens_lost_to_preemption, 0);
    let outputs: usize = recompute.tokens_generated - recompute.tokens_lost_to_preemption;
    assert_eq!(swap.tokens_generated, outputs, "each output token once");
    // Out and back in: an even count of positions, at least a prompt's worth per pre-emption.
    assert!(
        swap.tokens_swapped.is_multiple_of(2) && swap.tokens_swapped >= 2 * swap.preemptions * 16
    );
    assert!(swap.steps <= recompute.steps);
}
