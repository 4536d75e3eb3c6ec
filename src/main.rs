use llm_workbench::alloc::CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() {
    std::process::exit(llm_workbench::commands::main(std::env::args_os()));
}
