//! What Installer.app shows around the install: the welcome, read me,
//! license and conclusion pages and the window's background, light and
//! dark, from `release.toml`'s `[installer]`. They go into the product
//! archive as `productbuild --resources` lays them out: `Resources/` holds
//! the folder as it is (images at its top, one `<lang>.lproj` per
//! language), and the Distribution names each file, which Installer looks
//! up in the user's language folder.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::ConfigError;

/// `[installer]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InstallerConfig {
    /// The window's title (default: `product.name`).
    #[serde(default)]
    pub title: Option<String>,
    /// The folder of the pages and images, relative to the config.
    #[serde(default)]
    pub resources: Option<PathBuf>,
    #[serde(default)]
    pub welcome: Option<String>,
    #[serde(default)]
    pub readme: Option<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub background: Option<BackgroundConfig>,
    #[serde(default)]
    pub background_dark: Option<BackgroundConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BackgroundConfig {
    pub file: String,
    #[serde(default = "center")]
    pub alignment: String,
    #[serde(default = "tofit")]
    pub scaling: String,
}

fn center() -> String {
    "center".into()
}

fn tofit() -> String {
    "tofit".into()
}

/// The values Installer takes for a background (PackageMaker's
/// `IFPkgFlagBackgroundAlignment` / `IFPkgFlagBackgroundScaling`, the
/// same words the flat Distribution's `alignment` and `scaling` use).
const ALIGNMENTS: [&str; 9] = [
    "center",
    "left",
    "right",
    "top",
    "bottom",
    "topleft",
    "topright",
    "bottomleft",
    "bottomright",
];
const SCALINGS: [&str; 3] = ["tofit", "none", "proportional"];

/// A page's Distribution element and file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// `welcome`, `readme`, `license` or `conclusion`.
    pub element: &'static str,
    pub file: String,
    pub mime_type: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Background {
    /// `background` or `background-darkAqua`.
    pub element: &'static str,
    pub file: String,
    pub mime_type: &'static str,
    pub alignment: String,
    pub scaling: String,
}

/// A file of `Resources/` in the product archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceFile {
    /// Its path under `Resources/`.
    pub name: String,
    pub contents: Contents,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contents {
    /// The vendor's file, read when the pkg is built.
    File(PathBuf),
    /// Written by us (a language's `Localizable.strings`).
    Text(String),
}

/// The key of the window's title in each language's
/// `Localizable.strings`, as Apple's own installers name it
/// (`<title>SU_TITLE</title>` in InstallAssistant.pkg's Distribution).
pub const TITLE_KEY: &str = "SU_TITLE";
const STRINGS: &str = "Localizable.strings";

/// The checked `[installer]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallerPages {
    /// In English; each language's `Localizable.strings` has its own.
    pub title: String,
    pub pages: Vec<Page>,
    pub backgrounds: Vec<Background>,
    /// The `<lang>.lproj` folders, English first; empty when the pages sit
    /// at the folder's top.
    pub languages: Vec<String>,
    pub files: Vec<ResourceFile>,
}

/// The English folder that must be there when any language is.
const ENGLISH: &str = "en.lproj";

