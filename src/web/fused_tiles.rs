//! The dense layers' tiles with fused multiply-adds, where the browser has relaxed SIMD: the
//! module `src/kernels/dense_tiles_fma.wat` (assembled by `build.rs`) is compiled beside the
//! app's module, given the app's memory, and lent to the model's dense kernel once it gives the
//! plain tiles' sums ([`use_fused_tiles`]).

use crate::kernels::use_fused_tiles;
use std::sync::OnceLock;
use wasm_bindgen::prelude::*;

const MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dense_tiles_fma.wasm"));

#[wasm_bindgen(inline_js = r#"
let fusedTiles = null;
// "" once the module is compiled and instantiated on `memory`, else why not.
export function instantiate_fused_tiles(bytes, memory) {
  try {
    fusedTiles = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports.tiles;
    return "";
  } catch (e) {
    return String(e?.message ?? e);
  }
}
export function fused_tiles(count, a, lda, panel, depth, c, ldc) {
  fusedTiles(count, a, lda, panel, depth, c, ldc);
}
"#)]
extern "C" {
    fn instantiate_fused_tiles(bytes: &[u8], memory: JsValue) -> String;
    fn fused_tiles(count: u32, a: u32, lda: u32, panel: u32, depth: u32, c: u32, ldc: u32);
}

/// [`crate::kernels::Tiles`] by the module: wasm32 addresses and counts are 32 bits.
///
/// # Safety
/// As for [`crate::kernels::Tiles`]: the module reads and writes the app's memory there.
unsafe fn tiles(count: usize, a: *const f32, lda: usize, panel: *const f32, depth: usize, c: *mut f32, ldc: usize) {
    fused_tiles(count as u32, a as u32, lda as u32, panel as u32, depth as u32, c as u32, ldc as u32);
}

/// Lends the fused tiles to the dense kernel once per worker; says what the CPU's dense layers
/// run on, for the page.
pub fn install() -> &'static str {
    static DENSE_LAYERS: OnceLock<String> = OnceLock::new();
    DENSE_LAYERS.get_or_init(|| {
        let refused = instantiate_fused_tiles(MODULE, wasm_bindgen::memory());
        if !refused.is_empty() {
            return format!("dense layers in SIMD128 (no fused multiply-adds in this browser: {refused})");
        }
        match use_fused_tiles(tiles) {
            Ok(()) => "dense layers in SIMD128 with fused multiply-adds".into(),
            Err(e) => format!("dense layers in SIMD128 (fused multiply-adds refused: {e})"),
        }
    })
}
