//! How examples are packed into forward passes: as many as fit a budget derived from the
//! model's shape and WebGPU's guaranteed limits, in task order (so progress is monotone), all
//! of a pass after the same cached prefix.

use std::ops::Range;

use super::logprob::Group;
use super::prefix_cache::Base;
use crate::model::ModelConfig;

/// WebGPU guarantees storage buffers of 128 MiB to every adapter; no intermediate tensor of
/// a pass (activations, attention weights, logits) is planned larger.
pub const BUFFER_BYTES: usize = 128 << 20;

/// Tokens per pass beyond which a larger batch stops paying on any backend measured.
const MAX_TOKENS: usize = 4096;

/// Keys and values of prefixes that several examples start with, kept at once: WebGPU
/// storage and the wasm heap hold the model too.
pub const CACHE_BYTES: usize = 256 << 20;

/// Padding a pass may add on a GPU, as a fraction of its real tokens. The CPU backend
/// computes padding like any token: packing sequences of unlike lengths cost it more than it
/// saved, natively and in the browser, so there it packs only sequences of one length.
const MAX_PADDING: f64 = 0.2;

/// How scoring packs its work. Results do not depend on it (within float rounding).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Batching {
    /// Read each example's common prefix once instead of once per class, and a prefix that
    /// several examples start with once for all of them.
    pub share_prefixes: bool,
    /// Most bytes of prefix keys and values kept across passes.
    pub cache_bytes: usize,
    /// Most tokens (prefixes and continuations, padded) per pass.
    pub max_tokens: usize,
    /// Most attention weights (`heads × queries × keys`) per pass, for the larger of the two
    /// attention products (prefixes, continuations).
    pub max_attention: usize,
    /// Most positions meeting the LM head at once (`rows × vocab` logits).
    pub head_rows: usize,
    /// Most padding per pass, as a fraction of its real tokens (a lone example may exceed it).
    pub max_padding: f64,
    /// Pad each pass's sizes (rows, lengths, positions read) up to [`bucket`]s, so that a task's
    /// passes come in a few shapes: a GPU compiles kernels for each shape it meets (their
    /// vector widths and tiling follow the sizes). The CPU computes padding like any token,
    /// so it reads passes as they are.
    pub buckets: bool,
}

/// `n` rounded up to the next of 1, 2, 4, 8, 16, then four steps per doubling (20, 24, 28,
/// 32, 40, 48, …): 29 sizes up to 1024, padding at most a quarter beyond 16, each a multiple
/// of 4 (the widest vectors kernels use).
pub fn bucket(n: usize) -> usize {
    if n <= 16 {
        return n.next_power_of_two();
    }
    let step = n.next_power_of_two() / 8;
    n.div_ceil(step) * step
}

impl Batching {
    /// The budget for `config`: every intermediate tensor within [`BUFFER_BYTES`].
    pub fn for_model(config: &ModelConfig) -> Self {
        let s = config.sizes();
        let floats = BUFFER_BYTES / 4;
        Batching {
            share_prefixes: true,
            cache_bytes: CACHE_BYTES,
            max_tokens: MAX_TOKENS.min(floats / s.inner_dim.max(3 * s.n_embd)),
            max_attention: floats,
            head_rows: (floats / s.vocab_size).max(1),
            max_padding: MAX_PADDING,
            buckets: false,
        }
    }

    /// What runs get on a GPU (`on_gpu`) or the CPU backend: buckets and some padding on a
    /// GPU, which compiles kernels for each shape and runs wide passes cheaply; no padding at
    /// all on the CPU, which compiles nothing and pays for every padded token.
    pub fn for_device(config: &ModelConfig, on_gpu: bool) -> Self {
        let budget = Self::for_model(config);
        if on_gpu {
            Batching { buckets: true, ..budget }
        } else {
            Batching { buckets: false, max_padding: 0.0, ..budget }
        }
    }

    /// Splits `groups` (one per example, each after its `bases` prefix), in order, into passes
    /// within budget whose groups continue the same prefix; a group that alone exceeds the
    /// budget still gets a pass of its own.
    pub fn plan(&self, groups: &[Group], bases: &[Option<Base>], n_head: usize) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut pass = PassShape::default();
        for (i, group) in groups.iter().enumerate() {
            let base = bases[i];
            let grown = pass.with(group, base);
            if i > start && (base != bases[start] || !grown.fits(self, n_head)) {
                out.push(start..i);
                start = i;
                pass = PassShape::default().with(group, base);
            } else {
                pass = grown;
            }
        }
        if start < groups.len() {
            out.push(start..groups.len());
        }
        out
    }
}

/// The padded shape of a pass after a common prefix of `common` tokens: `[prefixes,
/// prefix_len]` and `[rows, suffix_len]`, and the tokens it really holds.
#[derive(Clone, Copy, Debug, Default)]
struct PassShape {
    common: usize,
    prefixes: usize,
    prefix_len: usize,
    rows: usize,
    suffix_len: usize,
    real_tokens: usize,
}

impl PassShape {
    fn with(self, group: &Group, base: Option<Base>) -> Self {
        let e = base.map_or(0, |b| b.len);
        let prefix = group.prefix_after(e).len();
        PassShape {
            common: e,
            prefixes: self.prefixes + usize::from(prefix > 0),
            prefix_len: self.prefix_len.max(prefix),
            rows: self.rows + group.rows(),
            suffix_len: self.suffix_len.max(group.suffix_len_after(e)),
            real_tokens: self.real_tokens + group.tokens_after(e),
        }
    }