impl InstallerPages {
    /// Checks `[installer]` of the config at `path` against the files
    /// under `root`; `product_name` is the default title.
    pub fn load(
        config: InstallerConfig,
        product_name: &str,
        root: &Path,
        path: &Path,
    ) -> Result<Self, ConfigError> {
        let invalid = |field, problem: String, help: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            problem,
            help: help.to_string(),
        };
        let title = config.title.unwrap_or_else(|| product_name.to_string());
        if title.trim().is_empty() {
            return Err(invalid(
                "installer.title",
                "is empty".into(),
                "name the installer window, or remove the key to use product.name",
            ));
        }
        let wanted_pages = [
            ("installer.welcome", "welcome", config.welcome),
            ("installer.readme", "readme", config.readme),
            ("installer.license", "license", config.license),
            ("installer.conclusion", "conclusion", config.conclusion),
        ];
        let wanted_backgrounds = [
            ("installer.background", "background", config.background),
            (
                "installer.background-dark",
                "background-darkAqua",
                config.background_dark,
            ),
        ];
        let anything = wanted_pages.iter().any(|(_, _, f)| f.is_some())
            || wanted_backgrounds.iter().any(|(_, _, b)| b.is_some());
        let Some(dir) = config.resources.map(|d| root.join(d)) else {
            if anything {
                return Err(invalid(
                    "installer.resources",
                    "is missing, but pages or backgrounds are named".into(),
                    "set `resources = \"FOLDER\"`: the folder that holds them",
                ));
            }
            return Ok(Self {
                title,
                ..Self::default()
            });
        };
        if !dir.is_dir() {
            return Err(invalid(
                "installer.resources",
                format!("{} is not a folder", dir.display()),
                "point it at the folder of the installer's pages and images",
            ));
        }
        let languages = languages(&dir).map_err(|e| {
            invalid(
                "installer.resources",
                format!("cannot list {}: {e}", dir.display()),
                "make the folder readable",
            )
        })?;
        if !languages.is_empty() && languages[0] != ENGLISH {
            return Err(invalid(
                "installer.resources",
                format!(
                    "{} has language folders ({}) but no {ENGLISH}",
                    dir.display(),
                    languages.join(", ")
                ),
                "add en.lproj with every page: Installer falls back to English",
            ));
        }
        // Pages sit in every language folder, or at the top without any.
        let folders: Vec<String> = if languages.is_empty() {
            vec![String::new()]
        } else {
            languages.clone()
        };
        let mut pages = Vec::new();
        let mut files = Vec::new();
        for (field, element, file) in wanted_pages {
            let Some(file) = file else { continue };
            let mime_type = page_mime_type(&file).ok_or_else(|| {
                invalid(
                    field,
                    format!("`{file}` is not HTML, RTF or plain text"),
                    "use a .html, .rtf or .txt file",
                )
            })?;
            check_file_name(&file).map_err(|problem| {
                invalid(
                    field,
                    problem,
                    "name a file directly in each language folder",
                )
            })?;
            for folder in &folders {
                let name = if folder.is_empty() {
                    file.clone()
                } else {
                    format!("{folder}/{file}")
                };
                let source = dir.join(&name);
                if !source.is_file() {
                    return Err(invalid(
                        field,
                        format!("{} is missing", source.display()),
                        "add the page in every language folder, or remove the key",
                    ));
                }
                if mime_type == "text/html" {
                    check_html_references(&source, &dir.join(folder), &dir).map_err(|problem| {
                        invalid(
                            field,
                            problem,
                            "ship every file the page refers to beside it, or link it by URL",
                        )
                    })?;
                }
                files.push(ResourceFile {
                    name,
                    contents: Contents::File(source),
                });
            }
            pages.push(Page {
                element,
                file,
                mime_type,
            });
        }
        let mut backgrounds = Vec::new();
        for (field, element, background) in wanted_backgrounds {
            let Some(background) = background else {
                continue;
            };
            check_file_name(&background.file).map_err(|problem| {
                invalid(
                    field,
                    problem,
                    "name an image directly in the resources folder",
                )
            })?;
            let source = dir.join(&background.file);
            let bytes = std::fs::read(&source).map_err(|e| {
                invalid(
                    field,
                    format!("cannot read {}: {e}", source.display()),
                    "add the image to the resources folder, or remove the key",
                )
            })?;
            let mime_type = image_mime_type(&bytes).ok_or_else(|| {
                invalid(
                    field,
                    format!("{} is neither PNG nor TIFF", source.display()),
                    "save the background as PNG or TIFF",
                )
            })?;
            if !ALIGNMENTS.contains(&background.alignment.as_str()) {
                return Err(invalid(
                    field,
                    format!(
                        "alignment `{}` is not one Installer knows",
                        background.alignment
                    ),
                    &format!("use one of {}", ALIGNMENTS.join(", ")),
                ));
            }
            if !SCALINGS.contains(&background.scaling.as_str()) {
                return Err(invalid(
                    field,
                    format!(
                        "scaling `{}` is not one Installer knows",
                        background.scaling
                    ),
                    &format!("use one of {}", SCALINGS.join(", ")),
                ));
            }
            files.push(ResourceFile {
                name: background.file.clone(),
                contents: Contents::File(source),
            });
            backgrounds.push(Background {
                element,
                file: background.file,
                mime_type,
                alignment: background.alignment,
                scaling: background.scaling,
            });
        }
        // The title, per language: the vendor's translation, else ours.
        for language in &languages {
            let name = format!("{language}/{STRINGS}");
            let source = dir.join(&name);
            let contents = if source.exists() {
                let text = read_strings(&source).map_err(|problem| {
                    invalid("installer.resources", problem, "save it as UTF-8 or UTF-16")
                })?;
                if !defines(&text, TITLE_KEY) {
                    return Err(invalid(
                        "installer.resources",
                        format!("{} does not define \"{TITLE_KEY}\"", source.display()),
                        &format!(
                            "add `\"{TITLE_KEY}\" = \"<the title in that language>\";`, the installer's title"
                        ),
                    ));
                }
                Contents::File(source)
            } else {
                Contents::Text(format!(
                    "/* The installer window's title. */\n\"{TITLE_KEY}\" = \"{}\";\n",
                    title.replace('\\', "\\\\").replace('"', "\\\"")
                ))
            };
            files.push(ResourceFile { name, contents });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        files.dedup_by(|a, b| a.name == b.name);
        Ok(Self {
            title,
            pages,
            backgrounds,
            languages,
            files,
        })
    }

