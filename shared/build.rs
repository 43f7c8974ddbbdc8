//! Gathers the Cedar schema and the built-in policies from `policies/` into one
//! file each, so adding a service's schema file needs no code change.

use std::path::Path;

fn gather(dir: &Path, extension: &str, out: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    let mut text = String::new();
    for file in files {
        println!("cargo:rerun-if-changed={}", file.display());
        text.push_str(&format!("// ---- {}\n", file.display()));
        text.push_str(
            &std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
        );
        text.push('\n');
    }
    std::fs::write(out, text).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out);
    gather(
        Path::new("policies/schema"),
        "cedarschema",
        &out.join("schema.cedarschema"),
    );
    gather(
        Path::new("policies/builtin"),
        "cedar",
        &out.join("builtin.cedar"),
    );
}
