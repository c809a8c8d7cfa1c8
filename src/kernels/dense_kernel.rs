//! `a · b + bias` for float32 matrices on the host, the dense layers of the page's CPU fallback.
//!
//! The CPU backend's matrix product (the `gemm` crate) runs a 12-accumulator SIMD128 tile in
//! the browser; x86 engines have 16 vector registers and keep one for themselves, so that tile
//! spills on every step and the product took 78% of a pass. This one keeps 8 accumulators
//! (a 4×8 tile of `c`), which fit, and reads `b` from an 8-column panel copied once per block
//! of 256 rows of `b`, so every row of a block of `a` reuses it from the L1 cache. On wasm32 the lanes are
//! SIMD128; elsewhere they are plain arrays with the same arithmetic and order (where the tests
//! run). Where the browser has relaxed SIMD, the page lends this kernel the same tile with
//! fused multiply-adds (`dense_tiles_fma.wat`, by [`use_fused_tiles`]): half the arithmetic
//! instructions of a step.

use burn::tensor::{DType, Device, Tensor, TensorData};
use std::sync::OnceLock;

use super::host::{f32s, on_host};

/// `x · weight + bias` by [`matmul_bias`] where `x`, `weight` (`[in, out]`) and `bias` are
/// float32 tensors of the CPU backend; `None` otherwise (another device, f16 weights), for the
/// backend's product.
pub fn dense_on_host<const D: usize>(weight: &Tensor<2>, bias: Option<&Tensor<1>>, x: &Tensor<D>) -> Option<Tensor<D>> {
    let device = x.device();
    let all_f32 = [x.dtype(), weight.dtype()].into_iter().chain(bias.map(Tensor::dtype)).all(|d| d == DType::F32);
    if device != Device::flex() || !all_f32 {
        return None;
    }
    let (dims, [k, n]) = (x.dims(), weight.dims());
    let (x_host, weight, bias) = (on_host(x.clone()), on_host(weight.clone()), bias.cloned().map(on_host));
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

/// Whole tiles of four rows and a full panel, one below the other: for each of `count` tiles,
/// `c[r][0..8] += Σ_kk a[r·lda + kk] · panel[kk·8 .. kk·8 + 8]` for `r < 4`, `kk < depth`, the
/// next tile starting four rows further down `a` and `c`. Each sum in order of `kk`.
///
/// # Safety
/// `a` must be readable at `r·lda + kk`, `panel` at `kk·8 .. kk·8 + 8` and `c` read- and
/// writable at `r·ldc .. r·ldc + 8`, for every `r < 4·count` and `kk < depth`.
pub type Tiles = unsafe fn(count: usize, a: *const f32, lda: usize, panel: *const f32, depth: usize, c: *mut f32, ldc: usize);

/// The tiles lent by [`use_fused_tiles`], once they gave the plain tiles' sums.
static FUSED_TILES: OnceLock<Tiles> = OnceLock::new();

/// Lends the kernel `tiles` for every tile (fused multiply-adds, in the browser) if they give
/// the plain tiles' sums on a product with every kind of edge, within what rounding once
/// instead of twice per term can move; else says by how much they differ.
pub fn use_fused_tiles(tiles: Tiles) -> Result<(), String> {
    check_tiles(tiles)?;
    let _ = FUSED_TILES.set(tiles);
    Ok(())
}

/// Whether `tiles` give the plain tiles' sums within rounding, on a product with rows past
/// whole tiles, a depth past a block and not a multiple of four, and a partial panel.
fn check_tiles(tiles: Tiles) -> Result<(), String> {
    let (m, k, n) = (9, 263, 20);
    let (a, b, bias) = (values(m * k, 1), values(k * n, 2), values(n, 3));
    let plain = product(plain_tiles, &a, &b, Some(&bias), m, k, n);
    let given = product(tiles, &a, &b, Some(&bias), m, k, n);
    let worst = plain.iter().zip(&given).map(|(p, g)| (p - g).abs()).fold(0.0f32, f32::max);
    // Sums of 263 terms of about 0.1: rounding moves them by about 1e-6.
    if worst.is_nan() || worst > 1e-4 {
        return Err(format!("on a [{m}, {k}] · [{k}, {n}] product they differ from the plain tiles by {worst:e}"));
    }
    Ok(())
}

/// Numbers in [-0.5, 0.5), the same for the same length and seed (also the other CPU kernels'
/// test inputs).
pub(crate) fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / (1u32 << 24) as f32 - 0.5).collect()
}

/// `c = a · b + bias`, all row-major and contiguous: `a` is `[m, k]`, `b` `[k, n]`, `bias`
/// `[n]`, the result `[m, n]`. Each sum is taken in order of `k`, from the bias (or zero).
pub fn matmul_bias(a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize) -> Vec<f32> {
    product(FUSED_TILES.get().copied().unwrap_or(plain_tiles), a, b, bias, m, k, n)
}

