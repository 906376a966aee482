//! `vigie`: train small networks on CSV data, quantize them to int8, and
//! inspect, evaluate and run them with the same `vigie-core` that runs on
//! the device.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use vigie_trainer::cli::{self, inspect};
use vigie_trainer::data::{CsvOptions, Impute};
use vigie_trainer::pipeline;
use vigie_trainer::pipeline::{CpuBackend, DeviceKind, TrainArgs};
use vigie_trainer::training::config::Config;

/// Train small neural networks on CSV data, quantize them to int8 for
/// microcontrollers, and check them with the engine the device runs.
///
/// Start with `vigie demo`, then `vigie train --data FILE.csv --target COLUMN`.
#[derive(Parser)]
#[command(name = "vigie", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A model file and a data file it reads (columns matched by name).
#[derive(Debug, Clone, clap::Args)]
struct ModelOnData {
    #[command(flatten)]
    csv: CsvArgs,
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// The data: the model's input columns, matched by name (others are
    /// ignored); empty cells are missing values.
    #[arg(long)]
    data: PathBuf,
}

impl ModelOnData {
    fn inputs(&self) -> anyhow::Result<cli::Inputs> {
        Ok(cli::Inputs {
            model: self.model.clone(),
            data: self.data.clone(),
            csv: self.csv.options()?,
        })
    }
}

/// The device budget and the model search (`vigie train` without
/// `--config`).
#[derive(Debug, Clone, clap::Args)]
struct SearchArgs {
    /// The microcontroller the model must fit: nrf52840, stm32f411, or
    /// cortex-m4f:FLASH,RAM (such as cortex-m4f:512K,128K); the model may
    /// take a quarter of its flash and of its RAM [default: 128 KiB of flash
    /// for the model file, 64 KiB of RAM for arena and monitor state].
    #[arg(long)]
    mcu: Option<String>,
    /// Most bytes of flash for the model file (K and M suffixes allowed).
    #[arg(long)]
    max_flash: Option<String>,
    /// Most bytes of RAM for the arena and the monitor state.
    #[arg(long)]
    max_ram: Option<String>,
    /// Most multiply-accumulates per inference.
    #[arg(long)]
    max_macs: Option<u64>,
    /// Most Cortex-M4F instructions per inference, estimated layer by
    /// layer from the per-MAC, per-output and per-value costs the firmware
    /// measures in QEMU (within 10% of its two models' measured inference).
    #[arg(long)]
    max_instructions: Option<u64>,
    /// Seconds of training the model search may plan for, on a 2-core
    /// machine; turned into an amount of work, so that the same seed gives
    /// the same file on any machine.
    #[arg(long, default_value_t = 120.0)]
    time_budget: f64,
}

impl SearchArgs {
    fn settings(&self) -> Result<vigie_trainer::training::search::Settings> {
        use vigie_trainer::training::search::{size, Budget, Settings};
        let mut budget = match &self.mcu {
            Some(m) => Budget::for_target(m)?,
            None => Budget::default(),
        };
        if let Some(f) = &self.max_flash {
            budget.flash = size(f, "--max-flash")?;
        }
        if let Some(r) = &self.max_ram {
            budget.ram = size(r, "--max-ram")?;
        }
        budget.macs = self.max_macs;
        budget.instructions = self.max_instructions;
        if !(self.time_budget.is_finite() && self.time_budget > 0.0) {
            bail!(
                "--time-budget {}: give a positive number of seconds",
                self.time_budget
            );
        }
        Ok(Settings {
            budget,
            time_budget: self.time_budget,
        })
    }
}

/// How to read CSV files (default: detected from the header and first rows).
#[derive(Debug, Clone, clap::Args)]
struct CsvArgs {
    /// The cell separator: `,`, `;` or `tab` (default: detected).
    #[arg(long)]
    delimiter: Option<String>,
    /// The decimal mark: `.` or `,` (default: `,` when `;`- or
    /// tab-separated cells hold numbers like `7,4`).
    #[arg(long)]
    decimal: Option<String>,
}

