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

/// Every notification template file, as `(template, file name, text)`, for
/// `include!`: `templates/notifications/<template>/<file>`.
fn notification_templates(dir: &Path, out: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries = Vec::new();
    let mut templates: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    templates.sort();
    for template in templates {
        println!("cargo:rerun-if-changed={}", template.display());
        let mut files: Vec<_> = std::fs::read_dir(&template)
            .unwrap_or_else(|e| panic!("{}: {e}", template.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let absolute =
                std::fs::canonicalize(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            entries.push(format!(
                "({:?}, {:?}, include_str!({:?})),",
                template
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default(),
                file.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default(),
                absolute.display().to_string()
            ));
        }
    }
    let text = format!("&[\n{}\n]\n", entries.join("\n"));
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
    notification_templates(
        Path::new("templates/notifications"),
        &out.join("notification_templates.rs"),
    );
}
