//! The CLI's result CSVs against the ones the prize's official code writes
//! (`tests/fixtures/pipeline/`, from `scripts/pipeline_official.py`): the same header, line
//! ends, quoting, indices, `correct` and `predicted` byte for byte; floats written as Python
//! writes them, and equal to the official ones within 1e-4.

use std::path::Path;
use std::process::Command;

use invscale::report::python_repr;

use crate::common;

#[test]
fn cli_csvs_are_what_the_official_pipeline_writes() {
    let fixtures = common::fixtures();
    // tests/fixtures/pipeline/<model>/<task type>/<task file>, as the script wrote them.
    let entries = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };
    let official_dir = fixtures.join("pipeline");
    let mut compared = 0;
    for model in entries(&official_dir) {
        for task_type in entries(&official_dir.join(&model)) {
            for task_file in entries(&official_dir.join(&model).join(&task_type)) {
                let official = common::read(official_dir.join(&model).join(&task_type).join(&task_file));
                let ours = eval(&fixtures.join("models").join(&model), &fixtures.join("tasks").join(&task_file), &task_type);
                compare(&format!("{model}/{task_type}/{task_file}"), &String::from_utf8(official).unwrap(), &ours);
                compared += 1;
            }
        }
    }
    // Two models × (three classification files, sequence_prob, logodds, absolute_logodds).
    assert_eq!(compared, 12, "official CSVs compared");
}

/// `invscale eval --truncation pipeline` (what the official code does to long inputs), its CSV.
fn eval(model: &Path, task: &Path, task_type: &str) -> String {
    let out = std::env::temp_dir().join(format!("invscale-format-{}-{task_type}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(env!("CARGO_BIN_EXE_invscale"))
        .args(["eval", "--truncation", "pipeline", "--type", task_type, "--out"])
        .arg(&out)
        .arg("--task")
        .arg(task)
        .arg("--model")
        .arg(model)
        .output()
        .expect("run invscale");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let name = model.file_name().unwrap().to_str().unwrap();
    let csv = std::fs::read_to_string(out.join(format!("{name}.csv"))).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    csv
}

fn compare(at: &str, official: &str, ours: &str) {
    let (official_lines, our_lines) = (official.split_inclusive('\n').collect::<Vec<_>>(), ours.split_inclusive('\n').collect::<Vec<_>>());
    assert!(official_lines.iter().all(|l| l.ends_with("\r\n")), "{at}: the official CSV has CRLF line ends");
    assert_eq!(our_lines[0], official_lines[0], "{at}: header");
    let read = |text: &str| -> Vec<csv::StringRecord> { csv::Reader::from_reader(text.as_bytes()).records().map(|r| r.unwrap()).collect() };
    let (official_rows, our_rows) = (read(official), read(ours));
    assert_eq!(our_rows.len(), official_rows.len(), "{at}: rows");
    // Each official row is one line (no class here holds a line break), so lines pair up.
    assert_eq!(our_lines.len(), official_lines.len(), "{at}: lines");
    let columns: Vec<&str> = official_lines[0].trim_end().split(',').collect();
    for (row, (theirs, ours)) in official_rows.iter().zip(&our_rows).enumerate() {
        for (column, name) in columns.iter().enumerate() {
            let (theirs, ours) = (&theirs[column], &ours[column]);
            let at = format!("{at}: row {row}, {name}");
            match *name {
                "index" | "correct" | "predicted" => assert_eq!(ours, theirs, "{at}"),
                _ => {
                    let our_value: f64 = ours.parse().unwrap_or_else(|_| panic!("{at}: {ours:?} is not a number"));
                    assert_eq!(python_repr(our_value), ours, "{at}: not written as Python's repr");
                    let (their_value, tolerance) = official_value(theirs, &at);
                    assert!((our_value - their_value).abs() <= tolerance, "{at}: {ours} vs {theirs}");
                }
            }
        }
    }
    // `predicted` is quoted as the csv module quotes it: its raw text is the same. Floats hold
    // no comma, so it is what lies between the third comma and the last.
    if columns.contains(&"predicted") {
        let raw_predicted = |line: &str| line.splitn(4, ',').nth(3).and_then(|rest| rest.rsplit_once(',')).map(|(p, _)| p.to_string());
        for (theirs, ours) in official_lines.iter().zip(&our_lines).skip(1) {
            assert_eq!(raw_predicted(ours), raw_predicted(theirs), "{at}: raw `predicted` in {ours:?}");
        }
    }
}

/// An official cell's number and how closely ours must match it. The official code writes
/// logodds' `total_logprob` as a torch tensor's text (`tensor(-0.5179)`, four decimals): there
/// ours is held to that rounding as well as 1e-4.
fn official_value(cell: &str, at: &str) -> (f64, f64) {
    match cell.strip_prefix("tensor(").and_then(|c| c.strip_suffix(')')) {
        Some(inner) => (inner.parse().unwrap_or_else(|_| panic!("{at}: {cell:?}")), 1e-4 + 5e-5),
        None => {
            let value: f64 = cell.parse().unwrap_or_else(|_| panic!("{at}: {cell:?} is not a number"));
            assert_eq!(python_repr(value), cell, "{at}: the official cell is a Python repr");
            (value, 1e-4)
        }
    }
}
