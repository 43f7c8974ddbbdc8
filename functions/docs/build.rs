//! The page's renderer (Swagger UI) comes from the npm registry, pinned, through
//! `make tools` (scripts/docs-renderer.sh); it is not committed.

use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/docs");
    for file in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let path = dir.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        assert!(
            path.exists(),
            "{} is missing: run `make tools`, which installs the pinned API docs renderer",
            path.display()
        );
    }
}
