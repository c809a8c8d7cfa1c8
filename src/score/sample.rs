//! Sampled continuations for numeric tasks, as the pipeline draws them with transformers'
//! `generate`: `SAMPLES` continuations of at most `MAX_NEW_TOKENS` tokens, each token drawn from
//! the softmax of the logits divided by the temperature, restricted to the `TOP_K` most likely
//! tokens (transformers' default), stopping at the end-of-text token. The draws come from a
//! seeded generator, so a run is reproducible; they are not PyTorch's random numbers. Like
//! `generate`, it keeps the keys and values of what it has read (the prompt once for all
//! samples), so each new token costs one position.

use burn::tensor::{Int, Tensor, TensorData};

use super::logprob::DeviceError;
use crate::model::{LanguageModel, PastKeyValues};
use crate::rng::Rng;

pub const SAMPLES: usize = 10;
pub const MAX_NEW_TOKENS: usize = 7;
pub const TEMPERATURE: f32 = 0.5;
pub const TOP_K: usize = 50;
/// GPT-2's `<|endoftext|>`.
pub const END_OF_TEXT: u32 = 50256;

/// `SAMPLES` continuations of `prompt` (token ids, without the prompt), drawn with `rng`.
/// `common`, when given, holds the keys and values of the prompt's first tokens (a prefix other
/// examples share). The prompt is read once for all samples; then each step reads only the
/// samples' newest tokens, attending to the keys and values of everything before them.
pub async fn sample_continuations(
    model: &LanguageModel,
    prompt: &[u32],
    common: Option<&PastKeyValues>,
    rng: &mut Rng,
) -> Result<Vec<Vec<u32>>, DeviceError> {
    let device = model.device();
    let ids = |ids: Vec<i32>, rows: usize| {
        let t = ids.len() / rows;
        Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, t]), &device)
    };
    let e = common.map_or(0, PastKeyValues::len);
    let (hidden, own) = model.extend(ids(prompt[e..].iter().map(|&id| id as i32).collect(), 1), common, None);
    let read = match common {
        Some(common) => common.then(&own),
        None => own,
    };
    let mut logits = last_logits(model, hidden).await?; // the same for every sample
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); SAMPLES];
    let mut finished = [false; SAMPLES];
    let mut generated: Option<PastKeyValues> = None;
    for step in 0..MAX_NEW_TOKENS {
        let vocab = logits.len() / if step == 0 { 1 } else { SAMPLES };
        for (i, row) in rows.iter_mut().enumerate() {
            let at = if step == 0 { 0 } else { i };
            // Finished rows keep a placeholder token so the batch stays rectangular.
            let token = if finished[i] { END_OF_TEXT } else { draw(&logits[at * vocab..(at + 1) * vocab], rng) };
            finished[i] |= token == END_OF_TEXT;
            row.push(token);
        }
        if finished.iter().all(|&f| f) || step + 1 == MAX_NEW_TOKENS {
            break;
        }
        let newest = ids(rows.iter().map(|row| row[step] as i32).collect(), SAMPLES);
        let (hidden, own) = model.extend(newest, Some(&read), generated.as_ref());
        generated = Some(match generated {
            Some(earlier) => earlier.then(&own),
            None => own,
        });
        logits = last_logits(model, hidden).await?;
    }
    Ok(rows.into_iter().map(|row| row.into_iter().take_while(|&id| id != END_OF_TEXT).collect()).collect())
}

/// The logits after each row's last position, `[rows · vocab]`, read back.
async fn last_logits(model: &LanguageModel, hidden: Tensor<3>) -> Result<Vec<f32>, DeviceError> {
    let [b, t, c] = hidden.dims();
    let last = hidden.narrow(1, t - 1, 1).reshape([b, c]);
    let logits = model.logits(last).into_data_async().await.map_err(|e| DeviceError::Read(e.to_string()))?;
    logits.try_into_vec::<f32>().map_err(|e| DeviceError::Data(format!("{e:?}")))
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
