//! SDP parsing and answering against real Chromium 156 offers (fixtures in `tests/data/sdp/`,
//! captured with playwright-core and Debian's Chromium 156.0.8078.79, see the fixture notes in
//! `tests/data/sdp/README.md`).

use std::net::SocketAddr;

use telesfu_server::sdp::{
    AUDIO_PREFERENCES, Codec, Direction, LocalParams, MediaKind, MediaSection, Mid, Offer, Rid,
    SectionAnswer, SectionRole, SendStream, Ssrc, VIDEO_PREFERENCES, build_answer, choose_codec,
    parse_offer,
};

const PUBLISH: &str = include_str!("data/sdp/chromium156-publish-simulcast.sdp");
const SUBSCRIBE: &str = include_str!("data/sdp/chromium156-subscribe.sdp");
const RENEGOTIATE: &str = include_str!("data/sdp/chromium156-renegotiate.sdp");

const FINGERPRINT: &str = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3B:E0:A4:A9:E5:A8:0B:0F:9E:F8:7D:B6";

fn local(version: u64) -> LocalParams {
    LocalParams::new(
        "tsfu".into(),
        "telesfutelesfutelesfu22".into(),
        FINGERPRINT.into(),
        vec!["127.0.0.1:40000".parse::<SocketAddr>().unwrap()],
        4_242_424_242,
        version,
    )
}

fn prefs(s: &MediaSection) -> &'static [Codec] {
    if s.kind == MediaKind::Audio {
        &AUDIO_PREFERENCES
    } else {
        &VIDEO_PREFERENCES
    }
}

/// What a telesfu room would answer: receive publications, send subscriptions.
fn decide(offer: &Offer) -> Vec<SectionAnswer> {
    offer
        .sections
        .iter()
        .map(|s| {
            let Some(codec) = choose_codec(s, prefs(s)) else {
                return SectionAnswer::Reject;
            };
            match s.role() {
                SectionRole::Publish => SectionAnswer::Receive { codec },
                SectionRole::Subscribe => {
                    let base = 0x1000_0000 + 16 * s.index as u32;
                    let rtx = codec.rtx_payload_type.map(|_| Ssrc(base + 1));
                    let stream = SendStream::new(
                        Ssrc(base),
                        rtx,
                        "telesfu".into(),
                        "room-7".into(),
                        format!("track-{}", s.index),
                    );
                    SectionAnswer::Send { codec, stream }
                }
                _ => SectionAnswer::Reject,
            }
        })
        .collect()
}

fn answer(sdp: &str) -> String {
    let offer = parse_offer(sdp).unwrap();
    build_answer(&offer, &local(2), &decide(&offer)).unwrap()
}

fn mid(s: &str) -> Mid {
    Mid::new(s).unwrap()
}

fn rid(s: &str) -> Rid {
    Rid::new(s).unwrap()
}

/// The lines of one m-section of an answer (from its m= line to the next).
fn section_lines(answer: &str, index: usize) -> Vec<&str> {
    answer
        .split("\r\n")
        .skip_while(|l| !l.starts_with("m="))
        .fold(Vec::<Vec<&str>>::new(), |mut acc, l| {
            if l.starts_with("m=") {
                acc.push(Vec::new());
            }
            if let Some(last) = acc.last_mut() {
                last.push(l);
            }
            acc
        })
        .swap_remove(index)
}

