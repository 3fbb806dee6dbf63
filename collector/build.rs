//! Build script: the git revision and profile for `--version` (shared with
//! the other binary crate).
include!("../scripts/build_version.rs");
