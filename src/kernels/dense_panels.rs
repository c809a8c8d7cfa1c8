//! The native CPU backend's dense layers: `a · weight + bias` by gemm, over a weight held in
//! column panels since load.
//!
//! gemm's micro-kernels read the weight (the left operand of the product it computes,
//! `cᵀ = weightᵀ · aᵀ`) a few dozen output columns at a time (64 with AVX-512), one depth
//! after the other; a weight held `[in, out]` is copied into that order for every product, and
//! on passes of a few hundred tokens those copies took an eighth of a pass (see DEVELOPERS.md,
//! "Benchmarks and profiles"). Held in that order from load (each panel `[in, 64]` row-major,
//! which is `weightᵀ`'s panel column-major, as gemm reads it), gemm reads each panel where it
//! lies; the products are the same, panel by panel, on all cores.

use rayon::prelude::{IntoParallelIterator, ParallelIterator};

/// Output columns per panel: gemm's widest micro-kernel, four AVX-512 vectors (four of its
/// AVX2 tiles of two vectors).
const WIDTH: usize = 64;

/// Rows of `a` per gemm call: gemm copies a column-major left operand all the same where a
/// call has more than 8 times its micro-kernel's 6 columns of `aᵀ` (its single-thread
/// threshold). At most 64 rows also keep gemm's blocking of the depth the same for every call,
/// so a row's sums do not depend on the rows beside it.
const ROWS_PER_CALL: usize = 48;

/// Multiply-adds below which a product stays on the caller's thread (as the CPU backend does).
const PARALLEL_WORK: usize = 192 * 192 * 192;

/// A `[k, n]` float32 matrix in panels of [`WIDTH`] columns, each `[k, WIDTH]` row-major (the
/// last padded with zeros), one after the other.
#[derive(Clone)]
pub struct Panels {
    values: Vec<f32>,
    k: usize,
    n: usize,
}

impl Panels {
    /// The panels of `weight`, `[k, n]` row-major.
    pub fn new(weight: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(weight.len(), k * n, "a [{k}, {n}] weight of {} values", weight.len());
        let count = n.div_ceil(WIDTH);
        let mut values = vec![0.0f32; count * k * WIDTH];
        for (j, panel) in values.chunks_exact_mut(k.max(1) * WIDTH).enumerate() {
            let cols = WIDTH.min(n - j * WIDTH);
            for (kk, row) in panel.chunks_exact_mut(WIDTH).enumerate() {
                row[..cols].copy_from_slice(&weight[kk * n + j * WIDTH..][..cols]);
            }
        }
        Panels { values, k, n }
    }

    /// Columns of the matrix: outputs of the layer.
    pub fn outputs(&self) -> usize {
        self.n
    }

    /// `a · self + bias`, `a` `[m, k]` and the result `[m, n]` row-major; each sum starts from
    /// the bias.
    pub fn matmul_bias(&self, a: &[f32], m: usize, bias: Option<&[f32]>) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        assert_eq!(a.len(), m * k, "a [{m}, {k}] input of {} values", a.len());
        let mut c = match bias {
            Some(bias) => {
                assert_eq!(bias.len(), n, "a bias of {} for {n} outputs", bias.len());
                bias.repeat(m)
            }
            None => vec![0.0; m * n],
        };
        if m == 0 || k == 0 || n == 0 {
            return c;
        }
        if m == 1 {
            // gemm takes a matrix-vector path for one row, which sums in another order than
            // its tiles: a row alone gets the bits it gets among others through two rows.
            let mut two = a.to_vec();
            two.resize(2 * k, 0.0);
            let mut c = self.matmul_bias(&two, 2, bias);
            c.truncate(n);
            return c;
        }
        let c_at = Shared(c.as_mut_ptr());
        let panel = |j: usize| {
            let cols = WIDTH.min(n - j * WIDTH);
            let weight = &self.values[j * k * WIDTH..][..k * WIDTH];
            for (r0, rows) in calls(m) {
                // SAFETY: gemm reads `rows` rows of `a` from `r0` (k apart) and `cols` columns of
                // `k` rows of the panel (WIDTH apart), and writes rows `r0..r0 + rows`, columns
                // `j·WIDTH..j·WIDTH + cols` of `c` (n apart): all within their lengths, checked
                // above. Each panel writes columns no other panel does.
                unsafe {
                    gemm::gemm(
                        rows,
                        cols,
                        k,
                        c_at.at(r0 * n + j * WIDTH),
                        1,
                        n as isize,
                        true,
                        a.as_ptr().add(r0 * k),
                        1,
                        k as isize,
                        weight.as_ptr(),
                        1,
                        WIDTH as isize,
                        1.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        };
        let count = n.div_ceil(WIDTH);
        if m * k * n < PARALLEL_WORK {
            (0..count).for_each(panel);
        } else {
            (0..count).into_par_iter().for_each(panel);
        }
        c
    }
}

impl std::fmt::Debug for Panels {
    /// The shape, not the millions of values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Panels([{}, {}] in panels of {WIDTH} columns)", self.k, self.n)
    }
}

/// The rows `(first, count)` of each gemm call for `m` > 1 rows: [`ROWS_PER_CALL`] each, none
/// of one row (see [`Panels::matmul_bias`]).
fn calls(m: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut first = 0;
    std::iter::from_fn(move || {
        let left = m - first;
        if left == 0 {
            return None;
        }
        let mut rows = ROWS_PER_CALL.min(left);
        if left - rows == 1 {
            rows -= 1;
        }
        first += rows;
        Some((first - rows, rows))
    })
}

/// The result's start, for the threads that write disjoint columns of it.
#[derive(Clone, Copy)]
struct Shared(*mut f32);

// SAFETY: every thread writes its own columns (see `matmul_bias`).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kernels::dense_kernel::values;

