//! SRTP/SRTCP: differential tests against `webrtc-srtp` (the oracle) for every profile in both
//! directions, plus replay, tamper and truncation behaviour of our in-place transforms.

use proptest::prelude::*;
use telesfu_server::transport::srtp::{MAX_SSRCS, SrtpError, SrtpProfile, SrtpSession};
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

const PROFILES: [SrtpProfile; 3] = [
    SrtpProfile::AeadAes128Gcm,
    SrtpProfile::AeadAes256Gcm,
    SrtpProfile::Aes128CmHmacSha1_80,
];

fn oracle_profile(p: SrtpProfile) -> ProtectionProfile {
    match p {
        SrtpProfile::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
        SrtpProfile::Aes128CmHmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        _ => unreachable!("profile added without a test mapping"),
    }
}

/// Deterministic exporter output for `profile`.
fn material(profile: SrtpProfile, seed: u8) -> Vec<u8> {
    (0..profile.keying_material_len())
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The webrtc-srtp context for the client's (or server's) write keys.
fn oracle(profile: SrtpProfile, material: &[u8], client: bool) -> Context {
    let (kl, sl) = (profile.key_len(), profile.salt_len());
    let (key, salt) = if client {
        (&material[..kl], &material[2 * kl..2 * kl + sl])
    } else {
        (&material[kl..2 * kl], &material[2 * kl + sl..])
    };
    Context::new(key, salt, oracle_profile(profile), None, None).expect("oracle context")
}

/// A plain RTP packet with `cc` CSRCs, an optional RFC 3550 header extension of `ext_words`
/// 32-bit words (profile 0xABC0, opaque to the oracle's parser) and `payload`.
fn rtp_packet(cc: u8, ext_words: Option<u16>, seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80 | cc, 96];
    if ext_words.is_some() {
        p[0] |= 0x10;
    }
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.wrapping_add(u32::from(seq)).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for i in 0..u32::from(cc) {
        p.extend_from_slice(&(0xC5C0_0000 + i).to_be_bytes());
    }
    if let Some(words) = ext_words {
        p.extend_from_slice(&0xABC0u16.to_be_bytes());
        p.extend_from_slice(&words.to_be_bytes());
        for i in 0..words {
            p.extend_from_slice(&[0xE0, i as u8, 0xE1, 0xE2]);
        }
    }
    p.extend_from_slice(payload);
    p
}

/// A plain RTCP receiver report with `words` extra 32-bit words of body.
fn rtcp_packet(ssrc: u32, words: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 201];
    p.extend_from_slice(&(words as u16 + 1).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for i in 0..words * 4 {
        p.push(fill.wrapping_add(i as u8));
    }
    p
}

/// `plain` copied into a buffer with room for the SRTCP overhead.
fn with_room(plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + 32, 0);
    buf
}

fn protect_rtp(s: &mut SrtpSession, plain: &[u8]) -> Vec<u8> {
    let mut buf = with_room(plain);
    let n = s.protect_rtp(&mut buf, plain.len()).expect("protect_rtp");
    assert_eq!(n, plain.len() + s.profile().rtp_overhead());
    buf.truncate(n);
    buf
}

fn protect_rtcp(s: &mut SrtpSession, plain: &[u8]) -> Vec<u8> {
    let mut buf = with_room(plain);
    let n = s.protect_rtcp(&mut buf, plain.len()).expect("protect_rtcp");
    assert_eq!(n, plain.len() + s.profile().rtcp_overhead());
    buf.truncate(n);
    buf
}

fn unprotect_rtp(s: &mut SrtpSession, srtp: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = srtp.to_vec();
    let n = s.unprotect_rtp(&mut buf, srtp.len())?;
    buf.truncate(n);
    Ok(buf)
}

fn unprotect_rtcp(s: &mut SrtpSession, srtcp: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = srtcp.to_vec();
    let n = s.unprotect_rtcp(&mut buf, srtcp.len())?;
    buf.truncate(n);
    Ok(buf)
}

