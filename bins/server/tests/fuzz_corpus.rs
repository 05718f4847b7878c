//! Replays the committed fuzz seed corpus through the fuzz bodies, so `cargo test` catches a
//! regression on any input the fuzzers were seeded (or have been minimised) with.
//!
//! `write_seed_corpus` (ignored) is the generator of the seeds that are not copied from
//! fixtures: real STUN requests built with the `stun` crate, SRTP/SRTCP packets protected with
//! the target's fixed keys, DTLS client flights from a dimpl client, signaling messages from
//! docs/signaling.md. Rerun it after changing a target's input format:
//! `cargo test -p telesfu-server --test fuzz_corpus -- --ignored write_seed_corpus`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dimpl::{Config, Dtls, DtlsCertificate, Output};
use sha1::{Digest, Sha1};
use stun::agent::TransactionId;
use stun::attributes::{ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USE_CANDIDATE, ATTR_USERNAME};
use stun::fingerprint::FINGERPRINT;
use stun::integrity::MessageIntegrity;
use stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Message, Setter};
use stun::textattrs::Username;
use telesfu_server::fuzz;
use telesfu_server::transport::dtls::DtlsTransport;
use telesfu_server::transport::srtp::SrtpSession;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn replay(target: &str, body: fn(&[u8])) {
    let dir = corpus_dir(target);
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
fn stun_request_corpus() {
    replay("stun_request", fuzz::stun_request);
}

#[test]
fn srtp_unprotect_corpus() {
    replay("srtp_unprotect", fuzz::srtp_unprotect);
}

#[test]
fn dtls_server_corpus() {
    replay("dtls_server", fuzz::dtls_server);
}

#[test]
fn sdp_offer_corpus() {
    replay("sdp_offer", fuzz::sdp_offer);
}

#[test]
fn signal_message_corpus() {
    replay("signal_message", fuzz::signal_message);
}

/// Writes one seed under the name cargo-fuzz gives it (the first 16 hex digits of its SHA-1).
fn write_seed(target: &str, bytes: &[u8]) {
    let dir = corpus_dir(target);
    std::fs::create_dir_all(&dir).unwrap();
    let name: String = Sha1::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
#[ignore = "writes the seed corpus into fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    stun_seeds();
    srtp_seeds();
    dtls_seeds();
    sdp_seeds();
    signal_seeds();
}

/// A Binding Request as Chromium sends it (see tests/ice.rs).
fn stun_request(username: &str, pwd: &str, use_candidate: bool, txid: u8) -> Vec<u8> {
    let mut m = Message::new();
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId([txid; 12])),
        Box::new(Username::new(ATTR_USERNAME, username.to_string())),
    ];
    m.build(&setters).expect("build header");
    m.add(
        ATTR_ICE_CONTROLLING,
        &0x1122_3344_5566_7788u64.to_be_bytes(),
    );
    m.add(ATTR_PRIORITY, &1_853_824_767u32.to_be_bytes());
    if use_candidate {
        m.add(ATTR_USE_CANDIDATE, &[]);
    }
    MessageIntegrity::new_short_term_integrity(pwd.to_string())
        .add_to(&mut m)
        .expect("integrity");
    FINGERPRINT.add_to(&mut m).expect("fingerprint");
    m.raw
}

fn stun_seeds() {
    let (lu, lp) = fuzz::STUN_LOCAL;
    let (ru, _) = fuzz::STUN_REMOTE;
    let user = format!("{lu}:{ru}");
    let seeds = [
        stun_request(&user, lp, false, 1),
        stun_request(&user, lp, true, 2),
        stun_request(&user, "wrongPasswordOf24Chars++", true, 3),
        stun_request(&format!("other:{ru}"), lp, false, 4),
        stun_request(&format!("{lu}:someoneelse"), lp, false, 5),
    ];
    for s in &seeds {
        write_seed("stun_request", s);
    }
    // A success response (not a request) and a request without FINGERPRINT.
    let mut m = Message::new();
    let setters: Vec<Box<dyn Setter>> =
        vec![Box::new(BINDING_SUCCESS), Box::new(TransactionId([6; 12]))];
    m.build(&setters).expect("build");
    write_seed("stun_request", &m.raw);
    let mut m = Message::new();
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId([8; 12])),
        Box::new(Username::new(ATTR_USERNAME, user.clone())),
    ];
    m.build(&setters).expect("build");
    write_seed("stun_request", &m.raw);
}

