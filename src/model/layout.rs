//! What a family's checkpoint holds ([`Expected`]: key, shape, how it is held) and the loaded
//! tensors a family builds its network from ([`Weights`]).

use std::collections::HashMap;

use burn::module::Param;
use burn::tensor::Tensor;

use super::nn::{Dense, LayerNorm, VocabMatrix};
use crate::checkpoint::WeightsError;

/// How a projection's weight is laid out in the checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `[in, out]`: GPT-2's Conv1D, Burn's own layout.
    InOut,
    /// `[out, in]`: `nn.Linear`; transposed at load.
    OutIn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `[vocab, C]`, held in row blocks ([`VocabMatrix`]).
    Vocab,
    Matrix(Layout),
    Vector,
}

/// A tensor a family's checkpoint holds: its key (without the family's prefix) and shape as
/// published.
#[derive(Clone, Debug)]
pub(crate) struct Expected {
    pub(crate) name: String,
    pub(crate) shape: Vec<usize>,
    pub(crate) kind: Kind,
    pub(crate) required: bool,
    /// Other keys transformers loads it from.
    pub(crate) aliases: Vec<String>,
}

impl Expected {
    pub(crate) fn vocab(name: &str, rows: usize, cols: usize) -> Self {
        Expected { name: name.into(), shape: vec![rows, cols], kind: Kind::Vocab, required: true, aliases: Vec::new() }
    }

    /// A learned table (position embeddings): two dimensions, float32 whatever the precision.
    pub(crate) fn table(name: &str, shape: [usize; 2]) -> Self {
        Expected { name: name.into(), shape: shape.to_vec(), kind: Kind::Matrix(Layout::InOut), required: true, aliases: Vec::new() }
    }

    /// `{prefix}.weight` and `{prefix}.bias` of a LayerNorm.
    pub(crate) fn norm(prefix: &str, dim: usize) -> [Self; 2] {
        ["weight", "bias"].map(|half| Expected {
            name: format!("{prefix}.{half}"),
            shape: vec![dim],
            kind: Kind::Vector,
            required: true,
            aliases: Vec::new(),
        })
    }

    /// `{prefix}.weight` (in `layout`) and `{prefix}.bias` of a projection `d_in` → `d_out`.
    pub(crate) fn dense(prefix: &str, d_in: usize, d_out: usize, layout: Layout) -> Vec<Self> {
        let shape = match layout {
            Layout::InOut => vec![d_in, d_out],
            Layout::OutIn => vec![d_out, d_in],
        };
        vec![
            Expected { name: format!("{prefix}.weight"), shape, kind: Kind::Matrix(layout), required: true, aliases: Vec::new() },
            Expected { name: format!("{prefix}.bias"), shape: vec![d_out], kind: Kind::Vector, required: true, aliases: Vec::new() },
        ]
    }

    /// Present or not (an untied head).
    pub(crate) fn optional(self) -> Self {
        Expected { required: false, ..self }
    }

    /// Also read from key `alias`, as transformers reads it.
    pub(crate) fn also_named(mut self, alias: &str) -> Self {
        self.aliases.push(alias.into());
        self
    }
}

/// Position tables: two-dimensional, but neither multiplied nor large, so float32 always.
const POSITION_TABLES: [&str; 2] = ["wpe.weight", "embed_positions.weight"];

/// Buffers some checkpoints carry that no model reads: attention masks and rotary frequencies.
const IGNORED: [&str; 5] = ["attn.bias", "attn.masked_bias", "attention.bias", "attention.masked_bias", "rotary_emb.inv_freq"];

fn ends_with_key(name: &str, key: &str) -> bool {
    name == key || name.strip_suffix(key).is_some_and(|rest| rest.ends_with('.'))
}

