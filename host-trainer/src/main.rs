//! `vigie`: train small networks on CSV data, quantize them to int8, and
//! inspect, evaluate and monitor them with the same `vigie-core` that runs
//! on the device.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vigie", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a model file: layers, shapes, parameters, MACs per inference,
    /// flash and arena bytes, input and output names, stored sections.
    Inspect {
        /// The model file (.vigie).
        model: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { model, json } => vigie_trainer::inspect::run(&model, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
