//! The seam between scoring and whatever computes log-probs. `run` asks a [`Scorer`] for the
//! log-probs of token sequences, a pass of examples at a time, after a prefix they share, and
//! for continuations sampled after a prompt; it never sees a tensor. A Burn checkpoint answers
//! it (`checkpoint_scorer`); a model on a remote server can answer it without `score/` or `run`
//! changing.

use std::future::Future;

use super::batch::Batching;
use super::logprob::{DeviceError, Group};
use crate::rng::Rng;
use crate::tokenizer::Tokenizer;

/// A model that scores token sequences.
pub trait Scorer {
    /// What the model keeps of a prefix read once for several examples (its keys and values),
    /// handed back to [`Scorer::read_groups`] and [`Scorer::sample`] for what continues it.
    type Prefix: Clone;

    /// The model's own tokenizer: the ids it scores are this tokenizer's.
    fn tokenizer(&self) -> &Tokenizer;

    /// The most positions one sequence may have.
    fn n_positions(&self) -> usize;

    /// How passes are packed when the run does not say: what suits the model's device.
    fn batching(&self) -> Batching;

    /// Bytes a kept prefix costs per token, against [`Batching::cache_bytes`].
    fn prefix_bytes_per_token(&self) -> usize;

    /// Reads `ids` after `parent` (the prefix they continue) and keeps all of it.
    fn read_prefix(&self, ids: &[u32], parent: Option<&Self::Prefix>) -> Self::Prefix;

    /// For each group and each of its queries as given, the log-probs of the query's targets
    /// (full-vocabulary log-softmax), all groups in one pass after `common` when given (a prefix
    /// each group's head starts with).
    fn read_groups(
        &self,
        groups: &[Group],
        common: Option<&Self::Prefix>,
        batching: &Batching,
    ) -> impl Future<Output = Result<Vec<Vec<Vec<f32>>>, DeviceError>>;

    /// The numeric task's continuations of `prompt` (token ids, without the prompt), drawn with
    /// `rng` as [`super::sample`] describes; `common` holds the prompt's first tokens when given.
    fn sample(
        &self,
        prompt: &[u32],
        common: Option<&Self::Prefix>,
        rng: &mut Rng,
    ) -> impl Future<Output = Result<Vec<Vec<u32>>, DeviceError>>;
}
