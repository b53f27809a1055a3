//! The rules that decide how each file of a bundle is sealed in its
//! `_CodeSignature/CodeResources`: `<rules>` (version 1, SHA-1 in `files`)
//! and `<rules2>` (version 2, `files2`).
//!
//! The tables are apple-codesign's defaults (`CodeResourcesBuilder::
//! default_resources_rules` and `default_no_resources_rules`, which follow
//! what Apple's `codesign` writes); a test checks that the `CodeResources`
//! written from them equals the one apple-codesign's builder writes. They are
//! held here because the builder keeps its rules private, and signing with
//! precomputed digests needs to ask, per file, which rule applies.

// These functions stand in for apple-codesign's own and return its error
// type, as it does; the one caller boxes it (SigningError::Bundle).
#![allow(clippy::result_large_err)]

use apple_codesign::{AppleCodesignError, CodeResources, CodeResourcesRule};
use regex::Regex;

/// One rule with its pattern compiled (apple-codesign keeps its own private).
struct CompiledRule {
    rule: CodeResourcesRule,
    pattern: Regex,
}

/// The rules of one bundle, each list ordered as apple-codesign matches it:
/// exclusions first, then by decreasing weight, ties in the order added.
pub struct ResourceRules {
    rules: Vec<CompiledRule>,
    rules2: Vec<CompiledRule>,
    /// What the `CodeResources` file starts from: the rules, no files.
    code_resources: CodeResources,
}

/// A rule of the tables below (their patterns are constants that compile).
fn r(pattern: &str) -> CodeResourcesRule {
    CodeResourcesRule::new(pattern).expect("the table's patterns compile")
}

/// The `<rules>` and `<rules2>` of a bundle that can have `Resources/`, or
/// not, in apple-codesign's order.
fn default_rules(with_resources: bool) -> (Vec<CodeResourcesRule>, Vec<CodeResourcesRule>) {
    let lproj = |prefix: &str| {
        [
            r(&format!("^{prefix}.*\\.lproj/")).optional().weight(1000),
            r(&format!("^{prefix}Base\\.lproj/")).weight(1010),
            r(&format!("^{prefix}.*\\.lproj/locversion.plist$"))
                .omit()
                .weight(1100),
        ]
    };
    let prefix = if with_resources { "Resources/" } else { "" };
    let mut rules = vec![
        r("^version.plist$"),
        r(if with_resources { "^Resources/" } else { "^.*" }),
    ];
    rules.extend(lproj(prefix));
    let mut rules2 = vec![r("^.*")];
    if with_resources {
        rules2.extend([
            r("^[^/]+$").nested().weight(10),
            r("^(Frameworks|SharedFrameworks|PlugIns|Plug-ins|XPCServices|Helpers|MacOS|Library/(Automator|Spotlight|LoginItems))/")
                .nested()
                .weight(10),
        ]);
    }
    rules2.extend([
        r(".*\\.dSYM($|/)").weight(11),
        r("^(.*/)?\\.DS_Store$").omit().weight(2000),
        r("^Info\\.plist$").omit().weight(20),
        r("^version\\.plist$").weight(20),
        r("^embedded\\.provisionprofile$").weight(20),
        r("^PkgInfo$").omit().weight(20),
    ]);
    if with_resources {
        rules2.push(r("^Resources/").weight(20));
    }
    rules2.extend(lproj(prefix));
    (rules, rules2)
}

fn compile(rule: CodeResourcesRule) -> Result<CompiledRule, AppleCodesignError> {
    let pattern = Regex::new(&rule.pattern)
        .map_err(|e| AppleCodesignError::ResourcesBadRegex(rule.pattern.clone(), e))?;
    Ok(CompiledRule { rule, pattern })
}

