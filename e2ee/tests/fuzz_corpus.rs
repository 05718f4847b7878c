//! Replays the committed fuzz seed corpus through the fuzz bodies, so `cargo test` catches a
//! regression on any input the fuzzers were seeded (or have been minimised) with.

use std::path::Path;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        body(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(
        n >= 5,
        "{target}: only {n} corpus files in {}",
        dir.display()
    );
}

#[test]
fn sframe_header_corpus() {
    replay("sframe_header", telesfu_e2ee::fuzz::sframe_header);
}

#[test]
fn sframe_open_corpus() {
    replay("sframe_open", telesfu_e2ee::fuzz::sframe_open);
}

#[test]
fn key_message_corpus() {
    replay("key_message", telesfu_e2ee::fuzz::key_message);
}

#[test]
fn media_frame_corpus() {
    replay("media_frame", telesfu_e2ee::fuzz::media_frame);
}
