//! Embeds every `queries/*.sql`, `rules/*.yaml` and `rules/data/*.yaml` file, so adding a query or a rule is adding a file.
use std::{env, fs, path::Path};

fn embed(root: &Path, dir: &str, ext: &str, constant: &str, out: &mut String) {
    let path = root.join(dir);
    let mut files: Vec<_> = fs::read_dir(&path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    out.push_str(&format!("pub const {constant}: &[(&str, &str)] = &[\n"));
    for f in files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        out.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            format!("{dir}/{name}"),
            f.display().to_string()
        ));
    }
    out.push_str("];\n");
}

fn main() {
    println!("cargo:rerun-if-changed=queries");
    println!("cargo:rerun-if-changed=rules");
    let root = env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&root);
    let out_dir = env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    for (dir, ext, constant, file) in [
        ("queries", "sql", "QUERY_FILES", "queries.rs"),
        ("rules", "yaml", "RULE_FILES", "rules.rs"),
        ("rules/data", "yaml", "DATA_FILES", "data.rs"),
    ] {
        let mut out = String::new();
        embed(root, dir, ext, constant, &mut out);
        let dest = Path::new(&out_dir).join(file);
        if let Err(e) = fs::write(&dest, out) {
            panic!("cannot write {}: {e}", dest.display());
        }
    }
}
