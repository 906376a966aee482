//! Shared helpers for the integration tests live in `src/`; the tests are in `tests/`.
