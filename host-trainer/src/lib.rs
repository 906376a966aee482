//! The vigie host trainer: data in, int8 model file out. The binary `vigie`
//! is a thin command line over these modules; integration tests call them
//! directly.

pub mod calibrate;
pub mod checks;
pub mod commands;
pub mod config;
pub mod cuda;
pub mod data;
pub mod device;
pub mod drift;
pub mod explain;
pub mod inspect;
pub mod metrics;
pub mod monitor_ref;
pub mod net;
pub mod pipeline;
pub mod prep;
pub mod quantize;
pub mod replay;
pub mod report;
pub mod rng;
pub mod train;
