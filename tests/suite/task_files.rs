//! Task files: the accepted quirks, and one test per class of bad input asserting the
//! message names the row (as a spreadsheet numbers it) and the column.

use crate::common;

use invscale::score::{prepare, Truncation};
use invscale::task::{parse_task, ExampleKind, TaskType};
use invscale::tokenizer::Tokenizer;

fn err(input: &[u8]) -> String {
    parse_task(input, None).err().map(|e| e.to_string()).expect("input must be rejected")
}

fn err_as(input: &[u8], forced: TaskType) -> String {
    parse_task(input, Some(forced)).err().map(|e| e.to_string()).expect("input must be rejected")
}

#[test]
fn quirks_are_accepted() {
    // pandas index column, `biased_prompt`, `answer_ix`, CRLF, integral float index.
    let t = parse_task(b",prompt,biased_prompt,classes,answer_ix\r\n0,P,Q,\"[' Yes', ' No']\",1.0\r\n", None).unwrap();
    assert_eq!(t.task_type, TaskType::Logodds);
    let ExampleKind::Logodds { other_prompt, answer_index, .. } = &t.examples[0].kind else { panic!() };
    assert_eq!((other_prompt.as_str(), *answer_index), ("Q", 1));
    // JSONL with a real array.
    let t = parse_task(b"{\"prompt\": \"P\", \"classes\": [\" a\", \" b\", \" c\"], \"answer_index\": 2}\n\n", None).unwrap();
    assert_eq!(t.examples[0].kind.classes().len(), 3);
    assert_eq!(t.examples[0].row, 1);
    // A UTF-8 BOM, and `filled_template` as the old name of `prompt`.
    let t = parse_task("\u{feff}filled_template,completion\nA,\" b\"\n".as_bytes(), None).unwrap();
    assert_eq!(t.task_type, TaskType::SequenceProb);
    // Forcing the type.
    let t = parse_task(b"prompt,other_prompt,classes,answer_index\nP,Q,\"[' a', ' b']\",0\n", Some(TaskType::AbsoluteLogodds)).unwrap();
    assert_eq!(t.task_type, TaskType::AbsoluteLogodds);
}

#[test]
fn rows_are_numbered_as_a_spreadsheet_shows_them() {
    // The multi-line prompt is one row; the bad row is the third row after the header.
    let input = b"prompt,classes,answer_index\n\"a\nb\",\"[' x', ' y']\",0\nc,\"[' x', ' y']\",1\nd,\"[' x', ' y']\",2\n";
    assert_eq!(err(input), "row 4, column `answer_index`: is 2, but there are 2 classes (valid: 0 to 1)");
}

#[test]
fn missing_column() {
    let e = err_as(b"prompt,answer_index\nP,0\n", TaskType::Classification);
    assert_eq!(e, "missing column `classes`, which classification needs (found: [prompt, answer_index])");
}

#[test]
fn type_cannot_be_inferred() {
    let e = err(b"prompt\nP\n");
    assert!(e.starts_with("cannot tell the task type from the columns [prompt]"), "{e}");
}

#[test]
fn unparsable_classes() {
    let e = err(b"prompt,classes,answer_index\nP,yes or no,0\n");
    assert_eq!(e, "row 2, column `classes`: expected a list like [' yes', ' no'] but found `y` at character 1");
    let e = err(b"prompt,classes,answer_index\nP,\"[' yes', ' no'\",0\n");
    assert_eq!(e, "row 2, column `classes`: the list is not closed with `]`");
}

#[test]
fn answer_index_out_of_range_or_not_a_number() {
    let e = err(b"prompt,classes,answer_index\nP,\"[' a', ' b', ' c']\",3\n");
    assert_eq!(e, "row 2, column `answer_index`: is 3, but there are 3 classes (valid: 0 to 2)");
    let e = err(b"prompt,classes,answer_index\nP,\"[' a', ' b']\",-1\n");
    assert!(e.starts_with("row 2, column `answer_index`: is -1"), "{e}");
    let e = err(b"prompt,classes,answer_index\nP,\"[' a', ' b']\",first\n");
    assert_eq!(e, "row 2, column `answer_index`: expected a whole number, found `first`");
}

