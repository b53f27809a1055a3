//! The developer log of a submission: what a person needs from it is the
//! list of issues (which file, what is wrong, for which architecture).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub doc_url: Option<String>,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}",
            self.path.as_deref().unwrap_or("(the submission)"),
            self.message.as_deref().unwrap_or("(no message)")
        )?;
        if let Some(arch) = &self.architecture {
            write!(f, " [{arch}]")?;
        }
        Ok(())
    }
}

/// The issues the log lists (`issues` is `null` when there are none).
/// A log this does not understand yields no issues rather than an error:
/// the status already says what happened.
pub fn issues(log: &serde_json::Value) -> Vec<Issue> {
    log.get("issues")
        .and_then(|issues| serde_json::from_value::<Vec<Issue>>(issues.clone()).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_issues_as_apple_writes_them() {
        let log = serde_json::json!({
            "logFormatVersion": 1,
            "status": "Invalid",
            "issues": [{
                "severity": "error",
                "code": null,
                "path": "App.zip/App.app/Contents/MacOS/App",
                "message": "The binary is not signed with a valid Developer ID certificate.",
                "docUrl": "https://developer.apple.com/documentation/",
                "architecture": "arm64"
            }]
        });
        let issues = issues(&log);
        assert_eq!(issues.len(), 1);
        assert_eq!(
            issues[0].to_string(),
            "App.zip/App.app/Contents/MacOS/App: The binary is not signed with a valid Developer ID certificate. [arm64]"
        );
        assert!(super::issues(&serde_json::json!({"issues": null})).is_empty());
    }
}
