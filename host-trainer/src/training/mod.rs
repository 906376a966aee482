//! Training: the configuration, the networks (burn), the training loop,
//! the CUDA device, and the data prepared for them.

pub mod args;
pub mod config;
pub mod cuda;
pub mod fit;
pub mod from;
pub mod net;
pub mod prepared;
pub mod qat;
pub mod search;
pub mod trees;
