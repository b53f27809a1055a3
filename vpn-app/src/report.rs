//! What a command reports: a versioned JSON object for `--json` (what the
//! pkg scripts read), text otherwise; and the exit status.

use std::process::ExitCode;

use serde_json::json;

/// Bumped when a field of a command's JSON changes meaning or goes.
pub const SCHEMA_VERSION: u32 = 1;

pub struct Report {
    pub json: serde_json::Value,
    pub text: String,
    /// Turns a complete report into exit status 1.
    pub failed: bool,
}

/// `fields` (a struct that serialises to a JSON object) with the schema
/// version added, and the text for a person.
pub fn report(fields: &impl serde::Serialize, text: String) -> Report {
    let mut json = serde_json::to_value(fields).expect("reports serialise");
    json["schema_version"] = SCHEMA_VERSION.into();
    Report {
        json,
        text,
        failed: false,
    }
}

/// Prints `result` as JSON when `json`, else as text (an error goes to
/// stderr either way), and says the exit status.
pub fn print(result: anyhow::Result<Report>, json: bool) -> ExitCode {
    match result {
        Ok(report) => {
            if json {
                println!("{:#}", report.json);
            } else {
                println!("{}", report.text);
            }
            if report.failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            if json {
                println!(
                    "{:#}",
                    json!({"schema_version": SCHEMA_VERSION, "error": format!("{error:#}")})
                );
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
