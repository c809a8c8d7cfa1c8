//! Prefixes that several examples start with (a task's instruction and demonstrations): read
//! once per model, kept while later examples still start with them, then dropped.
//!
//! The plan is made from every example of the task before any is scored, so a resumed run
//! continues the same prefixes as an uninterrupted one. An example continues the longer of
//! the token prefixes it shares with the example before it and the one after it (all it reads
//! before its first scored position): a template-made task shares its template all along.

use std::collections::HashMap;

use super::scorer::Scorer;

/// Shorter shared prefixes are not worth a pass of their own.
pub const MIN_TOKENS: usize = 16;

/// The cached prefix an example continues: which one, and its length in tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Base {
    pub entry: usize,
    pub len: usize,
}

/// Which prefixes to keep, and which example continues which.
#[derive(Clone, Debug, Default)]
pub struct PrefixPlan {
    /// Shortest first, so an entry's parent comes before it.
    entries: Vec<Entry>,
    /// Per example, in task order.
    bases: Vec<Option<Base>>,
}

#[derive(Clone, Debug)]
struct Entry {
    ids: Vec<u32>,
    /// The longest other entry it starts with: it is read after that one's keys and values.
    parent: Option<usize>,
    /// The first example that needs it (itself or through an entry extending it): it is read then.
    first_use: usize,
    /// The last example that needs it: after it, the entry is dropped.
    last_use: usize,
}

impl PrefixPlan {
    /// A plan for examples that start with `heads` (in task order, what each reads before its
    /// first scored position). `bytes_per_token` is what one position's keys and values take
    /// in every layer; the prefixes kept at once never take more than `budget` bytes. A prefix
    /// is kept only if it saves `min_saving` tokens or more (its own tokens, read once instead
    /// of once per example that continues it).
    pub fn new(heads: &[&[u32]], bytes_per_token: usize, budget: usize, min_saving: usize) -> Self {
        let with_next: Vec<usize> = heads.windows(2).map(|w| common_prefix(w[0], w[1])).collect();
        let wanted: Vec<&[u32]> = (0..heads.len())
            .map(|i| {
                let before = if i > 0 { with_next[i - 1] } else { 0 };
                let len = before.max(with_next.get(i).copied().unwrap_or(0));
                &heads[i][..if len >= MIN_TOKENS { len } else { 0 }]
            })
            .collect();
        let mut distinct: Vec<&[u32]> = wanted.iter().copied().filter(|ids| !ids.is_empty()).collect();
        distinct.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        distinct.dedup();

        // Each distinct prefix extends the longest shorter one it starts with, or is that one
        // when it adds too little to be worth its own pass.
        let mut entries: Vec<Entry> = Vec::new();
        let mut entry_of: HashMap<&[u32], usize> = HashMap::new();
        for ids in distinct {
            let parent = (0..entries.len()).rev().filter(|&k| ids.starts_with(&entries[k].ids)).max_by_key(|&k| entries[k].ids.len());
            let entry = match parent {
                Some(p) if ids.len() - entries[p].ids.len() < MIN_TOKENS => p,
                _ => {
                    entries.push(Entry { ids: ids.to_vec(), parent, first_use: usize::MAX, last_use: 0 });
                    entries.len() - 1
                }
            };
            entry_of.insert(ids, entry);
        }
        let wanted: Vec<Option<usize>> = wanted.iter().map(|ids| entry_of.get(ids).copied()).collect();
        // Examples that continue each entry, directly or through one extending it. One whose
        // entry saves too little continues the nearest one it extends that saves enough.
        let mut users = vec![0usize; entries.len()];
        for &k in wanted.iter().flatten() {
            let mut entry = Some(k);
            while let Some(j) = entry {
                users[j] += 1;
                entry = entries[j].parent;
            }
        }
        let own_len = |k: usize| entries[k].ids.len() - entries[k].parent.map_or(0, |p| entries[p].ids.len());
        let saves: Vec<bool> = (0..entries.len()).map(|k| users[k].saturating_sub(1) * own_len(k) >= min_saving).collect();
        let wanted: Vec<Option<usize>> = wanted
            .into_iter()
            .map(|mut entry| {
                while let Some(k) = entry.filter(|&k| !saves[k]) {
                    entry = entries[k].parent;
                }
                entry
            })
            .collect();
        for (i, entry) in wanted.iter().enumerate() {
            if let Some(&k) = entry.as_ref() {
                entries[k].first_use = entries[k].first_use.min(i);
                entries[k].last_use = entries[k].last_use.max(i);
            }
        }
        // A parent is read no later than its first child, and kept until that child is read.
        for k in (0..entries.len()).rev() {
            if let Some(p) = entries[k].parent {
                let first = entries[k].first_use;
                entries[p].first_use = entries[p].first_use.min(first);
                entries[p].last_use = entries[p].last_use.max(first);
            }
        }

        // In the order they are read, each entry is kept if its parent is and it fits beside
        // the entries still live then.
        let bytes = |e: &Entry| e.ids.len() * bytes_per_token;
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&k| (entries[k].first_use, entries[k].ids.len()));
        let mut kept = vec![false; entries.len()];
        for k in order {
            let entry = &entries[k];
            let live: usize =
                entries.iter().zip(&kept).filter(|(e, &kept)| kept && e.last_use >= entry.first_use).map(|(e, _)| bytes(e)).sum();
            kept[k] = entry.parent.is_none_or(|p| kept[p]) && live + bytes(entry) <= budget;
        }
        let bases = wanted.iter().map(|entry| entry.filter(|&k| kept[k]).map(|k| Base { entry: k, len: entries[k].ids.len() })).collect();
        PrefixPlan { entries, bases }
    }

    /// The prefix example `index` continues.
    pub fn base(&self, index: usize) -> Option<Base> {
        self.bases.get(index).copied().flatten()
    }

    /// Tokens read to fill the cache for the examples `indices`: each prefix they continue,
    /// and each it extends, once.
    pub fn tokens_for(&self, indices: &[usize]) -> usize {
        let needed = self.needed(indices);
        (0..self.entries.len()).filter(|&k| needed[k]).map(|k| self.entries[k].ids.len() - self.parent_len(k)).sum()
    }

    /// How many prefixes examples `indices` read (each in a pass of its own).
    pub fn prefixes_for(&self, indices: &[usize]) -> usize {
        self.needed(indices).into_iter().filter(|&n| n).count()
    }

    /// Which entries examples `indices` read: their bases and what those extend.
    fn needed(&self, indices: &[usize]) -> Vec<bool> {
        let mut needed = vec![false; self.entries.len()];
        for base in indices.iter().filter_map(|&i| self.base(i)) {
            let mut entry = Some(base.entry);
            while let Some(k) = entry.filter(|&k| !needed[k]) {
                needed[k] = true;
                entry = self.entries[k].parent;
            }
        }
        needed
    }

    fn parent_len(&self, entry: usize) -> usize {
        self.entries[entry].parent.map_or(0, |p| self.entries[p].ids.len())
    }
}

