//! Bodies of the fuzz targets in `fuzz/` for the server's network-facing parsers. They live
//! here, compiled in every build, so they cannot rot; the targets are one-line shims, and
//! `tests/fuzz_corpus.rs` replays the committed seed corpus through the same functions in
//! `cargo test`.
//!
//! Each body asserts invariants where they are cheap, so the fuzzer finds wrong answers, not
//! only panics. Everything is deterministic for a given input: fixed credentials, fixed SRTP
//! keys, a seeded DTLS server (the certificate and dimpl's configuration are made once per
//! process, so an input costs its handshake steps, not the 11.6 ms of that setup; nothing a
//! client sends depends on the certificate before the server's second flight).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::sdp::{
    AUDIO_PREFERENCES, Codec, LocalParams, MediaKind, MediaSection, Offer, SectionAnswer,
    SectionRole, SendStream, Ssrc, VIDEO_PREFERENCES, build_answer, choose_codec, parse_offer,
};
use crate::signal::{
    self, ClientMls, ClientMsg, ErrorCode, MAX_MESSAGE, MAX_MLS_FIELD, ServerMls, ServerMsg,
};
use crate::transport::demux::{DatagramKind, classify};
use crate::transport::dtls::{DimplServer, DtlsEvent, DtlsIdentity, DtlsTransport};
use crate::transport::ice::{IceCredentials, IceLite, IceState, local_ufrag_of};
use crate::transport::srtp::{SrtpError, SrtpProfile, SrtpSession};

/// The server's ICE credentials in `stun_request` (the ones `tests/ice.rs` uses).
pub const STUN_LOCAL: (&str, &str) = ("srvUfrag", "serverPasswordOf24Chars+");
/// The browser's ICE credentials in `stun_request`.
pub const STUN_REMOTE: (&str, &str) = ("brwz", "browserPasswordIs22chr/");

/// `stun_request`: one datagram from the network, as the media loop sees it. Invariants:
/// - classifying, routing ([`local_ufrag_of`]) and [`IceLite::handle_stun`] never panic;
/// - a routed ufrag never contains the `:` separator;
/// - a request that fails changes nothing and leaves the response buffer empty;
/// - a request that succeeds is STUN by first byte, is routed to our ufrag, selects its
///   source, and gets a Binding Success Response for its transaction whose length field
///   matches; a retransmission of it succeeds the same way.
pub fn stun_request(data: &[u8]) {
    let kind = classify(data);
    let routed = local_ufrag_of(data);
    if let Some(ufrag) = routed {
        assert!(!ufrag.contains(':'), "routed ufrag {ufrag:?} contains ':'");
        assert_eq!(kind, DatagramKind::Stun, "a routable request is STUN");
    }
    let creds = |(ufrag, pwd): (&str, &str)| IceCredentials {
        ufrag: ufrag.into(),
        pwd: pwd.into(),
    };
    let mut ice = IceLite::new(creds(STUN_LOCAL), Some(creds(STUN_REMOTE)));
    let from: SocketAddr = ([192, 0, 2, 7], 50_000).into();
    let now = base_instant();
    let mut response = vec![0xee; 8];
    match ice.handle_stun(now, from, data, &mut response) {
        Err(_) => {
            assert!(response.is_empty(), "a failed request leaves no response");
            assert_eq!(ice.state(), IceState::New);
            assert_eq!(ice.selected_remote(), None);
            assert!(!ice.is_nominated());
        }
        Ok(outcome) => {
            assert_eq!(kind, DatagramKind::Stun);
            assert_eq!(routed, Some(STUN_LOCAL.0));
            assert_eq!(ice.state(), IceState::Connected);
            assert_eq!(ice.selected_remote(), Some(from));
            assert!(outcome.selected_changed);
            assert_eq!(ice.is_nominated(), outcome.nominated);
            check_stun_response(data, &response);
            let mut again = Vec::new();
            let second = ice
                .handle_stun(now + Duration::from_millis(50), from, data, &mut again)
                .expect("a retransmitted valid request is valid again");
            assert!(!second.selected_changed);
            assert_eq!(again, response, "same request, same response");
        }
    }
}