    fn fits(&self, batching: &Batching, n_head: usize) -> bool {
        let padded = self.tokens();
        let run = if batching.buckets { self.bucketed() } else { *self };
        let prefix_attention = run.prefixes * run.prefix_len * (run.common + run.prefix_len);
        let suffix_attention = run.rows * run.suffix_len * (run.common + run.prefix_len + run.suffix_len);
        run.tokens() <= batching.max_tokens
            && n_head * prefix_attention.max(suffix_attention) <= batching.max_attention
            && padded as f64 <= self.real_tokens as f64 * (1.0 + batching.max_padding)
    }

    fn tokens(&self) -> usize {
        self.prefixes * self.prefix_len + self.rows * self.suffix_len
    }

    /// The shape as it runs with [`Batching::buckets`] (at most: positions may cap it).
    fn bucketed(&self) -> Self {
        let up = |n: usize| if n == 0 { 0 } else { bucket(n) };
        PassShape {
            prefixes: up(self.prefixes),
            prefix_len: up(self.prefix_len),
            rows: up(self.rows),
            suffix_len: up(self.suffix_len),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::logprob::Query;
    use crate::score::Sequence;

    fn group(prompt: usize, classes: usize) -> Group {
        let queries = (0..classes)
            .map(|c| Query::continuation(&Sequence { ids: (0..prompt as u32).chain([1000 + c as u32]).collect(), scored: 1 }))
            .collect();
        Group::new(queries, true)
    }

    /// A budget that limits nothing, padding none; each test sets what it checks.
    fn unlimited() -> Batching {
        Batching {
            share_prefixes: true,
            cache_bytes: 0,
            max_tokens: usize::MAX,
            max_attention: usize::MAX,
            head_rows: 10,
            max_padding: 0.0,
            buckets: false,
        }
    }

    #[test]
    fn passes_respect_the_token_budget() {
        let b = Batching { max_tokens: 100, ..unlimited() };
        // Each: prefix 9 (shared), 2 rows × 2 tokens = 13 tokens; 7 fit in 100.
        let groups: Vec<Group> = (0..10).map(|_| group(10, 2)).collect();
        assert_eq!(b.plan(&groups, &vec![None; groups.len()], 1), vec![0..7, 7..10]);
        // One group over budget still runs, alone.
        let groups = vec![group(10, 2), group(200, 2), group(10, 2)];
        assert_eq!(b.plan(&groups, &vec![None; groups.len()], 1), vec![0..1, 1..2, 2..3]);
        assert!(b.plan(&[], &[], 1).is_empty());
    }

    #[test]
    fn passes_respect_the_attention_budget() {
        let b = Batching { max_attention: 2 * 9 * 9 * 12, ..unlimited() };
        let groups: Vec<Group> = (0..5).map(|_| group(10, 2)).collect();
        assert_eq!(b.plan(&groups, &vec![None; groups.len()], 12), vec![0..2, 2..4, 4..5]);
    }

    #[test]
    fn passes_limit_padding() {
        let b = Batching { max_padding: 0.25, ..unlimited() };
        // 13 real tokens each; a 40-token prompt pads the 10-token ones far beyond a quarter.
        let groups = vec![group(10, 2), group(10, 2), group(40, 2), group(41, 2), group(10, 2)];
        assert_eq!(b.plan(&groups, &vec![None; groups.len()], 1), vec![0..2, 2..4, 4..5]);
    }

    #[test]
    fn buckets_are_few_and_pad_little() {
        let sizes: Vec<usize> = (1..=1024).map(bucket).collect();
        for (n, &b) in (1..).zip(&sizes) {
            assert!(b >= n && b as f64 <= (n as f64 * 1.25).max(16.0) && (b < 4 || b % 4 == 0), "{n} → {b}");
        }
        let mut distinct = sizes.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 29);
        assert_eq!((bucket(3), bucket(17), bucket(33), bucket(1000)), (4, 20, 40, 1024));
    }

    #[test]
    fn bucketed_passes_keep_the_budget() {
        let b = Batching { max_tokens: 100, buckets: true, ..unlimited() };
        // Each: a 9-token prefix and 2 rows of 2 tokens (13 tokens: 7 fit unpadded). Bucketed,
        // 3 or 4 run as 4 prefixes of 16 and 8 rows of 2 (80 tokens), 5 as 8 × 16 + 16 × 2.
        let groups: Vec<Group> = (0..10).map(|_| group(10, 2)).collect();
        let passes = b.plan(&groups, &vec![None; groups.len()], 1);
        assert_eq!(passes, vec![0..4, 4..8, 8..10]);
    }

    #[test]
    fn budget_follows_the_model() {
        let small = Batching::for_model(&ModelConfig::Gpt2(crate::model::Gpt2Config::new(12, 12, 768)));
        let xl = Batching::for_model(&ModelConfig::Gpt2(crate::model::Gpt2Config::new(48, 25, 1600)));
        assert_eq!(small.max_tokens, MAX_TOKENS);
        assert!(xl.max_tokens <= BUFFER_BYTES / 4 / 6400);
        assert_eq!(small.head_rows, BUFFER_BYTES / 4 / 50257);
        let config = ModelConfig::Gpt2(crate::model::Gpt2Config::new(12, 12, 768));
        let (gpu, cpu) = (Batching::for_device(&config, true), Batching::for_device(&config, false));
        assert!(gpu.buckets && gpu.max_padding > 0.0 && !cpu.buckets && cpu.max_padding == 0.0);
    }
}
