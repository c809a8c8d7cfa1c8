//! `a · b + bias` for float32 matrices on the host, the dense layers of the page's CPU fallback.
//!
//! The CPU backend's matrix product (the `gemm` crate) runs a 12-accumulator SIMD128 tile in
//! the browser; x86 engines have 16 vector registers and keep one for themselves, so that tile
//! spills on every step and the product took 78% of a pass. This one keeps 8 accumulators
//! (a 4×8 tile of `c`), which fit, and reads `b` from an 8-column panel copied once per block
//! of 256 rows of `b`, so every row of a block of `a` reuses it from the L1 cache. On wasm32 the lanes are
//! SIMD128; elsewhere they are plain arrays with the same arithmetic and order (where the tests
//! run).

use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::nn::Linear;
use burn::tensor::{DType, Device, Tensor, TensorData};

/// `x · weight + bias` by [`matmul_bias`] where `x` and the layer are float32 tensors of the CPU
/// backend; `None` otherwise (another device, f16 weights), for the backend's product.
pub fn dense_on_host<const D: usize>(layer: &Linear, x: &Tensor<D>) -> Option<Tensor<D>> {
    let device = x.device();
    let weight = layer.weight.val();
    let bias = layer.bias.as_ref().map(|b| b.val());
    let all_f32 = [x.dtype(), weight.dtype()].into_iter().chain(bias.as_ref().map(Tensor::dtype)).all(|d| d == DType::F32);
    if device != Device::flex() || !all_f32 {
        return None;
    }
    let (dims, [k, n]) = (x.dims(), weight.dims());
    let (x_host, weight, bias) = (on_host(x.clone()), on_host(weight), bias.map(on_host));
    let (Some(a), Some(b)) = (x_host.as_ref().and_then(f32s), weight.as_ref().and_then(f32s)) else {
        return None;
    };
    let bias = match &bias {
        None => None,
        Some(t) => match t.as_ref().and_then(f32s) {
            Some(bias) => Some(bias),
            None => return None,
        },
    };
    let m = dims[..D - 1].iter().product();
    let mut shape = dims;
    shape[D - 1] = n;
    Some(Tensor::from_data(TensorData::new(matmul_bias(a, b, bias, m, k, n), shape), &device))
}

/// The CPU backend's tensor, its elements in row-major order from its start (a copy where
/// they were not: a transposed or sliced view).
fn on_host<const D: usize>(t: Tensor<D>) -> Option<FlexTensor> {
    let t = t.try_into_primitive::<Flex>().ok()?;
    Some(if t.is_contiguous() { t } else { t.to_contiguous() })
}

fn f32s(t: &FlexTensor) -> Option<&[f32]> {
    t.as_slice::<f32>()
}

/// Rows of `c` one tile computes.
const ROWS: usize = 4;
/// Columns of `c` one tile computes: two lanes of four.
const COLS: usize = 8;
/// Rows of `b` (terms of each sum) one panel holds: 256 × 8 floats, 8 KiB.
const DEPTH: usize = 256;
/// Rows of `a` that meet each panel before the next: 128 × 256 floats, 128 KiB, stay in the
/// L2 cache while every panel passes (a pass of 4096 tokens would stream `a` from memory once
/// per panel).
const BLOCK_ROWS: usize = 128;

/// `c = a · b + bias`, all row-major and contiguous: `a` is `[m, k]`, `b` `[k, n]`, `bias`
/// `[n]`, the result `[m, n]`. Each sum is taken in order of `k`, from the bias (or zero).
pub fn matmul_bias(a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize) -> Vec<f32> {
    assert!(a.len() == m * k && b.len() == k * n, "matmul_bias: a is {} long for [{m}, {k}], b {} for [{k}, {n}]", a.len(), b.len());
    let mut c = match bias {
        Some(bias) => {
            assert_eq!(bias.len(), n, "matmul_bias: bias of {} for {n} columns", bias.len());
            bias.repeat(m)
        }
        None => vec![0.0; m * n],
    };
    let mut panel = vec![0.0f32; DEPTH * COLS];
    for k0 in (0..k).step_by(DEPTH) {
        let depth = DEPTH.min(k - k0);
        for i_block in (0..m).step_by(BLOCK_ROWS) {
            let block_rows = BLOCK_ROWS.min(m - i_block);
            for j0 in (0..n).step_by(COLS) {
                let cols = COLS.min(n - j0);
                // The panel: b[k0.., j0..j0+cols], zero beyond the last column.
                // A copy of a length the compiler does not know is a `memory.copy`, which the
                // engine runs as a call: one per row of the panel took a fifth of a pass.
                for (kk, row) in panel.chunks_exact_mut(COLS).take(depth).enumerate() {
                    let from = (k0 + kk) * n + j0;
                    if cols == COLS {
                        row.copy_from_slice(&b[from..][..COLS]);
                    } else {
                        row[..cols].copy_from_slice(&b[from..from + cols]);
                        row[cols..].fill(0.0);
                    }
                }
                for i0 in (i_block..i_block + block_rows).step_by(ROWS) {
                    let rows = ROWS.min(i_block + block_rows - i0);
                    let a_at = &a[i0 * k + k0..];
                    if cols == COLS {
                        tile_rows(rows, a_at, k, &panel[..depth * COLS], &mut c[i0 * n + j0..], n);
                    } else {
                        // The last panel: through a full-width copy of its part of `c`.
                        let mut part = [0.0f32; ROWS * COLS];
                        for r in 0..rows {
                            part[r * COLS..r * COLS + cols].copy_from_slice(&c[(i0 + r) * n + j0..][..cols]);
                        }
                        tile_rows(rows, a_at, k, &panel[..depth * COLS], &mut part, COLS);
                        for r in 0..rows {
                            c[(i0 + r) * n + j0..][..cols].copy_from_slice(&part[r * COLS..r * COLS + cols]);
                        }
                    }
                }
            }
        }
    }
    c
}

