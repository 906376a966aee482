//! `vigie fleet`: the reports devices send home (`vigie_core::report`),
//! gathered in a database, and what they say about the fleet.
//!
//! `vigie fleet ingest` reads frames (a file, or `-` for standard input:
//! a UART's bytes as they come), decodes and checks each one, and stores
//! it once per (device, model, boot, sequence) (a device numbers its
//! reports from 0 at each boot): a damaged, cut or repeated frame is
//! counted and skipped, never fatal. `vigie fleet status` says which
//! devices report, which drift, on which inputs and since when.
//!
//! The database is SQLite (a file; no set-up).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use rusqlite::{params, Connection};
use vigie_core::monitor::Detector;
use vigie_core::report::{read_frame, Report, FRAME_MAX};

/// The schema, as run on a new database (the same SQL runs on
/// PostgreSQL).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS models (
    model BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    inputs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    device BIGINT NOT NULL,
    boot BIGINT NOT NULL,
    sequence BIGINT NOT NULL,
    model BIGINT NOT NULL,
    step BIGINT NOT NULL,
    detector INTEGER,
    feature INTEGER,
    direction INTEGER,
    size REAL,
    start_step BIGINT,
    end_step BIGINT,
    steps BIGINT NOT NULL,
    abstentions BIGINT NOT NULL,
    alarms TEXT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (device, model, boot, sequence)
);
";

/// Reports per transaction when reading a file.
pub const FILE_BATCH: usize = 1000;
/// Separates the input names stored for a model (a name may hold a
/// comma; it does not hold this control character).
const NAMES_SEPARATOR: &str = "\u{1f}";

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Frames stored.
    pub stored: usize,
    /// Frames already stored (same device, model, boot and sequence).
    pub duplicates: usize,
    /// Frames refused: damaged, cut, or not a report.
    pub damaged: usize,
}

/// Opens (creating when missing) the database at `db`.
pub fn open(db: &Path) -> Result<Connection> {
    let c = Connection::open(db)
        .with_context(|| format!("{}: cannot open the database", db.display()))?;
    c.execute_batch(SCHEMA)
        .with_context(|| format!("{}: cannot create the tables", db.display()))?;
    Ok(c)
}

/// Records a model's name and input names under its CRC-32, so that the
/// status names the inputs.
pub fn add_model(c: &Connection, path: &Path) -> Result<()> {
    let bytes = crate::files::read_model_file(path)?;
    let model = crate::files::load(path, &bytes)?;
    // The monitored features, as reports number them: the inputs, then
    // for windows each channel's spread.
    let inputs = crate::monitor_fit::feature_names(&model);
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    c.execute(
        "INSERT INTO models (model, name, inputs) VALUES (?1, ?2, ?3)
         ON CONFLICT (model) DO UPDATE SET name = excluded.name, inputs = excluded.inputs",
        params![
            i64::from(vigie_core::format::crc32(&bytes)),
            name,
            inputs.join(NAMES_SEPARATOR)
        ],
    )?;
    Ok(())
}

/// Stores one report; whether it was new.
fn store(c: &Connection, r: &Report, received: i64) -> Result<bool> {
    let e = r.episode;
    let alarms: Vec<String> = r.counters.alarms.iter().map(u16::to_string).collect();
    let n = c.execute(
        "INSERT INTO reports (device, sequence, model, step, detector, feature, direction, size,
            start_step, end_step, steps, abstentions, alarms, boot, received)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (device, model, boot, sequence) DO NOTHING",
        params![
            i64::from(r.device),
            i64::from(r.sequence),
            i64::from(r.model),
            i64::from(r.step),
            e.map(|e| i64::from(e.detector)),
            e.and_then(|e| e.feature).map(i64::from),
            e.map(|e| i64::from(e.direction)),
            e.map(|e| f64::from(e.size)),
            e.map(|e| i64::from(e.start)),
            e.and_then(|e| e.end).map(i64::from),
            i64::from(r.counters.steps),
            i64::from(r.counters.abstentions),
            alarms.join(","),
            i64::from(r.boot),
            received,
        ],
    )?;
    Ok(n == 1)
}

