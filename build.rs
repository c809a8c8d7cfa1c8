//! Assembles the dense layers' relaxed-SIMD tiles (`src/kernels/dense_tiles_fma.wat`) into the
//! module the page compiles beside its own (`src/web/fused_tiles.rs`). Natively too, so that a
//! mistake in it fails every build.

use std::path::PathBuf;

fn main() {
    let source = "src/kernels/dense_tiles_fma.wat";
    println!("cargo::rerun-if-changed={source}");
    let module = wat::parse_file(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("dense_tiles_fma.wasm");
    std::fs::write(&out, module).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
