//! The vigie host trainer: data in, int8 model file out. The binary `vigie`
//! is a thin command line over these modules; integration tests call them
//! directly.
//!
//! The modules follow the data's path, and none imports one that imports
//! it back:
//!
//! | module | stage |
//! |---|---|
//! | `data` | CSV reading, data checks, splits and standardization |
//! | `training` | configuration, networks, training loop, CUDA, prepared splits |
//! | `quantize` | activation ranges for the float-to-int8 builder |
//! | `monitor_fit` | the drift monitor's reference and thresholds |
//! | `evaluation` | int8 metrics, calibration and decisions, explanation, drift scenarios, replay streams |
//! | `training_report` | the report stored in the model |
//! | `report` | the model card |
//! | `pipeline` | `vigie train` end to end |
//! | `device` | host buffers for a `vigie_core::Session` |
//! | `files` | model files in, outputs written atomically |
//! | `cli` | one file per command |

pub mod cli;
pub mod data;
pub mod device;
pub mod evaluation;
pub mod files;
pub mod monitor_fit;
pub mod parallel;
pub mod pipeline;
pub mod quantize;
pub mod report;
pub mod rng;
pub mod training;
pub mod training_report;