/// Reads frames from `input` as they come (split at each zero byte) and
/// stores them, committing every `commit_every` reports (1 for a live
/// line, so that `status` sees each report at once) and at the end.
pub fn ingest(c: &mut Connection, input: &mut dyn Read, commit_every: usize) -> Result<Ingested> {
    let mut done = Ingested::default();
    let mut frame: Vec<u8> = Vec::with_capacity(FRAME_MAX);
    let mut overlong = false;
    let mut buf = [0u8; 8192];
    let mut tx = c.transaction()?;
    let mut in_tx = 0;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading the frames"),
        };
        for &b in &buf[..n] {
            if b != 0 {
                if frame.len() < FRAME_MAX {
                    frame.push(b);
                } else {
                    overlong = true;
                }
                continue;
            }
            if frame.is_empty() && !overlong {
                continue;
            }
            match (overlong, read_frame(&frame)) {
                (false, Ok(r)) => {
                    if store(&tx, &r, unix_now())? {
                        done.stored += 1;
                    } else {
                        done.duplicates += 1;
                    }
                    in_tx += 1;
                }
                _ => done.damaged += 1,
            }
            frame.clear();
            overlong = false;
            if in_tx >= commit_every.max(1) {
                tx.commit()?;
                tx = c.transaction()?;
                in_tx = 0;
            }
        }
    }
    // A last frame without its ending zero was cut.
    if !frame.is_empty() || overlong {
        done.damaged += 1;
    }
    tx.commit()?;
    Ok(done)
}