impl CsvArgs {
    fn options(&self) -> Result<CsvOptions> {
        CsvOptions::parse(self.delimiter.as_deref(), self.decimal.as_deref())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TaskArg {
    Classification,
    Regression,
}

#[derive(Subcommand)]
enum FleetCommand {
    /// Reads report frames (a file, `-` for standard input as they come, a
    /// serial port's device file, or an MQTT broker) and stores each once;
    /// damaged, cut and repeated frames are counted and skipped.
    Ingest {
        /// The database: a SQLite file (created when missing), or a
        /// PostgreSQL URL (`postgres://USER@HOST:PORT/DATABASE`).
        #[arg(long, default_value = "fleet.db")]
        db: String,
        /// The frames: a file (`-serial file:` of QEMU, a capture of a
        /// UART), a serial port (`/dev/ttyACM0`, set up with `stty -F
        /// /dev/ttyACM0 115200 raw`) or `-`.
        #[arg(long, required_unless_present = "mqtt", conflicts_with = "mqtt")]
        from: Option<String>,
        /// An MQTT broker (`HOST:PORT`, the port 1883 when left out):
        /// subscribes to `vigie/+/report`, where gateways publish each
        /// device's frames.
        #[arg(long)]
        mqtt: Option<String>,
        /// With --mqtt: stop after this many messages (never, without it
        /// or --idle).
        #[arg(long, requires = "mqtt")]
        count: Option<usize>,
        /// With --mqtt: stop after this many seconds without a message.
        #[arg(long, requires = "mqtt", allow_hyphen_values = true)]
        idle: Option<f64>,
        /// With --mqtt: a persistent session of this name (its MQTT client
        /// id): the broker keeps the subscription and the messages not yet
        /// stored while no subscriber runs, for the next one of that name.
        /// One subscriber per name.
        #[arg(long, requires = "mqtt")]
        session: Option<String>,
        /// A model file the devices run, so that the status names its
        /// inputs (repeatable).
        #[arg(long)]
        model: Vec<PathBuf>,
    },
    /// A gateway: publishes each frame of a capture (a file, or `-`) to an
    /// MQTT broker, on its device's topic `vigie/DEVICE/report`, and waits
    /// for the broker's acknowledgements.
    Publish {
        /// The broker, `HOST:PORT`.
        #[arg(long)]
        mqtt: String,
        /// The frames.
        #[arg(long)]
        from: String,
    },
    /// Frames of a simulated fleet, for tests and the ingest benchmark:
    /// each device sends reports of one model, a tenth of them drifting.
    Simulate {
        /// Devices.
        #[arg(long, default_value_t = 1000)]
        devices: u32,
        /// Reports per device.
        #[arg(long, default_value_t = 10)]
        reports: u32,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write the frames.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file that does not hold frames.
        #[arg(long)]
        force: bool,
    },
    /// Which devices report, which drift, on which inputs and since when.
    Status {
        /// The database (a SQLite file or a PostgreSQL URL).
        #[arg(long, default_value = "fleet.db")]
        db: String,
        /// Seconds without a report after which a device is listed as
        /// silent.
        #[arg(long, default_value_t = vigie_trainer::cli::fleet::SILENT_AFTER, allow_hyphen_values = true)]
        silent_after: i64,
    },
    /// The fleet on an HTML page: devices by model version, which drift,
    /// a timeline of episodes, silent devices.
    Report {
        /// The database (a SQLite file or a PostgreSQL URL).
        #[arg(long, default_value = "fleet.db")]
        db: String,
        /// Where to write the page.
        #[arg(long, default_value = "fleet.html")]
        out: PathBuf,
        /// Seconds without a report after which a device is silent.
        #[arg(long, default_value_t = vigie_trainer::cli::fleet::SILENT_AFTER, allow_hyphen_values = true)]
        silent_after: i64,
        /// Replace an existing file that is not an HTML page.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Train a network on a CSV file, quantize it to int8, evaluate float and
    /// int8 on held-out data, and write a .vigie model file.
    ///
    /// Example: vigie train --data data/digits.csv --target digit --out digits.vigie
    Train {
        #[command(flatten)]
        csv: CsvArgs,
        /// Training data: CSV with a header line. Columns named like
        /// `acc_x_t0..acc_x_t99,acc_y_t0..` are read as channel-major windows.
        #[arg(long, required_unless_present = "print_config")]
        data: Option<PathBuf>,
        /// The column to predict (with --from: the old model's by default).
        #[arg(long, required_unless_present_any = ["print_config", "from"])]
        target: Option<String>,
        /// Feature columns, comma-separated (default: every other column).
        #[arg(long, value_delimiter = ',')]
        features: Option<Vec<String>>,
        /// Columns to leave out, comma-separated (an identifier, a date).
        #[arg(long, value_delimiter = ',')]
        drop: Vec<String>,
        /// Store no fingerprint of the training rows in the model (it lets
        /// whoever holds the file test whether a record was trained on).
        #[arg(long)]
        no_fingerprint: bool,
        /// Classification (labels may be integers or strings) or regression
        /// (a numeric target).
        #[arg(long, value_enum, default_value = "classification")]
        task: TaskArg,
        /// A TOML configuration (see --print-config for every field).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the full default configuration and exit.
        #[arg(long)]
        print_config: bool,
        /// Where to write the model.
        #[arg(long, default_value = "model.vigie")]
        out: PathBuf,
        /// Replace an existing output file of another kind (never one of
        /// this command's inputs).
        #[arg(long)]
        force: bool,
        /// A separate test file (same columns); otherwise --test-split of
        /// the data is held out.
        #[arg(long, conflicts_with = "test_split")]
        test: Option<PathBuf>,
        /// Fraction of rows held out for testing, stratified by class
        /// [default: 0.2, or 0 with --test].
        #[arg(long)]
        test_split: Option<f64>,
        /// Fraction of rows held out for validation (early stopping).
        #[arg(long, default_value_t = 0.1)]
        val_split: f64,
        /// Seed of the splits, initialization, shuffles and noise.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to train.
        #[arg(long, value_enum, default_value = "cpu")]
        device: DeviceKind,
        /// Which burn CPU backend (when several are built in).
        #[arg(long, value_enum, default_value_t = CpuBackend::default_compiled())]
        cpu_backend: CpuBackend,
        /// Fill missing cells with a training statistic (stored in the model,
        /// so the device does the same). Without it, missing cells are refused.
        #[arg(long, value_enum)]
        impute: Option<Impute>,
        /// Target false-alarm rate of the whole drift monitor, per sample
        /// (default: one per 10,000 samples).
        #[arg(long, default_value_t = vigie_trainer::monitor_fit::FALSE_ALARM_RATE)]
        false_alarm_rate: f64,
        /// The smallest lasting shift of an input's mean worth a drift
        /// alarm, in training standard deviations. Smaller shifts, and
        /// shifts the reference cannot tell from its own sampling error,
        /// raise nothing.
        #[arg(long, default_value_t = vigie_trainer::monitor_fit::MIN_SHIFT)]
        min_shift: f32,
        /// Train even when the data checks find leakage (rows shared by
        /// the training and test files, a column that copies the target).
        #[arg(long)]
        allow_leakage: bool,
        /// Measure each group of the test split: one or more columns,
        /// comma-separated (sex, age band, site, device revision); their
        /// metrics and gaps are printed and stored in the model. A gap whose
        /// whole 95% interval lies above --max-gap is a blocking finding:
        /// the file is written and the exit status is 3.
        #[arg(long, value_name = "COLUMN[,COLUMN]")]
        group: Option<String>,
        /// With --group: the largest gap between groups (accuracy,
        /// demographic parity, equalized odds) that is not a finding; for
        /// a regression, a fraction of the target's standard deviation.
        #[arg(long, default_value_t = vigie_trainer::evaluation::groups::MAX_GAP, requires = "group")]
        max_gap: f64,
        /// With --group: the group columns are for auditing only, not
        /// inputs of the model.
        #[arg(long, requires = "group")]
        audit_only: bool,
        /// With --group: accept a gap above --max-gap (recorded in the model,
        /// exit status 0).
        #[arg(long, requires = "group")]
        allow_gap: bool,
        /// Abstain below the confidence at which answered validation rows
        /// reach this precision (for example 0.99); stored in the model.
        #[arg(long)]
        target_precision: Option<f64>,
        /// Cost matrix CSV (header `true\decided,<classes>`, one row per
        /// true class): decide the class of least expected cost.
        #[arg(long)]
        cost_matrix: Option<PathBuf>,
        /// Softmax temperature to store instead of fitting one on
        /// validation rows (positive; 1 leaves probabilities as trained).
        #[arg(long)]
        temperature: Option<f32>,
        /// Fine-tune this model (one `vigie train` wrote) on --data instead
        /// of training a new one: its weights, input map, inputs and
        /// classes are kept, and the old and new models are compared on the
        /// new test rows (and on held-out --rehearsal rows).
        #[arg(long, conflicts_with_all = ["config", "features", "drop", "impute"])]
        from: Option<PathBuf>,
        /// With --from: old data whose rows are mixed into the fine-tuning,
        /// so the model does not forget them; the rows the old model did
        /// not train on (by its fingerprint; else a fifth) are held out to
        /// compare the two models on.
        #[arg(long, requires = "from")]
        rehearsal: Option<PathBuf>,
        /// Sign the written model with this secret key (`vigie keygen`), so
        /// that it is an update candidate a device accepts.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Store what the device needs to correct an offset or a gain of
        /// one or two inputs after a confirmed drift (each input channel's
        /// training mean and deviation, and the ends where its values pile
        /// up; `Session::with_adaptation`). It costs the device 6 floats
        /// per input channel and one input's worth of RAM.
        #[arg(long)]
        adapt: bool,
        /// Threads for training the search's candidates and replaying the
        /// drift monitor's calibration (default: one per core). Each run
        /// has its own seeds, so the file is the same on any number.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        #[command(flatten)]
        search: Box<SearchArgs>,
        /// Print one JSON object on standard output.
        #[arg(long)]
        json: bool,
        /// No progress output.
        #[arg(long)]
        quiet: bool,
    },
    /// Evaluate a model file on labelled data through vigie-core.
    Eval {
        #[command(flatten)]
        io: ModelOnData,
        /// The label column (default: the one the model was trained on).
        #[arg(long)]
        target: Option<String>,
        /// Print one JSON object on standard output.
        #[arg(long)]
        json: bool,
        /// Report each group's metrics and the gaps between groups: one or
        /// more columns, comma-separated (sex, age band, site, device
        /// revision), inputs of the model or not; a numeric column with many
        /// values is binned at its quartiles. Exits with status 3 when a gap
        /// is a blocking finding (see --max-gap).
        #[arg(long, value_name = "COLUMN[,COLUMN]")]
        group: Option<String>,
        /// With --group: a gap between groups (accuracy, demographic
        /// parity, equalized odds) whose whole 95% bootstrap interval lies
        /// above this is a blocking finding; for a regression, a fraction
        /// of the target's standard deviation.
        #[arg(long, default_value_t = 0.1, requires = "group")]
        max_gap: f64,
    },
    /// Predict every row of a CSV file through vigie-core.
    Predict {
        #[command(flatten)]
        io: ModelOnData,
        /// Stop at the first row that cannot be predicted (an empty cell
        /// the model does not impute) instead of marking it and going on.
        #[arg(long)]
        strict: bool,
        /// Write predictions here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing output file of another kind (never one of
        /// this command's inputs).
        #[arg(long)]
        force: bool,
    },
    /// Show a model file: layers, shapes, parameters, MACs per inference,
    /// flash and arena bytes, input and output names, training metrics.
    Inspect {
        /// The model file (.vigie).
        model: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replay a CSV stream (a file, or `-` for standard input) row by row
    /// through the model and its drift monitor (the same code as the
    /// device), and report each drift episode as it starts and ends: the
    /// inputs that moved, which way and by how much. Rows are 0-based data
    /// rows.
    Monitor {
        #[command(flatten)]
        io: ModelOnData,
        /// A label column to feed back (error-rate drift).
        #[arg(long)]
        labels: Option<String>,
        /// One JSON object a line, as events happen: `episode_start`,
        /// `episode_end`, `alarm` (with --events), and a final `summary`.
        #[arg(long)]
        json: bool,
        /// Also report every raw detector event (drift, and warnings as
        /// they start), not only drift episodes.
        #[arg(long)]
        events: bool,
    },
    /// Measure the drift monitor: train like `train`, then replay drift
    /// scenarios (offsets, gain, gradual drift, stuck sensor, noise,
    /// decorrelation, class mix, NaN burst) built from held-out rows, and a
    /// long stable stream for false alarms.
    DriftBench {
        #[command(flatten)]
        csv: CsvArgs,
        /// Training data.
        #[arg(long, required_unless_present = "suite")]
        data: Option<PathBuf>,
        /// Run over every bundled data set found in this folder (`data/`),
        /// and print a table with the median and worst case over sets.
        #[arg(long, conflicts_with_all = ["data", "test", "feature"])]
        suite: Option<PathBuf>,
        /// The column to predict.
        #[arg(long, required_unless_present = "suite")]
        target: Option<String>,
        /// Classification or regression.
        #[arg(long, value_enum, default_value = "classification")]
        task: TaskArg,
        /// A separate test file (its rows are the held-out source).
        #[arg(long)]
        test: Option<PathBuf>,
        /// The feature to alter (default: the most continuous one).
        #[arg(long)]
        feature: Option<String>,
        /// Fill missing cells with a training statistic (as for `train`).
        #[arg(long, value_enum, conflicts_with = "suite")]
        impute: Option<Impute>,
        /// Share of the rows held out as the streams' source when there is
        /// no --test file.
        #[arg(long, default_value_t = 0.2, conflicts_with = "suite")]
        test_split: f64,
        /// The smallest lasting shift of an input's mean worth a drift
        /// alarm, in training standard deviations (as for `train`).
        #[arg(long, default_value_t = vigie_trainer::monitor_fit::MIN_SHIFT)]
        min_shift: f32,
        /// The monitor's target false-alarm rate, per row (as for `train`;
        /// a higher one compares delays with a peer at its own rate).
        #[arg(long, default_value_t = vigie_trainer::monitor_fit::FALSE_ALARM_RATE)]
        false_alarm_rate: f64,
        /// Seeded runs per scenario.
        #[arg(long, default_value_t = 50)]
        runs: usize,
        /// Rows of the stable stream for the false-alarm rate.
        #[arg(long, default_value_t = 200_000)]
        stable_rows: usize,
        /// Seed of training and of the streams.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// With --suite: seeds per set (the seed, the next, …); each figure
        /// is the median over them, since one model's calibration is one
        /// draw.
        #[arg(long, default_value_t = 1, requires = "suite")]
        seeds: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Write every replayed stream (monitored features, CSV), the
        /// reference rows and vigie's outcomes into this folder, for
        /// `bench/drift_peers.py` (river, alibi-detect) to replay the
        /// same streams.
        #[arg(long, conflicts_with = "suite")]
        dump: Option<PathBuf>,
    },
    /// Explains a model on labelled data through vigie-core: permutation
    /// importance of each input, or with --row the occlusion attribution
    /// of one prediction.
    Explain {
        #[command(flatten)]
        io: ModelOnData,
        /// The label column (default: the one recorded at training).
        #[arg(long)]
        target: Option<String>,
        /// Explain this data row (0-based) instead.
        #[arg(long)]
        row: Option<usize>,
        /// Seed of the shuffles.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Imports a TensorFlow Lite int8 model (`.tflite`) as a vigie model,
    /// keeping its scales, zero points and activations exactly; a model
    /// with an operator vigie cannot run exactly is refused, naming it.
    ///
    /// Example: vigie import models/mlperf-tiny/ad01_int8.tflite --out ad01.vigie
    Import {
        /// The TFLite file.
        tflite: PathBuf,
        /// Where to write the vigie model.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing output file of another kind (never the input).
        #[arg(long)]
        force: bool,
    },
    /// Writes a new Ed25519 key pair for signing models: the secret key in
    /// OUT, the public key (for devices) in OUT.pub. Never overwrites a key.
    Keygen {
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Signs a model (Ed25519, in the file's trailer), in place or into
    /// --out, once it loads and validates; adds the probe input and output
    /// checksum a device's update dry run checks.
    Sign {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// The secret key (`vigie keygen`).
        #[arg(long)]
        key: PathBuf,
        /// Write the signed model here instead of over --model.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Checks that a model is signed by a public key and loads: what a
    /// device does before it runs an update. Exits non-zero otherwise.
    Verify {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// The public key (`KEY.pub` from `vigie keygen`).
        #[arg(long = "pub")]
        public: PathBuf,
    },
    /// Writes a copy of a model for a device: without the sections only a
    /// host reads (the training report and the data checks), keeping the
    /// layers, the monitor and the calibration.
    Strip {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Where to write the stripped copy.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing output file of another kind (never one of
        /// this command's inputs).
        #[arg(long)]
        force: bool,
    },
    /// Writes the model card: one self-contained HTML page with plots.
    Report {
        #[command(flatten)]
        csv: CsvArgs,
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Labelled test rows, for the feature importance.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Their label column (default: the one recorded at training).
        #[arg(long)]
        target: Option<String>,
        /// Where to write the page.
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
        /// Replace an existing output file of another kind (never one of
        /// this command's inputs).
        #[arg(long)]
        force: bool,
        /// Measure each group of the --data rows (columns, comma-separated)
        /// for the card's per-group section, instead of the groups stored
        /// at training.
        #[arg(long, value_name = "COLUMN[,COLUMN]", requires = "data")]
        group: Option<String>,
        /// With --group: the largest gap between groups that is not a
        /// finding; for a regression, a fraction of the target's standard
        /// deviation.
        #[arg(long, default_value_t = vigie_trainer::evaluation::groups::MAX_GAP, requires = "group")]
        max_gap: f64,
    },
    /// Checks a data set before training: missing cells, constant
    /// columns, duplicates, rows shared with the test file, columns that
    /// give the target away, class imbalance, train/test shift, outliers.
    CheckData {
        #[command(flatten)]
        csv: CsvArgs,
        /// The training data.
        #[arg(long)]
        data: PathBuf,
        /// Columns to leave out, comma-separated (an identifier, a date).
        #[arg(long, value_delimiter = ',')]
        drop: Vec<String>,
        /// The column to predict.
        #[arg(long)]
        target: String,
        /// A separate test file.
        #[arg(long)]
        test: Option<PathBuf>,
        /// Regression target.
        #[arg(long, value_enum, default_value = "classification")]
        task: TaskArg,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
        /// Exit with status 3 on a blocking finding (leakage).
        #[arg(long)]
        strict: bool,
        /// Checks per group of rows: one or more columns, comma-separated
        /// (sex, age band, site); each group's share, its label mix against
        /// the other rows', its missing cells, and groups too small to say
        /// anything about. A numeric column with many values is binned at
        /// its quartiles.
        #[arg(long, value_name = "COLUMN[,COLUMN]")]
        group: Option<String>,
    },
    /// Writes a replay stream for a device: held-out rows of the data a
    /// model was trained on (same --data/--test/--seed), then the same rows
    /// with a fault on one channel (a gain, then stuck).
    Stream {
        /// The model the stream is for, and its training data as given to
        /// `vigie train`.
        #[command(flatten)]
        io: ModelOnData,
        /// The column the model predicts.
        #[arg(long)]
        target: String,
        /// The test file given to `vigie train`, if any.
        #[arg(long)]
        test: Option<PathBuf>,
        /// The seed given to `vigie train` (it chose the held-out rows).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Held-out rows per part (clean, then faulty).
        #[arg(long, default_value_t = 40)]
        windows: usize,
        /// The channel to break.
        #[arg(long)]
        fault_channel: String,
        /// Gain of the first half of the faulty part.
        #[arg(long, default_value_t = 1.0)]
        gain: f32,
        /// Offset of the first half of the faulty part (raw units, added
        /// after the gain).
        #[arg(long, default_value_t = 0.0)]
        offset: f32,
        /// Write a long stream of this many steps instead, each a held-out
        /// window drawn at random (seeded by --seed) from the first
        /// --windows, with the gain and offset from --fault-from on (never
        /// stuck): for a device's adaptation (`vigie train --adapt`).
        #[arg(long, value_name = "STEPS")]
        steps: Option<usize>,
        /// The first faulty step of a --steps stream.
        #[arg(long, requires = "steps", value_name = "STEP")]
        fault_from: Option<usize>,
        /// Where to write the stream.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing output file of another kind (never one of
        /// this command's inputs).
        #[arg(long)]
        force: bool,
    },
    /// Replays a stream written by `vigie stream` through a model and its
    /// monitor on this machine, printing what the firmware prints.
    Replay {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// The stream file.
        #[arg(long)]
        stream: PathBuf,
        /// Also write the drift reports the device sends home, as the
        /// firmware writes them on its UART (`vigie fleet ingest`).
        #[arg(long, value_name = "FILE")]
        frames: Option<PathBuf>,
        /// The device number in those reports (the firmware's is 1).
        #[arg(long, default_value_t = 1)]
        device: u32,
        /// Replace an existing --frames file that does not hold frames.
        #[arg(long)]
        force: bool,
    },
    /// Device reports gathered in a database: `ingest` frames, then see the
    /// fleet's `status`.
    Fleet {
        #[command(subcommand)]
        action: FleetCommand,
    },
    /// The main job on the bundled data: train a digits MLP, quantize it,
    /// inspect it and run it through vigie-core.
    Demo {
        /// Where to write the demo model.
        #[arg(long, default_value = "target/demo/digits.vigie")]
        out: PathBuf,
        /// Replace an existing output file of another kind (never one of
        /// this command's inputs).
        #[arg(long)]
        force: bool,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train {
            data,
            target,
            features,
            drop,
            no_fingerprint,
            csv,
            task,
            config,
            print_config,
            out,
            force,
            test,
            test_split,
            val_split,
            seed,
            device,
            cpu_backend,
            impute,
            false_alarm_rate,
            min_shift,
            allow_leakage,
            target_precision,
            cost_matrix,
            temperature,
            search,
            json,
            quiet,
            group,
            max_gap,
            audit_only,
            allow_gap,
            from,
            rehearsal,
            key,
            adapt,
            threads,
        } => {
            if print_config {
                print!("{}", vigie_trainer::training::config::default_toml());
                return Ok(());
            }
            // A fine-tuning's target defaults to the old model's.
            let target = match (target, &from) {
                (Some(t), _) => Some(t),
                (None, Some(old)) => {
                    // The old model's own reading says what is wrong with it
                    // (no training report: imported or stripped).
                    let origin = vigie_trainer::training::from::Origin::read(old)?;
                    Some(origin.target)
                }
                (None, None) => None,
            };
            let (Some(data), Some(target)) = (data, target) else {
                bail!("--data and --target are required");
            };
            if let Some(k) = &key {
                // Before training: a wrong key path should not cost a run.
                cli::keys::read_key(k, cli::keys::SECRET_LABEL)?;
            }
            let config_file = config;
            // An explicit configuration trains exactly what it says, and a
            // fine-tuning the old model's.
            let search_settings = match (&config_file, &from) {
                (None, None) => Some(search.settings()?),
                _ => None,
            };
            let config = match &config_file {
                Some(path) => Config::from_file(path)?,
                None => Config::default(),
            };
            let args = TrainArgs {
                data,
                target,
                features: features.map(|f| f.iter().map(|n| n.trim().to_owned()).collect()),
                drop: drop
                    .iter()
                    .map(|n| n.trim().to_owned())
                    .chain(
                        group
                            .iter()
                            .filter(|_| audit_only)
                            .flat_map(|g| g.split(',').map(|c| c.trim().to_owned())),
                    )
                    .filter(|n| !n.is_empty())
                    .collect(),
                no_fingerprint,
                csv: csv.options()?,
                regression: task == TaskArg::Regression,
                config,
                out,
                force,
                config_file,
                test_split: if test.is_some() {
                    0.0
                } else {
                    test_split.unwrap_or(0.2)
                },
                test,
                val_split,
                seed,
                device,
                cpu_backend,
                impute,
                quiet: quiet || json,
                false_alarm_rate,
                min_shift,
                allow_leakage,
                target_precision,
                cost_matrix,
                temperature,
                // An explicit configuration trains exactly what it says.
                search: search_settings,
                group,
                max_gap,
                allow_gap,
                from,
                rehearsal,
                adapt,
                threads: threads.map(usize::from),
            };
            let mut summary = pipeline::train(&args)?;
            // A model with a blocking finding is not an update candidate.
            let blocked = summary
                .baselines
                .as_ref()
                .is_some_and(|b| b.finding.is_some())
                || summary.groups.as_ref().is_some_and(|g| g.blocks());
            if let Some(k) = &key {
                // Standard output carries only the JSON with --json.
                let said = match blocked {
                    true => format!(
                        "{}: not signed: a blocking finding (below); fix it, or sign it yourself with `vigie sign`",
                        args.out.display()
                    ),
                    false => {
                        let said = cli::keys::sign_model(&args.out, k, None)?;
                        // The summary gives the file as written: signed.
                        summary.file_bytes = std::fs::metadata(&args.out)
                            .map_or(summary.file_bytes, |m| m.len() as usize);
                        said
                    }
                };
                if json || blocked {
                    eprintln!("{said}");
                } else {
                    println!("{said}");
                }
            }
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                cli::print_summary(&summary);
                if let Some(g) = &summary.groups {
                    vigie_trainer::evaluation::groups::print(g);
                }
            }
            // The file is written; scripts notice a model no better than
            // the majority class, or a gap between groups that was not
            // allowed, by the exit status.
            if blocked {
                std::process::exit(vigie_trainer::evaluation::baselines::NO_BETTER_EXIT.into());
            }
            Ok(())
        }
        Command::Eval {
            io,
            target,
            json,
            group,
            max_gap,
        } => {
            let groups = group.as_deref().map(|g| (g, max_gap));
            cli::eval::eval(&io.inputs()?, target.as_deref(), json, groups)
        }
        Command::Predict {
            io,
            out,
            force,
            strict,
        } => {
            let options = cli::predict::PredictOptions { force, strict };
            cli::predict::predict(&io.inputs()?, out.as_deref(), options)
        }
        Command::Inspect { model, json } => inspect::run(&model, json),
        Command::Monitor {
            io,
            labels,
            json,
            events,
        } => cli::monitor::monitor(
            &io.inputs()?,
            &cli::monitor::MonitorOptions {
                labels: labels.as_deref(),
                json,
                events,
            },
        ),
        Command::DriftBench {
            data,
            suite,
            target,
            task,
            test,
            feature,
            runs,
            stable_rows,
            seed,
            json,
            csv,
            min_shift,
            false_alarm_rate,
            impute,
            dump,
            test_split,
            seeds,
        } => {
            let options = cli::drift_bench::Options {
                runs,
                stable_rows,
                min_shift,
                false_alarm_rate,
                seed,
                seeds,
                json,
                dump,
            };
            if let Some(dir) = suite {
                return cli::drift_bench::suite(&dir, &options);
            }
            let (Some(data), Some(target)) = (data, target) else {
                bail!("give --data and --target, or --suite");
            };
            let mut args = TrainArgs::new(data, &target);
            args.csv = csv.options()?;
            args.regression = task == TaskArg::Regression;
            args.impute = impute;
            args.test_split = if test.is_some() { 0.0 } else { test_split };
            args.test = test;
            cli::drift_bench::drift_bench(args, feature.as_deref(), &options)
        }
        Command::Stream {
            io,
            target,
            test,
            seed,
            windows,
            fault_channel,
            gain,
            offset,
            steps,
            fault_from,
            out,
            force,
        } => {
            let drawn = steps.map(|steps| cli::stream::Drawn {
                steps,
                fault_from: fault_from.unwrap_or(steps / 4),
            });
            let mut args = TrainArgs::new(io.data, &target);
            args.csv = io.csv.options()?;
            args.test_split = if test.is_some() { 0.0 } else { 0.2 };
            args.test = test;
            args.seed = seed;
            let fault = (fault_channel.as_str(), gain, offset);
            cli::stream::stream(&args, &io.model, windows, fault, drawn, &out, force)
        }
        Command::Explain {
            io,
            target,
            row,
            seed,
            json,
        } => cli::explain::explain(&io.inputs()?, target.as_deref(), row, seed, json),
        Command::Strip { model, out, force } => cli::strip::strip(&model, &out, force),
        Command::Import { tflite, out, force } => cli::import::import(&tflite, &out, force),
        Command::Keygen { out } => cli::keys::keygen(&out),
        Command::Sign { model, key, out } => cli::keys::sign(&model, &key, out.as_deref()),
        Command::Verify { model, public } => cli::keys::verify(&model, &public),
        Command::Report {
            model,
            data,
            target,
            out,
            force,
            csv,
            group,
            max_gap,
        } => {
            vigie_trainer::report::card::write(
                &model,
                data.as_deref(),
                target.as_deref(),
                &out,
                (force, csv.options()?),
                group.as_deref().map(|g| (g, max_gap)),
            )?;
            println!("{}", out.display());
            Ok(())
        }
        Command::CheckData {
            data,
            target,
            test,
            task,
            json,
            strict,
            drop,
            csv,
            group,
        } => cli::check_data::check_data(
            &data,
            &target,
            test.as_deref(),
            task == TaskArg::Regression,
            json,
            strict,
            (&drop, csv.options()?, group.as_deref()),
        ),
        Command::Replay {
            model,
            stream,
            frames,
            device,
            force,
        } => cli::replay::replay(&model, &stream, frames.as_deref(), device, force),
        Command::Fleet { action } => match action {
            FleetCommand::Ingest {
                db,
                from,
                mqtt,
                count,
                idle,
                session,
                model,
            } => {
                let source = match (&from, &mqtt) {
                    (_, Some(addr)) => cli::fleet::Source::Mqtt(
                        addr,
                        cli::fleet::mqtt::Until {
                            messages: count,
                            idle: idle
                                .map(|s| {
                                    std::time::Duration::try_from_secs_f64(s).map_err(|_| {
                                        anyhow::anyhow!(
                                            "--idle {s}: give seconds, from 0 to a year or so (such as 5 or 0.5)"
                                        )
                                    })
                                })
                                .transpose()?,
                        },
                        session.as_deref(),
                    ),
                    (Some(f), None) => cli::fleet::Source::Path(f),
                    (None, None) => {
                        return Err(anyhow::anyhow!(
                            "vigie fleet ingest: give --from FRAMES (a file, a serial port or -) or --mqtt HOST:PORT"
                        ))
                    }
                };
                cli::fleet::ingest_command(&db, source, &model)
            }
            FleetCommand::Publish { mqtt, from } => cli::fleet::publish_command(&mqtt, &from),
            FleetCommand::Simulate {
                devices,
                reports,
                seed,
                out,
                force,
            } => cli::fleet::simulate_command(devices, reports, seed, &out, force),
            FleetCommand::Status { db, silent_after } => {
                cli::fleet::status_command(&db, silent_after)
            }
            FleetCommand::Report {
                db,
                out,
                silent_after,
                force,
            } => cli::fleet::report_command(&db, &out, silent_after, force),
        },
        Command::Demo { out, force } => cli::demo::demo(&out, force).context("the demo failed"),
    }
}

fn main() -> ExitCode {
    // Output piped into `head` should end the program quietly, as other
    // command-line tools do, not make `println!` panic on a closed pipe.
    // SAFETY: restoring the default disposition of SIGPIPE at start-up,
    // before any thread exists, touches no Rust state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