impl ResourceRules {
    /// The default rules of a bundle that can have `Resources/` (an app, or
    /// anything with `Contents/`) or not, plus exclusions of what signing
    /// writes and of `excluded` (the main executable, sealed by its own
    /// signature), matched exactly.
    pub fn new(with_resources: bool, excluded: Option<&str>) -> Result<Self, AppleCodesignError> {
        let mut slf = Self {
            rules: Vec::new(),
            rules2: Vec::new(),
            code_resources: CodeResources::default(),
        };
        let (rules, rules2) = default_rules(with_resources);
        for rule in rules {
            slf.code_resources.add_rule(rule.clone());
            insert_sorted(&mut slf.rules, compile(rule)?);
        }
        for rule in rules2 {
            slf.code_resources.add_rule2(rule.clone());
            insert_sorted(&mut slf.rules2, compile(rule)?);
        }
        // What signing writes, the notarization ticket and the App Store
        // receipt are never sealed (as in apple-codesign's bundle signer).
        // Exclusions steer the walk and are not written out.
        let excluded = excluded.map(|path| format!("^{}$", regex::escape(path)));
        for pattern in ["^_CodeSignature/", "^CodeResources$", "^_MASReceipt$"]
            .into_iter()
            .map(String::from)
            .chain(excluded)
        {
            let exclusion = CodeResourcesRule::new(pattern)?.exclude();
            insert_sorted(&mut slf.rules, compile(exclusion.clone())?);
            insert_sorted(&mut slf.rules2, compile(exclusion)?);
        }
        Ok(slf)
    }

    /// The version 1 rule for `path` (normalized: relative to the bundle's
    /// contents, `/`-separated), if any.
    pub fn rule(&self, path: &str) -> Option<&CodeResourcesRule> {
        find(&self.rules, path)
    }

    /// The version 2 rule for `path`, if any.
    pub fn rule2(&self, path: &str) -> Option<&CodeResourcesRule> {
        find(&self.rules2, path)
    }

    /// A `CodeResources` holding these rules and no files yet.
    pub fn code_resources(&self) -> CodeResources {
        self.code_resources.clone()
    }
}

/// apple-codesign pushes each rule and sorts the list again (a stable sort
/// by its `Ord`); inserting after every rule that is not greater is the same.
fn insert_sorted(rules: &mut Vec<CompiledRule>, new: CompiledRule) {
    let at = rules.partition_point(|r| r.rule <= new.rule);
    rules.insert(at, new);
}

fn find<'a>(rules: &'a [CompiledRule], path: &str) -> Option<&'a CodeResourcesRule> {
    rules
        .iter()
        .find(|r| r.pattern.is_match(path))
        .map(|r| &r.rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apple_codesign::CodeResourcesBuilder;

    fn xml(resources: &CodeResources) -> String {
        let mut out = Vec::new();
        resources.to_writer_xml(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tables_are_apple_codesigns_defaults() {
        for (with_resources, builder) in [
            (
                true,
                CodeResourcesBuilder::default_resources_rules().unwrap(),
            ),
            (
                false,
                CodeResourcesBuilder::default_no_resources_rules().unwrap(),
            ),
        ] {
            let mut expected = Vec::new();
            builder.write_code_resources(&mut expected).unwrap();
            let ours = ResourceRules::new(with_resources, None).unwrap();
            assert_eq!(
                xml(&ours.code_resources()),
                String::from_utf8(expected).unwrap()
            );
        }
    }

    #[test]
    fn the_heaviest_matching_rule_wins_and_exclusions_come_first() {
        let rules = ResourceRules::new(true, Some("MacOS/App")).unwrap();
        let rule2 = |path| rules.rule2(path).map(|r| r.pattern.as_str());
        assert_eq!(rule2("Resources/a.txt"), Some("^Resources/"));
        assert_eq!(
            rule2("Resources/en.lproj/x"),
            Some("^Resources/.*\\.lproj/")
        );
        assert!(rules.rule2("Resources/en.lproj/x").unwrap().optional);
        assert!(
            rules
                .rule2("Resources/en.lproj/locversion.plist")
                .unwrap()
                .omit
        );
        assert!(rules.rule2("Resources/sub/.DS_Store").unwrap().omit);
        assert!(rules.rule2("MacOS/helper").unwrap().nested);
        assert!(rules.rule2("PlugIns/X.appex").unwrap().nested);
        assert!(rules.rule2("Info.plist").unwrap().omit);
        assert!(rules.rule2("MacOS/App").unwrap().exclude);
        assert!(rules.rule2("_CodeSignature/CodeResources").unwrap().exclude);
        // A system extension is not under a nested rule: its files are
        // sealed one by one, as apple-codesign does.
        assert_eq!(
            rule2("Library/SystemExtensions/x.systemextension/Contents/Info.plist"),
            Some("^.*")
        );
        assert_eq!(
            rules.rule("Resources/a.txt").unwrap().pattern,
            "^Resources/"
        );
        assert!(rules.rule("MacOS/helper").is_none());
        assert!(rules.rule("MacOS/App").unwrap().exclude);
    }
}
