//! kscope: keeps Kubernetes API servers healthy.
//!
//! Audit sources → [`audit`] (one explicit Arrow schema) → DataFusion table `audit` → [`query`] files →
//! [`finding::Finding`] → [`render`] and an exit code.

pub mod analysis;
pub mod apf;
pub mod audit;
pub mod catalogue;
pub mod cli;
pub mod cloudwatch;
pub mod cmd;
#[cfg(feature = "ballista")]
pub mod distributed;
pub mod finding;
pub mod gate;
pub mod inventory;
pub mod lint;
pub mod memory;
pub mod preflight;
pub mod query;
pub mod render;
pub mod rules;
pub mod store;
pub mod table;
pub mod timearg;
pub mod walk;
