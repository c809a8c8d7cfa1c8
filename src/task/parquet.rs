//! Parquet task files (what the Hub holds for datasets uploaded with `datasets`) → the same
//! rows as a JSON array, so one parser checks every format.

use bytes::Bytes;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::TaskError;

/// The bytes every Parquet file starts (and ends) with.
pub const MAGIC: &[u8; 4] = b"PAR1";

/// Each row of a Parquet file as a JSON object (lists as arrays, numbers as numbers),
/// numbered from 1.
pub fn parquet_rows(bytes: &[u8]) -> Result<Vec<(usize, serde_json::Value)>, TaskError> {
    let reader = SerializedFileReader::new(Bytes::copy_from_slice(bytes))
        .map_err(|e| TaskError::file(format!("the file is not a readable Parquet file: {e}")))?;
    let rows = reader.get_row_iter(None).map_err(|e| TaskError::file(format!("cannot read the Parquet rows: {e}")))?;
    rows.enumerate()
        .map(|(i, row)| {
            let row = row.map_err(|e| TaskError::at_row(i + 1, format!("cannot be read from the Parquet file: {e}")))?;
            Ok((i + 1, row.to_json_value()))
        })
        .collect()
}
