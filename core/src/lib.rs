//! `vigie-core`: load a quantized model straight from a byte slice, validate
//! all of it, and run int8 inference without a heap, bit for bit the same on
//! a PC and on a Cortex-M4.
//!
//! ```
//! # use vigie_core::Model;
//! # fn demo(bytes: &[u8]) -> Result<(), vigie_core::Error> {
//! let model = Model::from_bytes(bytes)?;          // validates everything
//! let mut arena = [0i8; 4096];                    // a `static` on a device
//! let input = [0.0f32; 64];
//! let out = model.run(&input, &mut arena[..model.arena_len()])?;
//! let class = out.class()?;                       // index, probability, name
//! # let _ = class; Ok(()) }
//! ```
//!
//! The crate is `no_std` without `alloc`; feature `alloc` adds the file
//! writer, `std` the float-to-int8 builder used by the trainer.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
// `unsafe` is denied everywhere but `arch` (target intrinsics, documented
// there); nothing else may opt out.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod arch;
#[cfg(feature = "std")]
pub mod builder;
pub mod decision;
pub mod engine;
pub mod error;
pub mod explain;
pub mod format;
pub mod kernels;
pub mod math;
pub mod monitor;
pub mod replay;
pub mod requant;
pub mod validate;

pub use decision::{CalibrationDef, Decision};
pub use engine::{Classification, Model, Output};
pub use error::Error;
pub use format::{Activation, ModelDef, Padding, QParams, Task};
