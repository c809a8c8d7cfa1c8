//! Log-probabilities from the model. An example's sequences become [`Query`]s; the queries of
//! one example form a [`Group`] whose common token prefix is read once; several groups go
//! through the model in one pass, after a prefix they all start with when the cache holds one
//! (`prefix_cache`). Only read positions reach the LM head, log-softmax and the
//! gather of target ids happen on the device, and only the gathered scalars are read back
//! (asynchronously, as WebGPU requires).

use std::ops::Range;

use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::batch::{bucket, Batching};
use super::prepare::Sequence;
use crate::model::{LanguageModel, PastKeyValues, SharedPrefix};

/// Failure of the compute device while scoring.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// Reading results back from the device failed (on WebGPU: a lost device, say).
    #[error("the compute device failed: {0}")]
    Read(String),
    /// What came back is not the float32 values asked for.
    #[error("the compute device returned unexpected data: {0}")]
    Data(String),
}

/// Fills rows of a right-padded batch: causal attention means padding never reaches real tokens.
const PAD_ID: u32 = 0;

/// A token sequence and the positions whose next-token log-probs are wanted.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub ids: Vec<u32>,
    /// Positions read, each for `targets.len() / reads.len()` target ids.
    pub reads: Range<usize>,
    /// Target ids, position by position.
    pub targets: Vec<u32>,
}

impl Query {
    /// The log-prob of each of the last `scored` tokens, read at the position before it.
    pub fn continuation(sequence: &Sequence) -> Self {
        let n = sequence.ids.len();
        Query { ids: sequence.ids.clone(), reads: n - sequence.scored - 1..n - 1, targets: sequence.ids[n - sequence.scored..].to_vec() }
    }

    /// The log-probs of `classes` as the token after the whole prompt.
    pub fn next_token(prompt: &[u32], classes: [u32; 2]) -> Self {
        Query { ids: prompt.to_vec(), reads: prompt.len() - 1..prompt.len(), targets: classes.to_vec() }
    }

    /// Target ids per read position: 1 for a continuation, 2 for a pair of classes.
    pub fn per_read(&self) -> usize {
        self.targets.len() / self.reads.len()
    }
}

/// The queries of one example. Identical queries (classes that truncation cut away) are read
/// once, so their scores tie exactly, as they do in the pipeline.
#[derive(Clone, Debug)]
pub struct Group {
    unique: Vec<Query>,
    /// For each query as given, its index in `unique`.
    slots: Vec<usize>,
    /// Leading tokens common to every query and read by none, computed once for all of them.
    pub shared: usize,
    /// Leading tokens common to every query and read by none, even with one query: what may
    /// come from a prefix other examples start with too (0 when nothing is shared).
    pub head: usize,
}

impl Group {
    /// Groups `queries`; with `share`, their common prefix (up to the first position any of
    /// them reads) is computed once.
    pub fn new(queries: Vec<Query>, share: bool) -> Self {
        let mut unique: Vec<Query> = Vec::new();
        let slots = queries
            .into_iter()
            .map(|q| match unique.iter().position(|u| *u == q) {
                Some(i) => i,
                None => {
                    unique.push(q);
                    unique.len() - 1
                }
            })
            .collect();
        let head = match unique.as_slice() {
            [first, rest @ ..] if share => {
                let common = rest.iter().map(|q| common_prefix(&first.ids, &q.ids)).min().unwrap_or(first.ids.len());
                unique.iter().map(|q| q.reads.start).min().unwrap_or(0).min(common)
            }
            _ => 0,
        };
        let shared = if unique.len() > 1 { head } else { 0 };
        Group { unique, slots, shared, head }
    }

    /// Its queries, each once: the ones a scorer reads.
    pub fn queries(&self) -> &[Query] {
        &self.unique
    }

    /// The values of each of [`Group::queries`] placed for its queries as given.
    pub fn as_given<T: Clone>(&self, values: &[T]) -> Vec<T> {
        self.slots.iter().map(|&i| values[i].clone()).collect()
    }

    /// The tokens every query starts with and none reads.
    pub fn head_ids(&self) -> &[u32] {
        self.unique.first().map_or(&[], |q| &q.ids[..self.head])
    }

    /// Rows this group adds to a pass's continuation batch.
    pub fn rows(&self) -> usize {
        self.unique.len()
    }

