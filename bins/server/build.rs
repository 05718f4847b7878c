//! Embeds the browser package `@telesfu/e2ee` (e2ee/web: the ES module, its worker, its types
//! and the committed wasm build) so the server can serve it at `/pkg/telesfu-e2ee/`, the way a
//! vendor serves it from its own origin. The list of files is generated here because
//! wasm-bindgen names its snippet files after a hash of the crate that wrote them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("ts") => "text/plain; charset=utf-8",
        Some("md") | Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest.join("../../e2ee/web");
    println!("cargo:rerun-if-changed={}", web.display());
    let mut files = Vec::new();
    walk(&web, &mut files);
    files.sort();
    let mut code = String::from(
        "/// `(URL path, content type, body)` of every file of the package.\npub const PACKAGE: &[(&str, &str, &[u8])] = &[\n",
    );
    for f in &files {
        let rel = f.strip_prefix(&web).expect("walked under web");
        let rel = rel.to_string_lossy().replace('\\', "/");
        // The build script and its notes are for building the package, not for browsers.
        if rel == "build.sh" {
            continue;
        }
        println!("cargo:rerun-if-changed={}", f.display());
        let abs = f.canonicalize().expect("listed files exist");
        writeln!(
            code,
            "    ({:?}, {:?}, include_bytes!({:?})),",
            format!("/pkg/telesfu-e2ee/{rel}"),
            mime(f),
            abs.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("package_files.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
