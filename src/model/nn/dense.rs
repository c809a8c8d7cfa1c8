//! A dense layer, `x · weight + bias`, and how its weight is held: a Burn tensor `[in, out]`
//! on a GPU, in f16 and in the browser; column panels of the host's memory where the native CPU
//! backend computes it in float32 ([`crate::kernels::dense_panels`]).

use burn::module::Param;
use burn::tensor::module::linear;
use burn::tensor::{DType, FloatDType, Tensor};
#[cfg(not(target_family = "wasm"))]
use burn::tensor::{Device, TensorData};

#[cfg(not(target_family = "wasm"))]
use crate::kernels::dense_panels::Panels;
#[cfg(not(target_family = "wasm"))]
use crate::kernels::host::{f32s, on_host};

#[derive(Debug)]
pub struct Dense {
    weight: Weight,
    /// `[out]`, float32.
    pub bias: Option<Param<Tensor<1>>>,
}

#[derive(Debug)]
enum Weight {
    /// `[in, out]`, Burn's layout.
    Matrix(Param<Tensor<2>>),
    /// Float32 on the native CPU backend.
    #[cfg(not(target_family = "wasm"))]
    Panels(Panels),
}

impl Dense {
    /// The layer of `weight` (`[in, out]`) and `bias` (`[out]`), held as its device computes
    /// it best.
    pub fn new(weight: Param<Tensor<2>>, bias: Option<Param<Tensor<1>>>) -> Self {
        #[cfg(not(target_family = "wasm"))]
        if weight.dtype() == DType::F32 && weight.device() == Device::flex() {
            let [k, n] = weight.dims();
            if let Some(values) = on_host(weight.val()).as_ref().and_then(f32s) {
                return Dense { weight: Weight::Panels(Panels::new(values, k, n)), bias };
            }
        }
        Dense { weight: Weight::Matrix(weight), bias }
    }

    /// How the weight's elements are stored.
    pub fn dtype(&self) -> DType {
        match &self.weight {
            Weight::Matrix(w) => w.dtype(),
            #[cfg(not(target_family = "wasm"))]
            Weight::Panels(_) => DType::F32,
        }
    }

    /// `x · weight + bias` in float32 whatever the weight's storage precision (see
    /// [`super::Precision`]): an f16 weight is widened for this product only.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let bias = self.bias.as_ref().map(|b| b.val());
        let weight = match &self.weight {
            Weight::Matrix(weight) => weight.val(),
            #[cfg(not(target_family = "wasm"))]
            Weight::Panels(panels) => return on_panels(panels, x, bias),
        };
        // In the browser the CPU backend's product gives way to [`crate::kernels::dense_kernel`], which
        // runs a pass there in a fraction of the time (see its comment).
        #[cfg(target_arch = "wasm32")]
        if let Some(y) = crate::kernels::dense_kernel::dense_on_host(&weight, bias.as_ref(), &x) {
            return y;
        }
        let weight = weight.cast(FloatDType::F32); // a no-op for float32
                                                   // A single row goes with a copy of itself, as in [`super::layers::matmul_rows`].
        if D >= 2 && x.dims()[..D - 1].iter().product::<usize>() == 1 {
            return linear(Tensor::cat(vec![x.clone(), x], D - 2), weight, bias).narrow(D - 2, 0, 1);
        }
        linear(x, weight, bias)
    }
}

/// [`Panels::matmul_bias`] on the CPU backend's tensors.
#[cfg(not(target_family = "wasm"))]
fn on_panels<const D: usize>(panels: &Panels, x: Tensor<D>, bias: Option<Tensor<1>>) -> Tensor<D> {
    let (device, dims) = (x.device(), x.dims());
    let (x, bias) = (on_host(x.cast(FloatDType::F32)), bias.and_then(on_host));
    let a = x.as_ref().and_then(f32s).expect("the input of a layer held on the CPU backend is on it");
    let bias = bias.as_ref().map(|b| f32s(b).expect("a float32 bias on the CPU backend"));
    let m = dims[..D - 1].iter().product();
    let mut shape = dims;
    shape[D - 1] = panels.outputs();
    Tensor::from_data(TensorData::new(panels.matmul_bias(a, m, bias), shape), &device)
}