    /// Where its own prefix row starts and ends after a common prefix of `e` tokens (empty when
    /// it has none), which is where its continuations start.
    pub fn prefix_after(&self, e: usize) -> Range<usize> {
        e..self.shared.max(e)
    }

    /// Tokens it puts through the model after a common prefix of `e` tokens: its own prefix
    /// once, then each continuation.
    pub fn tokens_after(&self, e: usize) -> usize {
        let start = self.prefix_after(e).end;
        (start - e) + self.unique.iter().map(|q| q.ids.len() - start).sum::<usize>()
    }

    /// Length of its longest continuation after its own prefix (and a common one of `e`).
    pub fn suffix_len_after(&self, e: usize) -> usize {
        let start = self.prefix_after(e).end;
        self.unique.iter().map(|q| q.ids.len() - start).max().unwrap_or(0)
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Runs `groups` through the model in one pass, after `common` (a prefix of each group's
/// head, read earlier) when given. Returns, for each group and each of its queries as given,
/// the log-probs of the query's targets (full-vocabulary log-softmax), at most
/// `batching.head_rows` positions meeting the LM head at once, the pass padded to buckets
/// where `batching` says so.
pub async fn read_groups(
    model: &LanguageModel,
    groups: &[Group],
    common: Option<&PastKeyValues>,
    batching: &Batching,
) -> Result<Vec<Vec<Vec<f32>>>, DeviceError> {
    let device = model.device();
    let n_positions = model.n_positions();
    let e = common.map_or(0, PastKeyValues::len);
    let per_read = groups.first().and_then(|g| g.unique.first()).map_or(1, Query::per_read);
    // Sizes padded up to their bucket, within the positions the model has.
    let pad = |n: usize, most: usize| if batching.buckets && n > 0 { bucket(n).min(most).max(n) } else { n };
    let sharing: Vec<&Group> = groups.iter().filter(|g| !g.prefix_after(e).is_empty()).collect();
    let p = pad(sharing.iter().map(|g| g.prefix_after(e).len()).max().unwrap_or(0), n_positions - e);
    let l = pad(groups.iter().map(|g| g.suffix_len_after(e)).max().unwrap_or(0), n_positions);
    let real_rows: usize = groups.iter().map(Group::rows).sum();
    let s = pad(real_rows, usize::MAX);

    // The continuation batch `[s, l]`, and where each read lands in it once flattened.
    let (mut ids, mut positions, mut prefix_of, mut mask) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut reads, mut targets) = (Vec::new(), Vec::new());
    let (mut row, mut prefixes) = (0, 0);
    for group in groups {
        let own_prefix = group.prefix_after(e);
        let start = own_prefix.end;
        // Rows that share nothing see no prefix key at all; any valid row will do.
        let prefix_row = prefixes.min(sharing.len().saturating_sub(1));
        prefixes += usize::from(!own_prefix.is_empty());
        for query in &group.unique {
            let own = &query.ids[start..];
            ids.extend(own.iter().map(|&id| id as i32));
            ids.extend(std::iter::repeat_n(PAD_ID as i32, l - own.len()));
            // Padding gets a valid position; what it computes is never read.
            positions.extend((0..l).map(|j| (start + j).min(n_positions - 1) as i64));
            prefix_of.push(prefix_row as i64);
            for i in 0..l {
                mask.extend((0..p).map(|j| j >= own_prefix.len()));
                mask.extend((0..l).map(|j| j > i));
            }
            reads.extend(query.reads.clone().map(|t| (row * l + t - start) as i64));
            targets.extend(query.targets.iter().map(|&id| id as i32));
            row += 1;
        }
    }
    // Padding rows: no prefix key, causal among themselves, never read.
    for _ in real_rows..s {
        ids.extend(std::iter::repeat_n(PAD_ID as i32, l));
        positions.extend((0..l).map(|j| j.min(n_positions - 1) as i64));
        for i in 0..l {
            mask.extend(std::iter::repeat_n(true, p));
            mask.extend((0..l).map(|j| j > i));
        }
    }
    prefix_of.resize(s, 0);
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [s, l]), &device);
    let hidden = if p == 0 && e == 0 {
        model.hidden_states(ids)
    } else {
        let prefix = (p > 0).then(|| {
            let g = pad(sharing.len(), usize::MAX);
            let mut prefix = Vec::with_capacity(g * p);
            for group in &sharing {
                let own_prefix = group.prefix_after(e);
                prefix.extend(group.unique[0].ids[own_prefix.clone()].iter().map(|&id| id as i32));
                prefix.extend(std::iter::repeat_n(PAD_ID as i32, p - own_prefix.len()));
            }
            prefix.resize(g * p, PAD_ID as i32);
            Tensor::<2, Int>::from_data(TensorData::new(prefix, [g, p]), &device)
        });
        let shared = SharedPrefix {
            prefix_of: Tensor::from_data(TensorData::new(prefix_of, [s]), &device),
            mask: Tensor::<4, Bool>::from_data(TensorData::new(mask, [s, 1, l, p + l]), &device),
            positions: Tensor::from_data(TensorData::new(positions, [s, l]), &device),
        };
        model.hidden_states_shared(common, prefix, ids, &shared)
    };
    // Padding reads: position 0, target 0, values dropped.
    let n = pad(reads.len(), usize::MAX);
    reads.resize(n, 0);
    targets.resize(n * per_read, 0);
    let c = hidden.dims()[2];
    let hidden = hidden.reshape([s * l, c]).select(0, Tensor::from_data(TensorData::new(reads, [n]), &device)); // (n, C)
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [n, per_read]), &device);
    let head_rows = batching.head_rows.max(1);
    let chunks: Vec<Tensor<2>> = (0..n)
        .step_by(head_rows)
        .map(|start| {
            let end = (start + head_rows).min(n);
            model.target_logprobs(hidden.clone().slice(start..end), targets.clone().slice(start..end))
        })
        .collect();
    let values = Tensor::cat(chunks, 0).into_data_async().await.map_err(|e| DeviceError::Read(e.to_string()))?;
    let values = values.try_into_vec::<f32>().map_err(|e| DeviceError::Data(format!("{e:?}")))?;

    // Back to groups and their queries as given.
    let mut at = 0;
    let mut out = Vec::with_capacity(groups.len());
    for group in groups {
        let unique: Vec<Vec<f32>> = group
            .unique
            .iter()
            .map(|q| {
                let span = values[at..at + q.targets.len()].to_vec();
                at += q.targets.len();
                span
            })
            .collect();
        out.push(group.as_given(&unique));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(ids: &[u32], scored: usize) -> Query {
        Query::continuation(&Sequence { ids: ids.to_vec(), scored })
    }

    #[test]
    fn continuation_reads_the_position_before_each_scored_token() {
        let q = query(&[5, 6, 7, 8], 2);
        assert_eq!(q.reads, 1..3);
        assert_eq!(q.targets, vec![7, 8]);
    }

    #[test]
    fn shared_prefix_stops_before_the_first_read() {
        // Prompt [1, 2, 3] + one-token classes: the last prompt token is read, so not shared.
        let g = Group::new(vec![query(&[1, 2, 3, 10], 1), query(&[1, 2, 3, 11], 1)], true);
        assert_eq!(g.shared, 2);
        // A BPE merge across the boundary changes the last prompt token: shared up to it.
        let g = Group::new(vec![query(&[1, 2, 3, 4, 10, 12], 2), query(&[1, 2, 9, 11], 1)], true);
        assert_eq!(g.shared, 2);
        assert_eq!(g.suffix_len_after(0), 4);
        assert_eq!((g.prefix_after(1), g.tokens_after(1)), (1..2, 1 + 4 + 2));
        // After a longer common prefix, no prefix row of its own.
        assert_eq!((g.prefix_after(2), g.suffix_len_after(2)), (2..2, 4));
        assert_eq!(Group::new(vec![query(&[1, 2, 3, 10], 1), query(&[1, 2, 3, 11], 1)], false).shared, 0);
    }

    #[test]
    fn identical_queries_are_read_once_and_nothing_is_shared_alone() {
        let g = Group::new(vec![query(&[1, 2, 3], 1), query(&[1, 2, 3], 1)], true);
        assert_eq!((g.rows(), g.shared, g.slots.clone()), (1, 0, vec![0, 0]));
        // Alone, its head may still come from a prefix other examples share.
        assert_eq!((g.head, g.head_ids()), (1, &[1u32][..]));
    }
}