fn check_stun_response(request: &[u8], response: &[u8]) {
    assert_eq!(classify(response), DatagramKind::Stun);
    assert!(response.len() >= 20 && response.len().is_multiple_of(4));
    assert_eq!(response[..2], [0x01, 0x01], "Binding Success Response");
    let len = usize::from(u16::from_be_bytes([response[2], response[3]]));
    assert_eq!(len + 20, response.len(), "length field");
    assert_eq!(
        response[4..20],
        request[4..20],
        "magic cookie and transaction id"
    );
}

/// One base instant per process: the targets only ever add to it.
fn base_instant() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    // The fuzz bodies are the one place outside tests that needs a real starting instant.
    #[allow(clippy::disallowed_methods)]
    *BASE.get_or_init(Instant::now)
}

/// SRTP keying material for `srtp_unprotect`: bytes 0, 1, 2, … of the profile's length,
/// laid out as the DTLS exporter output (client key | server key | client salt | server salt).
#[must_use]
pub fn srtp_keying_material(profile: SrtpProfile) -> Vec<u8> {
    (0..profile.keying_material_len())
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
        .collect()
}

/// The profile `srtp_unprotect` uses for an input whose first byte is `selector`.
#[must_use]
pub fn srtp_profile_of(selector: u8) -> SrtpProfile {
    match selector % 3 {
        0 => SrtpProfile::AeadAes128Gcm,
        1 => SrtpProfile::AeadAes256Gcm,
        _ => SrtpProfile::Aes128CmHmacSha1_80,
    }
}

/// `srtp_unprotect`: the first byte picks the profile ([`srtp_profile_of`]); the rest is one
/// datagram from the browser, classified by [`classify`] and unprotected by the server's
/// session (keys from [`srtp_keying_material`], the peer's protect side being the DTLS
/// client). Invariants:
/// - nothing panics;
/// - a datagram that is not RTP/RTCP by first byte never unprotects;
/// - an unprotected packet is no longer than the datagram, and a second copy of the same
///   datagram is refused as a replay;
/// - after a failed unprotect, a genuine packet with the same SSRC and sequence number (or
///   SRTCP index) opens and yields exactly its plaintext: failures change no state.
pub fn srtp_unprotect(data: &[u8]) {
    let Some((&selector, datagram)) = data.split_first() else {
        return;
    };
    let profile = srtp_profile_of(selector);
    let material = srtp_keying_material(profile);
    let session = |local_is_client| {
        SrtpSession::new(profile, &material, local_is_client).expect("material has the length")
    };
    let kind = classify(datagram);
    let rtcp = kind == DatagramKind::Rtcp;
    let mut server = session(false);
    let mut buf = datagram.to_vec();
    let result = if rtcp {
        server.unprotect_rtcp(&mut buf, datagram.len())
    } else {
        server.unprotect_rtp(&mut buf, datagram.len())
    };
    if !matches!(kind, DatagramKind::Rtp | DatagramKind::Rtcp) {
        assert!(result.is_err(), "{kind:?} datagram unprotected as SRTP");
        let mut other = datagram.to_vec();
        assert!(server.unprotect_rtcp(&mut other, datagram.len()).is_err());
        return;
    }
    match result {
        Ok(plain_len) => {
            assert!(plain_len <= datagram.len());
            assert_eq!(
                buf[..2],
                datagram[..2],
                "first header bytes stay in the clear"
            );
            let mut copy = datagram.to_vec();
            let replay = if rtcp {
                server.unprotect_rtcp(&mut copy, datagram.len())
            } else {
                server.unprotect_rtp(&mut copy, datagram.len())
            };
            assert!(
                matches!(replay, Err(SrtpError::Replayed { .. })),
                "a second copy must be a replay, got {replay:?}"
            );
        }
        Err(_) => {
            // The same SSRC and sequence number (RTP), or SSRC (RTCP), from the genuine peer.
            let mut client = session(true);
            let field = |at: usize| {
                datagram
                    .get(at..at + 4)
                    .map_or([7, 7, 7, 7], |b| [b[0], b[1], b[2], b[3]])
            };
            let mut packet = Vec::with_capacity(64);
            let plain_len = if rtcp {
                // A receiver report with no report blocks.
                packet.extend_from_slice(&[0x80, 201, 0, 1]);
                packet.extend_from_slice(&field(4));
                packet.len()
            } else {
                let seq = datagram.get(2..4).map_or([0, 1], |b| [b[0], b[1]]);
                packet.extend_from_slice(&[0x80, 96]);
                packet.extend_from_slice(&seq);
                packet.extend_from_slice(&[0, 0, 0x0b, 0xb8]);
                packet.extend_from_slice(&field(8));
                packet.extend_from_slice(b"genuine payload");
                packet.len()
            };
            let plain = packet.clone();
            packet.resize(plain_len + profile.rtcp_overhead(), 0);
            let sealed = if rtcp {
                client.protect_rtcp(&mut packet, plain_len)
            } else {
                client.protect_rtp(&mut packet, plain_len)
            }
            .expect("protecting a well-formed packet");
            let opened = if rtcp {
                server.unprotect_rtcp(&mut packet, sealed)
            } else {
                server.unprotect_rtp(&mut packet, sealed)
            }
            .expect("a failed unprotect must leave the session able to open a genuine packet");
            assert_eq!(packet[..opened], plain[..]);
        }
    }
}

