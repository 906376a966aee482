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
//! The database is SQLite (a file; no set-up) or PostgreSQL (`--db
//! postgres://…`), with the same schema and queries ([`store`]). Frames
//! also come through an MQTT broker ([`mqtt`]), and `vigie fleet report`
//! draws the fleet on a page ([`page`]).

pub mod mqtt;
pub mod page;
pub mod store;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use vigie_core::monitor::Detector;
use vigie_core::report::{Deframer, Report};

pub use store::{Param, Store};

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

/// Opens (creating when missing) the database `db`: a SQLite file, or a
/// `postgres://` URL.
pub fn open(db: impl AsRef<str>) -> Result<Store> {
    Store::open(db.as_ref())
}

/// Records a model's name and input names under its CRC-32, so that the
/// status names the inputs.
pub fn add_model(c: &mut Store, path: &Path) -> Result<()> {
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
        "INSERT INTO models (model, name, inputs) VALUES ($1, $2, $3)
         ON CONFLICT (model) DO UPDATE SET name = excluded.name, inputs = excluded.inputs",
        &[
            Param::Int(Some(i64::from(vigie_core::format::crc32(&bytes)))),
            Param::Text(name),
            Param::Text(inputs.join(NAMES_SEPARATOR)),
        ],
    )?;
    Ok(())
}

/// Columns of a stored report, in the order [`store_all`] binds them.
const REPORT_COLUMNS: &str = "device, sequence, model, step, detector, feature, direction, size,
    start_step, end_step, steps, abstentions, alarms, boot, received";
const REPORT_WIDTH: usize = 15;

/// Most reports in one statement: 15 parameters each stay under SQLite's
/// 32,766 and PostgreSQL's 65,535.
pub const MAX_BATCH: usize = 2000;

/// Stores reports (each with its receive time) in one statement; how many
/// were new (the others were there already: same device, model, boot and
/// sequence, or repeated within `reports`).
fn store_all(c: &mut Store, reports: &[(Report, i64)]) -> Result<usize> {
    if reports.is_empty() {
        return Ok(0);
    }
    let mut sql = format!("INSERT INTO reports ({REPORT_COLUMNS}) VALUES ");
    let mut params = Vec::with_capacity(reports.len() * REPORT_WIDTH);
    let int = |v: Option<i64>| Param::Int(v);
    for (i, (r, received)) in reports.iter().enumerate() {
        let first = i * REPORT_WIDTH + 1;
        let marks: Vec<String> = (first..first + REPORT_WIDTH)
            .map(|n| format!("${n}"))
            .collect();
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&marks.join(", "));
        sql.push(')');
        let e = r.episode;
        let alarms: Vec<String> = r.counters.alarms.iter().map(u16::to_string).collect();
        params.extend([
            int(Some(i64::from(r.device))),
            int(Some(i64::from(r.sequence))),
            int(Some(i64::from(r.model))),
            int(Some(i64::from(r.step))),
            int(e.map(|e| i64::from(e.detector))),
            int(e.and_then(|e| e.feature).map(i64::from)),
            int(e.map(|e| i64::from(e.direction))),
            Param::Real(e.map(|e| f64::from(e.size))),
            int(e.map(|e| i64::from(e.start))),
            int(e.and_then(|e| e.end).map(i64::from)),
            int(Some(i64::from(r.counters.steps))),
            int(Some(i64::from(r.counters.abstentions))),
            Param::Text(alarms.join(",")),
            int(Some(i64::from(r.boot))),
            int(Some(*received)),
        ]);
    }
    sql.push_str(" ON CONFLICT (device, model, boot, sequence) DO NOTHING");
    Ok(c.execute(&sql, &params)? as usize)
}

/// Splits bytes into frames at each zero byte, however they arrive (a
/// UART's reads, a file's blocks, MQTT messages), and stores each report
/// once, `batch` reports per statement (each statement is its own
/// transaction: what is stored is never half a batch).
pub struct Ingester {
    deframer: Deframer,
    pending: Vec<(Report, i64)>,
    batch: usize,
    /// What it did so far (reports still pending are not counted yet).
    pub done: Ingested,
}

