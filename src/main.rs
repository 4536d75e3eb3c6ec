use llm_workbench::alloc::CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() {
    // The main thread is one of rayon's workers, so parallel work it starts (a decode step
    // starts ~200 small matrix products) runs here too instead of waking another thread and
    // sleeping until it is done.
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
    std::process::exit(llm_workbench::commands::main(std::env::args_os()));
}
