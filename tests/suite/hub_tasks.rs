//! `invscale eval --task hub:<dataset>` and `--model hub:<repo>` against a local server with
//! the Hub's URL layout: the tree API lists the dataset's files, the data file is fetched from
//! `resolve/` and scored as if it were local (numbers checked against the reference), a model
//! is downloaded into the cache once (resuming a partial file with HTTP Range), and what can
//! go wrong says so.

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

#[test]
fn hub_model_weights_are_checked_against_the_hubs_sha256() {
    use sha2::{Digest, Sha256};
    let fixtures = common::fixtures();
    let model_dir = fixtures.join("models/tiny-hub");
    let weights = common::read(model_dir.join("model.safetensors"));
    let sha: String = Sha256::digest(&weights).iter().map(|b| format!("{b:02x}")).collect();
    let mut corrupt = weights.clone();
    corrupt[weights.len() / 2] ^= 0xff;
    let mut routes = HashMap::new();
    for (name, body) in [("tiny-hub", &weights), ("tiny-corrupt", &corrupt)] {
        for file in ["config.json", "tokenizer.json"] {
            routes.insert(format!("/invscale-fixtures/{name}/resolve/main/{file}"), common::read(model_dir.join(file)));
        }
        routes.insert(format!("/invscale-fixtures/{name}/resolve/main/model.safetensors"), body.clone());
        // The Hub's listing names the true weights for both.
        let tree = format!(
            r#"[{{"type":"file","path":"model.safetensors","size":{},"lfs":{{"oid":"{sha}","size":{}}}}}]"#,
            weights.len(),
            weights.len()
        );
        routes.insert(format!("/api/models/invscale-fixtures/{name}/tree/main"), tree.into_bytes());
    }
    let (hub, log) = hub_server(routes);
    let root = std::env::temp_dir().join(format!("invscale-hub-sha-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (cache, out) = (root.join("cache"), root.join("out"));
    // A partial download whose kept half was damaged on disk.
    let cached = cache.join("models/invscale-fixtures/tiny-hub/main");
    std::fs::create_dir_all(&cached).unwrap();
    let half = weights.len() / 2;
    let mut damaged = weights[..half].to_vec();
    damaged[10] ^= 0xff;
    std::fs::write(cached.join("model.safetensors.part"), &damaged).unwrap();
    let task = fixtures.join("tasks/classification.csv");
    let eval = |model: &str| {
        Command::new(env!("CARGO_BIN_EXE_invscale"))
            .args(["eval", "--task", p(&task), "--model", model, "--hub", &hub, "--out", p(&out)])
            .env("INVSCALE_CACHE", &cache)
            .output()
            .unwrap()
    };
    let output = eval("hub:invscale-fixtures/tiny-hub");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("model.safetensors does not match the SHA-256 the Hub gives for it"), "{stderr}");
    assert_eq!(common::read(cached.join("model.safetensors")), weights, "the file kept is the Hub's");
    let weights_path = "/invscale-fixtures/tiny-hub/resolve/main/model.safetensors";
    let requests: Vec<_> = log.lock().unwrap().iter().filter(|r| r.starts_with(weights_path)).cloned().collect();
    assert_eq!(requests, [format!("{weights_path} range={half}"), weights_path.to_string()], "resumed, then fetched whole");

    // A server that keeps sending damaged weights: an error naming the file and both digests.
    let output = eval("hub:invscale-fixtures/tiny-corrupt");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("tiny-corrupt/resolve/main/model.safetensors: twice the download did not match the SHA-256 the Hub gives for it"),
        "{stderr}"
    );
    assert!(stderr.contains(&sha), "{stderr}");
    assert!(!cache.join("models/invscale-fixtures/tiny-corrupt/main/model.safetensors").exists(), "nothing corrupt is kept");
    let _ = std::fs::remove_dir_all(&root);
}

