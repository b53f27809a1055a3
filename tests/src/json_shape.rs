//! The shape of a JSON document, for snapshots of what CI scripts parse:
//! every path with the kinds of value seen there, values left out (paths,
//! digests and timings change from run to run; the schema must not).

use std::collections::BTreeMap;

use serde_json::Value;

/// One line per path, sorted: `.payload.sha1: string`,
/// `.identities[].purpose: string`. Array elements share one path, with
/// every kind any element had (`number|null`).
pub fn json_shape(value: &Value) -> String {
    let mut kinds: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    collect(value, String::new(), &mut kinds);
    kinds
        .into_iter()
        .map(|(path, kinds)| {
            format!(
                "{}: {}\n",
                if path.is_empty() { "." } else { &path },
                kinds.join("|")
            )
        })
        .collect()
}

fn collect(value: &Value, path: String, kinds: &mut BTreeMap<String, Vec<&'static str>>) {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let seen = kinds.entry(path.clone()).or_default();
    if !seen.contains(&kind) {
        seen.push(kind);
        seen.sort_unstable();
    }
    match value {
        Value::Array(items) => {
            for item in items {
                collect(item, format!("{path}[]"), kinds);
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                collect(field, format!("{path}.{key}"), kinds);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_kinds_without_values() {
        let value = serde_json::json!({
            "a": 1, "b": {"c": "x"}, "d": [{"e": 1}, {"e": null, "f": true}]
        });
        assert_eq!(
            json_shape(&value),
            ".: object\n.a: number\n.b: object\n.b.c: string\n.d: array\n.d[]: object\n.d[].e: null|number\n.d[].f: bool\n"
        );
    }
}