    /// Each sum in float64, from the bias.
    fn exact(a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize) -> Vec<f64> {
        (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                bias.map_or(0.0, |b| b[j] as f64) + (0..k).map(|kk| a[i * k + kk] as f64 * b[kk * n + j] as f64).sum::<f64>()
            })
            .collect()
    }

    #[test]
    fn equals_the_product_on_every_edge_of_the_panels_and_calls() {
        // Columns short of, at and past a panel; rows short of, at and past a call; products
        // on one thread and on all; depths of one and past gemm's blocks.
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (48, 8, 64), (49, 9, 65), (97, 300, 130), (200, 768, 192), (7, 1030, 70)] {
            let (a, b, bias) = (values(m * k, 1), values(k * n, 2), values(n, 3));
            let panels = Panels::new(&b, k, n);
            for bias in [None, Some(&bias[..])] {
                let got = panels.matmul_bias(&a, m, bias);
                let want = exact(&a, &b, bias, m, k, n);
                let worst = got.iter().zip(&want).map(|(g, w)| (*g as f64 - w).abs()).fold(0.0, f64::max);
                // Sums of k terms of at most 0.25: float32 rounding moves them by about k·1e-8.
                assert!(worst < 1e-6 * k as f64, "m={m} k={k} n={n} bias={}: off by {worst:e}", bias.is_some());
            }
        }
    }

    #[test]
    fn a_rows_numbers_do_not_depend_on_the_rows_beside_it() {
        // Every number of rows from 1 to 100, so that calls end on every row count, with a
        // depth past gemm's blocks of 512.
        let (m, k, n) = (100, 768, 70);
        let (a, b, bias) = (values(m * k, 4), values(k * n, 5), values(n, 6));
        let panels = Panels::new(&b, k, n);
        let all = panels.matmul_bias(&a, m, Some(&bias));
        for rows in 1..=m {
            let first = m - rows;
            let part = panels.matmul_bias(&a[first * k..], rows, Some(&bias));
            assert_eq!(part, all[first * n..], "the last {rows} rows");
        }
    }

    #[test]
    fn every_call_has_two_rows_or_more() {
        for m in 2..200 {
            let calls: Vec<(usize, usize)> = calls(m).collect();
            assert!(calls.iter().all(|&(_, rows)| (2..=ROWS_PER_CALL).contains(&rows)), "m={m}: {calls:?}");
            assert!(calls.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0) && calls[0].0 == 0, "m={m}: {calls:?}");
            assert_eq!(calls.iter().map(|c| c.1).sum::<usize>(), m);
        }
    }

    #[test]
    fn empty_shapes_give_the_bias_or_nothing() {
        assert_eq!(Panels::new(&[], 0, 2).matmul_bias(&[], 1, Some(&[1.0, 2.0])), vec![1.0, 2.0]);
        assert_eq!(Panels::new(&[0.5, 1.0], 1, 2).matmul_bias(&[], 0, None), Vec::<f32>::new());
    }
}