/// The fingerprint the `dtls_server` target pins the client certificate to. No fuzz input can
/// finish a handshake (the server's key exchange is random), so it only has to be well formed.
const DTLS_CLIENT_FINGERPRINT: &str = "sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:\
00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

/// Seed of the `dtls_server` target's server: with it the cookie secret is fixed, so a
/// recorded second ClientHello (with the cookie) is accepted and the fuzzer reaches the
/// server's later handshake states.
const DTLS_RNG_SEED: u64 = 0x7e1e_5f00_d71c_5eed;

/// The server the `dtls_server` target drives, created at `now`: a [`DimplServer`] with the
/// fixed cookie secret of the target, a per-process identity and a pinned client fingerprint
/// no certificate has. The seed generator uses it to record client flights the target
/// accepts. Never use it for a real peer: its cookies are predictable.
#[must_use]
pub fn seeded_dtls_server(now: Instant) -> DimplServer {
    static IDENTITY: OnceLock<DtlsIdentity> = OnceLock::new();
    let identity = IDENTITY.get_or_init(|| {
        DtlsIdentity::generate()
            .and_then(|i| i.dangerously_seeded(DTLS_RNG_SEED))
            .expect("certificate generation")
    });
    DimplServer::new(identity, DTLS_CLIENT_FINGERPRINT, now).expect("a well-formed fingerprint")
}

/// Encodes datagrams in the `dtls_server` input format: per datagram one byte of delay (in
/// units of 10 ms) before it arrives, a big-endian u16 length, then the bytes.
#[must_use]
pub fn dtls_input(datagrams: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (delay, d) in datagrams {
        let len = u16::try_from(d.len()).expect("a datagram fits in u16");
        out.push(*delay);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(d);
    }
    out
}

/// `dtls_server`: a sequence of datagrams ([`dtls_input`] format; a short last length takes
/// what is left) fed to one [`seeded_dtls_server`], with timers run when due and every
/// output drained after each input, as the media loop does. Invariants:
/// - nothing panics, whatever the datagrams (errors are fine);
/// - after an error the transport is terminal: later input is ignored, no timer is armed;
/// - what it sends is DTLS by first byte and fits a UDP datagram;
/// - at most one `Connected` event, and only with keying material of a known profile's size.
pub fn dtls_server(data: &[u8]) {
    let mut now = base_instant();
    let mut server = seeded_dtls_server(now);
    let mut rest = data;
    let mut buf = Vec::new();
    let mut failed = false;
    let mut connected = 0;
    while let Some((&delay, tail)) = rest.split_first() {
        let len = match tail {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => tail.len(),
        };
        let tail = tail.get(2..).unwrap_or_default();
        let (datagram, next) = tail.split_at(len.min(tail.len()));
        rest = next;
        now += Duration::from_millis(10 * u64::from(delay));
        if let Some(t) = server.poll_timeout()
            && t <= now
        {
            failed |= server.handle_timeout(now).is_err();
        }
        let result = server.handle_datagram(now, datagram);
        if failed {
            assert_eq!(result, Ok(()), "a terminal transport ignores input");
        }
        failed |= result.is_err();
        while let Some(n) = server.poll_transmit(&mut buf) {
            assert_eq!(n, buf.len());
            assert_eq!(classify(&buf), DatagramKind::Dtls, "server sent non-DTLS");
            assert!(n <= 65_507, "datagram of {n} bytes");
        }
        while let Some(event) = server.poll_event() {
            if let DtlsEvent::Connected {
                profile_id,
                keying_material,
            } = event
            {
                connected += 1;
                let profile = SrtpProfile::from_dtls_id(profile_id).expect("a known profile");
                assert_eq!(keying_material.len(), profile.keying_material_len());
            }
        }
        if failed {
            assert_eq!(
                server.poll_timeout(),
                None,
                "terminal, yet a timer is armed"
            );
        }
    }
    assert!(connected <= 1, "Connected reported {connected} times");
}

