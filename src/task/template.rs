//! Tasks written as a template and a table of fillers, as the prize's tasks were made: the
//! template is the prompt with `{slot}`s, each filler row gives each slot its text and the
//! task's other columns (`classes`, `answer_index`, `completion`, …) as they are. The result
//! is a task CSV whose row N is filler row N, so the parser's row numbers point at the filler
//! row at fault.

use super::TaskError;

/// The task CSV that `template` and `fillers` (CSV with a header) make; an error naming the
/// filler row and column when a slot has no column or a row cannot be read.
pub fn fill_template(template: &str, fillers: &[u8]) -> Result<Vec<u8>, TaskError> {
    let slots = slots(template);
    if slots.is_empty() {
        return Err(TaskError::file("the template has no {slot}: write the prompt with slots such as {name}, filled from the table"));
    }
    let mut reader = csv::ReaderBuilder::new().from_reader(fillers);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| TaskError::at_row(1, format!("cannot read the fillers' header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.iter().any(|h| h == "prompt") {
        return Err(TaskError::at(1, "prompt", "the template is the prompt: the fillers have a column per slot instead"));
    }
    if let Some(missing) = slots.iter().find(|s| !header.contains(s)) {
        return Err(TaskError::at(1, missing.as_str(), format!("the template's slot {{{missing}}} has no column in the fillers' header")));
    }
    let passed: Vec<usize> = (0..header.len()).filter(|&i| !slots.contains(&header[i])).collect();
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut head = vec!["prompt"];
    head.extend(passed.iter().map(|&i| header[i].as_str()));
    out.write_record(&head).expect("writing to memory");
    for (n, record) in reader.records().enumerate() {
        let row = n + 2;
        let record = record.map_err(|e| TaskError::at_row(row, format!("cannot read the filler row: {e}")))?;
        let mut prompt = template.to_string();
        for slot in &slots {
            let column = header.iter().position(|h| h == slot).expect("checked above");
            let value = record.get(column).ok_or_else(|| TaskError::at(row, slot.as_str(), "the row has no cell for this slot"))?;
            prompt = prompt.replace(&format!("{{{slot}}}"), value);
        }
        let mut cells = vec![prompt.as_str()];
        cells.extend(passed.iter().map(|&i| record.get(i).unwrap_or("")));
        out.write_record(&cells).expect("writing to memory");
    }
    Ok(out.into_inner().expect("writing to memory"))
}

/// The distinct `{name}`s of a template (names of letters, digits and `_`), in order.
fn slots(template: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for (start, _) in template.match_indices('{') {
        let rest = &template[start + 1..];
        let Some(end) = rest.find('}') else { continue };
        let name = &rest[..end];
        if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') && !found.iter().any(|f| f == name) {
            found.push(name.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{parse_task, ExampleKind};

    #[test]
    fn filler_rows_become_the_tasks_rows() {
        let template = "Q: Is {thing} {colour}?\nA:";
        let fillers =
            b"thing,colour,classes,answer_index\nthe sky,blue,\"[' yes', ' no']\",0\nsnow,\"black, really\",\"[' yes', ' no']\",1\n";
        let csv = fill_template(template, fillers).unwrap();
        let task = parse_task(&csv, None).unwrap();
        assert_eq!(task.examples.len(), 2);
        let ExampleKind::Classification { prompt, answer_index, .. } = &task.examples[1].kind else { panic!("classification") };
        assert_eq!((prompt.as_str(), *answer_index), ("Q: Is snow black, really?\nA:", 1));
        assert_eq!(task.examples[1].row, 3, "task row 3 is filler row 3");
        // A bad filler row is named by the parser with the filler table's row number.
        let bad = fill_template(template, b"thing,colour,classes,answer_index\nx,y,\"[' a', ' b']\",0\nx,y,\"[' a', ' b']\",7\n").unwrap();
        let error = parse_task(&bad, None).unwrap_err();
        assert_eq!((error.row, error.column.as_deref()), (Some(3), Some("answer_index")), "{error}");
    }

    #[test]
    fn slots_without_columns_and_a_prompt_column_are_refused() {
        let missing = fill_template("{a} and {b}", b"a,classes\n1,x\n").unwrap_err();
        assert_eq!((missing.row, missing.column.as_deref()), (Some(1), Some("b")));
        assert!(missing.to_string().contains("slot {b} has no column"), "{missing}");
        assert!(fill_template("{a}", b"a,prompt\n1,2\n").unwrap_err().to_string().contains("the template is the prompt"));
        assert!(fill_template("no slots", b"a\n1\n").unwrap_err().to_string().contains("has no {slot}"));
        assert_eq!(slots("{x} {y} {x} {not a slot} {}"), ["x", "y"]);
    }
}