impl Ingester {
    /// Stores every `batch` reports (1 for a live line, so that `status`
    /// sees each report at once), and the rest at [`Ingester::flush`] or
    /// [`Ingester::finish`].
    pub fn new(batch: usize) -> Ingester {
        Ingester {
            deframer: Deframer::new(),
            pending: Vec::new(),
            batch: batch.clamp(1, MAX_BATCH),
            done: Ingested::default(),
        }
    }

    /// Reads the next bytes into reports, without storing them.
    pub fn take(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.deframer.push(b) {
                None => {}
                Some(Ok(r)) => self.pending.push((r, unix_now())),
                Some(Err(_)) => self.done.damaged += 1,
            }
        }
    }

    /// Takes the next bytes, and stores what is pending once a batch is
    /// there.
    pub fn feed(&mut self, c: &mut Store, bytes: &[u8]) -> Result<()> {
        self.take(bytes);
        if self.pending.len() >= self.batch {
            self.flush(c)?;
        }
        Ok(())
    }

    /// Stores the reports pending, a batch per statement (a live source
    /// that went quiet, or a full batch). On an error, what was not stored
    /// stays pending.
    pub fn flush(&mut self, c: &mut Store) -> Result<()> {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(self.batch);
            let stored = store_all(c, &self.pending[..n])?;
            self.done.stored += stored;
            self.done.duplicates += n - stored;
            self.pending.drain(..n);
        }
        Ok(())
    }

    /// Ends: a last frame without its ending zero was cut; stores the rest.
    pub fn finish(mut self, c: &mut Store) -> Result<Ingested> {
        if self.deframer.pending() {
            self.done.damaged += 1;
        }
        self.flush(c)?;
        Ok(self.done)
    }
}

/// Reads frames from `input` as they come (split at each zero byte) and
/// stores them, committing every `commit_every` reports (1 for a live
/// line, so that `status` sees each report at once) and at the end.
pub fn ingest(c: &mut Store, input: &mut dyn Read, commit_every: usize) -> Result<Ingested> {
    let mut ingester = Ingester::new(commit_every);
    chunks(input, &mut |bytes| {
        ingester.feed(c, bytes)?;
        Ok(true)
    })?;
    ingester.finish(c)
}

/// Reads `input` as it comes, handing each read to `take` until the end or
/// until `take` says stop (`false`).
fn chunks(input: &mut dyn Read, take: &mut dyn FnMut(&[u8]) -> Result<bool>) -> Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading the frames"),
        };
        if !take(&buf[..n])? {
            return Ok(());
        }
    }
}

/// `n` and a noun, the noun plural unless `n` is 1.
pub fn count(n: impl Into<i64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A duration in seconds, in its largest whole unit.
pub fn span(seconds: i64) -> String {
    match seconds {
        s if s >= 2 * 86_400 => format!("{} days", s / 86_400),
        s if s >= 2 * 3600 => format!("{} h", s / 3600),
        s if s >= 120 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Seconds since 1970 on this machine's clock: when a report was received.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A device that sent nothing for this long is listed as silent
/// (`vigie fleet status --silent-after`).
pub const SILENT_AFTER: i64 = 3600;

/// Episodes the terminal status shows per device, the latest; the page
/// shows them all on its timeline.
pub const EPISODES_SHOWN: usize = 5;

/// A drift episode of one device, as its last report about it says.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeView {
    /// The boot it happened in.
    pub boot: i64,
    /// Its first step.
    pub start: i64,
    /// Its last step, when its end was reported.
    pub end: Option<i64>,
    /// The detector that raised it.
    pub detector: &'static str,
    /// The input it named, by name when the model is known.
    pub input: Option<String>,
    /// Which way that input moved (1 up, −1 down, 0 unknown).
    pub direction: i64,
    /// How far, in training deviations, averaged over the episode.
    pub size: Option<f64>,
    /// Still going: the device's latest report carries it, without an
    /// end, and no other model replaced this one on the device.
    pub open: bool,
}

/// One device running one model, as its reports say.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceView {
    /// Its number.
    pub device: i64,
    /// The model's CRC-32.
    pub model: i64,
    /// The model's file name, when the database knows the model.
    pub model_name: Option<String>,
    /// Reports stored.
    pub reports: i64,
    /// Reports its sequence numbers say it sent that never arrived.
    pub missing: i64,
    /// When the last one was received (seconds since 1970).
    pub heard: i64,
    /// Its latest report: boot, sequence, step, and steps into the boot.
    pub boot: i64,
    /// The sequence number of its latest report.
    pub sequence: i64,
    /// The step of its latest report.
    pub step: i64,
    /// Steps into its boot at its latest report.
    pub steps: i64,
    /// The model that replaced this one on the device (it was heard with
    /// it later): then this pair is neither silent nor drifting.
    pub replaced_by: Option<String>,
    /// Its episodes, oldest first.
    pub episodes: Vec<EpisodeView>,
}

/// A model by name and CRC when the database knows it, by CRC otherwise.
fn model_label(name: Option<&str>, crc: i64) -> String {
    match name {
        Some(n) => format!("{n} ({crc:08x})"),
        None => format!("model {crc:08x}"),
    }
}

impl DeviceView {
    /// The model, by name and CRC when known.
    pub fn model_label(&self) -> String {
        model_label(self.model_name.as_deref(), self.model)
    }

    /// Whether it drifts now.
    pub fn drifting(&self) -> bool {
        self.episodes.iter().any(|e| e.open)
    }
}

/// The fleet as the database holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// One entry per (device, model), by device then model.
    pub devices: Vec<DeviceView>,
    /// When it was read (seconds since 1970).
    pub now: i64,
    /// Seconds without a report after which a device is silent.
    pub silent_after: i64,
}

