//! GPT-Neo (Black et al. 2021) in Burn: GPT-2's block with separate query, key and value
//! projections (no bias), scores not scaled by √(head dim), and layers that alternate between
//! global attention and local attention, which sees only the `window_size` latest positions.
//! Field names follow the checkpoint's keys (`h.{i}.attn.attention.q_proj`, …).

pub(crate) mod config;

use burn::nn::Embedding;
use burn::tensor::{Bool, Device, Int, Tensor};

use crate::checkpoint::WeightsError;
use crate::model::decoder::{Decoder, Positions};
use crate::model::layout::Weights;
use crate::model::nn::{dense, self_attention_within, Activation, Dense, KeyValues, LayerNorm, Past, SeparateQkv};
use crate::model::VocabMatrix;
use config::GptNeoConfig;

/// Multi-head causal self-attention, global or within a window.
#[derive(Debug)]
pub struct Attention {
    pub attention: SeparateQkv,
    /// Local attention's window: a position sees the keys of the `window` latest positions,
    /// its own included.
    pub window: Option<usize>,
}

impl Attention {
    fn forward(&self, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>, at: &Positions) -> (Tensor<3>, KeyValues) {
        let q = self.attention.queries(x.clone(), None);
        let own = self.attention.key_values(x);
        let (mask, common_mask) = match self.window {
            Some(window) => outside_window(window, &at.index, past, mask),
            None => (mask, None),
        };
        (self.attention.output(self_attention_within(q, &own, past, mask, common_mask, 1.0)), own)
    }
}

/// The masks of local attention: `mask` (over `past.rows` then the queries' own keys) and a
/// mask over `past.common`, each also hiding the keys `window` or more positions before the
/// query. The keys' positions: `common` 0..e, `rows` e..e + p, the own keys the queries'.
fn outside_window(
    window: usize,
    queries: &Tensor<2, Int>,
    past: Past<'_>,
    mask: Tensor<4, Bool>,
) -> (Tensor<4, Bool>, Option<Tensor<4, Bool>>) {
    let [b, t] = queries.dims();
    let device: Device = queries.device();
    let e = past.common.map_or(0, |c| c.k.dims()[2]);
    let p = past.rows.map_or(0, |r| r.k.dims()[2]);
    let query = queries.clone().reshape([b, 1, t, 1]);
    let far = |keys: Tensor<2, Int>| -> Tensor<4, Bool> {
        let n = keys.dims()[1];
        let keys = keys.reshape([b, 1, 1, n]);
        (query.clone() - keys).greater_equal_elem(window as i64)
    };
    let range = |start: usize, n: usize| Tensor::<1, Int>::arange(start as i64..(start + n) as i64, &device).reshape([1, n]).expand([b, n]);
    let keys = if p > 0 { Tensor::cat(vec![range(e, p), queries.clone()], 1) } else { queries.clone() };
    let mask = mask.clone().bool_or(far(keys).expand(mask.dims()));
    let common = (e > 0).then(|| far(range(0, e)));
    (mask, common)
}

/// One pre-norm block.
#[derive(Debug)]
pub struct Block {
    pub ln_1: LayerNorm,
    pub attn: Attention,
    pub ln_2: LayerNorm,
    pub c_fc: Dense,
    pub c_proj: Dense,
    pub activation: Activation,
}

impl Block {
    fn forward(&self, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>, at: &Positions) -> (Tensor<3>, KeyValues) {
        let (a, own) = self.attn.forward(self.ln_1.forward(x.clone()), past, mask, at);
        let x = x + a;
        let mlp = dense(&self.c_proj, self.activation.forward(dense(&self.c_fc, self.ln_2.forward(x.clone()))));
        (x + mlp, own)
    }
}

/// The GPT-Neo language model.
#[derive(Debug)]
pub struct GptNeo {
    pub wte: VocabMatrix,
    pub wpe: Embedding,
    pub h: Vec<Block>,
    pub ln_f: LayerNorm,
    pub lm_head: Option<VocabMatrix>,
}

impl GptNeo {
    /// The network from its checkpoint's tensors (keys as in [`GptNeoConfig::tensors`]).
    pub(crate) fn from_weights(config: &GptNeoConfig, w: &mut Weights) -> Result<Self, WeightsError> {
        let (s, eps) = (&config.sizes, config.layer_norm_epsilon);
        let mut h = Vec::with_capacity(s.n_layer);
        for (i, &local) in config.local.iter().enumerate() {
            let p = format!("h.{i}.");
            h.push(Block {
                ln_1: w.norm(&format!("{p}ln_1"), eps)?,
                attn: Attention {
                    attention: SeparateQkv::from_weights(w, &format!("{p}attn.attention"), s.n_head)?,
                    window: local.then_some(config.window_size),
                },
                ln_2: w.norm(&format!("{p}ln_2"), eps)?,
                c_fc: w.linear(&format!("{p}mlp.c_fc"))?,
                c_proj: w.linear(&format!("{p}mlp.c_proj"))?,
                activation: config.activation,
            });
        }
        Ok(GptNeo {
            wte: w.vocab("wte.weight")?,
            wpe: Embedding { weight: w.matrix("wpe.weight")? },
            h,
            ln_f: w.norm("ln_f", eps)?,
            lm_head: w.optional_vocab("lm_head.weight")?,
        })
    }
}

impl Decoder for GptNeo {
    fn positions(&self, index: Tensor<2, Int>) -> Positions {
        Positions { index, rotary: None }
    }

    fn embed(&self, ids: Tensor<2, Int>, at: &Positions) -> Tensor<3> {
        self.wte.embed(ids) + self.wpe.forward(at.index.clone())
    }

    fn depth(&self) -> usize {
        self.h.len()
    }

    fn layer(&self, i: usize, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>, at: &Positions) -> (Tensor<3>, KeyValues) {
        self.h[i].forward(x, past, mask, at)
    }

    fn key_values(&self, i: usize, x: Tensor<3>, _: &Positions) -> KeyValues {
        let block = &self.h[i];
        block.attn.attention.key_values(block.ln_1.forward(x))
    }

    fn finish(&self, x: Tensor<3>) -> Tensor<3> {
        self.ln_f.forward(x)
    }

    fn n_positions(&self) -> usize {
        self.wpe.weight.dims()[0]
    }

    fn head(&self) -> &VocabMatrix {
        self.lm_head.as_ref().unwrap_or(&self.wte)
    }
}
