//! Sampled continuations for numeric tasks, as the pipeline draws them with transformers'
//! `generate`: `SAMPLES` continuations of at most `MAX_NEW_TOKENS` tokens, each token drawn from
//! the softmax of the logits divided by the temperature, restricted to the `TOP_K` most likely
//! tokens (transformers' default), stopping at the end-of-text token. The draws come from a
//! seeded generator, so a run is reproducible; they are not PyTorch's random numbers.

use burn::tensor::{Int, Tensor, TensorData};

use super::logprob::DeviceError;
use crate::model::Gpt2;
use crate::rng::Rng;

pub const SAMPLES: usize = 10;
pub const MAX_NEW_TOKENS: usize = 7;
pub const TEMPERATURE: f32 = 0.5;
pub const TOP_K: usize = 50;
/// GPT-2's `<|endoftext|>`.
pub const END_OF_TEXT: u32 = 50256;

/// `SAMPLES` continuations of `prompt` (token ids, without the prompt), drawn with `rng`.
/// All samples run as one batch: they share the prompt, so they stay the same length.
pub async fn sample_continuations(model: &Gpt2, prompt: &[u32], rng: &mut Rng) -> Result<Vec<Vec<u32>>, DeviceError> {
    let device = model.device();
    let mut rows: Vec<Vec<u32>> = vec![prompt.to_vec(); SAMPLES];
    let mut finished = [false; SAMPLES];
    for _ in 0..MAX_NEW_TOKENS {
        let t = rows[0].len();
        let ids: Vec<i32> = rows.iter().flatten().map(|&id| id as i32).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [SAMPLES, t]), &device);
        let hidden = model.hidden_states(ids); // (S, T, C)
        let [_, _, c] = hidden.dims();
        let last_positions: Vec<i64> = (0..SAMPLES).map(|i| (i * t + t - 1) as i64).collect();
        let last = hidden.reshape([SAMPLES * t, c]).select(0, Tensor::from_data(TensorData::new(last_positions, [SAMPLES]), &device));
        let logits = model.logits(last).into_data_async().await.map_err(|e| DeviceError::Read(e.to_string()))?;
        let logits = logits.try_into_vec::<f32>().map_err(|e| DeviceError::Data(format!("{e:?}")))?;
        let vocab = logits.len() / SAMPLES;
        for (i, row) in rows.iter_mut().enumerate() {
            // Finished rows keep a placeholder token so the batch stays rectangular.
            let token = if finished[i] { END_OF_TEXT } else { draw(&logits[i * vocab..(i + 1) * vocab], rng) };
            finished[i] |= token == END_OF_TEXT;
            row.push(token);
        }
        if finished.iter().all(|&f| f) {
            break;
        }
    }
    Ok(rows.into_iter().map(|row| row[prompt.len()..].iter().copied().take_while(|&id| id != END_OF_TEXT).collect()).collect())
}

/// One token from `logits / TEMPERATURE`, keeping the `TOP_K` largest (ties with the k-th
/// kept, as transformers' top-k filter keeps them).
pub fn draw(logits: &[f32], rng: &mut Rng) -> u32 {
    let scaled: Vec<f32> = logits.iter().map(|&x| x / TEMPERATURE).collect();
    let mut sorted = scaled.clone();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    let kth = sorted[TOP_K.min(sorted.len()) - 1];
    let max = f64::from(sorted[0]);
    let weights: Vec<f64> = scaled.iter().map(|&x| if x >= kth { (f64::from(x) - max).exp() } else { 0.0 }).collect();
    let mut target = rng.next_f64() * weights.iter().sum::<f64>();
    for (id, w) in weights.iter().enumerate() {
        if *w > 0.0 {
            if target < *w {
                return id as u32;
            }
            target -= w;
        }
    }
    // Rounding left the target past the last weight: the last kept token.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_tempered_top_k_distribution() {
        // Two likely tokens one nat apart: at temperature 0.5 their odds are e² : 1.
        let mut logits = vec![-100.0f32; 200];
        logits[3] = 1.0;
        logits[7] = 0.0;
        let mut rng = Rng::new(4);
        let n = 20_000;
        let threes = (0..n).filter(|_| draw(&logits, &mut rng) == 3).count() as f64 / n as f64;
        let want = (2f64).exp() / ((2f64).exp() + 1.0);
        assert!((threes - want).abs() < 0.01, "{threes} vs {want}");
    }

    #[test]
    fn only_the_top_k_are_ever_drawn() {
        // 100 tokens of equal weight bar a ramp: the 50 largest are kept, the rest never drawn.
        let logits: Vec<f32> = (0..100).map(|i| i as f32 * 1e-3).collect();
        let mut rng = Rng::new(9);
        for _ in 0..5000 {
            assert!(draw(&logits, &mut rng) >= 50);
        }
    }
}
