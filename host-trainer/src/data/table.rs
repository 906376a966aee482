//! CSV files as people have them: comma, semicolon or tab between cells
//! (detected from the header and the first rows, or `--delimiter`), decimal
//! commas with `;` or tab (`--decimal`), a UTF-8 byte-order mark, CRLF line
//! ends. The file is streamed: each read parses the columns asked for
//! straight into numbers (or interned text), without a string per cell.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};

/// How cells are separated and how decimals are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dialect {
    /// The cell separator: `,`, `;` or a tab.
    pub delimiter: char,
    /// Whether decimals are written with a comma (`7,4`).
    pub decimal_comma: bool,
}

impl Dialect {
    /// Parses one cell as a finite number in this dialect.
    pub fn number(&self, cell: &str) -> Option<f32> {
        let cell = cell.trim();
        let v = if self.decimal_comma && cell.contains(',') {
            cell.replacen(',', ".", 1).parse::<f32>().ok()
        } else {
            cell.parse::<f32>().ok()
        };
        v.filter(|v| v.is_finite())
    }
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            delimiter: ',',
            decimal_comma: false,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = match self.delimiter {
            '\t' => "tab".to_owned(),
            c => format!("`{c}`"),
        };
        write!(
            f,
            "{sep}-separated, decimal {}",
            if self.decimal_comma { "comma" } else { "point" }
        )
    }
}

/// What the command line says about the dialect (`None`: detect).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// `--delimiter`.
    pub delimiter: Option<char>,
    /// `--decimal`: `.` or `,`.
    pub decimal: Option<char>,
}

impl CsvOptions {
    /// Parses `--delimiter` (`,`, `;`, `tab` or `\t`) and `--decimal` (`.`
    /// or `,`).
    pub fn parse(delimiter: Option<&str>, decimal: Option<&str>) -> Result<CsvOptions> {
        let delimiter = match delimiter {
            None => None,
            Some("," | "comma") => Some(','),
            Some(";" | "semicolon") => Some(';'),
            Some("tab" | "\t" | "\\t") => Some('\t'),
            Some(other) => bail!("--delimiter `{other}`: use `,`, `;` or `tab`"),
        };
        let decimal = match decimal {
            None => None,
            Some("." | "point") => Some('.'),
            Some("," | "comma") => Some(','),
            Some(other) => bail!("--decimal `{other}`: use `.` or `,`"),
        };
        if delimiter == Some(',') && decimal == Some(',') {
            bail!("--decimal , needs another --delimiter than `,` (`;` or `tab`)");
        }
        Ok(CsvOptions { delimiter, decimal })
    }
}

/// Bytes read to detect the dialect.
const SNIFF_BYTES: usize = 64 * 1024;
/// Lines (header included) the detection looks at.
const SNIFF_LINES: usize = 20;

