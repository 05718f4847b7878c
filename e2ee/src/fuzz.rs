//! Bodies of the fuzz targets in `fuzz/`. They live here, compiled in every build, so they
//! cannot rot; the targets are one-line shims, and `tests/fuzz_corpus.rs` replays the committed
//! seed corpus through the same functions in `cargo test`.
//!
//! Each body asserts invariants, so the fuzzer finds wrong answers, not only panics.

use crate::header::Header;
use crate::{ALL_SUITES, Context, ContextConfig, Counter, Error, KeyId, MAX_HEADER_LEN};

/// `sframe_header`: decoding arbitrary bytes never panics, and whatever decodes re-encodes to
/// exactly the bytes it was read from (one wire form per header).
pub fn sframe_header(data: &[u8]) {
    if let Ok((h, n)) = Header::decode(data) {
        assert!((1..=MAX_HEADER_LEN).contains(&n));
        let (b, m) = h.to_bytes();
        assert_eq!(&b[..m], &data[..n], "re-encoding differs");
        assert_eq!(h.encoded_len(), n);
    }
}

/// A tiny byte reader that yields zeros once the input runs out.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `sframe_open`: a structured run against one receiver. The input picks a suite, a replay
/// window and KIDs, then a sequence of operations: open raw attacker bytes, or seal a genuine
/// frame, corrupt it (or not) and open it, possibly twice. Invariants:
/// - nothing panics;
/// - a frame with any byte changed never opens;
/// - a genuine frame opens exactly once (a second open is a replay), unless it is older than the
///   window;
/// - a failed open leaves the receiver able to open the genuine frame afterwards.
pub fn sframe_open(data: &[u8]) {
    let mut inp = Input(data);
    let suite = ALL_SUITES[usize::from(inp.u8()) % ALL_SUITES.len()];
    let mut cfg = ContextConfig::new(suite);
    cfg.replay_window = u32::from(inp.u16() % 2048) + 1;
    let (Ok(mut tx), Ok(mut rx)) = (Context::with_config(cfg.clone()), Context::with_config(cfg))
    else {
        return;
    };
    let kid = KeyId(u64::from(inp.u16()));
    let start = Counter(u64::from(inp.u16()) << (inp.u8() % 48));
    let key = [0x42u8; 16];
    if tx.add_send_key_at(kid, &key, start).is_err() || rx.add_recv_key(kid, &key).is_err() {
        return;
    }
    let mut buf = [0u8; 512 + MAX_HEADER_LEN + 16];
    let mut out = [0u8; 512 + MAX_HEADER_LEN + 16];
    while !inp.is_empty() {
        match inp.u8() % 3 {
            0 => {
                let len = usize::from(inp.u16()) % 600;
                let raw = inp.bytes(len);
                let meta_len = usize::from(inp.u8() % 8);
                let meta = [0u8; 8];
                if let Ok(o) = rx.open(&meta[..meta_len], raw, &mut out) {
                    // Only a genuine frame can open, and its payload lies inside the input.
                    assert!(o.payload.end <= raw.len());
                }
            }
            _ => {
                let len = usize::from(inp.u16()) % 512;
                let pt = inp.bytes(len).to_vec();
                let meta_len = usize::from(inp.u8() % 16);
                let meta = inp.bytes(meta_len).to_vec();
                let Ok(n) = tx.seal(kid, &meta, &pt, &mut buf) else {
                    return; // counter exhausted: the run is over
                };
                let flip_at = usize::from(inp.u16());
                let flip = inp.u8();
                if flip != 0 {
                    let mut bad = buf[..n].to_vec();
                    let mut bad_meta = meta.clone();
                    let i = flip_at % (n + meta.len());
                    if i < n {
                        bad[i] ^= flip;
                    } else {
                        bad_meta[i - n] ^= flip;
                    }
                    assert!(
                        rx.open(&bad_meta, &bad, &mut out).is_err(),
                        "a corrupted frame opened"
                    );
                }
                match rx.open(&meta, &buf[..n], &mut out) {
                    Ok(o) => {
                        assert_eq!(&out[o.payload], &pt[..]);
                        assert!(matches!(
                            rx.open(&meta, &buf[..n], &mut out),
                            Err(Error::Replayed { .. })
                        ));
                    }
                    Err(Error::TooOld { .. }) => {}
                    Err(e) => panic!("a genuine frame failed to open: {e}"),
                }
            }
        }
    }
}

