//! The pipeline's per-model results CSV, as `eval_pipeline/main.py`'s `run_model` writes it:
//! a `csv.DictWriter` over the task type's columns, so CRLF line ends, minimal quoting,
//! `correct` as `int(...)` (`1`/`0`) and floats as Python's `repr`.

use crate::run::ExampleResult;
use crate::score::Metrics;
use crate::task::Task;

/// Python's `csv` module ends every row with `\r\n` unless told otherwise; the pipeline is not.
const LINE_END: &str = "\r\n";

/// One model's results in the pipeline's CSV format (`index,loss,correct,predicted,total_logprob`, …).
pub fn results_csv(task: &Task, results: &[ExampleResult]) -> String {
    let mut out = task.task_type.result_columns().join(",");
    out.push_str(LINE_END);
    for r in results {
        let index = r.index;
        let line = match &r.metrics {
            Metrics::Classification { loss, correct, predicted, total_logprob, .. } => {
                let class = &task.examples[index].kind.classes()[*predicted];
                let (loss, total) = (python_repr(*loss), python_repr(*total_logprob));
                format!("{index},{loss},{},{},{total}", u8::from(*correct), csv_field(class))
            }
            Metrics::SequenceProb { loss } => format!("{index},{}", python_repr(*loss)),
            Metrics::Logodds { logodds_difference, correct, total_logprob } => {
                let (difference, total) = (python_repr(*logodds_difference), python_repr(*total_logprob));
                format!("{index},{difference},{},{total}", u8::from(*correct))
            }
            // No estimate (no sample held a number): an empty cell. The pipeline stops the
            // whole run there instead; an empty cell is what pandas reads as missing.
            Metrics::Numeric { estimate, .. } => format!("{index},{}", estimate.map_or(String::new(), python_repr)),
        };
        out.push_str(&line);
        out.push_str(LINE_END);
    }
    out
}

/// Quotes a field as `csv.QUOTE_MINIMAL` does: when it holds the delimiter, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// `repr(x)` of a Python float: the shortest digits that read back as `x`, in positional
/// notation for decimal exponents from -4 to 15 (always with a fractional part: `2.0`), else
/// in scientific notation with a signed exponent of at least two digits (`1e-05`, `1.5e+16`).
pub fn python_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:e}` gives the shortest digits that round-trip (`-1.2345e-7`), but where two
    // such are equally near the exact value it takes the upper one, and Python the even one:
    // the exact value written to that many digits (rounded half to even) is Python's.
    let shortest = format!("{x:e}");
    let digits = shortest.split_once('e').map_or(0, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    let scientific = format!("{x:.*e}", digits.saturating_sub(1));
    let scientific = if scientific.parse::<f64>() == Ok(x) { scientific } else { shortest };
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` always writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exponent) {
        // The decimal point goes after `point` digits (before the first one when negative).
        let point = exponent + 1;
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if (point as usize) < digits.len() {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        } else {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        };
        format!("{sign}{body}")
    } else {
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exponent_sign}{:02}", exponent.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::parse_task;

    #[test]
    fn classification_csv_is_what_the_pipeline_writes() {
        let task = parse_task(b"prompt,classes,answer_index\nQ,\"[' a, b', ' c']\",0\n", None).unwrap();
        let results =
            vec![ExampleResult { index: 0, metrics: crate::score::metrics::classification(vec![-0.5, -2.0], 0), truncated: false }];
        let csv = results_csv(&task, &results);
        let mut lines = csv.split_inclusive("\r\n");
        assert_eq!(lines.next(), Some("index,loss,correct,predicted,total_logprob\r\n"));
        let row = lines.next().unwrap();
        assert!(row.starts_with("0,0.20141327798"), "{row}");
        assert!(row.contains(",1,\" a, b\",-0.298"), "{row}");
        assert!(row.ends_with("\r\n"), "{row}");
    }

    #[test]
    // The literals are the exact values Python's repr was taken of.
    #[allow(clippy::excessive_precision)]
    fn floats_are_written_as_python_repr_writes_them() {
        // Each pair is (value, Python 3's `repr(value)`).
        let cases: [(f64, &str); 23] = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1.0633962154388428, "1.0633962154388428"),
            (-1.7565248012542725, "-1.7565248012542725"),
            (123456789.0, "123456789.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1.2345e300, "1.2345e+300"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (0.00001, "1e-05"),
            (-1.5e-7, "-1.5e-07"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (f32::MIN_POSITIVE as f64, "1.1754943508222875e-38"),
            // Two shortest candidates equally near: Python takes the even last digit.
            (69.396270751953125, "69.39627075195312"),
        ];
        for (value, repr) in cases {
            assert_eq!(python_repr(value), repr, "{value:e}");
        }
    }
}
