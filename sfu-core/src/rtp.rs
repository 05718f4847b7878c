//! A zero-copy RTP packet view (RFC 3550 §5.1, header extensions per RFC 8285).
//!
//! [`RtpPacket`] validates a packet once (version, CSRC count, extension block and every
//! extension element, padding) and then reads fields at fixed offsets. [`RtpPacketMut`] adds
//! in-place rewrites of the fields an SFU changes per subscriber: SSRC, sequence number,
//! timestamp, payload type, marker, and the value of an existing header extension.
//!
//! Why not the `rtp` crate: measured on the CI machine class (see `docs/` in the repository),
//! its parse + marshal costs ~40x the instructions of an in-place rewrite, allocates once or
//! twice per packet, panics on some malformed extension blocks, and pulls tokio in through
//! webrtc-util. It stays a dev-dependency: a builder of well-formed packets and a differential
//! oracle in the tests.

use core::fmt;
use core::ops::Range;

/// Fixed RTP header length.
pub const RTP_HEADER_LEN: usize = 12;

/// Profile of the one-byte header extension form (RFC 8285 §4.2).
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;

/// Why bytes are not a valid RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the fixed header.
    TooShort,
    /// Version is not 2.
    BadVersion(u8),
    /// The CSRC list runs past the end.
    CsrcOverrun,
    /// The extension block header or body runs past the end.
    ExtensionOverrun,
    /// An extension element runs past the end of the extension block.
    ExtensionElementOverrun,
    /// The padding count is zero or larger than the payload.
    BadPadding,
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::TooShort => "RTP packet shorter than 12 bytes",
            Self::BadVersion(_) => "RTP version is not 2",
            Self::CsrcOverrun => "RTP CSRC list runs past the packet end",
            Self::ExtensionOverrun => "RTP header extension block runs past the packet end",
            Self::ExtensionElementOverrun => "RTP header extension element runs past its block",
            Self::BadPadding => "RTP padding count is zero or exceeds the payload",
        };
        f.write_str(s)
    }
}

impl std::error::Error for RtpError {}

/// Form of a packet's header extension block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionForm {
    /// RFC 8285 one-byte elements (profile 0xBEDE): ids 1-14, 1-16 bytes.
    OneByte,
    /// RFC 8285 two-byte elements (profile 0x100X): ids 1-255, 0-255 bytes.
    TwoByte,
    /// Some other profile: the block is opaque.
    Other(u16),
}

/// Offsets found by validation, shared by the read and write views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Start of the extension block body (after its 4-byte header), if any.
    ext: Option<(ExtensionForm, usize, usize)>,
    payload_start: usize,
    payload_end: usize,
}

fn validate(buf: &[u8]) -> Result<Layout, RtpError> {
    if buf.len() < RTP_HEADER_LEN {
        return Err(RtpError::TooShort);
    }
    let v = buf[0] >> 6;
    if v != 2 {
        return Err(RtpError::BadVersion(v));
    }
    let cc = usize::from(buf[0] & 0x0f);
    let mut off = RTP_HEADER_LEN + 4 * cc;
    if off > buf.len() {
        return Err(RtpError::CsrcOverrun);
    }
    let mut ext = None;
    if buf[0] & 0x10 != 0 {
        if off + 4 > buf.len() {
            return Err(RtpError::ExtensionOverrun);
        }
        let profile = u16::from_be_bytes([buf[off], buf[off + 1]]);
        let words = usize::from(u16::from_be_bytes([buf[off + 2], buf[off + 3]]));
        let start = off + 4;
        let end = start + 4 * words;
        if end > buf.len() {
            return Err(RtpError::ExtensionOverrun);
        }
        let form = match profile {
            ONE_BYTE_PROFILE => ExtensionForm::OneByte,
            p if p & 0xfff0 == 0x1000 => ExtensionForm::TwoByte,
            p => ExtensionForm::Other(p),
        };
        // Walk every element once so later lookups cannot run out of bounds.
        let mut it = ExtIter {
            form,
            block: &buf[start..end],
            pos: 0,
        };
        while let Some(r) = it.next_raw() {
            r?;
        }
        ext = Some((form, start, end));
        off = end;
    }
    let mut payload_end = buf.len();
    if buf[0] & 0x20 != 0 {
        let pad = usize::from(buf[buf.len() - 1]);
        if pad == 0 || off + pad > buf.len() {
            return Err(RtpError::BadPadding);
        }
        payload_end -= pad;
    }
    Ok(Layout {
        ext,
        payload_start: off,
        payload_end,
    })
}

