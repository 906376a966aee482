//! The vigie host trainer: data in, int8 model file out. The binary `vigie`
//! is a thin command line over these modules; integration tests call them
//! directly.

pub mod inspect;
