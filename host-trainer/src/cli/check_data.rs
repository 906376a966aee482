//! `vigie check-data`: the data checks of a training file.

use std::path::Path;

use anyhow::Result;

use crate::data::{self, CsvFile, Spec};

/// Exit status of `vigie check-data --strict` on a blocking finding.
pub const STRICT_EXIT: u8 = 3;

/// `vigie check-data`.
pub fn check_data(
    data_path: &Path,
    target: &str,
    test: Option<&Path>,
    regression: bool,
    as_json: bool,
    strict: bool,
    (drop, options, group): (&[String], data::CsvOptions, Option<&str>),
) -> Result<()> {
    let csv = CsvFile::read_with(data_path, options)?;
    let spec = Spec {
        target: target.to_owned(),
        drop: drop.to_vec(),
        regression,
        csv: options,
        ..Spec::default()
    };
    let data = data::load(&csv, &spec)?;
    let test_data = test
        .map(|path| data::load_test(&csv, &data, &spec, path))
        .transpose()?;
    let mut findings = crate::data::checks::run(&data, test_data.as_ref());
    if let Some(columns) = group {
        let groups = crate::evaluation::groups::read(&csv, columns)?;
        let width = data.width();
        let missing: Vec<usize> = (0..data.len())
            .map(|r| data.row(r).iter().filter(|v| v.is_nan()).count())
            .collect();
        findings.extend(crate::evaluation::groups::data_findings(
            &groups,
            &data.target,
            &missing,
            width,
        ));
    }
    if as_json {
        println!("{}", serde_json::to_string(&findings)?);
    } else if findings.is_empty() {
        println!("no findings");
    } else {
        for f in &findings {
            let severity = match f.severity {
                crate::data::checks::Severity::Blocking => "BLOCKING",
                crate::data::checks::Severity::Warning => "warning ",
                crate::data::checks::Severity::Info => "info    ",
            };
            println!("{severity} {:<18} {}", f.check, f.message);
        }
    }
    let blocking = crate::data::checks::blocking(&findings).len();
    if strict && blocking > 0 {
        eprintln!("check-data: {blocking} blocking findings (--strict)");
        std::process::exit(STRICT_EXIT.into());
    }
    Ok(())
}