#[test]
fn empty_and_missing_classes() {
    let e = err(b"prompt,classes,answer_index\nP,\"[' a', '']\",0\n");
    assert_eq!(e, "row 2, column `classes`: class 2 is empty");
    let e = err(b"prompt,classes,answer_index\nP,\"[' a']\",0\n");
    assert_eq!(e, "row 2, column `classes`: needs at least two classes, found 1");
    let e = err(b"prompt,other_prompt,classes,answer_index\nP,Q,\"[' a', ' b', ' c']\",0\n");
    assert_eq!(e, "row 2, column `classes`: logodds needs exactly two classes");
}

#[test]
fn empty_cells() {
    let e = err(b"prompt,completion\nP,\n");
    assert_eq!(e, "row 2, column `completion`: is empty");
}

#[test]
fn wrong_cell_count() {
    let e = err(b"prompt,completion\nP, a\nQ\n");
    assert_eq!(e, "row 3: has 1 cells but the header has 2 columns");
}

#[test]
fn non_utf8() {
    let e = err(b"prompt,completion\nP, a\nQ\xff\xfe, b\n");
    assert_eq!(e, "row 3, column `prompt`: is not valid UTF-8 (bad byte at offset 1)");
    let e = err(b"{\"prompt\": \"P\", \"completion\": \" a\"}\n{\"prompt\": \"\xff\"}\n");
    assert_eq!(e, "row 2: is not valid UTF-8 (bad byte at offset 12)");
}

#[test]
fn empty_file() {
    assert_eq!(err(b""), "the file is empty");
    assert_eq!(err(b"  \r\n\n"), "the file is empty");
    assert_eq!(err(b"prompt,completion\n"), "the file has no examples");
}

#[test]
fn bad_jsonl() {
    let e = err(b"{\"prompt\": \"P\", \"completion\": \" a\"}\n{\"prompt\": \"Q\",\n");
    assert!(e.starts_with("row 2: is not valid JSON"), "{e}");
    let e = err(b"{\"prompt\": \"P\", \"classes\": [\" a\", 3], \"answer_index\": 0}\n");
    assert_eq!(e, "row 1, column `classes`: class 2 is a number, expected a string");
    let e = err(b"{\"prompt\": \"P\", \"classes\": [\" a\", \" b\"], \"answer_index\": 0.5}\n");
    assert_eq!(e, "row 1, column `answer_index`: expected a whole number, found `0.5`");
}

#[test]
fn numeric_tasks_parse_and_bad_numbers_name_their_cell() {
    let t = parse_task(b",filled_template,true_answer,anchor\n0,Q,\"1,5\",2\n", None);
    assert_eq!(t.unwrap_err().to_string(), "row 2, column `true_answer`: expected a number, found `1,5`");
    let t = parse_task(b",filled_template,true_answer,anchor\n0,Q,1.5, 2 \n", None).unwrap();
    assert_eq!(t.task_type, TaskType::Numeric);
    assert_eq!(t.examples[0].kind, ExampleKind::Numeric { prompt: "Q".into(), true_answer: 1.5, anchor: 2.0 });
    let e = err(b"{\"prompt\": \"P\", \"true_answer\": \"many\", \"anchor\": 1}\n");
    assert_eq!(e, "row 1, column `true_answer`: expected a number, found `many`");
    let e = err(b"prompt,true_answer,anchor\nP,nan,1\n");
    assert_eq!(e, "row 2, column `true_answer`: expected a number, found `nan`");
}