/// What a scorer keeps of a [`PrefixPlan`]'s prefixes (their keys and values) while a run
/// needs them.
pub struct PrefixCache<'a, P> {
    plan: &'a PrefixPlan,
    kept: Vec<Option<P>>,
}

impl<'a, P: Clone> PrefixCache<'a, P> {
    pub fn new(plan: &'a PrefixPlan) -> Self {
        let kept = vec![None; plan.entries.len()];
        PrefixCache { plan, kept }
    }

    /// The keys and values of `base`'s prefix, read on first use (after those of the prefix it
    /// extends).
    pub fn get(&mut self, scorer: &impl Scorer<Prefix = P>, base: Base) -> P {
        self.entry(scorer, base.entry)
    }

    fn entry(&mut self, scorer: &impl Scorer<Prefix = P>, k: usize) -> P {
        if let Some(kept) = &self.kept[k] {
            return kept.clone();
        }
        let parent = self.plan.entries[k].parent.map(|p| self.entry(scorer, p));
        let ids = &self.plan.entries[k].ids[self.plan.parent_len(k)..];
        let all = scorer.read_prefix(ids, parent.as_ref());
        self.kept[k] = Some(all.clone());
        all
    }

    /// Drops the prefixes that no example after `index` continues.
    pub fn done_with(&mut self, index: usize) {
        for (entry, kept) in self.plan.entries.iter().zip(&mut self.kept) {
            if entry.last_use <= index {
                *kept = None;
            }
        }
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(prefix: u32, len: usize, tail: u32) -> Vec<u32> {
        (0..len as u32).map(|i| prefix * 1000 + i).chain([tail, tail + 1]).collect()
    }

    #[test]
    fn a_template_is_one_entry_continued_by_every_example() {
        let heads: Vec<Vec<u32>> = (0..5).map(|i| ids(1, 20, 100 + 10 * i)).collect();
        let views: Vec<&[u32]> = heads.iter().map(Vec::as_slice).collect();
        let plan = PrefixPlan::new(&views, 1, usize::MAX, 0);
        assert_eq!(plan.entries.len(), 1);
        assert!((0..5).all(|i| plan.base(i) == Some(Base { entry: 0, len: 20 })));
        assert_eq!((plan.entries[0].first_use, plan.entries[0].last_use), (0, 4));
        assert_eq!(plan.tokens_for(&[1, 2, 4]), 20);
        assert_eq!(plan.tokens_for(&[]), 0);
    }

    #[test]
    fn short_shared_prefixes_and_loners_continue_nothing() {
        let heads = [ids(1, 20, 100), ids(2, 20, 100), ids(3, MIN_TOKENS - 1, 7), ids(3, MIN_TOKENS - 1, 9)];
        let views: Vec<&[u32]> = heads.iter().map(Vec::as_slice).collect();
        let plan = PrefixPlan::new(&views, 1, usize::MAX, 0);
        assert!((0..4).all(|i| plan.base(i).is_none()));
    }

    #[test]
    fn each_example_continues_the_longer_of_its_neighbours_prefixes() {
        // Two templates, A then B, then A once more with no neighbour; 1 and 2 share more of A.
        let mut a_long = ids(1, 40, 100);
        a_long.truncate(40);
        let heads =
            [ids(1, 20, 100), [a_long.clone(), vec![5]].concat(), [a_long, vec![6]].concat(), ids(2, 20, 1), ids(2, 20, 3), ids(1, 20, 7)];
        let views: Vec<&[u32]> = heads.iter().map(Vec::as_slice).collect();
        let plan = PrefixPlan::new(&views, 1, usize::MAX, 0);
        let lens: Vec<Option<usize>> = (0..6).map(|i| plan.base(i).map(|b| b.len)).collect();
        assert_eq!(lens, vec![Some(20), Some(40), Some(40), Some(20), Some(20), None]);
        assert_ne!(plan.base(0).unwrap().entry, plan.base(3).unwrap().entry);
    }

    #[test]
    fn a_longer_shared_prefix_extends_the_shorter_one() {
        // 0..2 share A (20 tokens); 2 and 3 share A and 20 more; 3 and 4 share A and 2 more.
        let a = ids(1, 20, 100)[..20].to_vec();
        let more: Vec<u32> = (500..520).collect();
        let heads = [
            [&a[..], &[1, 2]].concat(),
            [&a[..], &[3, 4]].concat(),
            [&a[..], &more, &[5]].concat(),
            [&a[..], &more, &[6]].concat(),
            [&a[..], &[7, 8]].concat(),
            [&a[..], &[7, 8, 9]].concat(),
        ];
        let views: Vec<&[u32]> = heads.iter().map(Vec::as_slice).collect();
        let plan = PrefixPlan::new(&views, 1, usize::MAX, 0);
        let lens: Vec<Option<usize>> = (0..6).map(|i| plan.base(i).map(|b| b.len)).collect();
        // 4 and 5 add two tokens to A: too few for an entry of their own.
        assert_eq!(lens, vec![Some(20), Some(20), Some(40), Some(40), Some(20), Some(20)]);
        assert_eq!(plan.entries.len(), 2);
        assert_eq!(plan.entries[1].parent, Some(0));
        // A then its 20 more, each once.
        assert_eq!(plan.tokens_for(&[2, 3, 4]), 40);
        assert_eq!(plan.tokens_for(&[5]), 20);
    }

    #[test]
    fn the_budget_bounds_what_is_kept_at_once() {
        // A (20 tokens) for examples 0 and 1, B (25) for 2 and 3, C (30) for 4 and 5.
        let heads = [ids(1, 20, 10), ids(1, 20, 20), ids(2, 25, 10), ids(2, 25, 20), ids(3, 30, 10), ids(3, 30, 20)];
        let views: Vec<&[u32]> = heads.iter().map(Vec::as_slice).collect();
        // A is dropped after example 1, so B and then C fit one at a time in 30 bytes.
        let plan = PrefixPlan::new(&views, 1, 30, 0);
        assert!((0..6).all(|i| plan.base(i).is_some()));
        // C alone exceeds 29 bytes: its examples continue nothing.
        let plan = PrefixPlan::new(&views, 1, 29, 0);
        assert_eq!((0..6).map(|i| plan.base(i).is_some()).collect::<Vec<_>>(), vec![true, true, true, true, false, false]);
    }

    #[test]
    fn a_prefix_that_saves_too_little_is_not_kept() {
        // A premise of 20 tokens for three examples (saves 40), a template of 30 for five
        // (saves 120); with more appended to the template for its last four (saves 3 × 20).
        let more: Vec<u32> = (500..520).collect();
        let template = ids(2, 30, 7)[..30].to_vec();
        let mut heads = vec![ids(1, 20, 10), ids(1, 20, 20), ids(1, 20, 30), [&template[..], &[1]].concat()];
        heads.extend((0..4).map(|i| [&template[..], &more, &[i]].concat()));
        let views: Vec<&[u32]> = heads.iter().map(Vec::as_slice).collect();
        let lens = |min_saving| {
            let plan = PrefixPlan::new(&views, 1, usize::MAX, min_saving);
            (0..8).map(|i| plan.base(i).map(|b| b.len)).collect::<Vec<_>>()
        };
        let all = vec![Some(20), Some(20), Some(20), Some(30), Some(50), Some(50), Some(50), Some(50)];
        assert_eq!(lens(40), all);
        assert_eq!(lens(41), [vec![None; 3], all[3..].to_vec()].concat());
        // The extension saves 60: its examples continue the template alone.
        assert_eq!(lens(61), [vec![None; 3], vec![Some(30); 5]].concat());
        assert_eq!(lens(121), vec![None; 8]);
    }
}