/// [`matmul_bias`] with `tiles` for every tile. Every row of `c` goes through `tiles`, the
/// rows past a block's whole tiles and the columns of a last partial panel through copies of a
/// whole tile: the same arithmetic for every row wherever it sits in a pass, so a token's
/// numbers do not depend on the pass it was batched in (a resumed run equals an uninterrupted
/// one bit for bit, also where fused tiles round differently from the plain ones).
fn product(tiles: Tiles, a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize) -> Vec<f32> {
    assert!(a.len() == m * k && b.len() == k * n, "matmul_bias: a is {} long for [{m}, {k}], b {} for [{k}, {n}]", a.len(), b.len());
    let mut c = match bias {
        Some(bias) => {
            assert_eq!(bias.len(), n, "matmul_bias: bias of {} for {n} columns", bias.len());
            bias.repeat(m)
        }
        None => vec![0.0; m * n],
    };
    let mut panel = vec![0.0f32; DEPTH * COLS];
    // A block's rows past its whole tiles, zero below them: one whole tile of `a`.
    let mut rest_of_a = vec![0.0f32; ROWS * DEPTH];
    for k0 in (0..k).step_by(DEPTH) {
        let depth = DEPTH.min(k - k0);
        for i_block in (0..m).step_by(BLOCK_ROWS) {
            let block_rows = BLOCK_ROWS.min(m - i_block);
            let whole = block_rows / ROWS;
            let (rest_at, rest) = (i_block + whole * ROWS, block_rows % ROWS);
            let rest_of_a = &mut rest_of_a[..ROWS * depth];
            if rest > 0 {
                rest_of_a.fill(0.0);
                for (r, row) in rest_of_a.chunks_exact_mut(depth).take(rest).enumerate() {
                    row.copy_from_slice(&a[(rest_at + r) * k + k0..][..depth]);
                }
            }
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
                let panel = &panel[..depth * COLS];
                if cols == COLS {
                    run_tiles(tiles, whole, &a[i_block * k + k0..], k, panel, &mut c[i_block * n + j0..], n);
                } else {
                    for i0 in (i_block..rest_at).step_by(ROWS) {
                        tile_through_copy(tiles, &a[i0 * k + k0..], k, panel, &mut c[i0 * n + j0..], n, ROWS, cols);
                    }
                }
                if rest > 0 {
                    tile_through_copy(tiles, rest_of_a, depth, panel, &mut c[rest_at * n + j0..], n, rest, cols);
                }
            }
        }
    }
    c
}

/// One tile by `tiles` whose first `rows` rows and `cols` columns are those of `c`, through a
/// copy of a whole tile of `c`.
#[allow(clippy::too_many_arguments)]
fn tile_through_copy(tiles: Tiles, a: &[f32], lda: usize, panel: &[f32], c: &mut [f32], ldc: usize, rows: usize, cols: usize) {
    let mut part = [0.0f32; ROWS * COLS];
    // Fixed-length copies for a whole panel (see the panel's).
    for (r, part) in part.chunks_exact_mut(COLS).take(rows).enumerate() {
        if cols == COLS {
            part.copy_from_slice(&c[r * ldc..][..COLS]);
        } else {
            part[..cols].copy_from_slice(&c[r * ldc..][..cols]);
        }
    }
    run_tiles(tiles, 1, a, lda, panel, &mut part, COLS);
    for (r, part) in part.chunks_exact(COLS).take(rows).enumerate() {
        if cols == COLS {
            c[r * ldc..][..COLS].copy_from_slice(part);
        } else {
            c[r * ldc..][..cols].copy_from_slice(&part[..cols]);
        }
    }
}

/// `count` whole tiles by `tiles`, their bounds checked.
fn run_tiles(tiles: Tiles, count: usize, a: &[f32], lda: usize, panel: &[f32], c: &mut [f32], ldc: usize) {
    if count == 0 {
        return;
    }
    let (depth, rows) = (panel.len() / COLS, count * ROWS);
    assert!((rows - 1) * lda + depth <= a.len() && (rows - 1) * ldc + COLS <= c.len(), "tiles out of bounds");
    // SAFETY: the bounds were checked just above.
    unsafe { tiles(count, a.as_ptr(), lda, panel.as_ptr(), depth, c.as_mut_ptr(), ldc) }
}

/// [`Tiles`] by [`tile`], the SIMD128 one.
///
/// # Safety
/// As for [`Tiles`].
unsafe fn plain_tiles(count: usize, a: *const f32, lda: usize, panel: *const f32, depth: usize, c: *mut f32, ldc: usize) {
    for t in 0..count {
        unsafe { tile(a.add(t * ROWS * lda), lda, panel, depth, c.add(t * ROWS * ldc), ldc) }
    }
}

