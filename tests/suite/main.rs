//! The integration tests, in one binary: each test binary links Burn, wgpu and tokenizers,
//! so one binary instead of thirteen is most of what makes a cold build fit CI's time.
//! Run one group with a filter, e.g. `cargo test --test suite parity::`.

mod common;

mod batching;
mod checkpoint_fuzz;
mod cli;
mod half_precision;
mod hub_tasks;
mod loading;
mod numeric;
mod parity;
mod parser_fuzz;
mod pipeline_format;
mod resume;
mod scorer;
mod task_files;
mod tokenizer;
mod torch_checkpoints;
mod web_assets;
mod weights;
