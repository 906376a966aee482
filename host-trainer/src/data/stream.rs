//! A CSV stream read row by row in constant memory, from a file or from
//! standard input (`-`): what `vigie monitor` replays. The header names the
//! columns; the model's input columns are matched by name, text columns are
//! encoded over the model's levels as the device does, and each row is
//! handed over as soon as its line has arrived, so a stream at the end of a
//! pipe or a serial log is watched as it comes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::table::{detect, CsvOptions, Dialect};
use super::{encode_cell, level_lookups, Cell, RawColumn};

/// Rows of a CSV stream, as model inputs.
pub struct RowStream {
    /// The file's name for messages (`standard input` for `-`).
    pub name: String,
    reader: csv::Reader<Box<dyn Read>>,
    dialect: Dialect,
    /// Column of each raw model input.
    index: Vec<usize>,
    columns: Vec<RawColumn>,
    lookups: Vec<Option<HashMap<String, usize>>>,
    /// Model inputs of each raw column.
    widths: Vec<usize>,
    /// Column of the labels, if asked for.
    label: Option<usize>,
    /// Data rows read so far.
    pub rows: usize,
    record: csv::ByteRecord,
}

impl RowStream {
    /// Opens `path` (or standard input for `-`) and matches the header to
    /// the model's raw input `columns` and the `label` column, if any. The
    /// dialect is the command line's, or detected from the header and the
    /// first data line.
    pub fn open(
        path: &Path,
        options: CsvOptions,
        columns: Vec<RawColumn>,
        label: Option<&str>,
    ) -> Result<RowStream> {
        let stdin = path == Path::new("-");
        let name = if stdin {
            "standard input".to_owned()
        } else {
            path.display().to_string()
        };
        let mut source: Box<dyn BufRead> = if stdin {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            Box::new(BufReader::new(
                File::open(path).map_err(|e| anyhow!("cannot read {name}: {e}"))?,
            ))
        };
        // The header and the first data line: enough to detect the dialect
        // without waiting for more of a slow stream.
        let mut head = String::new();
        for _ in 0..2 {
            source
                .read_line(&mut head)
                .map_err(|e| anyhow!("cannot read {name}: {e}"))?;
        }
        if head.trim().is_empty() {
            bail!("{name}: the stream is empty; expected a header line, then one row per sample");
        }
        let dialect = detect(&head, false, options);
        let reader: Box<dyn Read> = Box::new(Cursor::new(head.into_bytes()).chain(source));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .delimiter(dialect.delimiter as u8)
            .from_reader(reader);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| anyhow!("{name}:1: cannot read the header: {e}"))?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        let find = |wanted: &str, role: &str| -> Result<usize> {
            headers.iter().position(|h| h == wanted).ok_or_else(|| {
                anyhow!(
                    "{name}:1: no {role} column `{wanted}`; the header has: {}",
                    headers.join(", ")
                )
            })
        };
        let index = columns
            .iter()
            .map(|c| find(&c.name, "model input"))
            .collect::<Result<Vec<_>>>()?;
        let label = label.map(|l| find(l, "label")).transpose()?;
        let lookups = level_lookups(&columns);
        let widths = columns.iter().map(|c| c.channel_names().len()).collect();
        Ok(RowStream {
            name,
            reader,
            dialect,
            index,
            columns,
            lookups,
            widths,
            label,
            rows: 0,
            record: csv::ByteRecord::new(),
        })
    }

    /// Model inputs per row.
    pub fn width(&self) -> usize {
        self.widths.iter().sum()
    }

    /// Reads the next row into `x` (missing numbers: NaN, as the device
    /// sees them); returns its label cell when a label column was asked
    /// for, and `None` at the end of the stream.
    pub fn next_row(&mut self, x: &mut [f32]) -> Result<Option<Option<String>>> {
        let line = self.rows + 2;
        let more = self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => anyhow!(
                    "{}:{line}: {len} cells, but the header has {expected_len} columns",
                    self.name
                ),
                _ => anyhow!("{}:{line}: {e}", self.name),
            })?;
        if !more {
            return Ok(None);
        }
        self.rows += 1;
        let text = |c: usize| -> Result<String> {
            std::str::from_utf8(self.record.get(c).unwrap_or_default())
                .map(|s| s.trim().to_owned())
                .map_err(|_| anyhow!("{}:{line}:{}: the cell is not UTF-8 text", self.name, c + 1))
        };
        x.fill(0.0);
        let mut at = 0;
        let columns = self.columns.iter().zip(&self.index).zip(&self.lookups);
        for (((column, &c), lookup), w) in columns.zip(&self.widths) {
            let cell = text(c)?;
            if let Cell::NotANumber =
                encode_cell(&cell, lookup.as_ref(), self.dialect, &mut x[at..])
            {
                bail!(
                    "{}:{line}:{}: column `{}` holds `{cell}`, which is not a number; fix the cell, or leave it empty to mark it missing",
                    self.name,
                    c + 1,
                    column.name
                );
            }
            at += w;
        }
        Ok(Some(self.label.map(text).transpose()?))
    }
}
