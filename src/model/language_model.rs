//! [`LanguageModel`]: a network of any supported family, and the one interface the scorer
//! uses. Nothing outside `model/` knows which family it holds.

use burn::tensor::{Device, Int, Tensor};

use super::decoder::{self, Decoder};
use super::layout::Weights;
use super::nn::{PastKeyValues, SharedPrefix};
use super::{Gpt2, GptNeo, GptNeoX, ModelConfig, Opt, VocabMatrix};
use crate::checkpoint::WeightsError;

/// A loaded network (boxed: the variants differ in size, and a model is held once).
#[derive(Debug)]
pub enum LanguageModel {
    Gpt2(Box<Gpt2>),
    GptNeo(Box<GptNeo>),
    GptNeoX(Box<GptNeoX>),
    Opt(Box<Opt>),
}

/// `$body` with `$m` bound to the family's network, as a [`Decoder`].
macro_rules! each {
    ($model:expr, $m:ident => $body:expr) => {
        match $model {
            LanguageModel::Gpt2($m) => {
                let $m: &Gpt2 = $m;
                $body
            }
            LanguageModel::GptNeo($m) => {
                let $m: &GptNeo = $m;
                $body
            }
            LanguageModel::GptNeoX($m) => {
                let $m: &GptNeoX = $m;
                $body
            }
            LanguageModel::Opt($m) => {
                let $m: &Opt = $m;
                $body
            }
        }
    };
}

impl LanguageModel {
    /// The family's network from its loaded tensors.
    /// The family's network from the tensors its layout lists ([`ModelConfig::tensors`]), every
    /// one of which it must read.
    pub(crate) fn from_weights(config: &ModelConfig, mut weights: Weights, device: &Device) -> Result<Self, WeightsError> {
        let w = &mut weights;
        let model = match config {
            ModelConfig::Gpt2(c) => LanguageModel::Gpt2(Box::new(Gpt2::from_weights(c, w)?)),
            ModelConfig::GptNeo(c) => LanguageModel::GptNeo(Box::new(GptNeo::from_weights(c, w)?)),
            ModelConfig::GptNeoX(c) => LanguageModel::GptNeoX(Box::new(GptNeoX::from_weights(c, w, device)?)),
            ModelConfig::Opt(c) => LanguageModel::Opt(Box::new(Opt::from_weights(c, w)?)),
        };
        weights.all_read()?;
        Ok(model)
    }

    /// Where the weights live.
    pub fn device(&self) -> Device {
        self.head().device()
    }

    fn head(&self) -> &VocabMatrix {
        each!(self, m => m.head())
    }

    /// Longest sequence the model reads.
    pub fn n_positions(&self) -> usize {
        each!(self, m => m.n_positions())
    }

    /// Final hidden states for token ids `[batch, seq]` → `[batch, seq, C]`. Attention is
    /// causal, so a sequence padded on the right gets the same states at its real positions.
    pub fn hidden_states(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        each!(self, m => decoder::hidden_states(m, ids))
    }

    /// Token ids `[b, t]` read after `common` (one row every row continues) and `rows` (each
    /// row's own earlier positions after it): their final hidden states and their keys and
    /// values in every layer (see [`decoder::extend`]).
    pub fn extend(&self, ids: Tensor<2, Int>, common: Option<&PastKeyValues>, rows: Option<&PastKeyValues>) -> (Tensor<3>, PastKeyValues) {
        each!(self, m => decoder::extend(m, ids, common, rows))
    }

    /// Final hidden states of continuations of shared prefixes (see [`decoder::hidden_states_shared`]).
    pub fn hidden_states_shared(
        &self,
        common: Option<&PastKeyValues>,
        prefix: Option<Tensor<2, Int>>,
        suffix: Tensor<2, Int>,
        shared: &SharedPrefix,
    ) -> Tensor<3> {
        each!(self, m => decoder::hidden_states_shared(m, common, prefix, suffix, shared))
    }

    /// Next-token logits over the full vocabulary: `[n, C]` final states → `[n, vocab]`.
    pub fn logits(&self, hidden: Tensor<2>) -> Tensor<2> {
        self.head().logits(hidden)
    }

    /// Next-token log-probabilities of chosen tokens.
    ///
    /// `hidden`: `[n, C]` final states of the positions to score; `targets`: `[n, m]` token
    /// ids. Returns `[n, m]`: `log_softmax(hidden · headᵀ)[targets]` over the full vocabulary
    /// (padded rows included, as transformers computes it). Only these `n` rows ever meet the
    /// LM head.
    pub fn target_logprobs(&self, hidden: Tensor<2>, targets: Tensor<2, Int>) -> Tensor<2> {
        let logits = self.logits(hidden); // (n, vocab)
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