    /// What the Distribution's `<title>` holds: the key of the localized
    /// title when there are languages, else the title.
    pub fn title_element(&self) -> &str {
        if self.languages.is_empty() {
            &self.title
        } else {
            TITLE_KEY
        }
    }

    /// The Distribution's elements for the pages and backgrounds, one a
    /// line, indented as the template's.
    pub fn distribution_elements(&self) -> String {
        let mut xml = String::new();
        for background in &self.backgrounds {
            xml += &format!(
                "  <{} file=\"{}\" mime-type=\"{}\" alignment=\"{}\" scaling=\"{}\"/>\n",
                background.element,
                escape(&background.file),
                background.mime_type,
                background.alignment,
                background.scaling
            );
        }
        for page in &self.pages {
            xml += &format!(
                "  <{} file=\"{}\" mime-type=\"{}\"/>\n",
                page.element,
                escape(&page.file),
                page.mime_type
            );
        }
        xml
    }
}

/// The `*.lproj` folders of `dir`, English first, then by name.
fn languages(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".lproj") && entry.file_type()?.is_dir() {
            found.push(name);
        }
    }
    found.sort_by_key(|name| (name != ENGLISH, name.clone()));
    Ok(found)
}

/// A `.strings` file as text: UTF-16 with its byte order mark, or UTF-8.
fn read_strings(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let utf16 = |units: Vec<u16>| {
        String::from_utf16(&units).map_err(|_| format!("{} is not valid UTF-16", path.display()))
    };
    match bytes.as_slice() {
        [0xFF, 0xFE, rest @ ..] => utf16(
            rest.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        ),
        [0xFE, 0xFF, rest @ ..] => utf16(
            rest.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
        ),
        _ => String::from_utf8(bytes).map_err(|_| {
            format!(
                "{} is neither UTF-8 nor UTF-16 with a byte order mark",
                path.display()
            )
        }),
    }
}