/// Serves `routes` (path without query → body) on a free local port, honouring
/// `Range: bytes=N-`; anything else is a 404. Returns the base URL and the log of requests
/// (with `range=N` appended when one was asked).
fn hub_server(routes: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut range: Option<usize> = None;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = value.trim().trim_end_matches('-').parse().ok();
                }
                line.clear();
            }
            let target = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let path = target.split('?').next().unwrap().to_string();
            seen.lock().unwrap().push(match range {
                Some(n) => format!("{target} range={n}"),
                None => target,
            });
            let (status, body) = match (routes.get(&path), range) {
                (Some(body), Some(from)) if from < body.len() => ("206 Partial Content", body[from..].to_vec()),
                (Some(body), _) => ("200 OK", body.clone()),
                (None, _) => ("404 Not Found", b"{\"error\":\"Entry not found\"}".to_vec()),
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body));
        }
    });
    (url, log)
}

fn invscale(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_invscale")).args(args).output().expect("run invscale")
}

fn tree(files: &[(&str, usize)]) -> Vec<u8> {
    let entries: Vec<_> = files.iter().map(|(path, size)| serde_json::json!({ "type": "file", "path": path, "size": size })).collect();
    serde_json::to_vec(&entries).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn jsonl_csv_and_parquet_datasets_load_from_the_hub_layout_and_score_like_local_files() {
    let fixtures = common::fixtures();
    let jsonl = common::read(fixtures.join("tasks/classification.jsonl"));
    let csv = common::read(fixtures.join("tasks/classification.csv"));
    let mut routes = HashMap::new();
    routes.insert(
        "/api/datasets/invscale-fixtures/jsonl-task/tree/main".to_string(),
        tree(&[(".gitattributes", 10), ("README.md", 100), ("data/test.jsonl", jsonl.len())]),
    );
    routes.insert("/datasets/invscale-fixtures/jsonl-task/resolve/main/data/test.jsonl".to_string(), jsonl.clone());
    routes.insert(
        "/api/datasets/invscale-fixtures/csv-task/tree/v1".to_string(),
        tree(&[("sample.csv", 5), ("classification.csv", csv.len())]),
    );
    routes.insert("/datasets/invscale-fixtures/csv-task/resolve/v1/classification.csv".to_string(), csv.clone());
    // One dataset holding several tasks, one file each (as the prize's final release does).
    routes.insert(
        "/api/datasets/invscale-fixtures/several-tasks/tree/main".to_string(),
        tree(&[("big_classification.jsonl", jsonl.len() * 10), ("small_classification.csv", csv.len())]),
    );
    routes.insert("/datasets/invscale-fixtures/several-tasks/resolve/main/small_classification.csv".to_string(), csv);
    // A dataset uploaded with `datasets`: Parquet only.
    let parquet = common::read(fixtures.join("tasks/classification.parquet"));
    routes.insert(
        "/api/datasets/invscale-fixtures/parquet-task/tree/main".to_string(),
        tree(&[(".gitattributes", 10), ("README.md", 100), ("data/train-00000-of-00001.parquet", parquet.len())]),
    );
    routes.insert("/datasets/invscale-fixtures/parquet-task/resolve/main/data/train-00000-of-00001.parquet".to_string(), parquet);
    let (hub, log) = hub_server(routes);
    let model = fixtures.join("models/tiny-hub");
    let reference: serde_json::Value = serde_json::from_slice(&common::read(fixtures.join("reference.json"))).unwrap();
    let out = std::env::temp_dir().join(format!("invscale-hub-{}", std::process::id()));

    for (spec, reference_task) in [
        ("hub:invscale-fixtures/jsonl-task", "classification.jsonl"),
        ("hub:invscale-fixtures/csv-task@v1", "classification.csv"),
        // The named file, not the larger JSONL the rules would pick.
        ("hub:invscale-fixtures/several-tasks:small_classification.csv", "classification.csv"),
        // The JSONL's rows stored as Parquet.
        ("hub:invscale-fixtures/parquet-task", "classification.jsonl"),
    ] {
        let output = invscale(&["eval", "--task", spec, "--hub", &hub, "--model", p(&model), "--out", p(&out)]);
        assert!(output.status.success(), "{spec}: {}", String::from_utf8_lossy(&output.stderr));
        let results = std::fs::read_to_string(out.join("tiny-hub.csv")).unwrap();
        let rows = reference[reference_task]["models"]["tiny-hub"]["keep-scored"].as_array().unwrap();
        let mut reader = csv::Reader::from_reader(results.as_bytes());
        let records: Vec<_> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), rows.len(), "{spec}");
        for (record, row) in records.iter().zip(rows) {
            let loss: f64 = record[1].parse().unwrap();
            assert!((loss - row["loss"].as_f64().unwrap()).abs() <= 1e-4, "{spec}: {record:?} vs {row}");
        }
        let summary: serde_json::Value = serde_json::from_slice(&common::read(out.join("summary.json"))).unwrap();
        let (dataset, file) = spec.split_at(spec.rfind(':').filter(|&i| i > 3).unwrap_or(spec.len()));
        let name = summary["task"].as_str().unwrap();
        assert!(name.starts_with(dataset) && name.ends_with(file), "{name}");
    }
    let requested = log.lock().unwrap().clone();
    assert!(requested.contains(&"/api/datasets/invscale-fixtures/jsonl-task/tree/main?recursive=true".to_string()), "{requested:?}");
    // The smaller sample file of the CSV dataset was not the one fetched.
    assert!(!requested.iter().any(|r| r.ends_with("sample.csv")), "{requested:?}");

    let output = invscale(&[
        "eval",
        "--task",
        "hub:invscale-fixtures/several-tasks:nope.jsonl",
        "--hub",
        &hub,
        "--model",
        p(&model),
        "--out",
        p(&out),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the dataset has no file nope.jsonl (it has: big_classification.jsonl, small_classification.csv)"), "{stderr}");

    let output = invscale(&["eval", "--task", "hub:invscale-fixtures/missing", "--hub", &hub, "--model", p(&model), "--out", p(&out)]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot list the files of hub:invscale-fixtures/missing@main") && stderr.contains("404"), "{stderr}");

    let output = invscale(&["eval", "--task", "hub:a/b/c", "--hub", &hub, "--model", p(&model), "--out", p(&out)]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected hub:<owner>/<name>[@revision]"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn hub_models_are_downloaded_once_into_the_cache_and_resume_a_partial_file() {
    let fixtures = common::fixtures();
    let model_dir = fixtures.join("models/tiny-hub");
    let mut routes = HashMap::new();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        routes.insert(format!("/invscale-fixtures/tiny-hub/resolve/main/{file}"), common::read(model_dir.join(file)));
    }
    let weights = common::read(model_dir.join("model.safetensors"));
    let (hub, log) = hub_server(routes);
    let root = std::env::temp_dir().join(format!("invscale-hub-models-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (cache, out) = (root.join("cache"), root.join("out"));
    // A download that broke off halfway through the weights.
    let cached = cache.join("models/invscale-fixtures/tiny-hub/main");
    std::fs::create_dir_all(&cached).unwrap();
    let half = weights.len() / 2;
    std::fs::write(cached.join("model.safetensors.part"), &weights[..half]).unwrap();

    let task = fixtures.join("tasks/classification.csv");
    let run = || {
        let output = Command::new(env!("CARGO_BIN_EXE_invscale"))
            .args(["eval", "--task", p(&task), "--model", "hub:invscale-fixtures/tiny-hub", "--hub", &hub, "--out", p(&out)])
            .env("INVSCALE_CACHE", &cache)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        std::fs::read_to_string(out.join("tiny-hub.csv")).unwrap()
    };
    let first = run();
    let requests = log.lock().unwrap().clone();
    assert!(requests.contains(&format!("/invscale-fixtures/tiny-hub/resolve/main/model.safetensors range={half}")), "{requests:?}");
    assert_eq!(common::read(cached.join("model.safetensors")), weights, "the resumed file is the original");
    assert!(!cached.join("model.safetensors.part").exists());

    // The numbers are the reference's.
    let reference: serde_json::Value = serde_json::from_slice(&common::read(fixtures.join("reference.json"))).unwrap();
    let rows = reference["classification.csv"]["models"]["tiny-hub"]["keep-scored"].as_array().unwrap();
    let mut reader = csv::Reader::from_reader(first.as_bytes());
    for (record, row) in reader.records().map(|r| r.unwrap()).zip(rows) {
        let loss: f64 = record[1].parse().unwrap();
        assert!((loss - row["loss"].as_f64().unwrap()).abs() <= 1e-4, "{record:?} vs {row}");
    }

    // A second run reads the cache and downloads nothing.
    let before = log.lock().unwrap().len();
    assert_eq!(run(), first);
    assert_eq!(log.lock().unwrap().len(), before, "{:?}", &log.lock().unwrap()[before..]);

    // A model the Hub does not have: an error naming it and the URL.
    let output = Command::new(env!("CARGO_BIN_EXE_invscale"))
        .args(["eval", "--task", p(&task), "--model", "hub:invscale-fixtures/missing", "--hub", &hub, "--out", p(&out)])
        .env("INVSCALE_CACHE", &cache)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot download hub:invscale-fixtures/missing@main") && stderr.contains("config.json"), "{stderr}");
    let _ = std::fs::remove_dir_all(&root);
}

/// Two training steps of one repository by revision, as Pythia and the CRFM GPT-2 runs publish
/// them, here an OPT whose repository has vocab.json + merges.txt and no tokenizer.json, and
/// at one step only pytorch_model.bin (so the listing decides what is downloaded): each gets
/// its own result file, named after the revision, with that revision's numbers alone (the
/// reference's), and the summary gives the trend over the steps.
#[test]
fn training_steps_by_hub_revision_score_as_each_revision_alone() {
    let fixtures = common::fixtures();
    let mut routes = HashMap::new();
    for (revision, model) in [("main", "tiny-opt"), ("step1", "tiny-opt-post-ln"), ("step8", "tiny-opt")] {
        let dir = fixtures.join("models").join(model);
        let mut listed = Vec::new();
        // As the Hub lists them: what the folder has (tiny-opt: pytorch_model.bin only).
        let files = ["config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "model.safetensors", "pytorch_model.bin"];
        for file in files.into_iter().filter(|f| dir.join(f).exists()) {
            let body = common::read(dir.join(file));
            listed.push((file, body.len()));
            routes.insert(format!("/invscale-fixtures/opt-steps/resolve/{revision}/{file}"), body);
        }
        routes.insert(format!("/api/models/invscale-fixtures/opt-steps/tree/{revision}"), tree(&listed));
    }
    let (hub, log) = hub_server(routes);
    let root = std::env::temp_dir().join(format!("invscale-hub-steps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (cache, out) = (root.join("cache"), root.join("out"));
    let task = fixtures.join("tasks/classification.csv");
    let output = Command::new(env!("CARGO_BIN_EXE_invscale"))
        .args(["eval", "--task", p(&task), "--hub", &hub, "--out", p(&out)])
        .args(["--model", "hub:invscale-fixtures/opt-steps@step8", "--model", "hub:invscale-fixtures/opt-steps@step1"])
        .args(["--model", "hub:invscale-fixtures/opt-steps"])
        .env("INVSCALE_CACHE", &cache)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let requests = log.lock().unwrap().clone();
    assert!(!requests.iter().any(|r| r.contains("tokenizer.json")), "no tokenizer.json is asked for: {requests:?}");
    assert!(requests.iter().any(|r| r.ends_with("/resolve/main/pytorch_model.bin")), "{requests:?}");

    let reference: serde_json::Value = serde_json::from_slice(&common::read(fixtures.join("reference.json"))).unwrap();
    let mean_loss = |model: &str| {
        let rows = reference["classification.csv"]["models"][model]["keep-scored"].as_array().unwrap();
        rows.iter().map(|r| r["loss"].as_f64().unwrap()).sum::<f64>() / rows.len() as f64
    };
    for (file, model) in [("opt-steps@step1.csv", "tiny-opt-post-ln"), ("opt-steps@step8.csv", "tiny-opt"), ("opt-steps.csv", "tiny-opt")] {
        let csv = std::fs::read_to_string(out.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let rows = reference["classification.csv"]["models"][model]["keep-scored"].as_array().unwrap();
        let records: Vec<_> = csv::Reader::from_reader(csv.as_bytes()).records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), rows.len(), "{file}");
        for (record, row) in records.iter().zip(rows) {
            let loss: f64 = record[1].parse().unwrap();
            assert!((loss - row["loss"].as_f64().unwrap()).abs() <= 1e-4, "{file}: {record:?} vs {row}");
        }
    }
    // The summary says where each model came from.
    let summary: serde_json::Value = serde_json::from_slice(&common::read(out.join("summary.json"))).unwrap();
    let models = summary["models"].as_array().unwrap();
    assert_eq!((models[1]["name"].as_str(), models[1]["family"].as_str()), (Some("opt-steps@step1"), Some("OPT")));
    assert_eq!((models[1]["revision"].as_str(), models[1]["step"].as_u64()), (Some("step1"), Some(1)));
    assert_eq!((models[2]["family"].as_str(), models[2].get("revision"), models[2].get("step")), (Some("OPT"), None, None));
    // Through training: the two step revisions (main names no step), in order of step, each
    // the reference's mean.
    let training = summary["training_trends"].as_array().expect("a trend over training steps");
    assert_eq!(training.len(), 1, "{training:?}");
    assert_eq!((training[0]["model"].as_str(), training[0]["repo"].as_str()), (Some("opt-steps"), Some("invscale-fixtures/opt-steps")));
    let trend = &training[0]["trend"];
    assert_eq!(trend["along"], "steps");
    let steps: Vec<_> =
        trend["models"].as_array().unwrap().iter().map(|m| (m["name"].as_str().unwrap(), m["step"].as_u64().unwrap())).collect();
    assert_eq!(steps, [("opt-steps@step1", 1), ("opt-steps@step8", 8)]);
    for (m, model) in trend["models"].as_array().unwrap().iter().zip(["tiny-opt-post-ln", "tiny-opt"]) {
        assert!((m["mean"].as_f64().unwrap() - mean_loss(model)).abs() <= 1e-4, "{m}");
    }
    assert!(summary["trend"].is_null(), "checkpoints through training are no trend across sizes: {}", summary["trend"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("trend of opt-steps over training steps: "), "{stdout}");
}

/// A registry name with a training step, as a newcomer types it (`--model pythia-160m@step3000`),
/// is that Pythia repository's revision on the Hub (here a fixture GPT-NeoX stored as the step
/// revisions are, pytorch_model.bin only); an unknown `--family` says which there are.
#[test]
fn registry_names_with_a_step_are_hub_revisions() {
    let fixtures = common::fixtures();
    let dir = fixtures.join("models/tiny-neox-sequential");
    let mut routes = HashMap::new();
    let mut listed = Vec::new();
    for file in ["config.json", "tokenizer.json", "pytorch_model.bin"] {
        let body = common::read(dir.join(file));
        listed.push((file, body.len()));
        routes.insert(format!("/EleutherAI/pythia-160m/resolve/step3000/{file}"), body);
    }
    routes.insert("/api/models/EleutherAI/pythia-160m/tree/step3000".to_string(), tree(&listed));
    let (hub, _) = hub_server(routes);
    let root = std::env::temp_dir().join(format!("invscale-hub-names-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (cache, out) = (root.join("cache"), root.join("out"));
    let task = fixtures.join("tasks/sequence_prob.csv");
    let output = Command::new(env!("CARGO_BIN_EXE_invscale"))
        .args(["eval", "--task", p(&task), "--hub", &hub, "--out", p(&out), "--model", "pythia-160m@step3000"])
        .env("INVSCALE_CACHE", &cache)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let csv = std::fs::read_to_string(out.join("pythia-160m@step3000.csv")).unwrap();
    let reference: serde_json::Value = serde_json::from_slice(&common::read(fixtures.join("reference.json"))).unwrap();
    let rows = reference["sequence_prob.csv"]["models"]["tiny-neox-sequential"]["keep-scored"].as_array().unwrap();
    let records: Vec<_> = csv::Reader::from_reader(csv.as_bytes()).records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), rows.len());
    for (record, row) in records.iter().zip(rows) {
        let loss: f64 = record[1].parse().unwrap();
        assert!((loss - row["loss"].as_f64().unwrap()).abs() <= 1e-4, "{record:?} vs {row}");
    }

    let output = invscale(&["eval", "--task", p(&task), "--out", p(&out), "--family", "bloom"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("`--family bloom`: the registry has no such family; it lists gpt2, pythia, opt, gpt-neo"), "{stderr}");
}