/// Our server session and our client session over the same exporter output.
fn pair(profile: SrtpProfile) -> (SrtpSession, SrtpSession) {
    let m = material(profile, 7);
    (
        SrtpSession::new(profile, &m, false).expect("server session"),
        SrtpSession::new(profile, &m, true).expect("client session"),
    )
}

#[derive(Debug, Clone)]
struct RtpCase {
    cc: u8,
    ext_words: Option<u16>,
    first_seq: u16,
    ssrc: u32,
    payloads: Vec<Vec<u8>>,
}

fn rtp_case() -> impl Strategy<Value = RtpCase> {
    (
        0u8..=15,
        proptest::option::of(0u16..6),
        // Half the cases start just before the 65535 -> 0 wrap so the ROC moves.
        prop_oneof![any::<u16>(), 65_500u16..=65_535],
        any::<u32>(),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..60),
    )
        .prop_map(|(cc, ext_words, first_seq, ssrc, payloads)| RtpCase {
            cc,
            ext_words,
            first_seq,
            ssrc,
            payloads,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Packets we protect (server write keys) are byte-identical to the oracle's and decrypt
    /// with the oracle to the original bytes; packets the oracle protects with the client write
    /// keys unprotect with us to the original bytes. Sequence numbers run across 65535 -> 0.
    #[test]
    fn rtp_matches_webrtc_srtp_both_directions(case in rtp_case()) {
        for profile in PROFILES {
            let m = material(profile, 42);
            let mut ours = SrtpSession::new(profile, &m, false).expect("session");
            let mut oracle_enc_server = oracle(profile, &m, false);
            let mut oracle_dec_server = oracle(profile, &m, false);
            let mut oracle_enc_client = oracle(profile, &m, true);
            for (i, payload) in case.payloads.iter().enumerate() {
                let seq = case.first_seq.wrapping_add(i as u16);
                let plain = rtp_packet(case.cc, case.ext_words, seq, case.ssrc, payload);

                let srtp = protect_rtp(&mut ours, &plain);
                let theirs = oracle_enc_server.encrypt_rtp(&plain).expect("oracle encrypt");
                prop_assert_eq!(&srtp[..], &theirs[..], "{:?} seq {}", profile, seq);
                let back = oracle_dec_server.decrypt_rtp(&srtp).expect("oracle decrypt");
                prop_assert_eq!(&back[..], &plain[..]);

                let from_client = oracle_enc_client.encrypt_rtp(&plain).expect("oracle encrypt");
                let opened = unprotect_rtp(&mut ours, &from_client);
                prop_assert_eq!(opened.as_deref(), Ok(&plain[..]), "{:?} seq {}", profile, seq);
            }
        }
    }

    /// SRTCP in both directions against the oracle, any body length.
    #[test]
    fn rtcp_matches_webrtc_srtp_both_directions(
        ssrc in any::<u32>(),
        bodies in proptest::collection::vec((0usize..40, any::<u8>()), 1..20),
    ) {
        for profile in PROFILES {
            let m = material(profile, 9);
            let mut ours = SrtpSession::new(profile, &m, false).expect("session");
            let mut oracle_dec_server = oracle(profile, &m, false);
            let mut oracle_enc_client = oracle(profile, &m, true);
            for &(words, fill) in &bodies {
                let plain = rtcp_packet(ssrc, words, fill);
                let srtcp = protect_rtcp(&mut ours, &plain);
                let back = oracle_dec_server.decrypt_rtcp(&srtcp).expect("oracle decrypt");
                prop_assert_eq!(&back[..], &plain[..]);

                let from_client = oracle_enc_client.encrypt_rtcp(&plain).expect("oracle encrypt");
                let opened = unprotect_rtcp(&mut ours, &from_client);
                prop_assert_eq!(opened.as_deref(), Ok(&plain[..]), "{:?}", profile);
            }
        }
    }

    /// Arbitrary bytes at any length never panic any entry point.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
        room in 0usize..40,
    ) {
        for profile in PROFILES {
            let (mut server, _) = pair(profile);
            let len = bytes.len();
            let mut buf = bytes.clone();
            buf.resize(len + room, 0);
            let _ = server.unprotect_rtp(&mut buf.clone(), len);
            let _ = server.unprotect_rtcp(&mut buf.clone(), len);
            let _ = server.protect_rtp(&mut buf.clone(), len);
            let _ = server.protect_rtcp(&mut buf.clone(), len);
            // len beyond the buffer is a caller error, not a panic.
            let too_long = server.unprotect_rtp(&mut buf.clone(), buf.len() + 1);
            prop_assert!(
                matches!(too_long, Err(SrtpError::LengthOutOfBounds { .. })),
                "unexpected {:?}",
                too_long
            );
        }
    }
}

