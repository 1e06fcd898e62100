//! Data tables in `rules/data/` (embedded): the API removal table and the default APF objects. One
//! typed loader: a table that does not parse into its type is an error naming the file, never an
//! empty table that would silence the rules reading it.

use serde::de::DeserializeOwned;

use super::{RuleError, yaml_value};

include!(concat!(env!("OUT_DIR"), "/data.rs"));

/// Loads `rules/data/<name>` into `T`.
pub fn load<T: DeserializeOwned>(name: &str) -> Result<T, RuleError> {
    let file = format!("rules/data/{name}");
    let def = |msg: String| RuleError::Definition {
        file: file.clone(),
        msg,
    };
    let text = DATA_FILES
        .iter()
        .find(|(f, _)| *f == file)
        .map(|(_, t)| *t)
        .ok_or_else(|| def("not embedded (is the file in rules/data/?)".into()))?;
    serde_json::from_value(yaml_value(&file, text)?).map_err(|e| def(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_or_mistyped_table_is_an_error() {
        let e = super::load::<serde_json::Value>("nope.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rules/data/nope.yaml"), "{e}");
        let e = super::load::<Vec<u32>>("api-removals.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rules/data/api-removals.yaml"), "{e}");
    }
}