/// A validated, read-only RTP packet.
#[derive(Clone, Copy)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    layout: Layout,
}

impl fmt::Debug for RtpPacket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtpPacket")
            .field("ssrc", &format_args!("{:#010x}", self.ssrc()))
            .field("pt", &self.payload_type())
            .field("seq", &self.sequence_number())
            .field("ts", &self.timestamp())
            .field("marker", &self.marker())
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

/// One header extension element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// Local extension id (1-14 one-byte form, 1-255 two-byte form).
    pub id: u8,
    /// The element's value.
    pub value: &'a [u8],
}

/// Iterator over a validated packet's header extension elements.
#[derive(Debug, Clone)]
pub struct ExtIter<'a> {
    form: ExtensionForm,
    block: &'a [u8],
    pos: usize,
}

impl<'a> ExtIter<'a> {
    /// The next element, with its value's range in the block, or an overrun error.
    fn next_raw(&mut self) -> Option<Result<(u8, Range<usize>), RtpError>> {
        loop {
            let b = &self.block;
            match self.form {
                ExtensionForm::Other(_) => return None,
                ExtensionForm::OneByte => {
                    let &h = b.get(self.pos)?;
                    if h == 0 {
                        self.pos += 1; // padding byte
                        continue;
                    }
                    let id = h >> 4;
                    if id == 15 {
                        // RFC 8285: id 15 is reserved and stops processing.
                        self.pos = b.len();
                        return None;
                    }
                    let len = usize::from(h & 0x0f) + 1;
                    let start = self.pos + 1;
                    if start + len > b.len() {
                        self.pos = b.len();
                        return Some(Err(RtpError::ExtensionElementOverrun));
                    }
                    self.pos = start + len;
                    return Some(Ok((id, start..start + len)));
                }
                ExtensionForm::TwoByte => {
                    let &id = b.get(self.pos)?;
                    if id == 0 {
                        self.pos += 1;
                        continue;
                    }
                    let Some(&len) = b.get(self.pos + 1) else {
                        self.pos = b.len();
                        return Some(Err(RtpError::ExtensionElementOverrun));
                    };
                    let start = self.pos + 2;
                    let len = usize::from(len);
                    if start + len > b.len() {
                        self.pos = b.len();
                        return Some(Err(RtpError::ExtensionElementOverrun));
                    }
                    self.pos = start + len;
                    return Some(Ok((id, start..start + len)));
                }
            }
        }
    }
}

impl<'a> Iterator for ExtIter<'a> {
    type Item = Extension<'a>;

    fn next(&mut self) -> Option<Extension<'a>> {
        // The packet was validated, so no element overruns; an error cannot occur here.
        match self.next_raw()? {
            Ok((id, r)) => Some(Extension {
                id,
                value: &self.block[r],
            }),
            Err(_) => None,
        }
    }
}

