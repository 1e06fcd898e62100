//! Audit-log ingest: sources, formats, the explicit Arrow schema and the `audit` table.

pub mod batch;
pub mod control_plane;
pub mod event;
pub mod json;
pub mod normalize;
pub mod scan;
pub mod schema;
pub mod source;
pub mod webhook;