/// Out-of-order delivery across the wrap: the receiver's ROC estimate follows RFC 3711 App. A.
#[test]
fn reordered_packets_across_rollover_unprotect() {
    for profile in PROFILES {
        let (mut server, mut client) = pair(profile);
        let seqs = [65_533u16, 65_534, 0, 65_535, 2, 1, 3];
        let plains: Vec<_> = seqs
            .iter()
            .map(|&s| rtp_packet(1, Some(1), s, 0xABCD, &[s as u8; 30]))
            .collect();
        // Sent in sequence order, delivered in the order above.
        let mut srtp = std::collections::BTreeMap::new();
        let mut by_send_order: Vec<_> = (0..seqs.len()).collect();
        by_send_order.sort_by_key(|&i| (u32::from(seqs[i]) + 3) % 65_536);
        for i in by_send_order {
            srtp.insert(i, protect_rtp(&mut client, &plains[i]));
        }
        for (i, plain) in plains.iter().enumerate() {
            assert_eq!(
                unprotect_rtp(&mut server, &srtp[&i]).as_deref(),
                Ok(&plain[..]),
                "{profile:?} seq {}",
                seqs[i]
            );
        }
    }
}

/// The same packet twice: the second is refused as a replay and later packets still open.
#[test]
fn replayed_packet_is_refused_and_does_not_disturb_later_packets() {
    for profile in PROFILES {
        let (mut server, mut client) = pair(profile);
        let first = protect_rtp(&mut client, &rtp_packet(0, None, 100, 5, b"first"));
        let second_plain = rtp_packet(0, None, 101, 5, b"second");
        let second = protect_rtp(&mut client, &second_plain);
        assert!(unprotect_rtp(&mut server, &first).is_ok());
        assert_eq!(
            unprotect_rtp(&mut server, &first),
            Err(SrtpError::Replayed {
                ssrc: 5,
                index: 100
            }),
            "{profile:?}"
        );
        assert_eq!(
            unprotect_rtp(&mut server, &second).as_deref(),
            Ok(&second_plain[..])
        );
        assert!(matches!(
            unprotect_rtp(&mut server, &second),
            Err(SrtpError::Replayed { .. })
        ));

        let rtcp_plain = rtcp_packet(5, 3, 1);
        let rtcp = protect_rtcp(&mut client, &rtcp_plain);
        let rtcp2 = protect_rtcp(&mut client, &rtcp_plain);
        assert_eq!(
            unprotect_rtcp(&mut server, &rtcp).as_deref(),
            Ok(&rtcp_plain[..])
        );
        assert!(matches!(
            unprotect_rtcp(&mut server, &rtcp),
            Err(SrtpError::Replayed { ssrc: 5, .. })
        ));
        assert_eq!(
            unprotect_rtcp(&mut server, &rtcp2).as_deref(),
            Ok(&rtcp_plain[..])
        );
    }
}

