//! Evaluation through vigie-core: int8 outputs and metrics, calibration
//! and decision rules, explanation, drift scenarios and replay streams.

pub mod baselines;
pub mod calibrate;
pub mod drift;
pub mod explain;
pub mod fingerprint;
pub mod groups;
pub mod int8;
pub mod labelled;
pub mod metrics;
pub mod stream;
