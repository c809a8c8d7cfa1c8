//! GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners") in Burn.
//!
//! Reads top to bottom, smallest part first. Field names follow the Hub checkpoint's keys
//! (`h.{i}.attn.c_attn.weight`, …) so that loading is a key-for-key copy. GPT-2's Conv1D
//! stores weights as `[in, out]`, which is exactly Burn's `Linear` layout.

use burn::module::{Module, Param};
use burn::nn::{Embedding, Initializer, Linear};
use burn::tensor::activation::softmax;
use burn::tensor::module::layer_norm;
use burn::tensor::{Bool, Device, Int, Tensor};

use super::Gpt2Config;

/// LayerNorm with the checkpoint's names (`weight`, `bias`) and GPT-2's epsilon.
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub eps: f64,
}

impl LayerNorm {
    fn new(dim: usize, eps: f64, device: &Device) -> Self {
        LayerNorm {
            weight: Initializer::Ones.init([dim], device),
            bias: Initializer::Zeros.init([dim], device),
            eps,
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.weight.val(), Some(self.bias.val()), self.eps)
    }
}

/// GPT-2's Conv1D: a linear layer whose weight is stored `[in, out]`.
fn conv1d(d_in: usize, d_out: usize, device: &Device) -> Linear {
    Linear {
        weight: Initializer::Zeros.init([d_in, d_out], device),
        bias: Some(Initializer::Zeros.init([d_out], device)),
    }
}

/// Multi-head causal self-attention.
#[derive(Module, Debug)]
pub struct Attention {
    /// Query, key and value projections side by side: `[n_embd, 3 * n_embd]`.
    pub c_attn: Linear,
    pub c_proj: Linear,
    pub n_head: usize,
}

impl Attention {
    /// `x`: `[batch, seq, n_embd]` → `[batch, seq, n_embd]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, c] = x.dims();
        let (nh, hs) = (self.n_head, c / self.n_head);
        let qkv = self.c_attn.forward(x); // (B, T, 3C)
        let mut parts = qkv.chunk(3, 2).into_iter().map(|p| {
            p.reshape([b, t, nh, hs]).swap_dims(1, 2) // (B, nh, T, hs)
        });
        let (q, k, v) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());

        let att = q.matmul(k.swap_dims(2, 3)) / (hs as f64).sqrt(); // (B, nh, T, T)
        // Position i may look at positions ≤ i; `tril_mask` is true above the diagonal.
        // HF fills with float32's minimum, not -inf.
        let future = Tensor::<2, Bool>::tril_mask([t, t], 0, &att.device()).unsqueeze::<4>();
        let att = softmax(att.mask_fill(future, f32::MIN), 3);
        let y = att.matmul(v); // (B, nh, T, hs)
        let y = y.swap_dims(1, 2).reshape([b, t, c]); // (B, T, C)
        self.c_proj.forward(y)
    }
}

/// The position-wise feed-forward network with GPT-2's tanh-approximated GELU (`gelu_new`).
#[derive(Module, Debug)]
pub struct Mlp {
    pub c_fc: Linear,
    pub c_proj: Linear,
}

impl Mlp {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.c_proj.forward(gelu_new(self.c_fc.forward(x)))
    }
}

/// `gelu_new`: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`. The cube is two multiplies:
/// a general `powf` made up a tenth of the CPU time.
fn gelu_new(x: Tensor<3>) -> Tensor<3> {
    const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
    let cube = x.clone() * x.clone() * x.clone();
    let inner = (x.clone() + cube * 0.044715) * SQRT_2_OVER_PI;
    x * (inner.tanh() + 1.0) * 0.5
}

/// One pre-norm transformer block.
#[derive(Module, Debug)]
pub struct Block {
    pub ln_1: LayerNorm,
    pub attn: Attention,
    pub ln_2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.ln_1.forward(x));
        x.clone() + self.mlp.forward(self.ln_2.forward(x))
    }
}