/// Whether a tensor of this name and rank is a weight matrix, which half precision stores in
/// f16. The loader and the f16 rewrite (`checkpoint/f16_rewrite.rs`) decide by this one rule.
pub(crate) fn is_matrix(name: &str, rank: usize) -> bool {
    rank == 2 && !POSITION_TABLES.iter().any(|t| ends_with_key(name, t))
}

/// Whether checkpoint tensor `name` is a buffer the models ignore.
pub(crate) fn is_ignored(name: &str) -> bool {
    IGNORED.iter().any(|b| ends_with_key(name, b))
}

/// A tensor on the device.
pub(crate) enum Loaded {
    Vector(Param<Tensor<1>>),
    Matrix(Param<Tensor<2>>),
    Vocab(VocabMatrix),
}

/// The loaded tensors, by key, for a family to build its network from.
pub(crate) struct Weights(pub(crate) HashMap<String, Loaded>);

impl Weights {
    fn take(&mut self, name: &str) -> Result<Loaded, WeightsError> {
        self.0.remove(name).ok_or_else(|| WeightsError::Missing(vec![name.to_string()]))
    }

    pub(crate) fn vector(&mut self, name: &str) -> Result<Param<Tensor<1>>, WeightsError> {
        match self.take(name)? {
            Loaded::Vector(t) => Ok(t),
            _ => Err(WeightsError::Format(format!("tensor `{name}` is not a vector"))),
        }
    }

    pub(crate) fn matrix(&mut self, name: &str) -> Result<Param<Tensor<2>>, WeightsError> {
        match self.take(name)? {
            Loaded::Matrix(t) => Ok(t),
            _ => Err(WeightsError::Format(format!("tensor `{name}` is not a matrix"))),
        }
    }

    pub(crate) fn vocab(&mut self, name: &str) -> Result<VocabMatrix, WeightsError> {
        match self.take(name)? {
            Loaded::Vocab(t) => Ok(t),
            _ => Err(WeightsError::Format(format!("tensor `{name}` is not a vocabulary matrix"))),
        }
    }

    pub(crate) fn optional_vocab(&mut self, name: &str) -> Result<Option<VocabMatrix>, WeightsError> {
        if self.0.contains_key(name) {
            self.vocab(name).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails if a tensor was loaded that the network did not read: the layout and the network
    /// disagree.
    pub(crate) fn all_read(&self) -> Result<(), WeightsError> {
        let mut unread: Vec<&String> = self.0.keys().collect();
        unread.sort();
        match unread.is_empty() {
            true => Ok(()),
            false => Err(WeightsError::Format(format!("the network did not read the tensors {unread:?} its layout lists"))),
        }
    }

    /// `{prefix}.weight` and, when present, `{prefix}.bias`.
    pub(crate) fn linear(&mut self, prefix: &str) -> Result<Dense, WeightsError> {
        let weight = self.matrix(&format!("{prefix}.weight"))?;
        let bias = format!("{prefix}.bias");
        let bias = if self.0.contains_key(&bias) { Some(self.vector(&bias)?) } else { None };
        Ok(Dense::new(weight, bias))
    }

    pub(crate) fn norm(&mut self, prefix: &str, eps: f64) -> Result<LayerNorm, WeightsError> {
        Ok(LayerNorm { weight: self.vector(&format!("{prefix}.weight"))?, bias: self.vector(&format!("{prefix}.bias"))?, eps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn a_tensor_the_network_did_not_read_is_an_error() {
        let vector = || Loaded::Vector(Param::from_tensor(Tensor::<1>::zeros([2], &Device::flex())));
        let mut weights = Weights([("ln_f.weight".to_string(), vector()), ("ln_f.bias".to_string(), vector())].into_iter().collect());
        weights.vector("ln_f.weight").unwrap();
        assert_eq!(weights.all_read().unwrap_err().to_string(), "the network did not read the tensors [\"ln_f.bias\"] its layout lists");
        weights.vector("ln_f.bias").unwrap();
        assert!(weights.all_read().is_ok());
    }
}