/// Packets older than the replay window are refused as too old.
#[test]
fn packet_behind_the_replay_window_is_too_old() {
    for profile in PROFILES {
        let (mut server, mut client) = pair(profile);
        let old = protect_rtp(&mut client, &rtp_packet(0, None, 10, 5, b"old"));
        let new = protect_rtp(&mut client, &rtp_packet(0, None, 10 + 1000, 5, b"new"));
        assert!(unprotect_rtp(&mut server, &new).is_ok());
        assert_eq!(
            unprotect_rtp(&mut server, &old),
            Err(SrtpError::TooOld { ssrc: 5, index: 10 })
        );
    }
}

/// Flipping any bit of an SRTP/SRTCP packet makes it fail and leaves the state as it was: the
/// genuine packet still opens afterwards, and so does the one after it.
#[test]
fn bit_flip_anywhere_fails_and_changes_no_state() {
    for profile in PROFILES {
        let (mut server, mut client) = pair(profile);
        let plain = rtp_packet(2, Some(2), 65_535, 77, &[0x5A; 48]);
        let next_plain = rtp_packet(2, Some(2), 0, 77, &[0xA5; 48]);
        let srtp = protect_rtp(&mut client, &plain);
        let next = protect_rtp(&mut client, &next_plain);
        for byte in 0..srtp.len() {
            for bit in 0..8 {
                let mut bad = srtp.clone();
                bad[byte] ^= 1 << bit;
                let r = unprotect_rtp(&mut server, &bad);
                // Byte 0 (version, X, CC) and the extension length (22..24) change how the
                // header parses, so they may fail as Malformed/TooShort; all else is the tag.
                if byte == 0 || (22..24).contains(&byte) {
                    assert!(r.is_err(), "{profile:?} byte {byte} bit {bit} accepted");
                } else {
                    assert_eq!(
                        r,
                        Err(SrtpError::AuthenticationFailed),
                        "{profile:?} byte {byte} bit {bit}"
                    );
                }
            }
        }
        assert_eq!(unprotect_rtp(&mut server, &srtp).as_deref(), Ok(&plain[..]));
        assert_eq!(
            unprotect_rtp(&mut server, &next).as_deref(),
            Ok(&next_plain[..])
        );

        let rtcp_plain = rtcp_packet(77, 6, 3);
        let srtcp = protect_rtcp(&mut client, &rtcp_plain);
        for byte in 0..srtcp.len() {
            for bit in 0..8 {
                let mut bad = srtcp.clone();
                bad[byte] ^= 1 << bit;
                let r = unprotect_rtcp(&mut server, &bad);
                if byte == 0 && bit >= 6 {
                    assert!(r.is_err(), "{profile:?} byte {byte} bit {bit} accepted");
                } else {
                    assert_eq!(
                        r,
                        Err(SrtpError::AuthenticationFailed),
                        "{profile:?} byte {byte} bit {bit}"
                    );
                }
            }
        }
        assert_eq!(
            unprotect_rtcp(&mut server, &srtcp).as_deref(),
            Ok(&rtcp_plain[..])
        );
    }
}

/// A forged packet far ahead in sequence does not move the window: later genuine packets open.
#[test]
fn forged_packet_ahead_does_not_advance_the_window() {
    for profile in PROFILES {
        let (mut server, mut client) = pair(profile);
        let a = protect_rtp(&mut client, &rtp_packet(0, None, 1000, 9, b"a"));
        let b_plain = rtp_packet(0, None, 1001, 9, b"b");
        let b = protect_rtp(&mut client, &b_plain);
        assert!(unprotect_rtp(&mut server, &a).is_ok());
        let mut forged = b.clone();
        forged[2..4].copy_from_slice(&30_000u16.to_be_bytes());
        assert_eq!(
            unprotect_rtp(&mut server, &forged),
            Err(SrtpError::AuthenticationFailed)
        );
        assert_eq!(unprotect_rtp(&mut server, &b).as_deref(), Ok(&b_plain[..]));
    }
}

