//! `vigie-core`: load a quantized model straight from a byte slice, validate
//! all of it, and run int8 inference without a heap, bit for bit the same on
//! a PC and on a Cortex-M4.
//!
//! The device's loop is a [`Session`]: load, bind, step, read the decision
//! and the alarm.
//!
//! ```
//! use vigie_core::{Session, Sizes};
//! # fn demo() -> Result<(), vigie_core::Error> {
//! # static MODEL: &[u8] = include_bytes!("../../firmware-demo/models/digits.vigie");
//! let sizes = Sizes::of(MODEL)?;                  // arena, monitor state, input
//! let mut arena = [0i8; 512];                     // statics on a device, ≥ sizes.arena
//! let mut state = [0.0f32; 4096];                 // ≥ sizes.monitor_state
//! // Validates everything, copies nothing, resets the monitor.
//! let mut session = Session::from_bytes(MODEL, &mut arena, &mut state)?;
//! let input = [0.0f32; 64];                       // raw sensor values
//! let step = session.step(&input)?;               // inference, decision, monitor
//! let decision = step.decision().unwrap();        // class after temperature and costs
//! if !decision.abstained {
//!     let _ = (decision.index, decision.name, decision.probability);
//! }
//! if let Some(alarm) = &step.alarm {              // latched until acknowledged
//!     let _ = (alarm.since, alarm.detector, &alarm.features);
//! }
//! # Ok(()) }
//! # demo().unwrap();
//! ```
//!
//! The crate is `no_std` without `alloc`; feature `alloc` adds the file
//! writer, `std` the float-to-int8 builder used by the trainer, `replay`
//! the recorded-stream machinery of the firmware demo, and `defmt` a
//! `defmt::Format` for errors and levels.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
// `unsafe` is denied everywhere but `arch` (target intrinsics, documented
// there); nothing else may opt out.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod adapt;
pub mod arch;
#[cfg(feature = "std")]
pub mod builder;
pub mod decision;
pub mod encoding;
pub mod engine;
pub mod error;
pub mod explain;
pub mod format;
pub mod kernels;
pub mod math;
pub mod monitor;
#[cfg(feature = "replay")]
pub mod replay;
pub mod report;
pub mod requant;
pub mod session;
pub mod signature;
pub mod tflite;
pub mod update;
pub mod validate;

pub use decision::{CalibrationDef, Decision};
pub use engine::{Model, Output};
pub use error::{Buffer, Error};
pub use format::{Activation, ModelDef, Padding, QParams, Task};
pub use session::{Alarm, Answer, Inference, Session, Sizes, Step};