#[test]
fn publish_offer_parses_with_simulcast_and_extension_ids() {
    let offer = parse_offer(PUBLISH).unwrap();
    assert_eq!(offer.bundle, vec![mid("0"), mid("1")]);
    assert_eq!(offer.fingerprint.algorithm, "sha-256");
    assert_eq!(offer.ice_ufrag.len(), 4);
    assert_eq!(offer.ice_options, vec!["trickle".to_owned()]);
    assert!(offer.extmap_allow_mixed);
    let [video, audio] = &offer.sections[..] else {
        panic!("two sections expected")
    };
    assert_eq!(
        (video.kind.clone(), video.direction),
        (MediaKind::Video, Direction::SendOnly)
    );
    assert_eq!(
        (audio.kind.clone(), audio.direction),
        (MediaKind::Audio, Direction::SendOnly)
    );
    assert_eq!(video.role(), SectionRole::Publish);
    assert!(video.rtcp_mux && video.rtcp_rsize);
    assert_eq!(video.simulcast_layers(), vec![rid("q"), rid("h"), rid("f")]);
    assert_eq!(video.rids.len(), 3);
    let vp8 = video.codec(96).unwrap();
    assert_eq!((vp8.name.as_str(), vp8.clock_rate), ("VP8", 90_000));
    assert!(vp8.rtcp_fb.iter().any(|f| f == "nack pli"));
    assert_eq!(video.codec(97).unwrap().apt, Some(96));
    let opus = audio.codec(111).unwrap();
    assert_eq!((opus.name.as_str(), opus.channels), ("opus", Some(2)));
    assert_eq!(audio.ssrcs.len(), 1);
    assert!(audio.ssrcs[0].cname.is_some() && audio.ssrcs[0].msid.is_some());
    assert!(audio.msid.as_ref().unwrap().track.is_some());

    let ids = offer.extension_ids();
    assert_eq!(ids.abs_send_time, Some(2));
    assert_eq!(ids.transport_cc, Some(4));
    assert_eq!(ids.mid, Some(9));
    assert_eq!(ids.rid, Some(10));
    assert_eq!(ids.repaired_rid, Some(11));
    assert_eq!(ids.audio_level, Some(12));
    assert_eq!(ids.dependency_descriptor, Some(13));
    assert_eq!(audio.extension_ids().rid, None);
}

#[test]
fn codec_choice_is_vp8_with_rtx_and_opus() {
    let offer = parse_offer(PUBLISH).unwrap();
    let v = choose_codec(&offer.sections[0], &VIDEO_PREFERENCES).unwrap();
    assert_eq!(
        (v.codec, v.payload_type, v.rtx_payload_type),
        (Codec::Vp8, 96, Some(97))
    );
    assert_eq!(
        v.rtcp_fb,
        ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]
    );
    let a = choose_codec(&offer.sections[1], &AUDIO_PREFERENCES).unwrap();
    assert_eq!(
        (a.codec, a.payload_type, a.rtx_payload_type),
        (Codec::Opus, 111, None)
    );
    assert_eq!(a.fmtp.as_deref(), Some("minptime=10;useinbandfec=1"));
    // Video preferences on an audio section find nothing, and vice versa.
    assert!(choose_codec(&offer.sections[1], &VIDEO_PREFERENCES).is_none());
    assert!(choose_codec(&offer.sections[0], &AUDIO_PREFERENCES).is_none());
}

#[test]
fn h264_choice_prefers_packetization_mode_1_constrained_baseline() {
    let offer = parse_offer(PUBLISH).unwrap();
    let h = choose_codec(&offer.sections[0], &[Codec::H264]).unwrap();
    // Chromium offers 102 (42001f, mode 1), 104 (mode 0), 108 (42e01f, mode 1), ...
    assert_eq!(h.payload_type, 108);
    assert_eq!(h.rtx_payload_type, Some(109));
    assert!(h.fmtp.as_deref().unwrap().contains("packetization-mode=1"));
    let av1 = choose_codec(&offer.sections[0], &[Codec::Av1]).unwrap();
    assert_eq!(av1.name, "AV1");
    assert!(av1.rtx_payload_type.is_some());
}