#[test]
fn class_without_leading_space_is_a_warning() {
    let t = parse_task(b"prompt,classes,answer_index\nQ:,\"['yes', ' no']\",0\nQ: ,\"['yes', 'no']\",0\n", None).unwrap();
    assert_eq!(t.warnings.len(), 1);
    assert_eq!(t.warnings[0].row, 2);
    assert!(t.warnings[0].to_string().starts_with("row 2, column `classes`: class \"yes\" has no leading space"));
}

/// As the pipeline's `_extract_relevant_logits`: `tokenizer(class)["input_ids"][-1]`.
#[test]
fn logodds_class_token_is_the_last_of_its_tokens() {
    let tokenizer = Tokenizer::from_bytes(&common::read(common::fixtures().join("tokenizer.json"))).unwrap();
    let t = parse_task(b"prompt,other_prompt,classes,answer_index\nP,Q,\"[' Yes', ' Absolutely not']\",0\n", None).unwrap();
    let prepared = prepare(&t.examples[0], &tokenizer, 1024, Truncation::KeepScored).unwrap();
    let invscale::score::Prepared::Logodds { classes, .. } = prepared.input else { panic!("not logodds") };
    let last = *tokenizer.encode(" Absolutely not").unwrap().last().unwrap();
    assert_eq!(classes, [tokenizer.encode(" Yes").unwrap()[0], last]);
    assert_eq!(last, tokenizer.encode(" not").unwrap()[0]);
}

#[test]
fn class_longer_than_the_context_is_an_error() {
    let tokenizer = Tokenizer::from_bytes(&common::read(common::fixtures().join("tokenizer.json"))).unwrap();
    let long = " word".repeat(40);
    let input = format!("prompt,classes,answer_index\nP,\"[' a', '{long}']\",0\n");
    let t = parse_task(input.as_bytes(), None).unwrap();
    let e = prepare(&t.examples[0], &tokenizer, 16, Truncation::KeepScored).unwrap_err();
    assert!(e.to_string().starts_with("row 2, column `classes`: "), "{e}");
    assert!(e.to_string().contains("40 tokens"), "{e}");
}

/// The prize pipeline's own sample files (read from ../shared/data when present).
#[test]
fn prize_sample_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if !dir.is_dir() {
        eprintln!("skipping: {} is not here", dir.display());
        return;
    }
    let cases = [
        ("escher.csv", TaskType::Classification, 18),
        ("halo-effect.csv", TaskType::Classification, 100),
        ("snli-1k.csv", TaskType::Classification, 1000),
        ("syllogism-0shot.csv", TaskType::Classification, 1000),
        ("boolq-1k.csv", TaskType::Classification, 1000),
        ("sentiment_analysis.csv", TaskType::Classification, 1000),
        ("format-example-classification.csv", TaskType::Classification, 3),
        ("QA_bias-v1.csv", TaskType::Logodds, 40),
        ("fat-vs-thin-v1.csv", TaskType::Logodds, 100),
        ("format-example-logodds.csv", TaskType::Logodds, 3),
    ];
    for (file, task_type, count) in cases {
        let t = parse_task(&common::read(dir.join(file)), None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(t.task_type, task_type, "{file}");
        assert_eq!(t.examples.len(), count, "{file}");
    }
    let single = common::read(dir.join("format-example-single-word.csv"));
    assert!(parse_task(&single, None).unwrap_err().to_string().starts_with("cannot tell the task type"));
    for t in TaskType::ALL {
        let e = parse_task(&single, Some(t)).unwrap_err().to_string();
        assert!(e.starts_with("missing column"), "{t}: {e}");
    }
    let anchoring = parse_task(&common::read(dir.join("anchoring.csv")), None).unwrap();
    assert_eq!(anchoring.task_type, TaskType::Numeric);
    let ExampleKind::Numeric { true_answer, anchor, .. } = &anchoring.examples[1].kind else { panic!() };
    assert_eq!((*true_answer, *anchor), (2350.0, 1175.0));
}

