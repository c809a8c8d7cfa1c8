//! A decoder-only transformer as the scorer reads it, whatever its family: embed, a stack of
//! layers that attend to earlier positions, a final norm. The ways of reading a batch (whole
//! sequences, after a prefix, continuations of shared prefixes) are written once here, over
//! any family's [`Decoder`].

use burn::tensor::{Bool, Device, Int, Tensor};

use super::nn::{causal_mask, KeyValues, Past, PastKeyValues, SharedPrefix, VocabMatrix};

/// Where a pass's positions are: their indices `[b or 1, t]`, and what a family derives from
/// them once per pass (rotary angles).
pub struct Positions {
    pub index: Tensor<2, Int>,
    /// `cos` and `sin` of the rotary angles, `[b or 1, 1, t, rotary dims]` each.
    pub rotary: Option<(Tensor<4>, Tensor<4>)>,
}

/// One family's network, layer by layer.
pub trait Decoder {
    /// What the positions `index` (`[b or 1, t]`) mean to this family's layers.
    fn positions(&self, index: Tensor<2, Int>) -> Positions;
    /// Token ids `[b, t]` at `at` → the residual stream `[b, t, C]`.
    fn embed(&self, ids: Tensor<2, Int>, at: &Positions) -> Tensor<3>;
    fn depth(&self) -> usize;
    /// Layer `i` on `x` `[b, t, C]` → `[b, t, C]`, and its keys and values of `x`'s positions.
    /// `x` also attends to `past`; `mask` (`[b or 1, 1, t, p + t]`, true = may not look,
    /// over `past.rows` and `x`) is causal and also hides the padding of `past.rows`.
    fn layer(&self, i: usize, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>, at: &Positions) -> (Tensor<3>, KeyValues);
    /// Layer `i`'s keys and values of `x`'s positions, without their outputs.
    fn key_values(&self, i: usize, x: Tensor<3>, at: &Positions) -> KeyValues;
    /// The final norm (and projection) before the LM head.
    fn finish(&self, x: Tensor<3>) -> Tensor<3>;
    /// The LM head, `[vocab, C]`.
    fn head(&self) -> &VocabMatrix;
    /// Longest sequence the model reads.
    fn n_positions(&self) -> usize;
}

/// Positions `start..start + t` as `[1, t]`.
fn range(start: usize, t: usize, device: &Device) -> Tensor<2, Int> {
    Tensor::<1, Int>::arange(start as i64..(start + t) as i64, device).unsqueeze::<2>()
}

/// Final hidden states for token ids `[batch, seq]` → `[batch, seq, C]`. Attention is causal,
/// so a sequence padded on the right gets the same states at its real positions as alone.
pub fn hidden_states(model: &impl Decoder, ids: Tensor<2, Int>) -> Tensor<3> {
    let [_, t] = ids.dims();
    let device = ids.device();
    let at = model.positions(range(0, t, &device));
    let mut x = model.embed(ids, &at);
    let causal = causal_mask(t, 0, &device);
    for i in 0..model.depth() {
        x = model.layer(i, x, Past::default(), causal.clone(), &at).0;
    }
    model.finish(x)
}

/// Token ids `[b, t]` read after `common` (a prefix every row continues, one row) and `rows`
/// (each row's own earlier positions after it, `b` rows; neither has padding): their final
/// hidden states `[b, t, C]` and their keys and values in every layer. Equal to
/// [`hidden_states`] of the whole sequences at those positions.
pub fn extend(
    model: &impl Decoder,
    ids: Tensor<2, Int>,
    common: Option<&PastKeyValues>,
    rows: Option<&PastKeyValues>,
) -> (Tensor<3>, PastKeyValues) {
    let [_, t] = ids.dims();
    let device = ids.device();
    let (e, p) = (common.map_or(0, PastKeyValues::len), rows.map_or(0, PastKeyValues::len));
    let at = model.positions(range(e + p, t, &device));
    let mut x = model.embed(ids, &at);
    let causal = causal_mask(t, p, &device);
    let mut layers = Vec::with_capacity(model.depth());
    for i in 0..model.depth() {
        let past = Past { common: common.map(|c| &c.layers[i]), rows: rows.map(|r| &r.layers[i]) };
        let (next, own) = model.layer(i, x, past, causal.clone(), &at);
        x = next;
        layers.push(own);
    }
    (model.finish(x), PastKeyValues { layers })
}

/// Final hidden states of continuations `[s, l]` of prefixes `[g, p]` (when given), all after
/// `common` → `[s, l, C]`, equal to what [`hidden_states`] gives for the same positions of the
/// whole sequences, while `common` and each prefix are read once. Layer by layer, so no
/// layer's prefix keys and values outlive it.
pub fn hidden_states_shared(
    model: &impl Decoder,
    common: Option<&PastKeyValues>,
    prefix: Option<Tensor<2, Int>>,
    suffix: Tensor<2, Int>,
    shared: &SharedPrefix,
) -> Tensor<3> {
    let device = suffix.device();
    let e = common.map_or(0, PastKeyValues::len);
    let depth = model.depth();
    let mut xp = prefix.map(|prefix| {
        let p = prefix.dims()[1];
        let at = model.positions(range(e, p, &device));
        (model.embed(prefix, &at), causal_mask(p, 0, &device), at) // (G, P, C)
    });
    let at = model.positions(shared.positions.clone());
    let mut xs = model.embed(suffix, &at); // (S, L, C)
    for i in 0..depth {
        let common = common.map(|c| &c.layers[i]);
        // The prefixes' outputs feed the next layer; after the last one nothing reads them.
        let rows = xp.as_mut().map(|(x, causal, at)| {
            let past = Past { common, rows: None };
            let kv = if i + 1 < depth {
                let (next, kv) = model.layer(i, x.clone(), past, causal.clone(), at);
                *x = next;
                kv
            } else {
                model.key_values(i, x.clone(), at)
            };
            kv.select(shared.prefix_of.clone())
        });
        xs = model.layer(i, xs, Past { common, rows: rows.as_ref() }, shared.mask.clone(), &at).0;
    }
    model.finish(xs)
}