impl EpisodeView {
    /// Which way and how far its input moved (`up 2.03 sd`), when known.
    pub fn moved(&self) -> Option<String> {
        let size = self.size.unwrap_or(f64::NAN);
        match self.direction {
            1 => Some(format!("up {size:.2} sd")),
            -1 => Some(format!("down {size:.2} sd")),
            _ => None,
        }
    }
}

impl Fleet {
    /// Seconds since `d` was last heard.
    pub fn quiet(&self, d: &DeviceView) -> i64 {
        self.now.saturating_sub(d.heard).max(0)
    }

    /// Whether `d` has sent nothing for longer than the silence limit
    /// (with any model: a device that moved to another model is not
    /// silent on its old one).
    pub fn silent(&self, d: &DeviceView) -> bool {
        d.replaced_by.is_none() && self.quiet(d) > self.silent_after
    }
}

/// Reads the fleet: each device's latest report (indexed lookups, one
/// device at a time) and its episodes, the last report of each (boot,
/// start) winning, since an end replaces its start.
pub fn fleet(c: &mut Store, now: i64, silent_after: i64) -> Result<Fleet> {
    let mut models: BTreeMap<i64, (String, Vec<String>)> = BTreeMap::new();
    for row in c.query("SELECT model, name, inputs FROM models", &[])? {
        let m = row[0].int().unwrap_or(0);
        let names = row[2]
            .text()
            .split(NAMES_SEPARATOR)
            .map(str::to_owned)
            .collect();
        models.insert(m, (row[1].text().to_owned(), names));
    }
    // Per device and model: reports, when last heard, and the reports its
    // sequence numbers say it sent (each boot numbers them from 0): the
    // difference went missing on the way (a report lost after a boot's
    // last stored one is not seen).
    let pairs = c.query(
        "SELECT device, model, CAST(SUM(n) AS BIGINT), MAX(heard), CAST(SUM(last + 1) AS BIGINT)
         FROM (SELECT device, model, boot, COUNT(*) AS n, MAX(sequence) AS last,
                      MAX(received) AS heard
               FROM reports GROUP BY device, model, boot) AS boots
         GROUP BY device, model ORDER BY device, model",
        &[],
    )?;
    // Each device's newest model: the one it was last heard with.
    let mut newest: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for p in &pairs {
        let (device, model, heard) = (
            p[0].int().unwrap_or(0),
            p[1].int().unwrap_or(0),
            p[3].int().unwrap_or(0),
        );
        let e = newest.entry(device).or_insert((heard, model));
        if heard > e.0 {
            *e = (heard, model);
        }
    }
    let mut devices = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let (device, model) = (pair[0].int().unwrap_or(0), pair[1].int().unwrap_or(0));
        let heard = pair[3].int().unwrap_or(0);
        let replaced_by = newest
            .get(&device)
            .filter(|(h, m)| *m != model && *h > heard)
            .map(|&(_, m)| m);
        let key = [Param::Int(Some(device)), Param::Int(Some(model))];
        let latest = c.query(
            "SELECT boot, sequence, step, steps, start_step, end_step FROM reports
             WHERE device = $1 AND model = $2
             ORDER BY boot DESC, sequence DESC LIMIT 1",
            &key,
        )?;
        let latest = latest.first().cloned().unwrap_or_default();
        let at = |i: usize| latest.get(i).and_then(store::Value::int);
        let boot = at(0).unwrap_or(0);
        // The episode the latest report carries, if it is still open: a
        // report after an episode's start carries it until it ends, so an
        // episode that is not in the latest report has ended, even when
        // the frame saying so was lost.
        let open_start = match (at(4), at(5)) {
            (Some(start), None) if replaced_by.is_none() => Some(start),
            _ => None,
        };
        let inputs = models.get(&model).map(|(_, i)| i.as_slice()).unwrap_or(&[]);
        let mut episodes: BTreeMap<(i64, i64), EpisodeView> = BTreeMap::new();
        for r in c.query(
            "SELECT boot, start_step, detector, feature, direction, size, end_step FROM reports
             WHERE device = $1 AND model = $2 AND start_step IS NOT NULL
             ORDER BY boot, start_step, sequence",
            &key,
        )? {
            let (b, start) = (r[0].int().unwrap_or(0), r[1].int().unwrap_or(0));
            let detector = r[2]
                .int()
                .and_then(|d| Detector::ALL.get(d as usize))
                .map_or("?", |d| d.name());
            let input = r[3].int().map(|f| {
                inputs
                    .get(f as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("input {f}"))
            });
            let end = r[6].int();
            episodes.insert(
                (b, start),
                EpisodeView {
                    boot: b,
                    start,
                    end,
                    detector,
                    input,
                    direction: r[4].int().unwrap_or(0),
                    size: r[5].real(),
                    open: end.is_none() && b == boot && open_start == Some(start),
                },
            );
        }
        devices.push(DeviceView {
            device,
            model,
            model_name: models.get(&model).map(|(n, _)| n.clone()),
            reports: pair[2].int().unwrap_or(0),
            missing: (pair[4].int().unwrap_or(0) - pair[2].int().unwrap_or(0)).max(0),
            heard,
            boot,
            sequence: at(1).unwrap_or(0),
            step: at(2).unwrap_or(0),
            steps: at(3).unwrap_or(0),
            replaced_by: replaced_by
                .map(|m| model_label(models.get(&m).map(|(n, _)| n.as_str()), m)),
            episodes: episodes.into_values().collect(),
        });
    }
    Ok(Fleet {
        devices,
        now,
        silent_after,
    })
}

