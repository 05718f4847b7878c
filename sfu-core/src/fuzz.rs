//! Bodies of the fuzz targets in `fuzz/`, compiled in every build so they cannot rot; the
//! targets are one-line shims and `tests/fuzz_corpus.rs` replays the seed corpus through them.

use crate::rtp::{RtpPacket, RtpPacketMut};

/// `rtp_view`: parsing arbitrary bytes never panics; a packet that parses reads consistently,
/// every extension value lies inside the packet, and in-place rewrites change exactly the
/// rewritten fields.
pub fn rtp_view(data: &[u8]) {
    let Ok(p) = RtpPacket::parse(data) else {
        return;
    };
    let payload = p.payload();
    assert!(p.payload_offset() + payload.len() + p.padding_len() == data.len());
    let exts: Vec<(u8, Vec<u8>)> = p.extensions().map(|e| (e.id, e.value.to_vec())).collect();
    let mut copy = data.to_vec();
    let mut m = RtpPacketMut::parse(&mut copy).expect("a packet that parsed once parses again");
    m.set_sequence_number(p.sequence_number().wrapping_add(1));
    m.set_timestamp(p.timestamp().wrapping_add(3000));
    m.set_ssrc(!p.ssrc());
    if let Some(v) = exts.first().and_then(|(id, _)| m.extension_mut(*id)) {
        v.fill(0xa5);
    }
    let q = RtpPacket::parse(&copy).expect("rewrites keep the packet valid");
    assert_eq!(q.sequence_number(), p.sequence_number().wrapping_add(1));
    assert_eq!(q.ssrc(), !p.ssrc());
    assert_eq!(q.payload(), payload);
    assert_eq!(q.extensions().count(), exts.len());
}

/// `rtcp_view`: walking an arbitrary compound datagram never panics, every view's accessors
/// and iterators stay in bounds, and the NACK/REMB builders round-trip what was parsed.
pub fn rtcp_view(data: &[u8]) {
    use crate::rtcp::{RtcpPacket, parse_compound, write_nack, write_remb};
    let mut out = [0u8; 1500];
    for p in parse_compound(data) {
        let Ok(p) = p else { break };
        match p {
            RtcpPacket::SenderReport(sr) => {
                let _ = (sr.ntp_time(), sr.rtp_time(), sr.reports().count());
            }
            RtcpPacket::ReceiverReport(rr) => {
                let _ = rr.reports().count();
            }
            RtcpPacket::Sdes(s) => {
                for c in s.chunks() {
                    let _ = c.cname();
                }
            }
            RtcpPacket::Bye(b) => {
                let _ = (b.ssrcs().count(), b.reason());
            }
            RtcpPacket::Nack(n) => {
                let lost: Vec<u16> = n.lost().collect();
                if let Some(len) = write_nack(&mut out, n.sender_ssrc, n.media_ssrc, &lost) {
                    let again = parse_compound(&out[..len]).next();
                    let Some(Ok(RtcpPacket::Nack(m))) = again else {
                        panic!("built NACK does not parse");
                    };
                    assert_eq!(m.lost().collect::<Vec<_>>(), lost);
                }
            }
            RtcpPacket::Remb(r) => {
                let ssrcs: Vec<u32> = r.ssrcs().collect();
                if let Some(len) = write_remb(&mut out, r.sender_ssrc, r.bitrate_bps, &ssrcs) {
                    let Some(Ok(RtcpPacket::Remb(m))) = parse_compound(&out[..len]).next() else {
                        panic!("built REMB does not parse");
                    };
                    assert!(m.bitrate_bps <= r.bitrate_bps);
                    assert_eq!(m.ssrcs().collect::<Vec<_>>(), ssrcs);
                }
            }
            RtcpPacket::TransportCc(t) => {
                let mut n = 0u32;
                t.for_each(|_| n += 1);
                assert_eq!(n, u32::from(t.status_count));
            }
            RtcpPacket::Fir(f) => {
                let _ = f.entries().count();
            }
            _ => {}
        }
    }
}

/// `payload_descriptors`: the VP8, H.264, Opus and AV1 dependency-descriptor parsers never
/// panic; a failed descriptor parse leaves the stored AV1 structure as it was; VP8 rewrites
/// read back.
pub fn payload_descriptors(data: &[u8]) {
    use crate::codec::{H264Info, OpusToc, Vp8Descriptor};
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 4 {
        0 => {
            if let Ok(d) = Vp8Descriptor::parse(rest) {
                let mut copy = rest.to_vec();
                d.write_picture_id(&mut copy, 0x1234);
                d.write_tl0_pic_idx(&mut copy, 7);
                let e = Vp8Descriptor::parse(&copy).expect("rewrite keeps the descriptor valid");
                if let Some((id, r)) = e.picture_id {
                    assert_eq!(id, if r.len() == 2 { 0x1234 } else { 0x34 });
                }
            }
        }
        1 => {
            let _ = H264Info::parse(rest);
        }
        2 => {
            let _ = OpusToc::parse(rest).map(|t| t.frame_duration_tenth_ms());
        }
        _ => {
            let mut stored = Some(crate::av1dd::DependencyStructure::simple(2, 2, None));
            for chunk in rest.split(|&b| b == 0xff) {
                let before = stored.clone();
                if crate::av1dd::parse(chunk, &mut stored).is_err() {
                    assert_eq!(
                        stored, before,
                        "a failed parse changed the stored structure"
                    );
                }
            }
        }
    }
}
