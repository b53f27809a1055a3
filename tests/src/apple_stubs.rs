//! The interface stubs of Apple's frameworks (`installer-tool/apple-stubs`)
//! and what a linked Mach-O imports, so the two can be held equal: a stub
//! declares exactly the symbols the build binds to its library.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use goblin::mach::{Mach, MachO, SingleArch};

/// Install name -> symbols.
pub type Symbols = BTreeMap<String, BTreeSet<String>>;

fn add_slice(macho: &MachO<'_>, into: &mut Symbols) {
    for (name, nlist) in macho.symbols().flatten() {
        if !(nlist.is_undefined() && nlist.is_global()) {
            continue;
        }
        // Two-level namespace: the library ordinal is n_desc's high byte,
        // counting LC_LOAD_DYLIBs from 1 (goblin's libs[0] is "self").
        let ordinal = usize::from(nlist.n_desc >> 8);
        if let Some(library) = macho.libs.get(ordinal).filter(|_| ordinal > 0) {
            into.entry(library.to_string())
                .or_default()
                .insert(name.to_string());
        }
    }
}

/// The symbols a thin or universal Mach-O binds, by library.
pub fn imports(data: &[u8]) -> Symbols {
    let mut symbols = Symbols::new();
    match Mach::parse(data).expect("a Mach-O file") {
        Mach::Binary(macho) => add_slice(&macho, &mut symbols),
        Mach::Fat(fat) => {
            for index in 0..fat.narches {
                if let Ok(SingleArch::MachO(macho)) = fat.get(index) {
                    add_slice(&macho, &mut symbols);
                }
            }
        }
    }
    symbols
}

/// What the `.tbd` stubs under `dir` declare, by install name (the subset
/// of TAPI's YAML these stubs use: `install-name` and `symbols` lists).
pub fn declared(dir: &Path) -> Symbols {
    let mut stubs = Symbols::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "tbd") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let install_name = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("install-name:"))
                .unwrap_or_else(|| panic!("{} has no install-name", path.display()))
                .trim()
                .trim_matches('\'')
                .to_string();
            let mut symbols = BTreeSet::new();
            let mut rest = text.as_str();
            while let Some(at) = rest.find("symbols:") {
                let list = &rest[at..];
                let (open, close) = (list.find('[').unwrap(), list.find(']').unwrap());
                symbols.extend(
                    list[open + 1..close]
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                rest = &list[close..];
            }
            stubs.insert(install_name, symbols);
        }
    }
    stubs
}