/// Whether a `.strings` text assigns `key` (`"key" = "value";`), outside
/// comments.
fn defines(strings: &str, key: &str) -> bool {
    let quoted = format!("\"{key}\"");
    strings
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default().trim_start())
        .filter(|line| !line.starts_with("/*") && !line.starts_with('*'))
        .any(|line| {
            line.strip_prefix(&quoted)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
}

/// A plain file name: Installer looks the name up in each language folder.
fn check_file_name(file: &str) -> Result<(), String> {
    if file.is_empty() || file.contains('/') || file.starts_with('.') {
        Err(format!("`{file}` is not a plain file name"))
    } else {
        Ok(())
    }
}

/// The page types Installer shows (the Distribution's `mime-type`).
fn page_mime_type(file: &str) -> Option<&'static str> {
    let extension = Path::new(file).extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "html" | "htm" => Some("text/html"),
        "rtf" => Some("text/rtf"),
        "txt" => Some("text/plain"),
        _ => None,
    }
}

/// PNG or TIFF, by their signatures (PNG spec 5.2; TIFF 6.0, section 2).
fn image_mime_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else {
        None
    }
}

/// Every relative `src=` and `href=` of the page at `page` names a file
/// that ships: beside it in `folder`, or elsewhere under `resources`.
fn check_html_references(page: &Path, folder: &Path, resources: &Path) -> Result<(), String> {
    let html = std::fs::read_to_string(page)
        .map_err(|e| format!("cannot read {}: {e}", page.display()))?;
    for reference in html_references(&html) {
        let target = reference.split(['#', '?']).next().unwrap_or_default();
        let external = target.is_empty()
            || target.contains(':')
            || target.starts_with("//")
            || target.starts_with('/');
        if external {
            continue;
        }
        let shipped = folder.join(target);
        let inside = shipped
            .canonicalize()
            .ok()
            .zip(resources.canonicalize().ok())
            .is_some_and(|(file, root)| file.starts_with(root) && file.is_file());
        if !inside {
            return Err(format!(
                "{} refers to `{reference}`, which is not in {}",
                page.display(),
                resources.display()
            ));
        }
    }
    Ok(())
}

/// The values of `src` and `href` attributes, quoted either way.
fn html_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for attribute in ["src", "href"] {
        let mut from = 0;
        while let Some(at) = lower[from..].find(attribute) {
            let start = from + at;
            from = start + attribute.len();
            // A whole attribute name: not the end of another word.
            let before = lower[..start].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') {
                continue;
            }
            let rest = lower[from..].trim_start();
            let Some(rest) = rest.strip_prefix('=') else {
                continue;
            };
            let rest = rest.trim_start();
            let value_start = lower.len() - rest.len();
            let (quote, skip) = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => (Some(q), 1),
                _ => (None, 0),
            };
            let value = &html[value_start + skip..];
            let end = match quote {
                Some(q) => value.find(q),
                None => value.find(|c: char| c.is_whitespace() || c == '>'),
            }
            .unwrap_or(value.len());
            found.push(value[..end].trim().to_string());
        }
    }
    found
}

fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_quoted_or_not() {
        let html = r#"<img SRC="logo.png"><a href='guide.html#top'>x</a>
            <link rel=stylesheet href=style.css><a data-href="no.html">n</a>
            <a href="https://example.com/x">y</a>"#;
        assert_eq!(
            html_references(html),
            [
                "logo.png",
                "guide.html#top",
                "style.css",
                "https://example.com/x"
            ]
        );
    }

    #[test]
    fn a_strings_file_defines_a_key_outside_comments() {
        let text = "/* \"SU_TITLE\" = \"no\"; */\n// \"SU_TITLE\" = \"no\";\n\"OTHER\" = \"x\";\n";
        assert!(!defines(text, "SU_TITLE"));
        assert!(defines(
            &format!("{text}\"SU_TITLE\" = \"Démo\";\n"),
            "SU_TITLE"
        ));
        assert!(defines("  \"SU_TITLE\"=\"x\";", "SU_TITLE"));
    }

    #[test]
    fn images_are_known_by_their_signature() {
        assert_eq!(image_mime_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_mime_type(b"II*\0...."), Some("image/tiff"));
        assert_eq!(image_mime_type(b"MM\0*...."), Some("image/tiff"));
        assert_eq!(image_mime_type(b"\xff\xd8\xff\xe0JFIF"), None);
    }
}
