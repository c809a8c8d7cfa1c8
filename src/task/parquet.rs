//! Parquet task files (what the Hub holds for datasets uploaded with `datasets`) → the same
//! rows as a JSON array, so one parser checks every format.
//!
//! The `parquet` crate asserts some of its invariants instead of returning errors; those a
//! damaged footer can break (list shapes, chunk bounds, dictionaries, levels beyond the
//! schema's) are checked first (`tests/suite/parser_fuzz.rs`). Damage inside the
//! compressed pages can still trip an assertion in its value decoders: the page then says the
//! file could not be read.

use bytes::Bytes;
use parquet::basic::{ConvertedType, Encoding, Repetition};
use parquet::column::page::Page;
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::Type;

use super::TaskError;

/// The bytes every Parquet file starts (and ends) with.
pub const MAGIC: &[u8; 4] = b"PAR1";

/// Each row of a Parquet file as a JSON object (lists as arrays, numbers as numbers),
/// numbered from 1.
pub fn parquet_rows(bytes: &[u8]) -> Result<Vec<(usize, serde_json::Value)>, TaskError> {
    let reader = SerializedFileReader::new(Bytes::copy_from_slice(bytes))
        .map_err(|e| TaskError::file(format!("the file is not a readable Parquet file: {e}")))?;
    check_schema(reader.metadata().file_metadata().schema())?;
    check_column_chunks(&reader, bytes.len())?;
    check_pages(&reader)?;
    check_levels(&reader)?;
    let rows = reader.get_row_iter(None).map_err(|e| TaskError::file(format!("cannot read the Parquet rows: {e}")))?;
    rows.enumerate()
        .map(|(i, row)| {
            let row = row.map_err(|e| TaskError::at_row(i + 1, format!("cannot be read from the Parquet file: {e}")))?;
            Ok((i + 1, row.to_json_value()))
        })
        .collect()
}

/// The columns are what task files hold: values, or lists of values (`list<string>`, in the
/// 2- or 3-level form). The row reader asserts the shape of a list, and of a map or nested
/// group, which a damaged footer can break (a panic), so anything else is refused here.
fn check_schema(schema: &Type) -> Result<(), TaskError> {
    let refuse = |name: &str| {
        Err(TaskError::file(format!("the file is not a readable Parquet file: column `{name}` is neither a value nor a list of values")))
    };
    let repeated = |t: &Type| t.get_basic_info().has_repetition() && t.get_basic_info().repetition() == Repetition::REPEATED;
    let value = |t: &Type| t.is_primitive() && t.get_basic_info().has_repetition() && !repeated(t);
    for column in schema.get_fields() {
        let name = column.name();
        if !column.get_basic_info().has_repetition() {
            return refuse(name);
        }
        if column.is_primitive() {
            continue;
        }
        if column.get_basic_info().converted_type() != ConvertedType::LIST {
            return refuse(name);
        }
        let fine = match column.get_fields() {
            [item] if repeated(item) && item.is_primitive() => true,
            [item] if repeated(item) && item.is_group() && item.get_basic_info().converted_type() == ConvertedType::NONE => {
                matches!(item.get_fields(), [element] if value(element))
            }
            _ => false,
        };
        if !fine {
            return refuse(name);
        }
    }
    Ok(())
}

/// Every column chunk lies within the file. The reader asserts this (a panic, which would end
/// the page's wasm) rather than returning an error, so a damaged footer is refused here first.
fn check_column_chunks(reader: &SerializedFileReader<Bytes>, file_len: usize) -> Result<(), TaskError> {
    for (g, group) in reader.metadata().row_groups().iter().enumerate() {
        for column in group.columns() {
            let start = column.dictionary_page_offset().unwrap_or(column.data_page_offset());
            let len = column.compressed_size();
            let inside = start >= 0 && len >= 0 && start.checked_add(len).is_some_and(|end| end as u64 <= file_len as u64);
            if !inside {
                return Err(TaskError::file(format!(
                    "the file is not a readable Parquet file: row group {g}, column `{}` lies outside the file ({len} bytes at {start}, file of {file_len})",
                    column.column_path()
                )));
            }
        }
    }
    Ok(())
}

/// Every page can be read, and a dictionary-encoded data page follows its dictionary: the
/// row reader asserts the latter (a panic) instead of returning an error.
fn check_pages(reader: &SerializedFileReader<Bytes>) -> Result<(), TaskError> {
    let damaged = |e: String| TaskError::file(format!("the file is not a readable Parquet file: {e}"));
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g).map_err(|e| damaged(e.to_string()))?;
        for c in 0..group.num_columns() {
            let mut pages = group.get_column_page_reader(c).map_err(|e| damaged(e.to_string()))?;
            let mut dictionary = false;
            while let Some(page) = pages.get_next_page().map_err(|e| damaged(e.to_string()))? {
                let encoding = match page {
                    Page::DictionaryPage { .. } => {
                        dictionary = true;
                        continue;
                    }
                    Page::DataPage { encoding, .. } | Page::DataPageV2 { encoding, .. } => encoding,
                };
                if matches!(encoding, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY) && !dictionary {
                    return Err(damaged(format!("row group {g}, column {c}: a dictionary-encoded page without its dictionary")));
                }
            }
        }
    }
    Ok(())
}

/// Every definition and repetition level is within what the schema allows: the row reader
/// asserts that (a panic) when a damaged footer makes a column's levels lower than its pages'.
fn check_levels(reader: &SerializedFileReader<Bytes>) -> Result<(), TaskError> {
    let damaged = |e: String| TaskError::file(format!("the file is not a readable Parquet file: {e}"));
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g).map_err(|e| damaged(e.to_string()))?;
        for c in 0..group.num_columns() {
            let column = group.metadata().column(c).column_descr();
            let (max_def, max_rep) = (column.max_def_level(), column.max_rep_level());
            let (def, rep) = match group.get_column_reader(c).map_err(|e| damaged(e.to_string()))? {
                ColumnReader::BoolColumnReader(r) => levels(r),
                ColumnReader::Int32ColumnReader(r) => levels(r),
                ColumnReader::Int64ColumnReader(r) => levels(r),
                ColumnReader::Int96ColumnReader(r) => levels(r),
                ColumnReader::FloatColumnReader(r) => levels(r),
                ColumnReader::DoubleColumnReader(r) => levels(r),
                ColumnReader::ByteArrayColumnReader(r) => levels(r),
                ColumnReader::FixedLenByteArrayColumnReader(r) => levels(r),
            }
            .map_err(|e| damaged(e.to_string()))?;
            if def.iter().any(|&l| l > max_def) || rep.iter().any(|&l| l > max_rep) {
                return Err(damaged(format!(
                    "row group {g}, column `{}`: its pages' levels exceed the schema's ({max_def} definition, {max_rep} repetition)",
                    column.path()
                )));
            }
        }
    }
    Ok(())
}

/// A column's definition and repetition levels, all of them.
fn levels<T: DataType>(mut reader: ColumnReaderImpl<T>) -> parquet::errors::Result<(Vec<i16>, Vec<i16>)> {
    let (mut def, mut rep, mut values) = (Vec::new(), Vec::new(), Vec::new());
    while reader.read_records(1024, Some(&mut def), Some(&mut rep), &mut values)?.0 > 0 {}
    Ok((def, rep))
}
