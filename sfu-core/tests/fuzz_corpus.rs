//! Replays the committed fuzz seed corpus through the fuzz bodies in `cargo test`.

use std::path::Path;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        body(&std::fs::read(entry.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(
        n >= 5,
        "{target}: only {n} corpus files in {}",
        dir.display()
    );
}

#[test]
fn rtp_view_corpus() {
    replay("rtp_view", telesfu_core::fuzz::rtp_view);
}

#[test]
fn rtcp_view_corpus() {
    replay("rtcp_view", telesfu_core::fuzz::rtcp_view);
}

#[test]
fn payload_descriptors_corpus() {
    replay(
        "payload_descriptors",
        telesfu_core::fuzz::payload_descriptors,
    );
}
