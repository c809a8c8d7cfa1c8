//! The files the web app ships: the built-in tasks parse with the CLI's parser and are big
//! enough to show a trend, and the model registry agrees with GPT-2's shapes.

use std::path::PathBuf;

use invscale::model::ModelConfig;
use invscale::task::{parse_task, TaskType};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn json(path: &str) -> serde_json::Value {
    let bytes = std::fs::read(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn built_in_tasks_parse_and_have_300_examples() {
    let index = json("www/tasks/index.json");
    let tasks = index["tasks"].as_array().unwrap();
    // One task per cause the prize paper names.
    let mut causes: Vec<_> = tasks.iter().map(|t| t["cause"].as_str().unwrap().to_string()).collect();
    causes.sort();
    causes.dedup();
    assert_eq!(causes.len(), 4, "{causes:?}");
    for t in tasks {
        let file = t["file"].as_str().unwrap();
        let bytes = std::fs::read(repo().join("www/tasks").join(file)).unwrap();
        let task = parse_task(&bytes, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(Some(task.task_type), TaskType::from_name(t["type"].as_str().unwrap()), "{file}");
        assert!(task.examples.len() >= 300, "{file}: {} examples", task.examples.len());
        assert_eq!(task.examples.len() as u64, t["examples"].as_u64().unwrap(), "{file}: index.json count");
        assert!(task.warnings.is_empty(), "{file}: {:?}", task.warnings);
        for key in ["title", "cause", "explanation"] {
            assert!(!t[key].as_str().unwrap_or("").is_empty(), "{file}: {key}");
        }
    }
}

#[test]
fn prize_catalogue_names_hub_datasets() {
    let catalogue = json("www/tasks/prize.json");
    for t in catalogue["tasks"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        assert!(invscale::hub::HubRef::parse(&format!("hub:{id}")).unwrap().is_ok(), "{id}");
        assert!(TaskType::from_name(t["type"].as_str().unwrap()).is_some(), "{id}");
        for key in ["title", "authors", "cause", "metric"] {
            assert!(!t[key].as_str().unwrap_or("").is_empty(), "{id}: {key}");
        }
        assert!(t["round"].as_u64().is_some_and(|r| r == 1 || r == 2), "{id}: round");
    }
}

/// The page and the CLI's short names offer every family the registry describes, each model
/// with the config.json fields that size it; Pythia lists its 154 training steps.
#[test]
fn registry_lists_the_families_with_consistent_sizes() {
    let registry = json("models/registry.json");
    let models = registry["models"].as_array().unwrap();
    let with_sizes: Vec<_> = models.iter().filter(|m| m.get("files").is_some()).map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(with_sizes, ["distilgpt2", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"]);
    let mut families: Vec<&str> = models.iter().map(|m| m["family"].as_str().unwrap()).collect();
    families.dedup();
    assert_eq!(families, ["gpt2", "pythia", "opt", "gpt-neo", "cerebras-gpt"]);
    let described: Vec<&str> = registry["families"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(described, ["gpt2", "opt", "gpt-neo", "pythia", "cerebras-gpt"]);
    let steps = &registry["families"][3]["training_steps"];
    let (early, every, last) =
        (steps["steps"].as_array().unwrap().len() as u64, steps["every"].as_u64().unwrap(), steps["last"].as_u64().unwrap());
    assert_eq!(early + last / every, 154, "Pythia publishes 154 checkpoints");
    for m in models {
        let name = m["name"].as_str().unwrap();
        let config = match m.get("config") {
            Some(config) => config.to_string(),
            None => serde_json::json!({ "n_layer": m["layers"], "n_head": m["n_head"], "n_embd": m["n_embd"] }).to_string(),
        };
        let config = ModelConfig::from_json(config.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let parameters = m["parameters"].as_u64().unwrap();
        assert_eq!(config.parameter_count(), parameters, "{name}: parameters vs shape");
        assert!(m["repo"].as_str().unwrap().contains('/'), "{name}: Hub repo id");
        assert!(!m["revision"].as_str().unwrap().is_empty(), "{name}: revision");
        let Some(files) = m.get("files") else { continue };
        // float32 weights at least; the file also carries small buffers.
        let bytes = files["model.safetensors"].as_u64().unwrap();
        assert!(bytes >= 4 * parameters && bytes < 4 * parameters + 300_000_000, "{name}: {bytes} bytes");
        for file in ["config.json", "tokenizer.json"] {
            assert!(files[file].as_u64().is_some(), "{name}: {file}");
        }
    }
}