/// An episode in words: its span, detector, input, direction and size.
pub fn episode_line(e: &EpisodeView) -> String {
    let span = match e.end {
        Some(end) => format!("drift from step {} to step {end}", e.start),
        // An episode that never reported its end, but that the device's
        // later reports no longer carry (a later boot, a lost frame, a
        // new model), has ended.
        None if !e.open => format!(
            "drift from step {} (boot {}, ended unreported)",
            e.start, e.boot
        ),
        None => format!("DRIFTING since step {}", e.start),
    };
    let what = match &e.input {
        None => format!("{} on no input", e.detector),
        Some(name) => {
            let moved = e.moved().map(|m| format!(", {m}")).unwrap_or_default();
            format!("{} on {name}{moved}", e.detector)
        }
    };
    format!("{span}: {what}")
}

/// [`status_lines_at`] now, with [`SILENT_AFTER`].
pub fn status_lines(c: &mut Store) -> Result<Vec<String>> {
    status_lines_at(c, unix_now(), SILENT_AFTER)
}

/// One line per device: its model, its last report, and its latest drift
/// episodes ([`EPISODES_SHOWN`]) with the input named, which way and by how
/// much.
pub fn status_lines_at(c: &mut Store, now: i64, silent_after: i64) -> Result<Vec<String>> {
    let f = fleet(c, now, silent_after)?;
    let mut lines = Vec::new();
    for d in &f.devices {
        let quiet = f.quiet(d);
        let heard = if let Some(next) = &d.replaced_by {
            format!(
                "replaced by {next} (last heard with this one {} ago)",
                span(quiet)
            )
        } else if f.silent(d) {
            format!("SILENT for {}", span(quiet))
        } else {
            format!("heard {} ago", span(quiet))
        };
        let missing = if d.missing > 0 {
            format!(" ({} missing)", d.missing)
        } else {
            String::new()
        };
        lines.push(format!(
            "device {}: {}, {}{missing}, {heard}; the latest (boot {}, #{}) at step {}, {} steps into its boot",
            d.device,
            d.model_label(),
            count(d.reports, "report"),
            d.boot,
            d.sequence,
            d.step,
            d.steps
        ));
        let earlier = d.episodes.len().saturating_sub(EPISODES_SHOWN);
        if earlier > 0 {
            lines.push(format!(
                "  … {earlier} earlier episodes (`vigie fleet report` draws them all)"
            ));
        }
        for e in &d.episodes[earlier..] {
            lines.push(format!("  {}", episode_line(e)));
        }
    }
    Ok(lines)
}