/// Files a stranger might send: each is handled (parsed, and prepared for a model) or gives
/// one error that says what is wrong.
#[test]
fn hostile_files_are_handled_or_refused_with_one_clear_error() {
    let tokenizer = Tokenizer::from_bytes(&common::read(common::fixtures().join("tokenizer.json"))).unwrap();
    let prepare_all = |task: &invscale::task::Task| {
        task.examples.iter().map(|e| prepare(e, &tokenizer, 1024, Truncation::KeepScored).unwrap()).collect::<Vec<_>>()
    };

    // Over the size limit: refused before any parsing, naming the limit.
    let huge = vec![b'a'; invscale::task::MAX_TASK_BYTES + 1];
    assert!(err(&huge).contains("task files are limited to"), "{}", err(&huge));

    // NUL bytes inside a prompt: text like any other.
    let t = parse_task(b"prompt,classes,answer_index\n\"a\0b\",\"[' x', ' y']\",0\n", None).unwrap();
    prepare_all(&t);

    // Mixed line ends (CRLF, LF and a lone CR inside a quoted cell).
    let t = parse_task(b"prompt,classes,answer_index\r\nP,\"[' x', ' y']\",0\n\"Q\rR\",\"[' x', ' y']\",1\r\n", None);
    let t = t.unwrap();
    assert_eq!(t.examples.len(), 2);
    // A lone CR outside quotes ends a line, as in pandas: the short row is named.
    let e = err(b"prompt,classes,answer_index\nQ\rR,\"[' x', ' y']\",1\n");
    assert_eq!(e, "row 2: has 1 cells but the header has 3 columns");

    // Invalid UTF-8 in a cell: its row and column.
    assert!(err(b"prompt,classes,answer_index\nP\xff,\"[' x', ' y']\",0\n").starts_with("row 2, column `prompt`: is not valid UTF-8"));

    // A 10 MB prompt: parsed, and shortened from the left to the model's context, flagged.
    let long = "word ".repeat(2_000_000);
    let csv = format!("prompt,classes,answer_index\n\"{long}\",\"[' x', ' y']\",0\n");
    let t = parse_task(csv.as_bytes(), None).unwrap();
    let prepared = prepare_all(&t);
    assert!(prepared[0].truncated);

    // A row with 5,000 classes: parsed and prepared (each class is one sequence).
    let classes: Vec<String> = (0..5000).map(|i| format!("' c{i}'")).collect();
    let csv = format!("prompt,classes,answer_index\nP,\"[{}]\",4999\n", classes.join(", "));
    let t = parse_task(csv.as_bytes(), None).unwrap();
    assert_eq!(t.examples[0].kind.classes().len(), 5000);
    prepare_all(&t);
}

#[test]
fn parquet_files_as_the_hub_stores_them_read_like_their_jsonl() {
    let fixtures = common::fixtures().join("tasks");
    let jsonl = parse_task(&common::read(fixtures.join("classification.jsonl")), None).unwrap();
    let parquet_bytes = common::read(fixtures.join("classification.parquet"));
    let parquet = parse_task(&parquet_bytes, None).unwrap();
    assert_eq!(parquet.task_type, TaskType::Classification);
    let kinds = |t: &invscale::task::Task| t.examples.iter().map(|e| e.kind.clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&parquet), kinds(&jsonl));
    // Rows are numbered from 1, as in a JSON array.
    assert_eq!(parquet.examples.iter().map(|e| e.row).collect::<Vec<_>>(), (1..=jsonl.examples.len()).collect::<Vec<_>>());

    // Damaged files: one clear error, no panic.
    for cut in [4, 100, parquet_bytes.len() - 1] {
        let e = err(&parquet_bytes[..cut]);
        assert!(e.starts_with("the file is not a readable Parquet file"), "cut at {cut}: {e}");
    }
    let mut flipped = parquet_bytes.clone();
    for i in (8..flipped.len() - 8).step_by(7) {
        flipped[i] ^= 0x5a;
        let _ = parse_task(&flipped, None); // an error or (if the byte did not matter) a task
        flipped[i] ^= 0x5a;
    }
}