impl<'a> RtpPacket<'a> {
    /// Validates `buf` as one RTP packet.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        Ok(Self {
            buf,
            layout: validate(buf)?,
        })
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Marker bit.
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// Payload type (7 bits).
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }

    /// Sequence number.
    pub fn sequence_number(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// Synchronization source.
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }

    /// Contributing sources.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let cc = usize::from(self.buf[0] & 0x0f);
        self.buf[RTP_HEADER_LEN..RTP_HEADER_LEN + 4 * cc]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The extension block's form, if the packet has one.
    pub fn extension_form(&self) -> Option<ExtensionForm> {
        self.layout.ext.map(|(f, _, _)| f)
    }

    /// The header extension elements (none for an opaque profile).
    pub fn extensions(&self) -> ExtIter<'a> {
        match self.layout.ext {
            Some((form, s, e)) => ExtIter {
                form,
                block: &self.buf[s..e],
                pos: 0,
            },
            None => ExtIter {
                form: ExtensionForm::Other(0),
                block: &[],
                pos: 0,
            },
        }
    }

    /// The value of extension `id`, if present.
    pub fn extension(&self, id: u8) -> Option<&'a [u8]> {
        self.extensions().find(|e| e.id == id).map(|e| e.value)
    }

    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.layout.payload_start..self.layout.payload_end]
    }

    /// Offset of the payload in the packet.
    pub fn payload_offset(&self) -> usize {
        self.layout.payload_start
    }

    /// Padding bytes at the end (0 if the P bit is clear).
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.layout.payload_end
    }

    /// True for a packet that carries only padding (used for probing): no media to forward.
    pub fn is_padding_only(&self) -> bool {
        self.layout.payload_start == self.layout.payload_end && self.padding_len() > 0
    }
}

/// A validated RTP packet open for in-place rewriting.
#[derive(Debug)]
pub struct RtpPacketMut<'a> {
    buf: &'a mut [u8],
    layout: Layout,
}

impl<'a> RtpPacketMut<'a> {
    /// Validates `buf` as one RTP packet.
    pub fn parse(buf: &'a mut [u8]) -> Result<Self, RtpError> {
        let layout = validate(buf)?;
        Ok(Self { buf, layout })
    }

    /// A read-only view of the same packet.
    pub fn as_packet(&self) -> RtpPacket<'_> {
        RtpPacket {
            buf: self.buf,
            layout: self.layout,
        }
    }

    /// Sets the marker bit.
    pub fn set_marker(&mut self, m: bool) {
        self.buf[1] = (self.buf[1] & 0x7f) | (u8::from(m) << 7);
    }

    /// Sets the payload type (7 bits; higher bits are ignored).
    pub fn set_payload_type(&mut self, pt: u8) {
        self.buf[1] = (self.buf[1] & 0x80) | (pt & 0x7f);
    }

    /// Sets the sequence number.
    pub fn set_sequence_number(&mut self, seq: u16) {
        self.buf[2..4].copy_from_slice(&seq.to_be_bytes());
    }

    /// Sets the RTP timestamp.
    pub fn set_timestamp(&mut self, ts: u32) {
        self.buf[4..8].copy_from_slice(&ts.to_be_bytes());
    }

    /// Sets the SSRC.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }

    /// The value of extension `id` for rewriting in place (same length), if present.
    pub fn extension_mut(&mut self, id: u8) -> Option<&mut [u8]> {
        let (form, s, e) = self.layout.ext?;
        let mut it = ExtIter {
            form,
            block: &self.buf[s..e],
            pos: 0,
        };
        let range = loop {
            match it.next_raw()? {
                Ok((eid, r)) if eid == id => break r,
                Ok(_) => {}
                Err(_) => return None,
            }
        };
        Some(&mut self.buf[s + range.start..s + range.end])
    }

    /// The payload, for rewriting in place (e.g. a VP8 picture ID).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.layout.payload_start..self.layout.payload_end]
    }
}

