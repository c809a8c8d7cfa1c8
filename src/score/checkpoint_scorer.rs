//! A Burn checkpoint as a [`Scorer`]: passes through the model on its device, prefixes kept as
//! keys and values.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::batch::Batching;
use super::logprob::{self, DeviceError, Group};
use super::sample;
use super::scorer::Scorer;
use crate::checkpoint::Checkpoint;
use crate::model::PastKeyValues;
use crate::rng::Rng;
use crate::tokenizer::Tokenizer;

impl Scorer for Checkpoint {
    type Prefix = PastKeyValues;

    fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    fn n_positions(&self) -> usize {
        self.config.n_positions()
    }

    fn batching(&self) -> Batching {
        Batching::for_device(&self.config, self.model.device() != Device::flex())
    }

    fn prefix_bytes_per_token(&self) -> usize {
        self.config.past_bytes_per_token()
    }

    fn read_prefix(&self, ids: &[u32], parent: Option<&PastKeyValues>) -> PastKeyValues {
        let ids =
            Tensor::<2, Int>::from_data(TensorData::new(ids.iter().map(|&id| id as i32).collect(), [1, ids.len()]), &self.model.device());
        let (_, own) = self.model.extend(ids, parent, None);
        match parent {
            Some(parent) => parent.then(&own),
            None => own,
        }
    }

    async fn read_groups(
        &self,
        groups: &[Group],
        common: Option<&PastKeyValues>,
        batching: &Batching,
    ) -> Result<Vec<Vec<Vec<f32>>>, DeviceError> {
        logprob::read_groups(&self.model, groups, common, batching).await
    }

    async fn sample(&self, prompt: &[u32], common: Option<&PastKeyValues>, rng: &mut Rng) -> Result<Vec<Vec<u32>>, DeviceError> {
        sample::sample_continuations(&self.model, prompt, common, rng).await
    }
}
