//! `vigie demo`: the main job on the bundled data.

use std::path::Path;

use anyhow::{Context, Result};
use vigie_core::Model;

use super::{data_dir, inspect, print_summary};
use crate::data::{self, CsvFile};
use crate::files;
use crate::pipeline;
use crate::training::args::TrainArgs;

/// `vigie demo`: the main job on bundled data.
pub fn demo(out: &Path, force: bool) -> Result<()> {
    let data = data_dir()?;
    let digits = data.join("digits.csv");
    // The default `target/demo/` need not exist: cargo puts its builds
    // elsewhere when `CARGO_TARGET_DIR` is set. A folder made here is new
    // and empty, so the output check below cannot refuse it for what it
    // holds.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    files::check_output(
        out,
        "--out",
        files::Kind::Model,
        &[("the demo's data", &digits)],
        force,
    )?;
    println!(
        "== 1. train an MLP on {} (80/20 stratified split, seed 0)",
        data.join("digits.csv").display()
    );
    let mut args = TrainArgs::new(data.join("digits.csv"), "digit");
    args.out = out.to_owned();
    args.force = force;
    args.quiet = false;
    let built = pipeline::build(&args)?;
    files::write_atomically(out, &built.bytes)?;
    print_summary(&built.summary);
    println!("\n== 2. the int8 model file");
    inspect::run(out, false)?;
    println!("\n== 3. run it through vigie-core, as the device does");
    let bytes = files::read_model_file(out)?;
    let model = files::load(out, &bytes)?;
    let csv = CsvFile::read(&args.data)?;
    let (x, _) = data::model_inputs(&csv, &model)?;
    let (labels, codes) = csv.levels(csv.column("digit", "target")?)?;
    let width = model.input_len();
    let mut memory = crate::device::Memory::new(&model, None);
    let mut session = memory.session(&model, None)?;
    for (r, row) in x.chunks(width).enumerate().step_by(199).take(8) {
        let step = session.step(row)?;
        let c = step.decision().context("a classifier decides")?;
        println!(
            "row {r:>4}: decided {} with probability {:.3} (label {})",
            c.name, c.probability, labels[codes[r] as usize]
        );
    }
    println!("\n== 4. watch it: held-out rows replayed through the model and its drift monitor");
    demo_monitor(&model, &built)?;
    println!(
        "\nNext: `vigie monitor --model {} --data STREAM.csv` replays your own stream.",
        out.display()
    );
    Ok(())
}

fn demo_monitor(model: &Model<'_>, built: &pipeline::Built) -> Result<()> {
    use crate::evaluation::drift::{self, Scenario, Source, CHANGE_AT};
    use vigie_core::monitor::Monitor;

    let monitor = Monitor::from_model(model)?.context("the model has no monitor")?;
    let p = &built.prepared;
    let (src, _) = Source::held_out(p, &vec![true; p.data.channels.len()]);
    println!("monitor state {} bytes of RAM", monitor.state_bytes());
    let stable = 20_000;
    let bench = drift::Bench {
        model,
        monitor: &monitor,
        src: &src,
    };
    let (fa, _) = bench.false_alarm_rate(stable, 1)?;
    println!("stable stream of {stable} rows: {fa:.2} drift alarms per 10,000 rows");
    let feature = p
        .data
        .channels
        .iter()
        .position(|c| c == "px52")
        .unwrap_or(0);
    for scenario in [
        Scenario::Offset {
            feature,
            sigmas: 1.0,
        },
        Scenario::Stuck { feature },
        Scenario::ClassMix,
        Scenario::NanBurst { feature },
    ] {
        let o = bench.run(&scenario, 1, CHANGE_AT + drift::HORIZON)?;
        let named: Vec<&str> = o
            .features
            .iter()
            .map(|&f| p.data.channels[f].as_str())
            .collect();
        match o.delay {
            Some(d) => println!(
                "{:<18} from row {CHANGE_AT}: drift raised {d} rows later by {} naming [{}]",
                scenario.name(),
                o.detector.unwrap_or("?"),
                named.join(", ")
            ),
            None => println!("{:<18} from row {CHANGE_AT}: not detected", scenario.name()),
        }
    }
    Ok(())
}