/// `sdp_offer`: arbitrary bytes (lossily UTF-8) as an offer. Invariants:
/// - [`parse_offer`] never panics;
/// - a parsed offer is consistent: sections indexed in order, distinct mids, at most three
///   simulcast layers, and [`choose_codec`] picks a payload type the section offers;
/// - a room's answer ([`build_answer`] with the decisions telesfu makes) is CRLF lines of
///   `<letter>=<value>` with no stray CR or LF, answers every section in order, and parses
///   again with the same mids and the decided directions.
pub fn sdp_offer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(offer) = parse_offer(&text) else {
        return;
    };
    let mut mids = Vec::new();
    for (i, s) in offer.sections.iter().enumerate() {
        assert_eq!(s.index, i);
        if let Some(mid) = s.mid {
            assert!(!mids.contains(&mid), "duplicate mid {mid:?} accepted");
            mids.push(mid);
        }
        assert!(s.simulcast_layers().len() <= crate::sdp::MAX_SIMULCAST_LAYERS);
        let _ = s.extension_ids();
    }
    let _ = offer.extension_ids();
    let decisions = decide(&offer);
    let Ok(answer) = build_answer(&offer, &local_params(), &decisions) else {
        return;
    };
    assert!(answer.ends_with("\r\n"), "answer ends without CRLF");
    for line in answer[..answer.len() - 2].split("\r\n") {
        let b = line.as_bytes();
        assert!(
            b.len() >= 2 && b[0].is_ascii_lowercase() && b[1] == b'=',
            "answer line {line:?} is not <letter>=<value>"
        );
        assert!(!line.contains(['\r', '\n']), "stray CR/LF in {line:?}");
    }
    if decisions.iter().all(|d| matches!(d, SectionAnswer::Reject)) {
        // An all-rejected answer carries no ICE credentials or fingerprint: not an offer.
        return;
    }
    let again = parse_offer(&answer)
        .unwrap_or_else(|e| panic!("answer does not parse: {e}\n{answer}\nfrom offer:\n{text}"));
    assert_eq!(again.sections.len(), offer.sections.len());
    for ((a, o), d) in again.sections.iter().zip(&offer.sections).zip(&decisions) {
        assert_eq!(a.mid, o.mid);
        let dir = match d {
            SectionAnswer::Reject => {
                assert_eq!(a.port, 0);
                continue;
            }
            SectionAnswer::Receive { .. } => crate::sdp::Direction::RecvOnly,
            SectionAnswer::Send { .. } => crate::sdp::Direction::SendOnly,
            _ => continue,
        };
        assert_eq!(a.direction, dir);
    }
}

fn prefs(s: &MediaSection) -> &'static [Codec] {
    if s.kind == MediaKind::Audio {
        &AUDIO_PREFERENCES
    } else {
        &VIDEO_PREFERENCES
    }
}

