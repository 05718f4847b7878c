//! Building RTP packets for the synthetic endpoints (the crate's views only read and rewrite).

use crate::rtp::RTP_HEADER_LEN;

/// The fixed header fields of a packet to build.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) marker: bool,
    pub(crate) payload_type: u8,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) ssrc: u32,
}

/// Appends one RTP packet to `out` (cleared first): the header, the extension elements (in the
/// one-byte form when every element allows it, else the two-byte form; none means no block),
/// then the payload pieces in order.
pub(crate) fn write_rtp(out: &mut Vec<u8>, h: &Header, exts: &[(u8, &[u8])], payload: &[&[u8]]) {
    out.clear();
    let has_ext = !exts.is_empty();
    out.push(0x80 | if has_ext { 0x10 } else { 0 });
    out.push((u8::from(h.marker) << 7) | (h.payload_type & 0x7f));
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(&h.ts.to_be_bytes());
    out.extend_from_slice(&h.ssrc.to_be_bytes());
    debug_assert_eq!(out.len(), RTP_HEADER_LEN);
    if has_ext {
        let one_byte = exts
            .iter()
            .all(|(id, v)| (1..=14).contains(id) && (1..=16).contains(&v.len()));
        let profile: u16 = if one_byte { 0xBEDE } else { 0x1000 };
        out.extend_from_slice(&profile.to_be_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0, 0]);
        let start = out.len();
        for (id, v) in exts {
            if one_byte {
                out.push((id << 4) | (v.len() as u8 - 1));
            } else {
                out.push(*id);
                out.push(v.len() as u8);
            }
            out.extend_from_slice(v);
        }
        while !(out.len() - start).is_multiple_of(4) {
            out.push(0);
        }
        let words = ((out.len() - start) / 4) as u16;
        out[len_at..len_at + 2].copy_from_slice(&words.to_be_bytes());
    }
    for p in payload {
        out.extend_from_slice(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{ExtensionForm, RtpPacket};

    #[test]
    fn builds_packets_the_view_reads_back() {
        let h = Header {
            marker: true,
            payload_type: 96,
            seq: 65535,
            ts: 0xdead_beef,
            ssrc: 42,
        };
        let mut out = vec![];
        write_rtp(
            &mut out,
            &h,
            &[(3, &[1, 2]), (12, &[7; 3])],
            &[b"ab", b"cd"],
        );
        let p = RtpPacket::parse(&out).unwrap();
        assert!(p.marker());
        assert_eq!(
            (
                p.payload_type(),
                p.sequence_number(),
                p.timestamp(),
                p.ssrc()
            ),
            (96, 65535, 0xdead_beef, 42)
        );
        assert_eq!(p.extension_form(), Some(ExtensionForm::OneByte));
        assert_eq!(p.extension(3), Some(&[1u8, 2][..]));
        assert_eq!(p.extension(12), Some(&[7u8; 3][..]));
        assert_eq!(p.payload(), b"abcd");
        // A 20-byte element needs the two-byte form.
        write_rtp(&mut out, &h, &[(3, &[1, 2]), (12, &[9; 20])], &[b"x"]);
        let p = RtpPacket::parse(&out).unwrap();
        assert_eq!(p.extension_form(), Some(ExtensionForm::TwoByte));
        assert_eq!(p.extension(12), Some(&[9u8; 20][..]));
        assert_eq!(p.payload(), b"x");
        write_rtp(&mut out, &h, &[], &[b"y"]);
        let p = RtpPacket::parse(&out).unwrap();
        assert_eq!((p.extension_form(), p.payload()), (None, &b"y"[..]));
    }
}