#[test]
fn publish_answer_receives_simulcast_vp8_and_opus() {
    let a = answer(PUBLISH);
    assert!(a.ends_with("\r\n") && !a.replace("\r\n", "").contains('\n'));
    assert!(
        a.starts_with("v=0\r\no=- 4242424242 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n")
    );
    assert!(a.contains("a=group:BUNDLE 0 1\r\n"));
    let v = section_lines(&a, 0);
    assert_eq!(v[0], "m=video 40000 UDP/TLS/RTP/SAVPF 96 97");
    for want in [
        "c=IN IP4 127.0.0.1",
        "a=mid:0",
        "a=setup:passive",
        "a=recvonly",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=ice-ufrag:tsfu",
        "a=ice-pwd:telesfutelesfutelesfu22",
        "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3B:E0:A4:A9:E5:A8:0B:0F:9E:F8:7D:B6",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack pli",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "a=extmap:13 https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
        "a=rid:q recv",
        "a=rid:h recv",
        "a=rid:f recv",
        "a=simulcast:recv q;h;f",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
        "a=end-of-candidates",
    ] {
        assert!(
            v.contains(&want),
            "video section lacks {want:?}:\n{}",
            v.join("\n")
        );
    }
    // Unsupported extensions and other codecs are dropped.
    assert!(
        !v.iter()
            .any(|l| l.contains("toffset") || l.contains("video-orientation"))
    );
    assert!(
        !v.iter()
            .any(|l| l.contains("H264") || l.starts_with("a=rtpmap:102"))
    );
    assert!(!v.iter().any(|l| l.starts_with("a=ssrc")));
    let au = section_lines(&a, 1);
    assert_eq!(au[0], "m=audio 40000 UDP/TLS/RTP/SAVPF 111");
    for want in [
        "a=mid:1",
        "a=recvonly",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtcp-fb:111 transport-cc",
        "a=extmap:12 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    ] {
        assert!(au.contains(&want), "audio section lacks {want:?}");
    }
    // The answer is itself parseable SDP with the mirrored directions.
    let reparsed = parse_offer(&a).unwrap();
    let dirs: Vec<_> = reparsed.sections.iter().map(|s| s.direction).collect();
    assert_eq!(dirs, [Direction::RecvOnly, Direction::RecvOnly]);
}

#[test]
fn subscribe_answer_sends_with_ssrc_and_msid_lines() {
    let offer = parse_offer(SUBSCRIBE).unwrap();
    let roles: Vec<_> = offer.sections.iter().map(MediaSection::role).collect();
    assert_eq!(roles, [SectionRole::Subscribe, SectionRole::Subscribe]);
    assert!(
        offer
            .sections
            .iter()
            .all(|s| s.ssrcs.is_empty() && s.rids.is_empty())
    );
    let a = answer(SUBSCRIBE);
    let v = section_lines(&a, 0);
    let base = 0x1000_0000u32;
    for want in [
        "a=sendonly".to_owned(),
        "a=msid:room-7 track-0".to_owned(),
        format!("a=ssrc-group:FID {base} {}", base + 1),
        format!("a=ssrc:{base} cname:telesfu"),
        format!("a=ssrc:{base} msid:room-7 track-0"),
        format!("a=ssrc:{} cname:telesfu", base + 1),
        "a=rtpmap:96 VP8/90000".to_owned(),
    ] {
        assert!(v.contains(&want.as_str()), "video section lacks {want:?}");
    }
    assert!(
        !v.iter()
            .any(|l| l.starts_with("a=simulcast") || l.starts_with("a=rid"))
    );
    let au = section_lines(&a, 1);
    assert!(au.contains(&"a=sendonly"));
    assert!(au.contains(&format!("a=ssrc:{} cname:telesfu", base + 16).as_str()));
    assert!(!au.iter().any(|l| l.starts_with("a=ssrc-group")));
}