/// Whether a datagram that passed the RFC 7983 first-byte test is RTCP rather than RTP
/// (RFC 5761 §4: payload types 64-95 with the marker bit are RTCP packet types 192-223).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && (192..=223).contains(&buf[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(ext: &[u8], profile: u16, payload: &[u8], pad: u8) -> Vec<u8> {
        let mut p = vec![0x80, 96, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef];
        if !ext.is_empty() {
            p[0] |= 0x10;
            p.extend_from_slice(&profile.to_be_bytes());
            p.extend_from_slice(&((ext.len() / 4) as u16).to_be_bytes());
            p.extend_from_slice(ext);
        }
        p.extend_from_slice(payload);
        if pad > 0 {
            p[0] |= 0x20;
            p.extend(std::iter::repeat_n(0, usize::from(pad) - 1));
            p.push(pad);
        }
        p
    }

    #[test]
    fn one_byte_extensions_read_and_rewrite() {
        // id 1 len 2 (TWCC seq), padding byte, id 3 len 3 (abs-send-time), padding to 4.
        let ext = [0x11, 0xaa, 0xbb, 0x00, 0x32, 1, 2, 3];
        let mut p = packet(&ext, ONE_BYTE_PROFILE, b"payload", 0);
        let v = RtpPacket::parse(&p).unwrap();
        assert_eq!(v.extension(1), Some(&[0xaa, 0xbb][..]));
        assert_eq!(v.extension(3), Some(&[1, 2, 3][..]));
        assert_eq!(v.extension(2), None);
        assert_eq!(v.payload(), b"payload");
        assert_eq!(
            (v.sequence_number(), v.timestamp(), v.ssrc()),
            (0x1234, 0x1000, 0xdeadbeef)
        );
        let mut m = RtpPacketMut::parse(&mut p).unwrap();
        m.extension_mut(1).unwrap().copy_from_slice(&[0, 7]);
        m.set_sequence_number(9);
        m.set_timestamp(90_000);
        m.set_ssrc(42);
        m.set_payload_type(100);
        m.set_marker(true);
        let v = RtpPacket::parse(&p).unwrap();
        assert_eq!(v.extension(1), Some(&[0, 7][..]));
        assert_eq!(
            (v.sequence_number(), v.timestamp(), v.ssrc()),
            (9, 90_000, 42)
        );
        assert_eq!((v.payload_type(), v.marker()), (100, true));
        assert_eq!(v.payload(), b"payload");
    }

    #[test]
    fn two_byte_extensions_and_padding() {
        let ext = [5, 0, 7, 3, 1, 2, 3, 0];
        let p = packet(&ext, 0x1000, b"xy", 4);
        let v = RtpPacket::parse(&p).unwrap();
        assert_eq!(v.extension(5), Some(&[][..]));
        assert_eq!(v.extension(7), Some(&[1, 2, 3][..]));
        assert_eq!(v.payload(), b"xy");
        assert_eq!(v.padding_len(), 4);
        let p = packet(&[], 0, b"", 8);
        assert!(RtpPacket::parse(&p).unwrap().is_padding_only());
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 11]).unwrap_err(),
            RtpError::TooShort
        );
        assert_eq!(
            RtpPacket::parse(&[0x40; 12]).unwrap_err(),
            RtpError::BadVersion(1)
        );
        let mut p = packet(&[], 0, b"", 0);
        p[0] |= 0x0f;
        assert_eq!(RtpPacket::parse(&p).unwrap_err(), RtpError::CsrcOverrun);
        // Extension element length past its block (the rtp 0.17 crate panics on this shape).
        let p = packet(&[0x10, 0xff, 0, 0], 0x1000, b"", 0);
        assert_eq!(
            RtpPacket::parse(&p).unwrap_err(),
            RtpError::ExtensionElementOverrun
        );
        let mut p = packet(&[0x11, 1, 2, 0], ONE_BYTE_PROFILE, b"", 0);
        p[15] = 9; // claims 9 words
        assert_eq!(
            RtpPacket::parse(&p).unwrap_err(),
            RtpError::ExtensionOverrun
        );
        let mut p = packet(&[], 0, b"ab", 0);
        p[0] |= 0x20;
        *p.last_mut().unwrap() = 0;
        assert_eq!(RtpPacket::parse(&p).unwrap_err(), RtpError::BadPadding);
    }
}