/// The tile proper: four rows of `c` in eight lanes for the whole depth. Not inlined, so that
/// the engine allocates its registers for this loop alone.
///
/// # Safety
/// `a` must be readable at `r·lda + kk`, `panel` at `kk·8 .. kk·8 + 8` and `c` read- and
/// writable at `r·ldc .. r·ldc + 8`, for every `r < 4` and `kk < depth`.
#[inline(never)]
unsafe fn tile(a: *const f32, lda: usize, panel: *const f32, depth: usize, c: *mut f32, ldc: usize) {
    unsafe {
        let mut acc = [[lanes::ZERO; 2]; ROWS];
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

    /// Tiles with one rounding per term (as relaxed SIMD's fused multiply-add on x86 and ARM).
    unsafe fn fused(count: usize, a: *const f32, lda: usize, panel: *const f32, depth: usize, c: *mut f32, ldc: usize) {
        for r in 0..count * ROWS {
            for j in 0..COLS {
                unsafe {
                    let mut sum = *c.add(r * ldc + j);
                    for kk in 0..depth {
                        sum = (*a.add(r * lda + kk)).mul_add(*panel.add(kk * COLS + j), sum);
                    }
                    *c.add(r * ldc + j) = sum;
                }
            }
        }
    }

    /// Tiles that leave out the last term of each sum.
    unsafe fn one_term_short(count: usize, a: *const f32, lda: usize, panel: *const f32, depth: usize, c: *mut f32, ldc: usize) {
        unsafe { plain_tiles(count, a, lda, panel, depth.saturating_sub(1), c, ldc) }
    }

    #[test]
    fn tiles_that_round_once_are_taken_and_wrong_ones_refused() {
        check_tiles(fused).expect("fused multiply-adds");
        let refused = check_tiles(one_term_short).expect_err("a term short");
        assert!(refused.contains("[9, 263] · [263, 20]"), "{refused}");
        // Rows left over and a last partial panel go through the given tiles too: close, not equal.
        let (m, k, n) = (11, 300, 21);
        let (a, b) = (values(m * k, 8), values(k * n, 9));
        let plain = product(plain_tiles, &a, &b, None, m, k, n);
        let mixed = product(fused, &a, &b, None, m, k, n);
        let worst = plain.iter().zip(&mixed).map(|(p, f)| (p - f).abs()).fold(0.0, f32::max);
        assert!(worst > 0.0 && worst < 1e-5, "fused vs plain {worst:e}");
    }

    #[test]
    fn a_rows_numbers_do_not_depend_on_where_it_sits_in_the_pass() {
        // Rows 3.. of a pass of 11 alone: whole tiles become rows left over and back, and the
        // rows past the block of 128 move into it.
        for (m, k, n, from) in [(11, 300, 21, 3), (133, 40, 16, 6)] {
            let (a, b, bias) = (values(m * k, 10), values(k * n, 11), values(n, 12));
            for tiles in [plain_tiles as Tiles, fused] {
                let all = product(tiles, &a, &b, Some(&bias), m, k, n);
                let later = product(tiles, &a[from * k..], &b, Some(&bias), m - from, k, n);
                assert_eq!(later, all[from * n..], "m={m} from row {from}");
            }
        }
    }

    fn layer(k: usize, n: usize, device: &Device) -> (Tensor<2>, Tensor<1>) {
        let weight = Tensor::<2>::from_data(TensorData::new(values(k * n, 4), [k, n]), device);
        (weight, Tensor::<1>::from_data(TensorData::new(values(n, 5), [n]), device))
    }

    #[test]
    fn a_dense_layer_on_the_host_equals_the_backends_product() {
        let device = Device::flex();
        let (k, n) = (300, 37);
        let (weight, bias) = layer(k, n, &device);
        // A batch of sequences, and the same batch seen through a transpose (not contiguous).
        let x = Tensor::<3>::from_data(TensorData::new(values(2 * 7 * k, 6), [2, 7, k]), &device);
        let x_transposed = Tensor::<3>::from_data(TensorData::new(values(7 * 2 * k, 6), [7, 2, k]), &device).swap_dims(0, 1);
        for x in [x, x_transposed] {
            let expected = linear(x.clone(), weight.clone(), Some(bias.clone())).into_data();
            let got = dense_on_host(&weight, Some(&bias), &x).expect("float32 on the CPU backend").into_data();
            assert_eq!(got.shape(), expected.shape());
            got.assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-5));
        }
        let x = Tensor::<2>::from_data(TensorData::new(values(3 * k, 7), [3, k]), &device);
        let expected = linear(x.clone(), weight.clone(), None).into_data();
        dense_on_host(&weight, None, &x).expect("no bias").into_data().assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-5));
    }

    #[test]
    fn half_precision_weights_are_left_to_the_backend() {
        let device = Device::flex();
        let (weight, bias) = layer(8, 4, &device);
        let x = Tensor::<2>::from_data(TensorData::new(values(16, 8), [2, 8]), &device);
        assert!(dense_on_host(&weight.cast(FloatDType::F16), Some(&bias), &x).is_none(), "f16 weights");
    }

    #[test]
    fn empty_shapes_give_the_bias_or_nothing() {
        assert_eq!(matmul_bias(&[], &[], None, 0, 0, 2), Vec::<f32>::new());
        assert_eq!(matmul_bias(&[], &[], Some(&[1.0, 2.0]), 1, 0, 2), vec![1.0, 2.0]);
    }
}
