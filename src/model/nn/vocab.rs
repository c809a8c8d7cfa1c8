//! A `[vocab_size, n_embd]` matrix (the token embedding, the LM head) held in row blocks of
//! at most [`BLOCK_BYTES`]: adapters with WebGPU's guaranteed 128 MiB storage binding (and
//! lavapipe) refuse gpt2's 147 MiB `wte` as one buffer. Every value is computed exactly as
//! with one matrix: a lookup adds zeros from the other blocks, logits are concatenated.

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, FloatDType, Int, Tensor};

use super::layers::matmul_rows;

/// Largest block: half the guaranteed binding, so one block's host copy stays small too.
pub const BLOCK_BYTES: usize = 64 << 20;

#[derive(Module, Debug)]
pub struct VocabMatrix {
    /// Consecutive row ranges of the matrix, in order.
    pub blocks: Vec<Param<Tensor<2>>>,
}

impl VocabMatrix {
    /// Rows per block for a matrix `n_embd` wide.
    pub fn block_rows(n_embd: usize) -> usize {
        (BLOCK_BYTES / (4 * n_embd.max(1))).max(1)
    }

    /// Lazily initialised blocks (nothing is allocated until a weight is read).
    pub fn lazy(vocab_size: usize, n_embd: usize, device: &Device) -> Self {
        let rows = Self::block_rows(n_embd);
        let blocks =
            (0..vocab_size).step_by(rows).map(|start| Initializer::Zeros.init([rows.min(vocab_size - start), n_embd], device)).collect();
        VocabMatrix { blocks }
    }

    pub fn device(&self) -> Device {
        self.blocks[0].device()
    }

    /// Rows `ids` (`[b, t]`) → `[b, t, n_embd]`.
    pub fn embed(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [b, t] = ids.dims();
        let ids = ids.reshape([b * t]);
        let mut start = 0i64;
        let mut out: Option<Tensor<2>> = None;
        for block in &self.blocks {
            let [rows, c] = block.dims();
            let local = ids.clone() - start;
            let clamped = local.clone().clamp(0, rows as i64 - 1);
            let looked_up = block.val().select(0, clamped.clone()).cast(FloatDType::F32); // f16 storage widens here
            let rows_here = if self.blocks.len() == 1 {
                looked_up
            } else {
                // Ids outside this block look up a clamped row, then become zeros.
                let outside = clamped.clone().equal(local).bool_not().reshape([b * t, 1]).expand([b * t, c]);
                looked_up.mask_fill(outside, 0.0)
            };
            out = Some(match out {
                None => rows_here,
                Some(sum) => sum + rows_here,
            });
            start += rows as i64;
        }
        let out = out.expect("a vocabulary matrix has at least one block");
        let c = out.dims()[1];
        out.reshape([b, t, c])
    }

    /// `hidden · matrixᵀ`: `[n, n_embd]` → `[n, vocab_size]`.
    pub fn logits(&self, hidden: Tensor<2>) -> Tensor<2> {
        let parts: Vec<Tensor<2>> =
            self.blocks.iter().map(|block| matmul_rows(hidden.clone(), block.val().cast(FloatDType::F32).transpose())).collect();
        if parts.len() == 1 {
            parts.into_iter().next().expect("one block")
        } else {
            Tensor::cat(parts, 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn values(rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect()
    }

    fn matrix(rows: usize, cols: usize, block_rows: usize, device: &Device) -> VocabMatrix {
        let blocks = values(rows, cols)
            .chunks(block_rows * cols)
            .map(|b| Param::from_tensor(Tensor::from_data(TensorData::new(b.to_vec(), [b.len() / cols, cols]), device)))
            .collect();
        VocabMatrix { blocks }
    }

    #[test]
    fn blocks_give_exactly_what_one_matrix_gives() {
        let device = Device::flex();
        let whole = matrix(10, 4, 10, &device);
        let split = matrix(10, 4, 3, &device);
        assert_eq!((whole.blocks.len(), split.blocks.len()), (1, 4));
        let rows: Vec<usize> = split.blocks.iter().map(|b| b.dims()[0]).collect();
        assert_eq!(rows, [3, 3, 3, 1], "blocks in order, the last one short");
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 9, 3, 2, 5, 6], [2, 3]), &device);
        let a = whole.embed(ids.clone()).into_data().try_into_vec::<f32>().unwrap();
        let b = split.embed(ids).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(a, b);
        assert_eq!(&a[4..8], &values(10, 4)[36..40], "row 9");
        let hidden = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -1.0, 2.0, 0.25, 1.0, 1.0, -3.0, 0.0], [2, 4]), &device);
        let a = whole.logits(hidden.clone()).into_data().try_into_vec::<f32>().unwrap();
        let b = split.logits(hidden).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_rows_logits_do_not_depend_on_the_rows_beside_it() {
        // gpt2's width and a few thousand tokens: long enough sums for a one-row product's
        // other order of summing to show in the last bits.
        let device = Device::flex();
        let (vocab, width) = (3000, 768);
        let head = matrix(vocab, width, vocab, &device);
        let values = crate::kernels::dense_kernel::values(5 * width, 9);
        let hidden = Tensor::<2>::from_data(TensorData::new(values, [5, width]), &device);
        let together = head.logits(hidden.clone()).into_data().try_into_vec::<f32>().unwrap();
        for row in 0..5 {
            let alone = head.logits(hidden.clone().narrow(0, row, 1)).into_data().try_into_vec::<f32>().unwrap();
            assert!(alone.iter().zip(&together[row * vocab..]).all(|(a, b)| a.to_bits() == b.to_bits()), "row {row}");
        }
    }

    #[test]
    fn gpt2_wte_fits_webgpu_bindings() {
        let rows = VocabMatrix::block_rows(768);
        assert!(rows * 768 * 4 <= 128 << 20);
        assert_eq!(50257usize.div_ceil(rows), 3);
    }
}