/// What a telesfu room answers: receive publications, send subscriptions, reject the rest.
fn decide(offer: &Offer) -> Vec<SectionAnswer> {
    offer
        .sections
        .iter()
        .map(|s| {
            let Some(codec) = choose_codec(s, prefs(s)) else {
                return SectionAnswer::Reject;
            };
            assert!(
                s.codec(codec.payload_type).is_some(),
                "chosen payload type {} not offered",
                codec.payload_type
            );
            if s.port == 0 {
                return SectionAnswer::Reject;
            }
            match s.role() {
                SectionRole::Publish => SectionAnswer::Receive { codec },
                SectionRole::Subscribe => {
                    let base = 0x1000_0000 + 16 * u32::try_from(s.index).unwrap_or(0);
                    let rtx = codec.rtx_payload_type.map(|_| Ssrc(base + 1));
                    let stream = SendStream::new(
                        Ssrc(base),
                        rtx,
                        "telesfu".into(),
                        "room".into(),
                        format!("track-{}", s.index),
                    );
                    SectionAnswer::Send { codec, stream }
                }
                _ => SectionAnswer::Reject,
            }
        })
        .collect()
}

fn local_params() -> LocalParams {
    LocalParams::new(
        "tsfu".into(),
        "telesfutelesfutelesfu22".into(),
        "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3B:E0:A4:A9:E5:A8:\
         0B:0F:9E:F8:7D:B6"
            .into(),
        vec![([127, 0, 0, 1], 40_000).into()],
        4_242_424_242,
        2,
    )
}

/// `signal_message`: arbitrary bytes (lossily UTF-8) as one WebSocket text frame.
/// Invariants:
/// - [`signal::parse`] never panics;
/// - an oversized frame is refused as `bad_message`;
/// - an accepted `mls` message has non-empty fields within [`MAX_MLS_FIELD`], each the one
///   canonical decoding of its base64url text (encoding it again gives the text back), and
///   the server's `mls` messages carrying those bytes decode back to them;
/// - every refusal turns into an `error` message that serialises to JSON with its code, and
///   an unknown or invalid `type` is named in it;
/// - a `view` maps to a layer (or a pause) without panicking.
pub fn signal_message(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match signal::parse(&text) {
        Ok(msg) => {
            assert!(text.len() <= MAX_MESSAGE);
            match msg {
                ClientMsg::Mls(m) => check_mls(&text, &m),
                ClientMsg::View { width, height, .. } => {
                    let layer = signal::layer_for_view(width, height);
                    assert_eq!(layer.is_none(), width.max(height) == 0);
                }
                _ => {}
            }
        }
        Err(e) => {
            if text.len() > MAX_MESSAGE {
                assert_eq!(e.code, ErrorCode::BadMessage);
            }
            let code = e.code;
            let reference = e.reference.clone();
            let json = signal::to_text(&e.into_msg());
            let v: serde_json::Value = serde_json::from_str(&json).expect("error is JSON");
            assert_eq!(v["type"], "error");
            assert_eq!(
                v["code"],
                serde_json::to_value(code).expect("codes serialise")
            );
            match reference {
                Some(r) => assert_eq!(v["ref"], r.as_str(), "the refused type is named"),
                None => assert!(v.get("ref").is_none()),
            }
        }
    }
}

fn check_mls(text: &str, m: &ClientMls) {
    let json: serde_json::Value = serde_json::from_str(text).expect("parsed once already");
    assert_eq!(json["op"], m.op());
    let fields: Vec<(&str, &[u8])> = match m {
        ClientMls::Create { group_info } => vec![("groupInfo", group_info)],
        ClientMls::Commit { commit, group_info } => {
            vec![("commit", commit), ("groupInfo", group_info)]
        }
        ClientMls::App { message } => vec![("message", message)],
        _ => Vec::new(),
    };
    for (name, bytes) in fields {
        assert!(!bytes.is_empty() && bytes.len() <= MAX_MLS_FIELD, "{name}");
        let encoded = signal::b64url_encode(bytes);
        assert_eq!(json[name], encoded.as_str(), "{name} is not canonical");
        // The same bytes, relayed by the server, decode back to themselves.
        for out in [
            ServerMls::Commit {
                commit: bytes.to_vec(),
            },
            ServerMls::State {
                group_info: Some(bytes.to_vec()),
            },
        ] {
            let v: serde_json::Value = serde_json::from_str(&signal::to_text(&ServerMsg::Mls(out)))
                .expect("server messages are JSON");
            assert_eq!(v["type"], "mls");
            let field = v["commit"].as_str().or(v["groupInfo"].as_str());
            let back = signal::b64url_decode(field.expect("the field is a string"));
            assert_eq!(back.as_deref(), Ok(bytes));
        }
    }
}
