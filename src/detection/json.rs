//! JSON reading whose errors name the path of the bad value (`annotations[3].area`), since
//! COCO and LVIS files are usually one line and a column number does not help.

use serde::de::DeserializeOwned;

/// Parses `text`; an error names the path, the problem and what the file should be.
pub fn parse<T: DeserializeOwned>(text: &str, expected: &str) -> anyhow::Result<T> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        anyhow::anyhow!("{at}{} (expected {expected})", e.inner())
    })
}
