//! CPU kernels under the dense layers and activations: gemm's panels natively, SIMD128 tiles
//! (and relaxed-SIMD ones, `dense_tiles_fma.wat`) in the browser, one-sweep GELU and softmax.
//! They know tensors of the CPU backend and nothing of models.

pub(crate) mod cpu_activations;
// Used by the browser build only; its tests run natively.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) mod dense_kernel;
#[cfg(not(target_family = "wasm"))]
pub(crate) mod dense_panels;
pub(crate) mod host;

pub use dense_kernel::{use_fused_tiles, Tiles};
