//! Published GPT-2 results of the prize's evaluation pipeline (`models/published.json`), to
//! score the same tasks and set our numbers beside theirs. No network here: the CLI fetches.

use serde::{Deserialize, Serialize};

/// The catalogue the binary carries.
pub const PUBLISHED_JSON: &str = include_str!("../models/published.json");
/// The GPT-2 family, to turn a model name into a Hub repository and pinned revision.
pub const REGISTRY_JSON: &str = include_str!("../models/registry.json");

#[derive(Clone, Debug, Deserialize)]
pub struct Published {
    /// Where the task files are: a URL or a folder, joined with each task's `file`.
    pub data: String,
    pub tasks: Vec<PublishedTask>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PublishedTask {
    pub name: String,
    pub file: String,
    #[serde(rename = "type")]
    pub task_type: String,
    pub models: Vec<PublishedModel>,
}

/// A file the comparison is built from cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReproduceError {
    #[error("the published results are not valid: {0}")]
    Published(String),
    #[error("models/registry.json: {0}")]
    Registry(String),
}

#[derive(Clone, Debug, Deserialize)]
pub struct PublishedModel {
    /// A name in the registry (`gpt2`), a model folder, or `hub:<repo>[@revision]`.
    pub model: String,
    pub loss: f64,
    pub accuracy: Option<f64>,
}

impl Published {
    pub fn from_json(json: &str) -> Result<Published, ReproduceError> {
        serde_json::from_str(json).map_err(|e| ReproduceError::Published(e.to_string()))
    }
}

#[derive(Deserialize)]
struct Registry {
    models: Vec<RegistryModel>,
}

#[derive(Deserialize)]
struct RegistryModel {
    name: String,
    family: String,
    repo: String,
    revision: String,
}

fn registry() -> Result<Registry, ReproduceError> {
    serde_json::from_str(REGISTRY_JSON).map_err(|e| ReproduceError::Registry(e.to_string()))
}

/// What `--model` means by a registry name (`gpt2-medium`, or with a revision,
/// `pythia-160m@step3000`): `hub:<repo>@<revision>`; anything else is passed on as it is.
pub fn model_spec(model: &str) -> Result<String, ReproduceError> {
    let (name, revision) = match model.split_once('@') {
        Some((name, revision)) => (name, Some(revision)),
        None => (model, None),
    };
    Ok(match registry()?.models.iter().find(|m| m.name == name) {
        Some(m) => format!("hub:{}@{}", m.repo, revision.unwrap_or(&m.revision)),
        None => model.to_string(),
    })
}

/// The registry names of a family's models, smallest first (`pythia`, `opt`, `gpt-neo`,
/// `gpt2`); `None` for a family it does not list.
pub fn family_models(family: &str) -> Result<Option<Vec<String>>, ReproduceError> {
    let names: Vec<String> = registry()?.models.into_iter().filter(|m| m.family == family).map(|m| m.name).collect();
    Ok((!names.is_empty()).then_some(names))
}

/// The families the registry lists.
pub fn families() -> Result<Vec<String>, ReproduceError> {
    let mut out: Vec<String> = Vec::new();
    for m in registry()?.models {
        if !out.contains(&m.family) {
            out.push(m.family);
        }
    }
    Ok(out)
}

/// The location of a task file: `data` joined with `file` (a URL or a path).
pub fn task_location(data: &str, file: &str) -> String {
    format!("{}/{file}", data.trim_end_matches('/'))
}

/// One line of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub task: String,
    pub model: String,
    pub loss: f64,
    pub published_loss: f64,
    pub accuracy: Option<f64>,
    pub published_accuracy: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_reads_and_names_registry_models() {
        let published = Published::from_json(PUBLISHED_JSON).unwrap();
        let syllogism = published.tasks.iter().find(|t| t.name == "syllogism-0shot").unwrap();
        let names: Vec<_> = syllogism.models.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(names, ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"]);
        assert_eq!(syllogism.models[3].loss, 0.512);
        for m in &syllogism.models {
            assert!(model_spec(&m.model).unwrap().starts_with("hub:openai-community/"), "{}", m.model);
            assert_eq!(model_spec("pythia-160m@step3000").unwrap(), "hub:EleutherAI/pythia-160m@step3000");
            assert_eq!(model_spec("tests/fixtures/models/tiny-hub").unwrap(), "tests/fixtures/models/tiny-hub");
            let pythia = family_models("pythia").unwrap().unwrap();
            assert_eq!(pythia.len(), 10);
            assert_eq!(family_models("bloom").unwrap(), None);
        }
        assert_eq!(model_spec("tests/fixtures/models/tiny-hub").unwrap(), "tests/fixtures/models/tiny-hub");
        assert_eq!(task_location("https://x/data/", "a.csv"), "https://x/data/a.csv");
    }
}
