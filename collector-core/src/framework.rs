//! Other frameworks answered from the same evidence: mappings of framework
//! requirements (NIST CSF 2.0, SP 800-53 Rev. 5, a user's CIS Controls
//! mapping, …) to ISO/IEC 27001:2022 Annex A controls and clauses, the
//! derived status of each requirement, the ISMS documented-information
//! checklist (clauses 4–10) and the optional ISO/IEC 27002 attribute
//! overlay. Pure: callers hand in file bytes, the report and `now`.
//!
//! Imports run one way: `model` ← `load` (TOML), `csv` ← `set`;
//! `checklist` ← `isms` ← `derive`; `attributes` needs only `model`.

pub mod attributes;
pub mod checklist;
mod csv;
pub mod derive;
pub mod isms;
mod load;
pub mod model;
mod set;

pub use derive::{derive, FrameworkReport, RequirementRow, DERIVATION_RULE};
pub use model::{
    embedded_sources, Framework, MappingError, MappingErrorKind, MappingErrors, MappingFileRef,
    MappingSource, Pair, Relationship, Requirement,
};
pub use set::FrameworkSet;

#[cfg(test)]
mod tests;
