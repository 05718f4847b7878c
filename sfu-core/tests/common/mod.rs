//! Packet builders shared by the engine tests.
#![allow(dead_code)]

/// Transport-wide CC extension ID used by the test participants.
pub(crate) const TWCC_ID: u8 = 3;

/// A VP8 packet: one-byte ext with transport-cc, then descriptor with 15-bit picture ID,
/// TL0PICIDX and TID, then (for frame starts) a VP8 frame tag.
#[allow(clippy::too_many_arguments)]
pub(crate) fn vp8(
    ssrc: u32,
    seq: u16,
    ts: u32,
    twcc: u16,
    pic: u16,
    tid: u8,
    key: bool,
    start: bool,
    marker: bool,
) -> Vec<u8> {
    let mut p = vec![0x90, 96 | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xbe, 0xde, 0, 1, (TWCC_ID << 4) | 1]);
    p.extend_from_slice(&twcc.to_be_bytes());
    p.push(0);
    p.push(0x80 | if start { 0x10 } else { 0 });
    p.push(0xe0);
    p.extend_from_slice(&(0x8000 | pic).to_be_bytes());
    p.push((pic & 0xff) as u8); // TL0PICIDX
    p.push(tid << 6);
    if start {
        if key {
            p.extend_from_slice(&[0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
        } else {
            p.extend_from_slice(&[0x51, 0x42, 0x00]);
        }
    }
    p.extend_from_slice(&[0xaa; 100]);
    p
}

/// An Opus packet with a transport-cc and an RFC 6464 audio-level extension (id 4).
pub(crate) fn opus(ssrc: u32, seq: u16, ts: u32, twcc: u16, level: u8) -> Vec<u8> {
    let mut p = vec![0x90, 111];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xbe, 0xde, 0, 2, (TWCC_ID << 4) | 1]);
    p.extend_from_slice(&twcc.to_be_bytes());
    p.extend_from_slice(&[(4 << 4), 0x80 | level, 0, 0, 0]);
    p.extend_from_slice(&[0xfc; 60]);
    p
}

/// A padding-only packet (a bandwidth probe) on `ssrc`.
pub(crate) fn padding(ssrc: u32, seq: u16, ts: u32) -> Vec<u8> {
    let mut p = vec![0xa0, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0; 255]);
    p.push(224);
    p.truncate(12 + 224);
    *p.last_mut().unwrap() = 224;
    p
}
