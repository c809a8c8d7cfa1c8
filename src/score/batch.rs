//! How examples are packed into forward passes: as many as fit a budget derived from the
//! model's shape and WebGPU's guaranteed limits, all of a pass after the same cached prefix.
//! Examples are taken in windows of the task's order, and within a window those of one shape
//! go together: a task whose prompts differ in length is not cut into a pass per example.

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

/// Tokens a shared prefix must save on the CPU: about what two passes cost beyond their
/// tokens (a gpt2-shaped pass of one example took twice the time per token of a full one).
const MIN_PREFIX_SAVING: usize = 64;

/// The same on a GPU, where a pass costs its launches (over a thousand for gpt2) and its
/// tokens little: a guess, for `scripts/bench_gpu.sh` to tune on real hardware.
const MIN_PREFIX_SAVING_GPU: usize = 512;

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
    /// Fewest tokens a prefix shared across examples must save to be kept: it is read in a
    /// pass of its own, and examples after different prefixes never share a pass, so a short
    /// one shared by a few examples (a premise and its three hypotheses) costs more passes
    /// than it saves tokens.
    pub min_prefix_saving: usize,
    /// Most tokens (prefixes and continuations, padded) per pass.
    pub max_tokens: usize,
    /// Most attention weights (`heads × queries × keys`) per pass, for the larger of the two
    /// attention products (prefixes, continuations).
    pub max_attention: usize,
    /// The model's attention heads, for [`Self::max_attention`].
    pub heads: usize,
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
            min_prefix_saving: MIN_PREFIX_SAVING,
            max_tokens: MAX_TOKENS.min(floats / s.inner_dim.max(3 * s.n_embd)),
            max_attention: floats,
            heads: s.n_head,
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
            Batching { buckets: true, min_prefix_saving: MIN_PREFIX_SAVING_GPU, ..budget }
        } else {
            Batching { buckets: false, max_padding: 0.0, ..budget }
        }
    }

    /// Splits `groups` (one per example, each after its `bases` prefix) into passes within
    /// budget whose groups continue the same prefix, as indices into `groups`, each pass in
    /// increasing order. Groups are taken in windows of consecutive ones after one prefix, of
    /// about a pass's tokens ([`Self::max_tokens`]), and within a window those of one shape
    /// (lengths after the prefix) are packed together, shorter first: a task whose prompts
    /// differ in length is not cut into a pass per example. A window's last pass, cut short by
    /// the window's end, joins the next window (once), so that windows of one shape make
    /// passes as full as without them. A group that alone exceeds the budget still gets a pass
    /// of its own.
    pub fn plan(&self, groups: &[Group], bases: &[Option<Base>]) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        let windows = self.windows(groups, bases);
        // The last pass of the window before, when it may join this one.
        let mut carried: Vec<usize> = Vec::new();
        for (w, window) in windows.iter().enumerate() {
            let base = bases[window.start];
            let e = base.map_or(0, |b| b.len);
            let shape = |i: usize| (groups[i].prefix_after(e).len(), groups[i].suffix_len_after(e), groups[i].tokens_after(e));
            let came = std::mem::take(&mut carried);
            let mut order: Vec<usize> = came.iter().copied().chain(window.clone()).collect();
            order.sort_by_key(|&i| (shape(i), i));
            let mut passes: Vec<Vec<usize>> = vec![Vec::new()];
            let mut pass_shape = PassShape::default();
            for i in order {
                let grown = pass_shape.with(&groups[i], base);
                let pass = passes.last_mut().expect("one pass at least");
                if !pass.is_empty() && !grown.fits(self) {
                    passes.push(vec![i]);
                    pass_shape = PassShape::default().with(&groups[i], base);
                } else {
                    pass.push(i);
                    pass_shape = grown;
                }
            }
            // Short of the token budget, not carried before, and the next window continues it.
            let last = passes.last().expect("one pass at least");
            let next_continues = windows.get(w + 1).is_some_and(|next| bases[next.start] == base);
            if next_continues && pass_shape.real_tokens < self.max_tokens && !last.iter().any(|i| came.contains(i)) {
                carried = passes.pop().expect("one pass at least");
            }
            for mut pass in passes {
                pass.sort_unstable();
                out.push(pass);
            }
        }
        out
    }

    /// Runs of consecutive groups after one prefix, each of at most [`Self::max_tokens`] real
    /// tokens (or one group).
    fn windows(&self, groups: &[Group], bases: &[Option<Base>]) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let (mut start, mut tokens) = (0, 0);
        for (i, group) in groups.iter().enumerate() {
            let own = group.tokens_after(bases[i].map_or(0, |b| b.len));
            if i > start && (bases[i] != bases[start] || tokens + own > self.max_tokens) {
                out.push(start..i);
                (start, tokens) = (i, 0);
            }
            tokens += own;
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

    fn fits(&self, batching: &Batching) -> bool {
        let padded = self.tokens();
        let run = if batching.buckets { self.bucketed() } else { *self };
        let prefix_attention = run.prefixes * run.prefix_len * (run.common + run.prefix_len);
        let suffix_attention = run.rows * run.suffix_len * (run.common + run.prefix_len + run.suffix_len);
        run.tokens() <= batching.max_tokens
            && batching.heads * prefix_attention.max(suffix_attention) <= batching.max_attention
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
            min_prefix_saving: 0,
            max_tokens: usize::MAX,
            max_attention: usize::MAX,
            heads: 1,
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
        assert_eq!(b.plan(&groups, &vec![None; groups.len()]), passes(&[0..7, 7..10]));
        // One group over budget still runs, alone.
        let groups = vec![group(10, 2), group(200, 2), group(10, 2)];
        assert_eq!(b.plan(&groups, &vec![None; groups.len()]), passes(&[0..1, 1..2, 2..3]));
        assert!(b.plan(&[], &[]).is_empty());
    }

    #[test]
    fn passes_respect_the_attention_budget() {
        let b = Batching { max_attention: 2 * 9 * 9 * 12, heads: 12, ..unlimited() };
        let groups: Vec<Group> = (0..5).map(|_| group(10, 2)).collect();
        assert_eq!(b.plan(&groups, &vec![None; groups.len()]), passes(&[0..2, 2..4, 4..5]));
    }

    /// Passes as the ranges of groups they hold.
    fn passes(ranges: &[Range<usize>]) -> Vec<Vec<usize>> {
        ranges.iter().map(|r| r.clone().collect()).collect()
    }

    #[test]
    fn passes_limit_padding_and_hold_examples_of_one_shape() {
        let b = Batching { max_padding: 0.25, ..unlimited() };
        // 13 real tokens each; a 40-token prompt pads the 10-token ones far beyond a quarter,
        // so the 10-token ones go together, the 40- and 41-token ones apart.
        let groups = vec![group(10, 2), group(10, 2), group(40, 2), group(41, 2), group(10, 2)];
        assert_eq!(b.plan(&groups, &vec![None; groups.len()]), vec![vec![0, 1, 4], vec![2, 3]]);
        // Without padding (the CPU), prompts of two lengths alternating: one pass per length.
        let b = Batching { max_padding: 0.0, ..unlimited() };
        let groups: Vec<Group> = (0..8).map(|i| group(10 + i % 2, 2)).collect();
        assert_eq!(b.plan(&groups, &vec![None; groups.len()]), vec![vec![0, 2, 4, 6], vec![1, 3, 5, 7]]);
    }

    #[test]
    fn shapes_are_gathered_within_windows_of_the_task() {
        // Windows of about 100 tokens (13 per group): shapes gather within one, never from
        // further on, so results come in task order window by window.
        let b = Batching { max_tokens: 100, ..unlimited() };
        let groups: Vec<Group> = (0..20).map(|i| group(10 + i % 2, 2)).collect();
        let passes = b.plan(&groups, &vec![None; groups.len()]);
        let mut all: Vec<usize> = passes.concat();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>(), "each group once: {passes:?}");
        for pass in &passes {
            assert!(pass.windows(2).all(|w| w[0] < w[1]), "in increasing order: {pass:?}");
            assert!(pass.iter().all(|&i| i % 2 == pass[0] % 2), "one shape per pass: {pass:?}");
            assert!(pass.last().unwrap() - pass[0] < 16, "from neighbouring windows only: {pass:?}");
        }
        // Never two passes where one would do on a task of one shape: the windows' last passes
        // join the next window.
        let groups: Vec<Group> = (0..20).map(|_| group(10, 2)).collect();
        assert_eq!(b.plan(&groups, &vec![None; groups.len()]), self::passes(&[0..7, 7..14, 14..20]));
    }

    #[test]
    fn a_pass_continues_one_prefix() {
        let b = unlimited();
        let groups: Vec<Group> = (0..6).map(|_| group(30, 2)).collect();
        let base = |entry| Some(Base { entry, len: 20 });
        let bases = vec![base(0), base(0), None, base(1), base(0), base(0)];
        assert_eq!(b.plan(&groups, &bases), vec![vec![0, 1], vec![2], vec![3], vec![4, 5]]);
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
        let passes = b.plan(&groups, &vec![None; groups.len()]);
        assert_eq!(passes, self::passes(&[0..4, 4..8, 8..10]));
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