/// One tile of `rows` (1 to 4) rows: `c[r][0..8] += Σ_kk a[r·lda + kk] · panel[kk][0..8]`.
fn tile_rows(rows: usize, a: &[f32], lda: usize, panel: &[f32], c: &mut [f32], ldc: usize) {
    let depth = panel.len() / COLS;
    // Everything the tile reads and writes is in bounds; the tile itself checks nothing.
    assert!((1..=ROWS).contains(&rows) && (rows - 1) * lda + depth <= a.len() && (rows - 1) * ldc + COLS <= c.len());
    // SAFETY: the bounds were checked just above.
    unsafe {
        match rows {
            4 => tile::<4>(a.as_ptr(), lda, panel.as_ptr(), depth, c.as_mut_ptr(), ldc),
            3 => tile::<3>(a.as_ptr(), lda, panel.as_ptr(), depth, c.as_mut_ptr(), ldc),
            2 => tile::<2>(a.as_ptr(), lda, panel.as_ptr(), depth, c.as_mut_ptr(), ldc),
            _ => tile::<1>(a.as_ptr(), lda, panel.as_ptr(), depth, c.as_mut_ptr(), ldc),
        }
    }
}

/// The tile proper: `R` rows of `c` in `2R` lanes for the whole depth. Not inlined, so that
/// the engine allocates its registers for this loop alone.
///
/// # Safety
/// `a` must be readable at `r·lda + kk`, `panel` at `kk·8 .. kk·8 + 8` and `c` read- and
/// writable at `r·ldc .. r·ldc + 8`, for every `r < R` and `kk < depth`.
#[inline(never)]
unsafe fn tile<const R: usize>(a: *const f32, lda: usize, panel: *const f32, depth: usize, c: *mut f32, ldc: usize) {
    unsafe {
        let mut acc = [[lanes::ZERO; 2]; R];
        for (r, acc) in acc.iter_mut().enumerate() {
            *acc = [lanes::load(c.add(r * ldc)), lanes::load(c.add(r * ldc + 4))];
        }
        for kk in 0..depth {
            let b = [lanes::load(panel.add(kk * COLS)), lanes::load(panel.add(kk * COLS + 4))];
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = lanes::splat(a.add(r * lda + kk));
                acc[0] = lanes::mul_add(acc[0], x, b[0]);
                acc[1] = lanes::mul_add(acc[1], x, b[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            lanes::store(c.add(r * ldc), acc[0]);
            lanes::store(c.add(r * ldc + 4), acc[1]);
        }
    }
}

/// Four float32 lanes: SIMD128 on wasm32.
#[cfg(target_arch = "wasm32")]
mod lanes {
    use core::arch::wasm32::{f32x4, f32x4_add, f32x4_mul, v128, v128_load, v128_load32_splat, v128_store};

    pub type Lanes = v128;
    pub const ZERO: Lanes = f32x4(0.0, 0.0, 0.0, 0.0);

    /// # Safety
    /// Four floats readable at `p`.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> Lanes {
        unsafe { v128_load(p.cast()) }
    }

    /// # Safety
    /// One float readable at `p`.
    #[inline(always)]
    pub unsafe fn splat(p: *const f32) -> Lanes {
        unsafe { v128_load32_splat(p.cast()) }
    }

    /// # Safety
    /// Four floats writable at `p`.
    #[inline(always)]
    pub unsafe fn store(p: *mut f32, x: Lanes) {
        unsafe { v128_store(p.cast(), x) }
    }

    /// `acc + x·y`, rounded twice (no fused multiply-add without relaxed SIMD).
    #[inline(always)]
    pub fn mul_add(acc: Lanes, x: Lanes, y: Lanes) -> Lanes {
        f32x4_add(acc, f32x4_mul(x, y))
    }
}

/// Four float32 lanes as an array, with the SIMD128 version's arithmetic.
#[cfg(not(target_arch = "wasm32"))]
mod lanes {
    pub type Lanes = [f32; 4];
    pub const ZERO: Lanes = [0.0; 4];

    /// # Safety
    /// Four floats readable at `p`.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> Lanes {
        unsafe { p.cast::<Lanes>().read_unaligned() }
    }

    /// # Safety
    /// One float readable at `p`.
    #[inline(always)]
    pub unsafe fn splat(p: *const f32) -> Lanes {
        [unsafe { p.read() }; 4]
    }

    /// # Safety
    /// Four floats writable at `p`.
    #[inline(always)]
    pub unsafe fn store(p: *mut f32, x: Lanes) {
        unsafe { p.cast::<Lanes>().write_unaligned(x) }
    }

    #[inline(always)]
    pub fn mul_add(acc: Lanes, x: Lanes, y: Lanes) -> Lanes {
        std::array::from_fn(|i| acc[i] + x[i] * y[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::module::linear;
    use burn::tensor::{FloatDType, Tolerance};

    /// The same sums in the same order, one term at a time.
    fn in_order(a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut sum = bias.map_or(0.0, |b| b[j]);
                for kk in 0..k {
                    sum += a[i * k + kk] * b[kk * n + j];
                }
                c[i * n + j] = sum;
            }
        }
        c
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / (1u32 << 24) as f32 - 0.5).collect()
    }

    #[test]
    fn equals_the_sums_in_order_on_every_edge_of_the_tiles() {
        // Rows below, at and past a tile; columns short of, at and past a panel; depths past a block.
        for (m, k, n) in
            [(1, 1, 1), (3, 5, 7), (4, 8, 8), (5, 9, 9), (9, 256, 17), (13, 257, 23), (8, 600, 16), (2, 513, 3), (130, 20, 9), (259, 3, 8)]
        {
            let (a, b, bias) = (values(m * k, 1), values(k * n, 2), values(n, 3));
            for bias in [None, Some(&bias[..])] {
                let got = matmul_bias(&a, &b, bias, m, k, n);
                // Bit for bit: the tile adds the same products in the same order.
                assert_eq!(got, in_order(&a, &b, bias, m, k, n), "m={m} k={k} n={n} bias={}", bias.is_some());
            }
        }
    }

    fn layer(k: usize, n: usize, device: &Device) -> Linear {
        let weight = Tensor::<2>::from_data(TensorData::new(values(k * n, 4), [k, n]), device);
        let bias = Tensor::<1>::from_data(TensorData::new(values(n, 5), [n]), device);
        Linear { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)) }
    }

    #[test]
    fn a_dense_layer_on_the_host_equals_the_backends_product() {
        let device = Device::flex();
        let (k, n) = (300, 37);
        let layer = layer(k, n, &device);
        // A batch of sequences, and the same batch seen through a transpose (not contiguous).
        let x = Tensor::<3>::from_data(TensorData::new(values(2 * 7 * k, 6), [2, 7, k]), &device);
        let x_turned = Tensor::<3>::from_data(TensorData::new(values(7 * 2 * k, 6), [7, 2, k]), &device).swap_dims(0, 1);
        for x in [x, x_turned] {
            let expected = linear(x.clone(), layer.weight.val(), layer.bias.as_ref().map(|b| b.val())).into_data();
            let got = dense_on_host(&layer, &x).expect("float32 on the CPU backend").into_data();
            assert_eq!(got.shape(), expected.shape());
            got.assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-5));
        }
        let no_bias = Linear { bias: None, ..layer.clone() };
        let x = Tensor::<2>::from_data(TensorData::new(values(3 * k, 7), [3, k]), &device);
        let expected = linear(x.clone(), no_bias.weight.val(), None).into_data();
        dense_on_host(&no_bias, &x).expect("no bias").into_data().assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-5));
    }

    #[test]
    fn half_precision_weights_are_left_to_the_backend() {
        let device = Device::flex();
        let layer = layer(8, 4, &device);
        let half = Linear { weight: Param::from_tensor(layer.weight.val().cast(FloatDType::F16)), ..layer };
        let x = Tensor::<2>::from_data(TensorData::new(values(16, 8), [2, 8]), &device);
        assert!(dense_on_host(&half, &x).is_none(), "f16 weights");
    }

    #[test]
    fn empty_shapes_give_the_bias_or_nothing() {
        assert_eq!(matmul_bias(&[], &[], None, 0, 0, 2), Vec::<f32>::new());
        assert_eq!(matmul_bias(&[], &[], Some(&[1.0, 2.0]), 1, 0, 2), vec![1.0, 2.0]);
    }
}