/// Every truncation of a valid packet is refused without a panic.
#[test]
fn truncated_inputs_of_every_length_are_errors() {
    for profile in PROFILES {
        let (mut server, mut client) = pair(profile);
        let srtp = protect_rtp(&mut client, &rtp_packet(3, Some(3), 4, 1, &[1; 20]));
        let srtcp = protect_rtcp(&mut client, &rtcp_packet(1, 4, 0));
        for len in 0..srtp.len() {
            let mut buf = srtp.clone();
            assert!(
                server.unprotect_rtp(&mut buf, len).is_err(),
                "{profile:?} {len}"
            );
        }
        for len in 0..srtcp.len() {
            let mut buf = srtcp.clone();
            assert!(
                server.unprotect_rtcp(&mut buf, len).is_err(),
                "{profile:?} {len}"
            );
        }
        // The untruncated packets still open: no failed attempt touched the state.
        assert!(unprotect_rtp(&mut server, &srtp).is_ok());
        assert!(unprotect_rtcp(&mut server, &srtcp).is_ok());
    }
}

/// Protect refuses a buffer without room for the overhead and says how much is needed.
#[test]
fn protect_without_room_is_buffer_too_small() {
    for profile in PROFILES {
        let (_, mut client) = pair(profile);
        let plain = rtp_packet(0, None, 1, 1, &[0; 10]);
        let mut buf = plain.clone();
        let needed = plain.len() + profile.rtp_overhead();
        assert_eq!(
            client.protect_rtp(&mut buf, plain.len()),
            Err(SrtpError::BufferTooSmall { needed })
        );
        assert_eq!(buf, plain, "failed protect must leave the packet alone");
        let plain = rtcp_packet(1, 1, 0);
        let mut buf = plain.clone();
        let needed = plain.len() + profile.rtcp_overhead();
        assert_eq!(
            client.protect_rtcp(&mut buf, plain.len()),
            Err(SrtpError::BufferTooSmall { needed })
        );
    }
}

/// Keying material of the wrong length is refused.
#[test]
fn wrong_keying_material_length_is_refused() {
    for profile in PROFILES {
        let m = material(profile, 1);
        assert_eq!(
            SrtpSession::new(profile, &m[1..], false).err(),
            Some(SrtpError::BadKeyingMaterial {
                expected: m.len(),
                actual: m.len() - 1
            })
        );
    }
}

/// Sessions keyed from different material do not open each other's packets.
#[test]
fn wrong_keys_fail_authentication() {
    for profile in PROFILES {
        let mut a = SrtpSession::new(profile, &material(profile, 1), true).expect("a");
        let mut b = SrtpSession::new(profile, &material(profile, 2), false).expect("b");
        let srtp = protect_rtp(&mut a, &rtp_packet(0, None, 1, 1, b"x"));
        assert_eq!(
            unprotect_rtp(&mut b, &srtp),
            Err(SrtpError::AuthenticationFailed)
        );
        // The client's own keys do not decrypt its own output (directions differ).
        assert_eq!(
            unprotect_rtp(&mut a, &srtp),
            Err(SrtpError::AuthenticationFailed)
        );
    }
}

/// The SSRC tables are bounded: one SSRC more than [`MAX_SSRCS`] is refused, known ones go on.
#[test]
fn ssrc_tables_are_bounded() {
    let profile = SrtpProfile::AeadAes128Gcm;
    let (mut server, mut client) = pair(profile);
    for ssrc in 0..MAX_SSRCS as u32 {
        let srtp = protect_rtp(&mut client, &rtp_packet(0, None, 1, ssrc, b"p"));
        assert!(unprotect_rtp(&mut server, &srtp).is_ok());
    }
    let extra = rtp_packet(0, None, 1, 1_000, b"p");
    let mut buf = with_room(&extra);
    assert_eq!(
        client.protect_rtp(&mut buf, extra.len()),
        Err(SrtpError::TooManySsrcs {
            ssrc: 1_000,
            limit: MAX_SSRCS
        })
    );
    // A known SSRC still works on both sides.
    let srtp = protect_rtp(&mut client, &rtp_packet(0, None, 2, 3, b"p"));
    assert!(unprotect_rtp(&mut server, &srtp).is_ok());
}