fn srtp_seeds() {
    for selector in 0u8..3 {
        let profile = fuzz::srtp_profile_of(selector);
        let material = fuzz::srtp_keying_material(profile);
        // The browser is the DTLS client: it protects with the client keys.
        let mut client = SrtpSession::new(profile, &material, true).unwrap();
        let mut seal = |plain: &[u8], rtcp: bool| {
            let mut buf = plain.to_vec();
            buf.resize(plain.len() + profile.rtcp_overhead(), 0);
            let n = if rtcp {
                client.protect_rtcp(&mut buf, plain.len())
            } else {
                client.protect_rtp(&mut buf, plain.len())
            }
            .unwrap();
            let mut seed = vec![selector];
            seed.extend_from_slice(&buf[..n]);
            write_seed("srtp_unprotect", &seed);
        };
        // VP8 with a one-byte header extension (mid, transport-cc).
        let mut vp8 = vec![
            0x90, 96, 0x12, 0x34, 0, 0, 0x0b, 0xb8, 0xca, 0xfe, 0xba, 0xbe, 0xbe, 0xde, 0, 2, 0x10,
            b'0', 0x31, 0x00, 0x07, 0,
        ];
        vp8.extend_from_slice(&[0x90, 0x80, 0x12, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
        seal(&vp8, false);
        if selector == 0 {
            // Opus with a CSRC, and padding.
            let mut opus = vec![
                0xa1, 111, 0xff, 0xff, 0, 0, 0x03, 0xc0, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 9,
            ];
            opus.extend_from_slice(&[0xfc, 0xff, 0xfe, 0, 0, 3]);
            seal(&opus, false);
        }
        // Sender report + SDES, and a PLI.
        let mut sr = vec![
            0x80, 200, 0, 6, 0xca, 0xfe, 0xba, 0xbe, 0xe8, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x0b,
            0xb8, 0, 0, 0, 10, 0, 0, 0x30, 0x39,
        ];
        sr.extend_from_slice(&[
            0x81, 202, 0, 3, 0xca, 0xfe, 0xba, 0xbe, 1, 4, b't', b's', b'f', b'u', 0, 0,
        ]);
        seal(&sr, true);
        seal(
            &[
                0x81, 206, 0, 2, 0xca, 0xfe, 0xba, 0xbe, 0x12, 0x34, 0x56, 0x78,
            ],
            true,
        );
    }
}

#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

struct Client {
    dtls: Dtls,
    buf: Vec<u8>,
    next: Option<Instant>,
}

impl Client {
    fn new(now: Instant, mtu: Option<usize>) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        let cert = params.self_signed(&key).expect("self-signed");
        let cert = DtlsCertificate {
            certificate: cert.der().to_vec(),
            private_key: key.serialize_der(),
        };
        let mut builder = Config::builder().dangerously_set_rng_seed(0x00c1_1e47);
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let mut dtls = Dtls::new_12(Arc::new(builder.build().expect("config")), cert, now);
        dtls.set_active(true);
        dtls.handle_timeout(now).expect("client start");
        Self {
            dtls,
            buf: vec![0; 2048],
            next: None,
        }
    }

    fn pump(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            match self.dtls.poll_output(&mut self.buf) {
                Output::Packet(p) => out.push(p.to_vec()),
                Output::BufferTooSmall { needed } => self.buf.resize(needed, 0),
                Output::Timeout(t) => {
                    self.next = Some(t);
                    break;
                }
                _ => {}
            }
        }
        out
    }
}

/// Runs a dimpl client against the target's server and returns the client's datagrams in the
/// order the server received them, one entry per exchange round (flights 1, 3, 5).
fn client_flights(mtu: Option<usize>) -> Vec<Vec<Vec<u8>>> {
    let mut now = base();
    let mut server = fuzz::seeded_dtls_server(now);
    let mut client = Client::new(now, mtu);
    let mut flights = Vec::new();
    let mut tx = Vec::new();
    for _ in 0..3 {
        let flight = client.pump();
        if flight.is_empty() {
            break;
        }
        now += Duration::from_millis(10);
        let mut replies = Vec::new();
        for d in &flight {
            if server.handle_datagram(now, d).is_err() {
                break;
            }
            while server.poll_transmit(&mut tx).is_some() {
                replies.push(tx.clone());
            }
        }
        flights.push(flight);
        now += Duration::from_millis(10);
        for r in &replies {
            let _ = client.dtls.handle_packet(r);
        }
        let _ = client.dtls.handle_timeout(now);
    }
    flights
}

