//! Log-probabilities from the model: the sum over a sequence's scored tokens, and next-token
//! log-probs of chosen tokens after a prompt. Only scored positions reach the LM head and
//! only the gathered scalars are read back (asynchronously, as WebGPU requires).

use burn::tensor::{Int, Tensor, TensorData};

use super::prepare::Sequence;
use crate::model::Gpt2;

/// Failure of the compute device while scoring.
#[derive(Debug, thiserror::Error)]
#[error("the compute device failed: {0}")]
pub struct DeviceError(pub String);

/// Rows of a right-padded batch: causal attention means padding never reaches real tokens.
const PAD_ID: u32 = 0;

/// Upper bound on `batch × seq` tokens per forward pass.
const MAX_BATCH_TOKENS: usize = 4096;

/// `lp` of each sequence: Σ over its last `scored` tokens of `log_softmax(logits[t-1])[ids[t]]`.
///
/// Identical sequences (classes that truncation cut away) are scored once, so their scores
/// tie exactly, as they do in the pipeline.
pub async fn sequence_logprobs(model: &Gpt2, sequences: &[Sequence]) -> Result<Vec<f64>, DeviceError> {
    let mut unique: Vec<Sequence> = Vec::new();
    let slots: Vec<usize> = sequences
        .iter()
        .map(|s| match unique.iter().position(|u| u == s) {
            Some(i) => i,
            None => {
                unique.push(s.clone());
                unique.len() - 1
            }
        })
        .collect();
    let scores = unique_logprobs(model, &unique).await?;
    Ok(slots.into_iter().map(|i| scores[i]).collect())
}

async fn unique_logprobs(model: &Gpt2, sequences: &[Sequence]) -> Result<Vec<f64>, DeviceError> {
    let mut out = Vec::with_capacity(sequences.len());
    for batch in batches(sequences.iter().map(|s| s.ids.len())) {
        let batch = &sequences[batch];
        let ids: Vec<&[u32]> = batch.iter().map(|s| s.ids.as_slice()).collect();
        // (row in the padded batch, position whose next token is scored, that token)
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        let width = ids.iter().map(|s| s.len()).max().unwrap_or(0);
        for (b, s) in batch.iter().enumerate() {
            for t in s.ids.len() - s.scored..s.ids.len() {
                rows.push((b * width + t - 1) as i32);
                targets.push(s.ids[t] as i32);
            }
        }
        let values = gather_logprobs(model, &ids, rows, targets, 1).await?;
        let mut at = 0;
        for s in batch {
            // Summed in float32, token by token, as the pipeline sums them.
            let sum: f32 = values[at..at + s.scored].iter().fold(0.0, |acc, &v| acc + v);
            out.push(f64::from(sum));
            at += s.scored;
        }
    }
    Ok(out)
}

/// Full-vocabulary log-probs of `targets` as the token after each prompt.
pub async fn next_token_logprobs(model: &Gpt2, prompts: &[&[u32]], targets: [u32; 2]) -> Result<Vec<[f64; 2]>, DeviceError> {
    let mut out = Vec::with_capacity(prompts.len());
    for batch in batches(prompts.iter().map(|p| p.len())) {
        let batch = &prompts[batch];
        let width = batch.iter().map(|s| s.len()).max().unwrap_or(0);
        let rows = batch.iter().enumerate().map(|(b, p)| (b * width + p.len() - 1) as i32).collect();
        let ids = batch.iter().flat_map(|_| targets.map(|t| t as i32)).collect();
        let values = gather_logprobs(model, batch, rows, ids, 2).await?;
        out.extend(values.chunks_exact(2).map(|v| [f64::from(v[0]), f64::from(v[1])]));
    }
    Ok(out)
}

/// Runs `sequences` right-padded as one batch and returns, for each flat row index
/// `b * width + t`, the log-probs of its `per_row` target ids.
async fn gather_logprobs(model: &Gpt2, sequences: &[&[u32]], rows: Vec<i32>, targets: Vec<i32>, per_row: usize) -> Result<Vec<f32>, DeviceError> {
    let device = model.wte.weight.device();
    let width = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(sequences.len() * width);
    for s in sequences {
        ids.extend(s.iter().map(|&id| id as i32));
        ids.extend(std::iter::repeat_n(PAD_ID as i32, width - s.len()));
    }
    let n = rows.len();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [sequences.len(), width]), &device);
    let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [n]), &device);
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [n, per_row]), &device);

    let hidden = model.hidden_states(ids); // (B, T, C)
    let [b, t, c] = hidden.dims();
    let hidden = hidden.reshape([b * t, c]).select(0, rows); // (n, C): scored positions only
    let logprobs = model.target_logprobs(hidden, targets); // (n, per_row)
    let data = logprobs.into_data_async().await.map_err(|e| DeviceError(e.to_string()))?;
    data.try_into_vec::<f32>().map_err(|e| DeviceError(format!("{e:?}")))
}

/// Splits items of the given lengths, in order, into batches under [`MAX_BATCH_TOKENS`]
/// once padded (a single over-long item still gets a batch of its own).
fn batches(lengths: impl Iterator<Item = usize>) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut width, mut count) = (0, 0, 0);
    for (i, len) in lengths.enumerate() {
        let new_width = width.max(len);
        if count > 0 && new_width * (count + 1) > MAX_BATCH_TOKENS {
            out.push(start..i);
            (start, width, count) = (i, len, 1);
        } else {
            (width, count) = (new_width, count + 1);
        }
    }
    if count > 0 {
        out.push(start..start + count);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_respect_the_token_budget() {
        assert_eq!(batches([10, 10, 10].into_iter()), vec![0..3]);
        assert_eq!(batches([4000, 100, 5000, 1].into_iter()), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(batches([2000, 2000, 10].into_iter()), vec![0..2, 2..3]);
        assert!(batches(std::iter::empty()).is_empty());
    }
}