/// Where `vigie fleet ingest` reads frames.
pub enum Source<'a> {
    /// A file, `-` (standard input), or a serial port's device file.
    Path(&'a str),
    /// An MQTT broker, until the condition, with a named session or not.
    Mqtt(&'a str, mqtt::Until, Option<&'a str>),
}

/// `vigie fleet ingest`.
pub fn ingest_command(db: &str, source: Source<'_>, models: &[std::path::PathBuf]) -> Result<()> {
    // Everything given is checked before the database is opened (and, for
    // SQLite, created): a typo leaves no new file behind.
    store::check_name(db)?;
    for m in models {
        let bytes = crate::files::read_model_file(m)?;
        crate::files::load(m, &bytes)?;
    }
    enum Input<'s> {
        Stdin,
        File(std::fs::File, bool),
        Mqtt((String, u16), mqtt::Until, Option<&'s str>),
    }
    let input = match source {
        Source::Path("-") => Input::Stdin,
        Source::Path(from) => {
            if Path::new(from).is_dir() {
                anyhow::bail!("--from {from}: that is a folder; give the file of frames (a UART capture, `vigie replay --frames`, `vigie fleet simulate`)");
            }
            let f = std::fs::File::open(from)
                .with_context(|| format!("--from {from}: cannot open the frames"))?;
            // A serial port or a pipe is a live line: each report is
            // stored as it comes. A file is read in batches, once it is
            // known to hold a report frame (a text file given by mistake
            // creates no database).
            let live = !f.metadata().is_ok_and(|m| m.is_file());
            if !live {
                let pieces = first_frame(&mut &f)
                    .with_context(|| format!("--from {from}: cannot read the frames"))?;
                if let Err(pieces @ 1..) = pieces {
                    anyhow::bail!(
                        "--from {from}: none of its {} is a report frame; is it the UART capture (QEMU's -serial file:, `vigie replay --frames`)?",
                        count(pieces as i64, "piece")
                    );
                }
            }
            let f = std::fs::File::open(from)
                .with_context(|| format!("--from {from}: cannot open the frames"))?;
            Input::File(f, live)
        }
        Source::Mqtt(addr, until, session) => {
            let addr = mqtt::address(addr)?;
            mqtt::reachable(&addr)?;
            Input::Mqtt(addr, until, session)
        }
    };
    let mut c = open(db)?;
    for m in models {
        add_model(&mut c, m)?;
    }
    let done = match input {
        Input::Stdin => ingest(&mut c, &mut std::io::stdin().lock(), 1),
        Input::File(mut f, live) => ingest(&mut c, &mut f, if live { 1 } else { FILE_BATCH })
            .with_context(|| format!("--from {}", source_name(&source))),
        Input::Mqtt(addr, until, session) => mqtt::ingest(&mut c, &addr, until, session)
            .with_context(|| format!("ingesting into {}", store::redact(db))),
    };
    let done = done?;
    println!(
        "{}: {} stored, {} already there, {} skipped",
        store::redact(db),
        count(done.stored as i64, "report"),
        done.duplicates,
        count(done.damaged as i64, "damaged or cut frame"),
    );
    Ok(())
}

fn source_name<'a>(s: &'a Source<'a>) -> &'a str {
    match s {
        Source::Path(p) => p,
        Source::Mqtt(a, _, _) => a,
    }
}

