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
fn mls_message_corpus() {
    replay("mls_message", telesfu_e2ee::fuzz::mls_message);
}

#[test]
fn certificate_corpus() {
    replay("certificate", telesfu_e2ee::fuzz::certificate);
}

mod mls_common;

/// Writes real MLS messages and certificates from a three-member call as seeds (a commit, an
/// external commit, GroupInfos, a chat message, certificates), each with the selector byte
/// `fuzz::mls_message` reads. Run by hand after a format change:
/// `cargo test -p telesfu-e2ee --test fuzz_corpus -- --ignored write_mls_seeds`.
#[test]
#[ignore = "writes the seed corpus into fuzz/corpus; run by hand"]
fn write_mls_seeds() {
    use telesfu_e2ee::mls::ds::FromDs;
    let mut call = mls_common::Call::new();
    let a = call.join("Ada", "clinician");
    call.join("Bo", "patient");
    call.join("Cy", "interpreter");
    call.advance(std::time::Duration::from_secs(2));
    call.members[a]
        .session
        .send_chat(call.now, 1, "seed")
        .unwrap();
    call.pump();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let mut n = 0;
    for (_, msg) in &call.log {
        let (sel, bytes) = match msg {
            FromDs::Commit { commit } => (0u8, commit.clone()),
            FromDs::Application { message } => (1, message.clone()),
            FromDs::GroupState {
                group_info: Some(g),
            } => (3, g.clone()),
            _ => continue,
        };
        let mut seed = vec![sel];
        seed.extend_from_slice(&bytes);
        write("mls_message", &format!("seed-{n:02}"), &seed);
        n += 1;
    }
    write("mls_message", "empty", &[]);
    write("mls_message", "garbage", &[2, 0, 1, 0, 1, 0xff]);
    for (i, m) in call.members.iter().enumerate() {
        let _ = m;
        let key = telesfu_e2ee::session::MemberKey::from_seed([i as u8 + 100; 32]);
        let cert = call.certify(&call.authority, &key, &format!("member {i}"), "patient");
        write("certificate", &format!("seed-{i}"), &cert);
    }
    write("certificate", "empty", &[]);
    write("certificate", "version-only", &[1]);
}

#[test]
fn media_frame_corpus() {
    replay("media_frame", telesfu_e2ee::fuzz::media_frame);
}
