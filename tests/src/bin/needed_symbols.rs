//! `needed-symbols BINARY...`: the symbols linked Mach-O files import, one
//! `install-name symbol` per line, the list each stub in
//! `installer-tool/apple-stubs` must declare for its install name.

fn main() {
    let mut all = system_tests::apple_stubs::Symbols::new();
    for path in std::env::args_os().skip(1) {
        let data = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.to_string_lossy()));
        for (library, symbols) in system_tests::apple_stubs::imports(&data) {
            all.entry(library).or_default().extend(symbols);
        }
    }
    for (library, symbols) in all {
        for symbol in symbols {
            println!("{library} {symbol}");
        }
    }
}
