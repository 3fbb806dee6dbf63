//! The ISO/IEC 27001:2022 Annex A catalog: 93 control ids, short titles and
//! themes, embedded from `policies/catalog/annex-a-2022.toml` at build time.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The embedded catalog source.
pub const ANNEX_A_TOML: &str = include_str!("../../policies/catalog/annex-a-2022.toml");

/// The four themes of ISO/IEC 27002:2022.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Theme {
    /// Clause 5.
    Organizational,
    /// Clause 6.
    People,
    /// Clause 7.
    Physical,
    /// Clause 8.
    Technological,
}

impl Theme {
    /// The theme's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Organizational => "Organizational",
            Theme::People => "People",
            Theme::Physical => "Physical",
            Theme::Technological => "Technological",
        }
    }

    /// All themes in clause order.
    pub const ALL: [Theme; 4] = [
        Theme::Organizational,
        Theme::People,
        Theme::Physical,
        Theme::Technological,
    ];
}

/// One Annex A control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// `A.<clause>.<n>`, e.g. `A.8.5`.
    pub id: String,
    /// The control's short title.
    pub title: String,
    /// Its theme.
    pub theme: Theme,
}

/// Why a catalog source is unusable.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("catalog lists control {0} twice")]
    Duplicate(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    control: Vec<Control>,
}

/// The catalog, in clause order, with lookup by id.
#[derive(Debug, Clone)]
pub struct Catalog {
    controls: Vec<Control>,
    index: BTreeMap<String, usize>,
}

impl Catalog {
    /// Parse a catalog from TOML text (`[[control]]` tables with id, title, theme).
    pub fn from_toml(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile = toml::from_str(text)?;
        let mut index = BTreeMap::new();
        for (i, c) in file.control.iter().enumerate() {
            if index.insert(c.id.clone(), i).is_some() {
                return Err(CatalogError::Duplicate(c.id.clone()));
            }
        }
        Ok(Catalog {
            controls: file.control,
            index,
        })
    }

    /// The embedded Annex A 2022 catalog.
    pub fn annex_a() -> &'static Catalog {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        CATALOG.get_or_init(|| {
            // The embedded file is checked by a unit test; an empty catalog is
            // the safe fallback that cannot be reached from a tested build.
            Catalog::from_toml(ANNEX_A_TOML).unwrap_or(Catalog {
                controls: Vec::new(),
                index: BTreeMap::new(),
            })
        })
    }

    /// Look a control up by id (`A.8.5`).
    pub fn get(&self, id: &str) -> Option<&Control> {
        self.index.get(id).and_then(|&i| self.controls.get(i))
    }

    /// All controls in clause order.
    pub fn controls(&self) -> &[Control] {
        &self.controls
    }

    /// Controls of one theme.
    pub fn by_theme(&self, theme: Theme) -> impl Iterator<Item = &Control> {
        self.controls.iter().filter(move |c| c.theme == theme)
    }

    /// Number of controls.
    pub fn len(&self) -> usize {
        self.controls.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.controls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_has_93_controls_in_four_themes() {
        let c = Catalog::from_toml(ANNEX_A_TOML).unwrap();
        assert_eq!(c.len(), 93);
        let counts: Vec<usize> = Theme::ALL.iter().map(|t| c.by_theme(*t).count()).collect();
        assert_eq!(counts, vec![37, 8, 14, 34]);
        assert_eq!(c.get("A.8.5").unwrap().title, "Secure authentication");
        assert!(c.get("A.9.9").is_none());
        assert_eq!(Catalog::annex_a().len(), 93);
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let text = "[[control]]\nid='A.1'\ntitle='x'\ntheme='People'\n[[control]]\nid='A.1'\ntitle='y'\ntheme='People'\n";
        assert!(matches!(
            Catalog::from_toml(text),
            Err(CatalogError::Duplicate(_))
        ));
    }
}