/// A duration in seconds, in its largest whole unit.
fn span(seconds: i64) -> String {
    match seconds {
        s if s >= 2 * 86_400 => format!("{} days", s / 86_400),
        s if s >= 2 * 3600 => format!("{} h", s / 3600),
        s if s >= 120 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// An episode as stored: detector, feature, direction, size, end step.
type EpisodeRow = (i64, Option<i64>, i64, Option<f64>, Option<i64>);

/// Seconds since 1970 on this machine's clock: when a report was received.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A device that sent nothing for this long is listed as silent
/// (`vigie fleet status --silent-after`).
pub const SILENT_AFTER: i64 = 3600;

/// [`status_lines_at`] now, with [`SILENT_AFTER`].
pub fn status_lines(c: &Connection) -> Result<Vec<String>> {
    status_lines_at(c, unix_now(), SILENT_AFTER)
}

/// One line per device: its model, its last report, and its open drift
/// episode with the input named, which way and by how much.
pub fn status_lines_at(c: &Connection, now: i64, silent_after: i64) -> Result<Vec<String>> {
    let mut models: BTreeMap<i64, (String, Vec<String>)> = BTreeMap::new();
    let mut q = c.prepare("SELECT model, name, inputs FROM models")?;
    for row in q.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (m, name, inputs) = row?;
        models.insert(
            m,
            (
                name,
                inputs.split(NAMES_SEPARATOR).map(str::to_owned).collect(),
            ),
        );
    }
    let mut lines = Vec::new();
    let mut devices = c.prepare(
        "SELECT device, model, COUNT(*) FROM reports GROUP BY device, model ORDER BY device, model",
    )?;
    let rows: Vec<(i64, i64, i64)> = devices
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (device, model, count) in rows {
        // Its latest report (of the last boot, the last one), and when it
        // was last heard.
        let (boot, last, step, steps, heard): (i64, i64, i64, i64, i64) = c.query_row(
            "SELECT boot, sequence, step, steps,
                (SELECT MAX(received) FROM reports WHERE device = ?1 AND model = ?2)
             FROM reports WHERE device = ?1 AND model = ?2
             ORDER BY boot DESC, sequence DESC LIMIT 1",
            params![device, model],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let quiet = now.saturating_sub(heard).max(0);
        let heard = if quiet > silent_after {
            format!("SILENT for {}", span(quiet))
        } else {
            format!("heard {} ago", span(quiet))
        };
        let (name, inputs) = models
            .get(&model)
            .map_or((format!("model {model:08x}"), vec![]), |(n, i)| {
                (format!("{n} ({model:08x})"), i.clone())
            });
        lines.push(format!(
            "device {device}: {name}, {count} reports, {heard}; the latest (boot {boot}, #{last}) at step {step}, {steps} steps into its boot"
        ));
        // Episodes: the last report of each start.
        let mut q = c.prepare(
            "SELECT boot, start_step, detector, feature, direction, size, end_step FROM reports
             WHERE device = ?1 AND model = ?2 AND start_step IS NOT NULL
             ORDER BY boot, start_step, sequence",
        )?;
        // The last report of each (boot, start) wins: an end replaces its
        // start.
        let mut episodes: BTreeMap<(i64, i64), EpisodeRow> = BTreeMap::new();
        for row in q.query_map(params![device, model], |r| {
            Ok((
                (r.get::<_, i64>(0)?, r.get::<_, i64>(1)?),
                (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?),
            ))
        })? {
            let (key, e) = row?;
            episodes.insert(key, e);
        }
        for ((episode_boot, start), (detector, feature, direction, size, end)) in episodes {
            let detector = Detector::ALL
                .get(detector as usize)
                .map_or("?", |d| d.name());
            let span = match end {
                Some(end) => format!("drift from step {start} to step {end}"),
                // An episode of an earlier boot that never reported its
                // end ended with that boot.
                None if episode_boot < boot => {
                    format!("drift from step {start} (boot {episode_boot}, ended unreported)")
                }
                None => format!("DRIFTING since step {start}"),
            };
            let what = match feature {
                None => format!("{detector} on no input"),
                Some(f) => {
                    let name = inputs
                        .get(f as usize)
                        .cloned()
                        .unwrap_or_else(|| format!("input {f}"));
                    let moved = match direction {
                        1 => format!(", up {:.2} sd", size.unwrap_or(f64::NAN)),
                        -1 => format!(", down {:.2} sd", size.unwrap_or(f64::NAN)),
                        _ => String::new(),
                    };
                    format!("{detector} on {name}{moved}")
                }
            };
            lines.push(format!("  {span}: {what}"));
        }
    }
    Ok(lines)
}

/// `vigie fleet ingest`.
pub fn ingest_command(db: &Path, from: &str, models: &[std::path::PathBuf]) -> Result<()> {
    let mut c = open(db)?;
    for m in models {
        add_model(&c, m)?;
    }
    let done = if from == "-" {
        ingest(&mut c, &mut std::io::stdin().lock(), 1)?
    } else {
        let mut f =
            std::fs::File::open(from).with_context(|| format!("{from}: cannot open the frames"))?;
        ingest(&mut c, &mut f, FILE_BATCH)?
    };
    println!(
        "{}: {} reports stored, {} already there, {} damaged or cut frames skipped",
        db.display(),
        done.stored,
        done.duplicates,
        done.damaged
    );
    Ok(())
}

/// `vigie fleet status`.
pub fn status_command(db: &Path, silent_after: i64) -> Result<()> {
    if !db.exists() {
        anyhow::bail!(
            "{}: no such database; run `vigie fleet ingest --db {} --from FRAMES` first",
            db.display(),
            db.display()
        );
    }
    let c = open(db)?;
    let lines = status_lines_at(&c, unix_now(), silent_after)?;
    if lines.is_empty() {
        println!("{}: no report yet", db.display());
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// Frames of a simulated fleet (`vigie fleet simulate`): `devices`
/// devices, each sending `reports` reports of one model (an episode that
/// starts, then ends, in turn; a tenth of the devices drift on an input of
/// `inputs`), seeded. For the tests and the ingest benchmark.
pub fn simulate(devices: u32, reports: u32, inputs: u16, seed: u64) -> Result<Vec<u8>> {
    use vigie_core::report::{frame, Counters, Episode, Report};
    let mut rng = crate::rng::Rng(seed ^ 0xF1EE7);
    let mut out = Vec::new();
    let mut buf = [0u8; FRAME_MAX];
    let model = 0x5EED_0001;
    for device in 0..devices {
        let drifting = rng.below(10) == 0;
        let feature = rng.below(inputs.max(1) as usize) as u16;
        let mut start = 0u32;
        for sequence in 0..reports {
            let step = (sequence + 1) * 1000 + rng.below(1000) as u32;
            let open = sequence % 2 == 0;
            if open {
                start = step;
            }
            let episode = drifting.then(|| Episode {
                detector: Detector::Mean.index() as u8,
                feature: Some(feature),
                direction: if rng.below(2) == 0 { 1 } else { -1 },
                size: 0.5 + rng.uniform() as f32 * 2.0,
                start,
                end: (!open).then_some(step),
            });
            let mut counters = Counters {
                steps: step + 1,
                ..Counters::default()
            };
            counters.alarms[Detector::Mean.index()] =
                u16::from(drifting) * (sequence as u16 / 2 + 1);
            let r = Report {
                device,
                model,
                boot: 0,
                sequence,
                step,
                episode,
                counters,
            };
            out.extend_from_slice(frame(&r, &mut buf)?);
        }
    }
    Ok(out)
}

/// `vigie fleet simulate`.
pub fn simulate_command(devices: u32, reports: u32, seed: u64, out: &Path) -> Result<()> {
    let bytes = simulate(devices, reports, 16, seed)?;
    crate::files::write_atomically(out, &bytes)?;
    println!(
        "{}: {} frames of {} devices, {} bytes ({:.1} a frame)",
        out.display(),
        u64::from(devices) * u64::from(reports),
        devices,
        bytes.len(),
        bytes.len() as f64 / (f64::from(devices) * f64::from(reports)).max(1.0)
    );
    Ok(())
}
