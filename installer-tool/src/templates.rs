//! Templates from `templates/`, embedded in the binary and addressed by id,
//! so an installed `installer-tool` never depends on the source tree.

/// Every template the pipeline renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateId {
    AppInfoPlist,
    ExtensionInfoPlist,
    Distribution,
    PackageInfo,
    Preinstall,
    Postinstall,
    /// Shared by preinstall, postinstall and the uninstaller, sourced from
    /// next to them.
    UpgradeLib,
    /// The uninstaller pkg's postinstall, also in the app's Resources.
    Uninstall,
    /// The uninstaller's component: scripts, no payload.
    UninstallerPackageInfo,
}

/// How values are escaped where a template is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Syntax {
    /// Property lists are edited as values with `plist`, never by text.
    Plist,
    Xml,
    /// Values land inside double quotes in POSIX sh.
    Shell,
}

impl TemplateId {
    pub fn file_name(self) -> &'static str {
        match self {
            Self::AppInfoPlist => "app-Info.plist",
            Self::ExtensionInfoPlist => "extension-Info.plist",
            Self::Distribution => "Distribution.xml",
            Self::PackageInfo => "PackageInfo.xml",
            Self::Preinstall => "preinstall",
            Self::Postinstall => "postinstall",
            Self::UpgradeLib => "upgrade-lib.sh",
            Self::Uninstall => "uninstall",
            Self::UninstallerPackageInfo => "uninstaller-PackageInfo.xml",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::AppInfoPlist => include_str!("../../templates/app-Info.plist"),
            Self::ExtensionInfoPlist => include_str!("../../templates/extension-Info.plist"),
            Self::Distribution => include_str!("../../templates/Distribution.xml"),
            Self::PackageInfo => include_str!("../../templates/PackageInfo.xml"),
            Self::Preinstall => include_str!("../../templates/preinstall"),
            Self::Postinstall => include_str!("../../templates/postinstall"),
            Self::UpgradeLib => include_str!("../../templates/upgrade-lib.sh"),
            Self::Uninstall => include_str!("../../templates/uninstall"),
            Self::UninstallerPackageInfo => {
                include_str!("../../templates/uninstaller-PackageInfo.xml")
            }
        }
    }

    fn syntax(self) -> Syntax {
        match self {
            Self::AppInfoPlist | Self::ExtensionInfoPlist => Syntax::Plist,
            Self::Distribution | Self::PackageInfo | Self::UninstallerPackageInfo => Syntax::Xml,
            Self::Preinstall | Self::Postinstall | Self::UpgradeLib | Self::Uninstall => {
                Syntax::Shell
            }
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template {template} uses `{{{{{name}}}}}`, which build-pkg does not provide")]
    UnknownPlaceholder {
        template: &'static str,
        name: String,
    },
    #[error("template {template} has an unclosed `{{{{`")]
    Unclosed { template: &'static str },
    #[error("template {0} is a property list: edit it with `plist`, not by text substitution")]
    NotText(&'static str),
}

/// Renders `{{NAME}}` placeholders of a text template with escaped values.
pub fn render(id: TemplateId, vars: &[(&str, &str)]) -> Result<String, TemplateError> {
    let syntax = id.syntax();
    if syntax == Syntax::Plist {
        return Err(TemplateError::NotText(id.file_name()));
    }
    let mut out = String::new();
    let mut rest = id.text();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed {
            template: id.file_name(),
        })?;
        let name = &after[..end];
        let value = vars
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| TemplateError::UnknownPlaceholder {
                template: id.file_name(),
                name: name.to_string(),
            })?;
        escape_into(&mut out, value, syntax);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn escape_into(out: &mut String, value: &str, syntax: Syntax) {
    for c in value.chars() {
        match (syntax, c) {
            (Syntax::Xml, '&') => out.push_str("&amp;"),
            (Syntax::Xml, '<') => out.push_str("&lt;"),
            (Syntax::Xml, '>') => out.push_str("&gt;"),
            (Syntax::Xml, '"') => out.push_str("&quot;"),
            (Syntax::Shell, '"' | '\\' | '$' | '`') => {
                out.push('\\');
                out.push(c);
            }
            // A newline would end a shell comment line and start a command.
            (Syntax::Shell, '\n' | '\r') => out.push(' '),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_values_are_escaped() {
        let vars = [
            ("TITLE", "Fish & <Chips>"),
            ("MINIMUM_MACOS", "13.0"),
            ("PACKAGE_ID", "com.example.pkg"),
            ("VERSION", "1.0.0"),
            ("INSTALL_KBYTES", "10"),
            ("COMPONENT_FILE", "c.pkg"),
        ];
        let out = render(TemplateId::Distribution, &vars).unwrap();
        assert!(out.contains("<title>Fish &amp; &lt;Chips&gt;</title>"));
        assert!(!out.contains("{{"));
    }

    #[test]
    fn missing_value_is_an_error_naming_it() {
        let err = render(TemplateId::Distribution, &[]).unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnknownPlaceholder {
                template: "Distribution.xml",
                name: "TITLE".into()
            }
        );
    }

    #[test]
    fn shell_values_cannot_break_out_of_quotes() {
        let mut out = String::new();
        escape_into(&mut out, "a\"$(rm -rf /)`x`\nb", Syntax::Shell);
        assert_eq!(out, "a\\\"\\$(rm -rf /)\\`x\\` b");
    }

    #[test]
    fn every_plist_template_parses() {
        for id in [TemplateId::AppInfoPlist, TemplateId::ExtensionInfoPlist] {
            let value = plist::Value::from_reader_xml(id.text().as_bytes()).unwrap();
            assert!(value.as_dictionary().is_some(), "{}", id.file_name());
        }
    }
}