#[test]
fn renegotiation_offer_keeps_mids_and_adds_a_second_video() {
    let offer = parse_offer(RENEGOTIATE).unwrap();
    let summary: Vec<_> = offer
        .sections
        .iter()
        .map(|s| (s.mid.unwrap(), s.kind.clone(), s.direction))
        .collect();
    assert_eq!(
        summary,
        [
            (mid("0"), MediaKind::Video, Direction::SendOnly),
            (mid("1"), MediaKind::Audio, Direction::SendOnly),
            (mid("2"), MediaKind::Video, Direction::RecvOnly),
            (mid("3"), MediaKind::Audio, Direction::RecvOnly),
            (mid("4"), MediaKind::Video, Direction::SendOnly),
        ]
    );
    assert_eq!(offer.sections[0].simulcast_layers().len(), 3);
    assert!(offer.sections[4].simulcast_layers().is_empty());
    // The screen share is signalled by SSRC with an RTX group.
    let fid = &offer.sections[4].ssrc_groups[0];
    assert_eq!((fid.semantics.as_str(), fid.ssrcs.len()), ("FID", 2));
    let a = build_answer(&offer, &local(3), &decide(&offer)).unwrap();
    assert!(a.contains("o=- 4242424242 3 IN IP4 127.0.0.1\r\n"));
    assert!(a.contains("a=group:BUNDLE 0 1 2 3 4\r\n"));
    let dirs: Vec<_> = parse_offer(&a)
        .unwrap()
        .sections
        .iter()
        .map(|s| s.direction)
        .collect();
    assert_eq!(
        dirs,
        [
            Direction::RecvOnly,
            Direction::RecvOnly,
            Direction::SendOnly,
            Direction::SendOnly,
            Direction::RecvOnly
        ]
    );
}

#[test]
fn rejected_sections_get_port_zero_and_leave_the_bundle() {
    let offer = parse_offer(PUBLISH).unwrap();
    let codec = choose_codec(&offer.sections[1], &AUDIO_PREFERENCES).unwrap();
    let a = build_answer(
        &offer,
        &local(2),
        &[SectionAnswer::Reject, SectionAnswer::Receive { codec }],
    )
    .unwrap();
    assert!(a.contains("a=group:BUNDLE 1\r\n"));
    assert_eq!(
        section_lines(&a, 0),
        [
            "m=video 0 UDP/TLS/RTP/SAVPF 96",
            "c=IN IP4 0.0.0.0",
            "a=mid:0",
            "a=inactive"
        ]
    );
}

#[test]
fn decisions_that_do_not_fit_the_offer_are_api_misuse() {
    let offer = parse_offer(PUBLISH).unwrap();
    let video = choose_codec(&offer.sections[0], &VIDEO_PREFERENCES).unwrap();
    let audio = choose_codec(&offer.sections[1], &AUDIO_PREFERENCES).unwrap();
    let stream = SendStream::new(Ssrc(1), None, "c".into(), "s".into(), "t".into());
    let cases = [
        // Wrong count.
        vec![SectionAnswer::Reject],
        // Sending on a section the client only sends on.
        vec![
            SectionAnswer::Send {
                codec: video.clone(),
                stream,
            },
            SectionAnswer::Reject,
        ],
        // The audio codec on the video section.
        vec![
            SectionAnswer::Receive { codec: audio },
            SectionAnswer::Reject,
        ],
    ];
    for decisions in cases {
        let err = build_answer(&offer, &local(2), &decisions).unwrap_err();
        assert!(
            matches!(err, telesfu_server::sdp::SdpError::ApiMisuse(_)),
            "{err}"
        );
    }
    let mut bad = local(2);
    bad.candidates.clear();
    let decisions = [
        SectionAnswer::Receive { codec: video },
        SectionAnswer::Reject,
    ];
    assert!(build_answer(&offer, &bad, &decisions).is_err());
}

/// Manual check, not run by default: writes `<name>.answer` next to each `.sdp` in
/// `$TELESFU_SDP_DIR` (or prints the fixture answers), for feeding back to a browser's
/// `setRemoteDescription`.
#[test]
#[ignore = "manual browser check helper"]
fn write_answers_for_browser_check() {
    let Ok(dir) = std::env::var("TELESFU_SDP_DIR") else {
        for (name, sdp) in [
            ("publish", PUBLISH),
            ("subscribe", SUBSCRIBE),
            ("renegotiate", RENEGOTIATE),
        ] {
            println!("==== {name}\n{}", answer(sdp));
        }
        return;
    };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sdp") {
            let sdp = std::fs::read_to_string(&path).unwrap();
            std::fs::write(path.with_extension("answer"), answer(&sdp)).unwrap();
        }
    }
}
