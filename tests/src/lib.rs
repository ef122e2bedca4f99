//! End-to-end test helpers live in `it/`.