/// `mls_message`: the first byte picks the DS message kind, the rest is its payload, fed to
/// a member of a one-member group. Nothing panics, and nothing a forger can send without keys
/// changes the group: the epoch, the roster and the code stay as they were.
pub fn mls_message(data: &[u8]) {
    use crate::mls::ds::{FromDs, ToDs};
    use crate::mls::identity::{Authority, Claims, TrustAnchors};
    use crate::session::{MemberKey, Session, SessionConfig, SessionParams};
    use crate::time::Instant;
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let authority = Authority::from_seed(&[7; 32]);
    let key = MemberKey::from_seed([1; 32]);
    let cert = authority
        .issue(
            &Claims::new("fuzz", "room", 0, u64::MAX / 2),
            &key.public_key(),
        )
        .expect("short claims");
    let anchors = TrustAnchors::new([authority.public_key()]);
    let params = SessionParams::new("room", "p1", anchors, key, cert, [2; 32]);
    // The harness is the caller here: any instant will do as the start.
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let unix = core::time::Duration::from_secs(1_800_000_000);
    let mut s = Session::new(SessionConfig::default(), params, now, unix).expect("valid fixture");
    s.handle_ds(now, FromDs::GroupState { group_info: None });
    let Some(ToDs::Create { group_info }) = s.poll_transmit() else {
        panic!("a member alone creates the group");
    };
    s.handle_ds(
        now,
        FromDs::GroupState {
            group_info: Some(group_info),
        },
    );
    assert!(s.is_member());
    let (epoch, roster, code) = (
        s.epoch(),
        s.roster().to_vec(),
        s.verification_code().map(String::from),
    );
    let msg = match selector % 4 {
        0 => FromDs::Commit {
            commit: payload.to_vec(),
        },
        1 => FromDs::Application {
            message: payload.to_vec(),
        },
        2 => FromDs::Rejected {
            reason: String::new(),
            group_info: Some(payload.to_vec()),
        },
        _ => FromDs::GroupState {
            group_info: Some(payload.to_vec()),
        },
    };
    s.handle_ds(now, msg);
    while s.poll_event().is_some() {}
    while s.poll_transmit().is_some() {}
    if selector % 4 < 3 {
        assert_eq!(s.epoch(), epoch, "a forged message moved the epoch");
        assert_eq!(
            s.roster(),
            &roster[..],
            "a forged message changed the roster"
        );
        assert_eq!(s.verification_code().map(String::from), code);
    }
}

/// `certificate`: any bytes as a member certificate: decoding and verifying never panic, and
/// nothing verifies against an authority that did not sign it.
pub fn certificate(data: &[u8]) {
    use crate::mls::identity::{Authority, Certificate, TrustAnchors};
    if let Ok(c) = Certificate::decode(data) {
        assert_eq!(c.as_bytes(), data);
        let anchors = TrustAnchors::new([Authority::from_seed(&[7; 32]).public_key()]);
        let room = c.claims.room.clone();
        let _ = c.verify(&anchors, &c.signature_key, &room, Some(0), 0);
        let _ = c.fingerprint();
    }
}

/// `media_frame`: the first byte picks the codec, the rest is a frame. The prefix parsers never
/// panic and agree with each other; escaping round-trips; raw bytes never open; a frame that
/// seals opens back to itself; a seal is refused only for a frame the prefix rule rejects.
pub fn media_frame(data: &[u8]) {
    use crate::media::{
        Codec, clear_prefix_len, frame_info, h264_escape, h264_escaped_len, h264_max_escaped_len,
        h264_unescape_in_place, open_frame, seal_buffer_len, seal_frame,
    };
    use crate::{CipherSuite, Context, KeyId};
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let codecs = [
        Codec::Vp8,
        Codec::Opus,
        Codec::H264,
        Codec::Av1,
        Codec::Plain,
    ];
    let codec = codecs[usize::from(selector) % codecs.len()];

    let prefix = clear_prefix_len(codec, frame);
    let info = frame_info(codec, frame);
    assert_eq!(prefix.is_ok(), info.is_ok(), "parsers disagree on {codec}");
    if let Ok(p) = prefix {
        assert!(p <= frame.len(), "prefix longer than the frame");
    }

    let mut escaped = vec![0u8; h264_max_escaped_len(frame.len())];
    let n = h264_escape(frame, &mut escaped).expect("worst-case room");
    assert_eq!(n, h264_escaped_len(frame));
    let m = h264_unescape_in_place(&mut escaped[..n]);
    assert_eq!(&escaped[..m], frame, "unescape(escape(x)) != x");

    // KID 0x1000000: its header holds `00 00 00`, so H.264 frames always exercise escaping.
    let kid = KeyId(0x0100_0000);
    let suite = CipherSuite::Aes128GcmSha256;
    let mut tx = Context::new(suite).expect("AES-128-GCM is in every build");
    let mut rx = Context::new(suite).expect("AES-128-GCM is in every build");
    tx.add_send_key(kid, b"fuzz base key...")
        .expect("fresh context, valid key");
    rx.add_recv_key(kid, b"fuzz base key...")
        .expect("fresh context, valid key");
    let mut raw = frame.to_vec();
    assert!(
        open_frame(&mut rx, codec, &mut raw).is_err(),
        "unsealed bytes opened"
    );

    let mut buf = vec![0u8; seal_buffer_len(&tx, codec, frame.len())];
    buf[..frame.len()].copy_from_slice(frame);
    match seal_frame(&mut tx, codec, kid, &mut buf, frame.len()) {
        Ok(w) => {
            let (_, n) = open_frame(&mut rx, codec, &mut buf[..w]).expect("own frame opens");
            assert_eq!(&buf[..n], frame, "round trip changed the frame");
        }
        Err(e) => assert!(prefix.is_err(), "seal refused a valid frame: {e}"),
    }
}
