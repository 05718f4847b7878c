//! Replays the committed `media_frame` fuzz seed corpus through its fuzz body, so `cargo test`
//! catches a regression on any input the fuzzer was seeded (or has been minimised) with.

use std::path::Path;

#[test]
fn media_frame_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/media_frame");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        telesfu_e2ee::fuzz::media_frame(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 5, "only {n} corpus files in {}", dir.display());
}
