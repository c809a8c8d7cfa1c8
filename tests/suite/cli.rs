//! The `invscale eval` command as a user runs it: files written, columns in the pipeline's
//! order, a summary, and a one-line error with a non-zero exit on bad input.

use crate::common;

use invscale::report::ResultsBundle;

use std::path::Path;
use std::process::Command;

fn invscale(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_invscale")).args(args).output().expect("run invscale")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("invscale-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn eval_writes_pipeline_csvs_and_a_summary() {
    let fixtures = common::fixtures();
    let out = temp_dir("eval");
    let task = fixtures.join("tasks/classification.csv");
    let (a, b) = (fixtures.join("models/tiny-hub"), fixtures.join("models/tiny-odd-heads"));
    let output = invscale(&["eval", "--task", path(&task), "--model", path(&a), "--model", path(&b), "--out", path(&out), "--bundle"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("tiny-hub") && stdout.contains("tiny-odd-heads"), "{stdout}");

    let reference: serde_json::Value = serde_json::from_slice(&common::read(fixtures.join("reference.json"))).unwrap();
    for model in ["tiny-hub", "tiny-odd-heads"] {
        let csv = std::fs::read_to_string(out.join(format!("{model}.csv"))).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["index", "loss", "correct", "predicted", "total_logprob"]);
        let rows = reference["classification.csv"]["models"][model]["keep-scored"].as_array().unwrap();
        let records: Vec<_> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), rows.len());
        for (record, row) in records.iter().zip(rows) {
            assert_eq!(record[0].parse::<u64>().unwrap(), row["index"].as_u64().unwrap());
            let loss: f64 = record[1].parse().unwrap();
            assert!((loss - row["loss"].as_f64().unwrap()).abs() <= 1e-4, "{model}: {record:?} vs {row}");
            // The pipeline writes `int(...)`: 1 or 0.
            let correct = if row["correct"].as_bool().unwrap() { "1" } else { "0" };
            assert_eq!(&record[2], correct);
            assert_eq!(&record[3], row["predicted"].as_str().unwrap());
        }
    }
    let summary: serde_json::Value = serde_json::from_slice(&common::read(out.join("summary.json"))).unwrap();
    assert_eq!(summary["task_type"], "classification");
    let models = summary["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["name"], "tiny-hub");
    for key in ["value", "accuracy", "chance_loss", "chance_accuracy", "coverage", "examples", "parameters"] {
        assert!(!models[0][key].is_null(), "summary lacks {key}: {}", models[0]);
    }
    // The trend across the two sizes: a verdict, its bootstrap support and each model's interval.
    let trend = &summary["trend"];
    let verdict = trend["verdict"].as_str().unwrap();
    assert!(["inverse", "positive", "u-shaped", "inverted-u", "flat"].contains(&verdict), "{trend}");
    assert!(!["u-shaped", "inverted-u"].contains(&verdict), "two models cannot make a U: {trend}");
    assert_eq!(trend["confidence"], trend["support"][verdict], "{trend}");
    let intervals = trend["models"].as_array().unwrap();
    assert_eq!(intervals.len(), 2);
    assert!(intervals[0]["parameters"].as_u64() <= intervals[1]["parameters"].as_u64());
    for m in intervals {
        let (low, mean, high) = (m["low"].as_f64().unwrap(), m["mean"].as_f64().unwrap(), m["high"].as_f64().unwrap());
        assert!(low <= mean && mean <= high, "{m}");
        let summarised = models.iter().find(|s| s["name"] == m["name"]).unwrap();
        assert!((mean - summarised["value"]["mean"].as_f64().unwrap()).abs() < 1e-12);
    }
    assert!(stdout.contains(&format!("trend: {verdict} (in ")), "{stdout}");
    assert!(summary.get("family_trends").is_none(), "one family: one verdict");
    assert_eq!(models[0]["family"], "GPT-2");

    // `--bundle`: results.json in the page's schema, written through the one type.
    let text = std::fs::read_to_string(out.join("results.json")).unwrap();
    let bundle: ResultsBundle = serde_json::from_str(&text).unwrap();
    assert_eq!(bundle.to_json() + "\n", text, "results.json is the type's own serialisation");
    assert_eq!((bundle.task_type.as_str(), bundle.examples, bundle.truncation.as_str()), ("classification", 12, "keep-scored"));
    assert_eq!((bundle.backend.as_str(), bundle.precision.as_str(), bundle.complete), ("cpu", "f32", true));
    assert_eq!(serde_json::to_value(&bundle.trend).unwrap(), summary["trend"]);
    assert!(bundle.partial_models.is_empty() && bundle.comparison.is_empty() && bundle.family_trends.is_empty());
    for (report, summarised) in bundle.models.iter().zip(models) {
        assert_eq!(serde_json::to_value(&report.summary).unwrap(), *summarised, "each model's summary is summary.json's");
        let csv = std::fs::read_to_string(out.join(format!("{}.csv", report.summary.name))).unwrap();
        let losses: Vec<f64> = csv::Reader::from_reader(csv.as_bytes()).records().map(|r| r.unwrap()[1].parse().unwrap()).collect();
        let rows: Vec<f64> = report.rows.iter().map(|row| row["loss"].as_f64().unwrap()).collect();
        assert_eq!(rows, losses, "{}: one row per example, the CSV's numbers", report.summary.name);
        let timing = report.timing.expect("the CLI times each model");
        assert!(timing.load_seconds > 0.0 && timing.score_seconds > 0.0, "{timing:?}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// Models of two families get a verdict within each family beside the one over all, each the
/// trend of that family's models alone.
#[test]
fn several_families_get_a_verdict_each() {
    let fixtures = common::fixtures();
    let task = fixtures.join("tasks/classification.csv");
    let run = |name: &str, models: &[&str]| {
        let out = temp_dir(name);
        let mut args = vec!["eval".to_string(), "--task".into(), path(&task).into(), "--out".into(), path(&out).into()];
        for m in models {
            args.extend(["--model".to_string(), path(&fixtures.join("models").join(m)).to_string()]);
        }
        let output = Command::new(env!("CARGO_BIN_EXE_invscale")).args(&args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<serde_json::Value>(&common::read(out.join("summary.json"))).unwrap()
    };
    let both = run("families", &["tiny-hub", "tiny-neox", "tiny-odd-heads", "tiny-neox-sequential"]);
    let trends = both["family_trends"].as_array().unwrap();
    let families: Vec<_> = trends.iter().map(|t| t["family"].as_str().unwrap()).collect();
    assert_eq!(families, ["GPT-2", "GPT-NeoX"]);
    for (trend, models) in trends.iter().zip([["tiny-hub", "tiny-odd-heads"], ["tiny-neox", "tiny-neox-sequential"]]) {
        let alone = run(&format!("family-{}", models[0]), &models);
        assert_eq!(trend["trend"], alone["trend"], "{}", trend["family"]);
    }
}

#[test]
fn bad_input_exits_nonzero_with_one_line() {
    let fixtures = common::fixtures();
    let out = temp_dir("bad");
    let task = out.join("bad.csv");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(&task, "prompt,classes,answer_index\nQ,\"[' a', ' b']\",7\n").unwrap();
    let model = fixtures.join("models/tiny-hub");
    let output = invscale(&["eval", "--task", path(&task), "--model", path(&model), "--out", path(&out)]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad.csv: row 2, column `answer_index`: is 7"), "{stderr}");

    let output = invscale(&["eval", "--task", path(&task), "--model", "/nonexistent/model", "--out", path(&out)]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("model folder /nonexistent/model does not exist"), "{stderr}");

    let output = invscale(&["eval", "--task", path(&task), "--type", "nonsense", "--model", path(&model), "--out", path(&out)]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown task type `nonsense`"));

    let output = invscale(&["eval", "--task", path(&task), "--precision", "f8", "--model", path(&model), "--out", path(&out)]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("`f8` is not a precision (expected f32 or f16)"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn half_precision_runs_are_recorded_and_stay_within_the_stated_deviation() {
    let fixtures = common::fixtures();
    let out = temp_dir("precision");
    let task = fixtures.join("tasks/classification.csv");
    let model = fixtures.join("models/tiny-hub");
    let run = |precision: &str| {
        let dir = out.join(precision);
        let output = invscale(&["eval", "--task", path(&task), "--model", path(&model), "--out", path(&dir), "--precision", precision]);
        assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&common::read(dir.join("summary.json"))).unwrap();
        let csv = std::fs::read_to_string(dir.join("tiny-hub.csv")).unwrap();
        let losses: Vec<f64> = csv::Reader::from_reader(csv.as_bytes()).records().map(|r| r.unwrap()[1].parse().unwrap()).collect();
        (summary, losses)
    };
    let (full_summary, full) = run("f32");
    let (half_summary, half) = run("f16");
    assert_eq!(full_summary["precision"], "f32");
    assert_eq!(half_summary["precision"], "f16");
    let worst = full.iter().zip(&half).map(|(a, b)| (a - b).abs()).fold(0f64, f64::max);
    assert!(worst > 0.0 && worst <= invscale::model::F16_DEVIATION_ON_FIXTURES, "max |f16 - f32| loss {worst}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn few_shot_runs_are_recorded_and_reproducible() {
    let fixtures = common::fixtures();
    let out = temp_dir("few-shot");
    let task = fixtures.join("tasks/classification.csv");
    let model = fixtures.join("models/tiny-hub");
    let run = |dir: &str, extra: &[&str]| {
        let dir = out.join(dir);
        let mut args = vec!["eval", "--task", path(&task), "--model", path(&model), "--out", path(&dir)];
        args.extend_from_slice(extra);
        let output = invscale(&args);
        assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&common::read(dir.join("summary.json"))).unwrap();
        (std::fs::read_to_string(dir.join("tiny-hub.csv")).unwrap(), summary)
    };
    let (zero, zero_summary) = run("zero", &[]);
    let (first, summary) = run("first", &["--few-shot", "2", "--seed", "3"]);
    let (again, _) = run("again", &["--few-shot", "2", "--seed", "3"]);
    let (other_seed, _) = run("other", &["--few-shot", "2", "--seed", "4"]);
    assert_eq!(zero_summary["few_shot"], serde_json::Value::Null);
    assert_eq!(summary["few_shot"], serde_json::json!({ "shots": 2, "seed": 3 }));
    assert_eq!(first, again, "the same seed must give the same numbers");
    assert_ne!(first, zero, "demonstrations change the prompts, so the numbers");
    assert_ne!(first, other_seed);

    let output = invscale(&["eval", "--task", path(&task), "--model", path(&model), "--out", path(&out), "--few-shot", "500"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("500 demonstrations per example need at least 501 examples"), "{stderr}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn reproduce_sets_our_numbers_beside_the_published_ones() {
    let fixtures = common::fixtures();
    let dir = temp_dir("reproduce");
    std::fs::create_dir_all(&dir).unwrap();
    // "Published" numbers: the means of the reference implementation's per-example results.
    let reference: serde_json::Value = serde_json::from_slice(&common::read(fixtures.join("reference.json"))).unwrap();
    let rows = reference["classification.csv"]["models"]["tiny-hub"]["pipeline"].as_array().unwrap();
    let n = rows.len() as f64;
    let loss = rows.iter().map(|r| r["loss"].as_f64().unwrap()).sum::<f64>() / n;
    let accuracy = rows.iter().filter(|r| r["correct"].as_bool().unwrap()).count() as f64 / n;
    let model = fixtures.join("models/tiny-hub");
    let published = serde_json::json!({
        "data": "https://example.invalid/not-used",
        "tasks": [{ "name": "fixture", "file": "classification.csv", "type": "classification",
                    "models": [{ "model": path(&model), "loss": loss, "accuracy": accuracy }] }]
    });
    let published_path = dir.join("published.json");
    std::fs::write(&published_path, published.to_string()).unwrap();
    let json_path = dir.join("comparison.json");
    let tasks = fixtures.join("tasks");
    let output = invscale(&["reproduce", "--published", path(&published_path), "--data", path(&tasks), "--json", path(&json_path)]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.lines().any(|l| l.starts_with("fixture") && l.contains("tiny-hub")), "{stdout}");
    let comparison: serde_json::Value = serde_json::from_slice(&common::read(json_path)).unwrap();
    let line = &comparison[0];
    assert!((line["loss"].as_f64().unwrap() - loss).abs() <= 1e-4, "{line}");
    assert_eq!(line["accuracy"].as_f64().unwrap(), accuracy, "{line}");
    assert!((line["published_loss"].as_f64().unwrap() - loss).abs() < 1e-12);

    let output = invscale(&["reproduce", "--published", path(&published_path), "--data", path(&tasks), "--only", "nope"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no published task is named `nope`"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sharded checkpoint (`model.safetensors.index.json` and the shards its `weight_map`
/// names, as transformers saves large models) scores exactly as the one file it was cut from;
/// an index that names a file outside the folder is refused.
#[test]
fn sharded_checkpoints_score_as_the_whole_file() {
    use safetensors::tensor::TensorView;
    let fixtures = common::fixtures();
    let whole_dir = fixtures.join("models/tiny-hub");
    let dir = temp_dir("sharded").join("tiny-hub-sharded");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::write(dir.join(file), common::read(whole_dir.join(file))).unwrap();
    }
    let bytes = common::read(whole_dir.join("model.safetensors"));
    let whole = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = whole.names().into_iter().map(str::to_string).collect();
    names.sort();
    let (first, second) = names.split_at(names.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (shard, names) in [("model-00001-of-00002.safetensors", first), ("model-00002-of-00002.safetensors", second)] {
        let views: Vec<(String, TensorView)> = names.iter().map(|n| (n.clone(), whole.tensor(n).unwrap())).collect();
        std::fs::write(dir.join(shard), safetensors::serialize(views, None).unwrap()).unwrap();
        for n in names {
            weight_map.insert(n.clone(), shard.into());
        }
    }
    let index = serde_json::json!({ "metadata": { "total_size": bytes.len() }, "weight_map": weight_map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();

    let task = fixtures.join("tasks/classification.csv");
    let run = |model: &Path| {
        let out = temp_dir("sharded-out").join(model.file_name().unwrap());
        let output = invscale(&["eval", "--task", path(&task), "--model", path(model), "--out", path(&out)]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        std::fs::read_to_string(out.join(format!("{}.csv", model.file_name().unwrap().to_str().unwrap()))).unwrap()
    };
    assert_eq!(run(&dir), run(&whole_dir));

    let escape = serde_json::json!({ "weight_map": { "wte.weight": "../tiny-hub/model.safetensors" } });
    std::fs::write(dir.join("model.safetensors.index.json"), escape.to_string()).unwrap();
    let output = invscale(&["eval", "--task", path(&task), "--model", path(&dir), "--out", path(&temp_dir("sharded-bad"))]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("is `../tiny-hub/model.safetensors`, not a file beside the index"), "{stderr}");
}

#[test]
fn a_logodds_class_of_several_tokens_is_named_with_the_token_scored() {
    let fixtures = common::fixtures();
    let out = temp_dir("logodds-classes");
    std::fs::create_dir_all(&out).unwrap();
    let task = out.join("classes.csv");
    let long = " antidisestablishmentarianism";
    let rows = format!("prompt,other_prompt,classes,answer_index\nA,B,\"[' yes', '{long}']\",0\nC,D,\"[' yes', '{long}']\",1\n");
    std::fs::write(&task, rows).unwrap();
    // OPT's tokenizer puts a BOS first: it is no part of a class, so ` yes` stays one token.
    for model in ["tiny-hub", "tiny-opt"] {
        let dir = fixtures.join("models").join(model);
        let output = invscale(&["eval", "--task", path(&task), "--model", path(&dir), "--out", path(&out)]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
        let checkpoint = common::checkpoint(model, &burn::tensor::Device::flex());
        let ids = checkpoint.tokenizer.encode(long).unwrap();
        let last = *ids.last().unwrap();
        let token = checkpoint.tokenizer.decode(&[last]).unwrap();
        let expected = format!(
            "warning: {model}: class \"{long}\" (rows 2, 3) is {} tokens; logodds scores its last token, {token:?} (id {last}), as the \
             pipeline does",
            ids.len()
        );
        assert_eq!(warnings, [expected.as_str()], "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