fn dtls_seeds() {
    let flights = client_flights(None);
    assert!(flights.len() >= 3, "client sent {} flights", flights.len());
    for upto in 1..=flights.len() {
        let datagrams: Vec<(u8, &[u8])> = flights[..upto]
            .iter()
            .flatten()
            .map(|d| (2, d.as_slice()))
            .collect();
        write_seed("dtls_server", &fuzz::dtls_input(&datagrams));
    }
    // The client's certificate flight fragmented over small datagrams.
    let small = client_flights(Some(100));
    let all: Vec<(u8, &[u8])> = small.iter().flatten().map(|d| (1, d.as_slice())).collect();
    assert!(
        all.len() > small.len() + 2,
        "a small MTU fragments flight 5"
    );
    write_seed("dtls_server", &fuzz::dtls_input(&all));
    // The ClientHello retransmitted after a second, and after the handshake timeout.
    let hello = flights[0][0].as_slice();
    write_seed(
        "dtls_server",
        &fuzz::dtls_input(&[(0, hello), (100, hello), (255, hello)]),
    );
}

fn sdp_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sdp");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sdp") {
            let sdp = std::fs::read_to_string(&path).unwrap();
            write_seed("sdp_offer", sdp.as_bytes());
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("publish"))
            {
                // LF line endings, and cut off halfway through a section.
                write_seed("sdp_offer", sdp.replace("\r\n", "\n").as_bytes());
                let cut = sdp.len() / 2;
                let cut = (0..=cut)
                    .rev()
                    .find(|&i| sdp.is_char_boundary(i))
                    .unwrap_or(0);
                write_seed("sdp_offer", &sdp.as_bytes()[..cut]);
            }
        }
    }
}

fn signal_seeds() {
    let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    let offer = serde_json::json!({
        "type": "offer",
        "sdp": sdp,
        "mids": {"0": {"source": "camera"}, "1": {"track": "t-7"}},
    });
    let messages = [
        r#"{"type":"join","token":"eyJyb29tIjoiYSJ9.c2ln"}"#.to_string(),
        r#"{"type":"join","resume":"s-0123456789"}"#.to_string(),
        offer.to_string(),
        r#"{"type":"view","track":"t-7","width":640,"height":360}"#.to_string(),
        r#"{"type":"layer","track":"t-7","maxSpatial":1,"maxTemporal":2,"paused":false}"#
            .to_string(),
        // MLS through the Delivery Service (docs/signaling.md §6.1): every client op, a
        // server-only op, padding, a missing field, an unknown op.
        r#"{"type":"mls","op":"create","groupInfo":"AAEAAQADdGVzdA"}"#.to_string(),
        r#"{"type":"mls","op":"commit","commit":"AAEAAgADAQID","groupInfo":"AAEAAQAE-_8"}"#
            .to_string(),
        r#"{"type":"mls","op":"app","message":"AAEAAgAHaGVsbG8"}"#.to_string(),
        r#"{"type":"mls","op":"sync"}"#.to_string(),
        r#"{"type":"mls","op":"state","groupInfo":null}"#.to_string(),
        r#"{"type":"mls","op":"app","message":"AAE="}"#.to_string(),
        r#"{"type":"mls","op":"commit","commit":"AAEA"}"#.to_string(),
        r#"{"type":"mls","op":"welcome","welcome":"AA"}"#.to_string(),
        r#"{"type":"leave"}"#.to_string(),
        r#"{"type":"ping","id":42}"#.to_string(),
        r#"{"type":"subscribe","track":"t-7"}"#.to_string(),
        r#"{"type":"view","track":"t-7","width":-1}"#.to_string(),
    ];
    for m in &messages {
        write_seed("signal_message", m.as_bytes());
    }
}