/// Whether `cell` is a number written with a decimal comma (`-7,25`).
fn decimal_comma_number(cell: &str) -> bool {
    let t = cell.trim().trim_start_matches(['-', '+']);
    match t.split_once(',') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Detects the dialect from the first lines of a file: the delimiter that
/// splits every sampled line into the same number of cells (more than
/// one), the one giving most cells when several do; then, with `;` or tab,
/// whether numbers use a decimal comma.
/// `whole` says whether `sample` is the whole file; otherwise its last line
/// may be cut short and is left out (wide windows make lines of kilobytes).
pub fn detect(sample: &str, whole: bool, options: CsvOptions) -> Dialect {
    let mut lines: Vec<&str> = sample.trim_start_matches('\u{feff}').lines().collect();
    if !whole && lines.len() > 1 {
        lines.pop();
    }
    lines.truncate(SNIFF_LINES);
    let cells = |line: &str, d: char| -> Vec<String> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(d as u8)
            .from_reader(line.as_bytes());
        r.records()
            .next()
            .and_then(|x| x.ok())
            .map(|rec| rec.iter().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let delimiter = options.delimiter.unwrap_or_else(|| {
        let mut best = (',', 0usize);
        for d in [',', ';', '\t'] {
            let counts: Vec<usize> = lines
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| cells(l, d).len())
                .collect();
            let n = counts.first().copied().unwrap_or(0);
            if n > 1 && counts.iter().all(|&c| c == n) && n > best.1 {
                best = (d, n);
            }
        }
        best.0
    });
    let decimal_comma = match options.decimal {
        Some(c) => c == ',',
        None => {
            delimiter != ','
                && lines
                    .iter()
                    .skip(1)
                    .any(|l| cells(l, delimiter).iter().any(|c| decimal_comma_number(c)))
        }
    };
    Dialect {
        delimiter,
        decimal_comma,
    }
}

/// Cells that mean "missing": empty, `NaN`, `NA`, `?`.
pub fn is_missing(cell: &str) -> bool {
    cell.is_empty() || cell.eq_ignore_ascii_case("nan") || cell == "NA" || cell == "?"
}

/// A CSV file with a header: its columns, its dialect and its row count.
/// The rows are read again, streamed, by each accessor.
#[derive(Debug, Clone)]
pub struct CsvFile {
    /// Where it came from.
    pub path: PathBuf,
    /// Column names.
    pub headers: Vec<String>,
    /// How it is written.
    pub dialect: Dialect,
    /// Data rows (the header is line 1, so row `i` is on line `i + 2`).
    pub len: usize,
}

impl CsvFile {
    /// Opens a CSV file, detecting its dialect.
    pub fn read(path: &Path) -> Result<CsvFile> {
        Self::read_with(path, CsvOptions::default())
    }

    /// Opens a CSV file with the command line's dialect options, checks
    /// its header and that every row has one cell per column, and counts
    /// the rows. Says on standard error how the file was read when it is
    /// not plain comma-separated with decimal points.
    pub fn read_with(path: &Path, options: CsvOptions) -> Result<CsvFile> {
        let mut sample = Vec::with_capacity(SNIFF_BYTES);
        File::open(path)
            .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut sample)
            .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        if sample.iter().all(|b| b.is_ascii_whitespace()) {
            bail!(
                "{}: the file is empty; expected a header line, then one row per sample",
                path.display()
            );
        }
        let whole = sample.len() < SNIFF_BYTES;
        let dialect = detect(&String::from_utf8_lossy(&sample), whole, options);
        let mut file = CsvFile {
            path: path.to_owned(),
            headers: vec![],
            dialect,
            len: 0,
        };
        let mut reader = file.reader()?;
        file.headers = reader
            .headers()
            .map_err(|e| anyhow!("{}:1: cannot read the header: {e}", path.display()))?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        if file.headers.iter().all(|h| file.number(h).is_some()) {
            bail!(
                "{}:1: the first line holds numbers ({}…), not column names; add a header line naming each column",
                path.display(),
                file.headers.iter().take(3).cloned().collect::<Vec<_>>().join(",")
            );
        }
        if let Some(i) = file.headers.iter().position(|h| h.is_empty()) {
            bail!(
                "{}:1: column {} has no name; name every column in the header",
                path.display(),
                i + 1
            );
        }
        let mut record = csv::ByteRecord::new();
        let mut n = 0;
        while file.next(&mut reader, &mut record, n)? {
            n += 1;
        }
        if n == 0 {
            bail!("{}: the header has no data rows below it", path.display());
        }
        file.len = n;
        if dialect != Dialect::default() {
            eprintln!("{}: read as {dialect}", path.display());
        }
        Ok(file)
    }

    fn reader(&self) -> Result<csv::Reader<BufReader<File>>> {
        let f = File::open(&self.path)
            .map_err(|e| anyhow!("cannot read {}: {e}", self.path.display()))?;
        Ok(csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .delimiter(self.dialect.delimiter as u8)
            .from_reader(BufReader::with_capacity(1 << 16, f)))
    }

    /// Reads row `r`'s record; `false` at the end.
    fn next(
        &self,
        reader: &mut csv::Reader<BufReader<File>>,
        record: &mut csv::ByteRecord,
        r: usize,
    ) -> Result<bool> {
        reader.read_byte_record(record).map_err(|e| match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => anyhow!(
                "{}:{}: {len} cells, but the header has {expected_len} columns{}",
                self.path.display(),
                r + 2,
                self.dialect_hint()
            ),
            _ => anyhow!("{}:{}: {e}", self.path.display(), r + 2),
        })
    }

    /// When the header is one column holding another delimiter, what to do.
    fn dialect_hint(&self) -> String {
        if self.headers.len() != 1 {
            return String::new();
        }
        let h = &self.headers[0];
        for (d, name) in [(';', "`;`"), ('\t', "tab"), (',', "`,`")] {
            if d != self.dialect.delimiter && h.contains(d) {
                return format!(
                    "; the header is a single column that contains {name}: the file looks {name}-separated but was read as {}; pass --delimiter {} (or leave --delimiter out to detect it)",
                    self.dialect,
                    if d == '\t' { "tab".to_owned() } else { d.to_string() }
                );
            }
        }
        String::new()
    }

    /// Parses one cell as a number in this file's dialect.
    pub fn number(&self, cell: &str) -> Option<f32> {
        self.dialect.number(cell)
    }

    /// Streams every data row: `f(row index, its record)`.
    pub fn for_each_row(
        &self,
        mut f: impl FnMut(usize, &csv::ByteRecord) -> Result<()>,
    ) -> Result<()> {
        let mut reader = self.reader()?;
        let mut record = csv::ByteRecord::new();
        let mut r = 0;
        while self.next(&mut reader, &mut record, r)? {
            f(r, &record)?;
            r += 1;
        }
        Ok(())
    }

    /// A cell as text (trimmed), naming the place when it is not UTF-8.
    pub fn text<'r>(&self, record: &'r csv::ByteRecord, r: usize, c: usize) -> Result<&'r str> {
        std::str::from_utf8(record.get(c).unwrap_or_default())
            .map(str::trim)
            .map_err(|_| {
                anyhow!(
                    "{}:{}:{}: the cell is not UTF-8 text; save the file as UTF-8",
                    self.path.display(),
                    r + 2,
                    c + 1
                )
            })
    }

    /// Index of a column, or an error listing the columns and the nearest name.
    pub fn column(&self, name: &str, role: &str) -> Result<usize> {
        if let Some(i) = self.headers.iter().position(|h| h == name) {
            return Ok(i);
        }
        let hint = self.dialect_hint();
        if !hint.is_empty() {
            bail!("{}: no {role} column `{name}`{hint}", self.path.display());
        }
        // `px10` missing among `px0`..`px63`: name the numbered family
        // rather than suggest a neighbour (`px0`) that is another column.
        let numbered = |h: &str| -> Option<(String, u64)> {
            let digits = h.len() - h.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            (digits > 0 && digits < h.len())
                .then(|| {
                    (
                        h[..h.len() - digits].to_owned(),
                        h[h.len() - digits..].parse().ok(),
                    )
                })
                .and_then(|(p, n)| Some((p, n?)))
        };
        if let Some((prefix, _)) = numbered(name) {
            let family: Vec<u64> = self
                .headers
                .iter()
                .filter_map(|h| numbered(h).filter(|(p, _)| *p == prefix).map(|(_, n)| n))
                .collect();
            if family.len() > 1 {
                let (lo, hi) = (
                    family.iter().min().copied().unwrap_or(0),
                    family.iter().max().copied().unwrap_or(0),
                );
                bail!(
                    "{}: no {role} column `{name}`: the file has {} `{prefix}…` columns ({prefix}{lo} to {prefix}{hi}) but not this one; was it removed or renamed?",
                    self.path.display(),
                    family.len()
                );
            }
        }
        let nearest = self
            .headers
            .iter()
            .min_by_key(|h| super::edit_distance(h, name))
            .cloned()
            .unwrap_or_default();
        let shown: Vec<&str> = self.headers.iter().take(12).map(String::as_str).collect();
        let more = if self.headers.len() > 12 {
            format!(", … ({} columns)", self.headers.len())
        } else {
            String::new()
        };
        bail!(
            "{}: no {role} column `{name}`; did you mean `{nearest}`? Columns: {}{more}",
            self.path.display(),
            shown.join(", ")
        )
    }

    /// Which of `cols` hold text: a column whose filled cells are mostly
    /// not numbers (a place, a sex) holds text. A column of numbers with a
    /// few cells that are not (a typo, a unit) is an error naming the
    /// first one: reading it as text would hide the slip.
    pub fn text_columns(&self, cols: &[usize]) -> Result<Vec<bool>> {
        /// Numbers, texts, and the first text cell's row and value.
        type Seen = (usize, usize, Option<(usize, String)>);
        let mut seen: Vec<Seen> = vec![(0, 0, None); cols.len()];
        self.for_each_row(|r, rec| {
            for (k, &c) in cols.iter().enumerate() {
                let cell = self.text(rec, r, c)?;
                if is_missing(cell) {
                    continue;
                }
                let s = &mut seen[k];
                if self.number(cell).is_some() {
                    s.0 += 1;
                } else {
                    s.1 += 1;
                    if s.2.is_none() {
                        s.2 = Some((r, cell.to_owned()));
                    }
                }
            }
            Ok(())
        })?;
        cols.iter()
            .zip(seen)
            .map(|(&c, (numbers, texts, first))| match first {
                Some((r, cell)) if texts < numbers => bail!(
                    "{}:{}:{}: column `{}` holds `{cell}`, which is not a number, where {numbers} of its {} filled cells are numbers; fix the cell, or leave it empty to mark it missing",
                    self.path.display(),
                    r + 2,
                    c + 1,
                    self.headers[c],
                    numbers + texts
                ),
                first => Ok(first.is_some()),
            })
            .collect()
    }

    /// One column as interned text: its distinct values in order of first
    /// appearance, and each row's index into them.
    pub fn levels(&self, col: usize) -> Result<(Vec<String>, Vec<u32>)> {
        let mut levels: Vec<String> = Vec::new();
        let mut index: std::collections::HashMap<String, u32> = Default::default();
        let mut codes = Vec::with_capacity(self.len);
        self.for_each_row(|r, rec| {
            let cell = self.text(rec, r, col)?;
            let code = match index.get(cell) {
                Some(&i) => i,
                None => {
                    let i = levels.len() as u32;
                    levels.push(cell.to_owned());
                    index.insert(cell.to_owned(), i);
                    i
                }
            };
            codes.push(code);
            Ok(())
        })?;
        Ok((levels, codes))
    }
}
