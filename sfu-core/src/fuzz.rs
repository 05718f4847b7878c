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
    if let Some((id, _)) = exts.first() {
        if let Some(v) = m.extension_mut(*id) {
            v.fill(0xa5);
        }
    }
    let q = RtpPacket::parse(&copy).expect("rewrites keep the packet valid");
    assert_eq!(q.sequence_number(), p.sequence_number().wrapping_add(1));
    assert_eq!(q.ssrc(), !p.ssrc());
    assert_eq!(q.payload(), payload);
    assert_eq!(q.extensions().count(), exts.len());
}
