//! The CPU backend's tensors as host memory, for the kernels that work on it.

use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::tensor::Tensor;

/// The CPU backend's tensor, its elements in row-major order from its start (a copy where
/// they were not: a transposed or sliced view); `None` on another device.
pub(crate) fn on_host<const D: usize>(t: Tensor<D>) -> Option<FlexTensor> {
    let t = t.try_into_primitive::<Flex>().ok()?;
    Some(if t.is_contiguous() { t } else { t.to_contiguous() })
}

/// Its elements, where they are float32.
pub(crate) fn f32s(t: &FlexTensor) -> Option<&[f32]> {
    t.as_slice::<f32>()
}