/// Reads `input` until its first report frame: `Ok(Ok(()))` when there is
/// one, `Ok(Err(pieces))` with the pieces read when none is.
fn first_frame(input: &mut dyn Read) -> Result<std::result::Result<(), usize>> {
    let mut d = Deframer::new();
    let (mut pieces, mut found) = (0, false);
    chunks(input, &mut |bytes| {
        for &b in bytes {
            match d.push(b) {
                Some(Ok(_)) => found = true,
                Some(Err(_)) => pieces += 1,
                None => {}
            }
            if found {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    Ok(if found {
        Ok(())
    } else {
        Err(pieces + usize::from(d.pending()))
    })
}

/// `vigie fleet status`.
pub fn status_command(db: &str, silent_after: i64) -> Result<()> {
    let mut c = Store::open_to_read(db)?;
    let lines = status_lines_at(&mut c, unix_now(), silent_after)?;
    if lines.is_empty() {
        println!("{}: no report yet", store::redact(db));
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// `vigie fleet report`: the page at `out`.
pub fn report_command(db: &str, out: &Path, silent_after: i64, force: bool) -> Result<()> {
    let inputs: Vec<(&str, &Path)> = if store::is_postgres(db) {
        vec![]
    } else {
        vec![("--db", Path::new(db))]
    };
    crate::files::check_output(out, "--out", crate::files::Kind::Html, &inputs, force)?;
    let mut c = Store::open_to_read(db)?;
    let f = fleet(&mut c, unix_now(), silent_after)?;
    let html = page::render(&store::redact(db), &f)?;
    crate::files::write_atomically(out, html.as_bytes())?;
    println!(
        "{}: {} devices, {} drifting, {} silent",
        out.display(),
        f.devices.len(),
        f.devices.iter().filter(|d| d.drifting()).count(),
        f.devices.iter().filter(|d| f.silent(d)).count()
    );
    Ok(())
}

/// `vigie fleet publish`: a gateway that forwards a capture's frames.
pub fn publish_command(addr: &str, from: &str) -> Result<()> {
    let bytes = if from == "-" {
        let mut b = Vec::new();
        std::io::stdin().lock().read_to_end(&mut b)?;
        b
    } else {
        std::fs::read(from).with_context(|| format!("{from}: cannot read the frames"))?
    };
    let (host, port) = mqtt::address(addr)?;
    mqtt::reachable(&(host.clone(), port))?;
    let sent = mqtt::publish(&(host.clone(), port), &bytes)?;
    let damaged = sent.total - sent.reports;
    println!(
        "{} published to {host}:{port}: {} on its device's topic vigie/DEVICE/report{}",
        count(sent.total as i64, "message"),
        sent.reports,
        if damaged > 0 {
            format!(
                ", {damaged} not a report frame (damaged: sent as they came, on vigie/unknown/report)"
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// The model CRC of a simulated fleet's reports.
pub const SIMULATED_MODEL: u32 = 0x5EED_0001;

/// Frames of a simulated fleet (`vigie fleet simulate`): `devices`
/// devices, each sending `reports` reports of one model (an episode that
/// starts, then ends, in turn; a tenth of the devices drift on an input of
/// `inputs`), seeded. For the tests and the ingest benchmark.
pub fn simulate(devices: u32, reports: u32, inputs: u16, seed: u64) -> Result<Vec<u8>> {
    use vigie_core::report::{frame, Counters, Episode, Report};
    let mut rng = crate::rng::Rng(seed ^ 0xF1EE7);
    let mut out = Vec::new();
    let mut buf = [0u8; vigie_core::report::FRAME_MAX];
    let model = SIMULATED_MODEL;
    for device in 0..devices {
        let drifting = rng.below(10) == 0;
        let feature = rng.below(inputs.max(1) as usize) as u16;
        let mut start = 0u32;
        for sequence in 0..reports {
            let step = (sequence + 1) * 1000 + rng.below(1000) as u32;
            // Episodes start and end in turn, the last one still open.
            let open = (reports - 1 - sequence) % 2 == 0;
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
pub fn simulate_command(
    devices: u32,
    reports: u32,
    seed: u64,
    out: &Path,
    force: bool,
) -> Result<()> {
    // Its own earlier output (the simulated model) is replaced freely;
    // anything else, a device's capture included, only with --force.
    crate::files::check_frames_output(out, "--out", &[], force, |r| r.model == SIMULATED_MODEL)?;
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
