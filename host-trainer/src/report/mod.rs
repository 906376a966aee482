//! The model card (`vigie report`).

pub mod card;