/// The GPT-2 language model.
#[derive(Module, Debug)]
pub struct Gpt2 {
    /// Token embedding `[vocab_size, n_embd]`, also the LM head (tied) unless `lm_head` is set.
    pub wte: Embedding,
    /// Position embedding `[n_positions, n_embd]`.
    pub wpe: Embedding,
    pub h: Vec<Block>,
    pub ln_f: LayerNorm,
    /// An untied LM head `[vocab_size, n_embd]`, when the checkpoint carries one.
    pub lm_head: Option<Param<Tensor<2>>>,
}

impl Gpt2Config {
    /// Builds the network with lazily initialised parameters: nothing is allocated until a
    /// weight is read, so loading a checkpoint over it never holds two copies.
    pub fn init(&self, device: &Device) -> Gpt2 {
        let (c, eps) = (self.n_embd, self.layer_norm_epsilon);
        let block = || Block {
            ln_1: LayerNorm::new(c, eps, device),
            attn: Attention {
                c_attn: conv1d(c, 3 * c, device),
                c_proj: conv1d(c, c, device),
                n_head: self.n_head,
            },
            ln_2: LayerNorm::new(c, eps, device),
            mlp: Mlp {
                c_fc: conv1d(c, self.inner_dim(), device),
                c_proj: conv1d(self.inner_dim(), c, device),
            },
        };
        Gpt2 {
            wte: Embedding { weight: Initializer::Zeros.init([self.vocab_size, c], device) },
            wpe: Embedding { weight: Initializer::Zeros.init([self.n_positions, c], device) },
            h: (0..self.n_layer).map(|_| block()).collect(),
            ln_f: LayerNorm::new(c, eps, device),
            lm_head: None,
        }
    }
}

impl Gpt2 {
    /// Final hidden states (after `ln_f`) for token ids `[batch, seq]` → `[batch, seq, n_embd]`.
    ///
    /// Attention is causal, so a sequence padded on the right gets the same states at its
    /// real positions as it would alone.
    pub fn hidden_states(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, t] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..t as i64, &device).unsqueeze::<2>(); // (1, T)
        let mut x = self.wte.forward(ids) + self.wpe.forward(positions); // (B, T, C)
        for block in &self.h {
            x = block.forward(x);
        }
        self.ln_f.forward(x)
    }

    /// Next-token log-probabilities of chosen tokens.
    ///
    /// `hidden`: `[n, n_embd]` final states of the positions to score; `targets`: `[n, m]`
    /// token ids. Returns `[n, m]`: `log_softmax(hidden · headᵀ)[targets]` over the full
    /// vocabulary. Only these `n` rows ever meet the LM head.
    pub fn target_logprobs(&self, hidden: Tensor<2>, targets: Tensor<2, Int>) -> Tensor<2> {
        let head = match &self.lm_head {
            Some(head) => head.val(),
            None => self.wte.weight.val(), // tied: the LM head is the token embedding
        };
        let logits = hidden.matmul(head.transpose()); // (n, vocab)
        let chosen = logits.clone().gather(1, targets); // (n, m)
        chosen - logsumexp_rows(logits)
    }
}

/// `log Σ_j exp(x[i, j])` for each row: `[n, v]` → `[n, 1]`.
///
/// The sum over 50257 terms is taken in blocks of [`SUM_BLOCK`] and then over the blocks:
/// one running float32 sum over the whole vocabulary drifts by ~1e-5 nats, enough to break
/// parity with PyTorch, whose reductions are blocked too.
fn logsumexp_rows(x: Tensor<2>) -> Tensor<2> {
    let [n, v] = x.dims();
    let max = x.clone().max_dim(1); // (n, 1)
    let exp = (x - max.clone()).exp();
    let blocks = v.div_ceil(SUM_BLOCK);
    let exp = match blocks * SUM_BLOCK - v {
        0 => exp,
        pad => {
            let zeros = Tensor::zeros([n, pad], &exp.device()); // exp(-inf): adds nothing
            Tensor::cat(vec![exp, zeros], 1)
        }
    };
    let sum = exp.reshape([n, blocks, SUM_BLOCK]).sum_dim(2).sum_dim(1).reshape([n, 1]);
    max + sum.log()
}

const SUM_BLOCK: usize = 256;
