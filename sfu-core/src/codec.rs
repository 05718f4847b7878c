//! Payload descriptors the SFU reads to switch layers, without decoding media.
//!
//! Every parser here reads only what telesfu-e2ee's clear prefix leaves readable on
//! SFrame-encrypted frames (see `docs/e2ee-wire-format.md`): the RTP payload descriptor, which
//! the packetizer writes and E2EE never touches, plus the first bytes of the frame (VP8 frame
//! tag and, on keyframes, the dimensions; H.264 NAL headers). They never panic: short or
//! malformed input is an error.

use core::ops::Range;

/// Why a payload descriptor did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The payload ends inside the descriptor.
    Truncated,
    /// A field holds a value the format does not allow.
    Malformed(&'static str),
}

impl core::fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => f.write_str("payload descriptor truncated"),
            Self::Malformed(m) => write!(f, "malformed payload descriptor: {m}"),
        }
    }
}

impl std::error::Error for DescriptorError {}

/// VP8 payload descriptor (RFC 7741 §4.2) and, at the start of a frame, the frame header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vp8Descriptor {
    /// N: non-reference frame (may be dropped).
    pub non_reference: bool,
    /// S: the packet starts a VP8 partition.
    pub start_of_partition: bool,
    /// Partition index.
    pub partition_id: u8,
    /// Picture ID, and where it sits in the payload (7- or 15-bit form) for rewriting.
    pub picture_id: Option<(u16, Range<usize>)>,
    /// TL0PICIDX, and its byte offset.
    pub tl0_pic_idx: Option<(u8, usize)>,
    /// Temporal layer index (TID), and the byte offset of the TID/Y/KEYIDX byte.
    pub tid: Option<(u8, usize)>,
    /// Y: layer sync.
    pub layer_sync: bool,
    /// Length of the descriptor; the VP8 payload starts here.
    pub header_len: usize,
    /// True when this packet starts a frame (S set, partition 0) and the frame is a keyframe.
    pub keyframe: bool,
    /// Width and height, from a keyframe's header.
    pub dimensions: Option<(u16, u16)>,
}

impl Vp8Descriptor {
    /// Parses the descriptor at the start of an RTP payload, and the VP8 frame header if the
    /// packet starts a frame.
    #[inline]
    pub fn parse(p: &[u8]) -> Result<Self, DescriptorError> {
        let &b0 = p.first().ok_or(DescriptorError::Truncated)?;
        let mut d = Self {
            non_reference: b0 & 0x20 != 0,
            start_of_partition: b0 & 0x10 != 0,
            partition_id: b0 & 0x0f,
            ..Self::default()
        };
        let mut i = 1;
        if b0 & 0x80 != 0 {
            let &x = p.get(i).ok_or(DescriptorError::Truncated)?;
            i += 1;
            if x & 0x80 != 0 {
                let &m = p.get(i).ok_or(DescriptorError::Truncated)?;
                if m & 0x80 != 0 {
                    let &lo = p.get(i + 1).ok_or(DescriptorError::Truncated)?;
                    d.picture_id = Some((u16::from(m & 0x7f) << 8 | u16::from(lo), i..i + 2));
                    i += 2;
                } else {
                    d.picture_id = Some((u16::from(m), i..i + 1));
                    i += 1;
                }
            }
            if x & 0x40 != 0 {
                let &t = p.get(i).ok_or(DescriptorError::Truncated)?;
                d.tl0_pic_idx = Some((t, i));
                i += 1;
            }
            if x & 0x30 != 0 {
                let &t = p.get(i).ok_or(DescriptorError::Truncated)?;
                if x & 0x20 != 0 {
                    d.tid = Some((t >> 6, i));
                    d.layer_sync = t & 0x20 != 0;
                }
                i += 1;
            }
        }
        d.header_len = i;
        if d.start_of_partition && d.partition_id == 0 {
            let frame = &p[i..];
            // Frame tag bit 0 is the inverse keyframe flag (RFC 6386 §9.1).
            let &tag = frame.first().ok_or(DescriptorError::Truncated)?;
            if tag & 0x01 == 0 {
                d.keyframe = true;
                // Keyframe: 3-byte tag, start code 9d 01 2a, 14-bit width and height.
                if frame.len() >= 10 && frame[3..6] == [0x9d, 0x01, 0x2a] {
                    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
                    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
                    d.dimensions = Some((w, h));
                }
            }
        }
        Ok(d)
    }

    /// Rewrites the picture ID in place (in its existing 7- or 15-bit form, so the value wraps
    /// at that width). The descriptor must have come from `payload`.
    pub fn write_picture_id(&self, payload: &mut [u8], id: u16) {
        if let Some((_, r)) = &self.picture_id {
            if r.len() == 2 {
                payload[r.start] = 0x80 | ((id >> 8) as u8 & 0x7f);
                payload[r.start + 1] = id as u8;
            } else {
                payload[r.start] = id as u8 & 0x7f;
            }
        }
    }

    /// Rewrites TL0PICIDX in place.
    pub fn write_tl0_pic_idx(&self, payload: &mut [u8], v: u8) {
        if let Some((_, i)) = self.tl0_pic_idx {
            payload[i] = v;
        }
    }
}

/// H.264 NAL unit types that matter for switching.
pub mod nal {
    /// Non-IDR slice.
    pub const SLICE: u8 = 1;
    /// IDR slice (keyframe).
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Single-time aggregation packet (RFC 6184).
    pub const STAP_A: u8 = 24;
    /// Fragmentation unit A.
    pub const FU_A: u8 = 28;
}

/// What an H.264 RTP payload (RFC 6184) carries, from its NAL headers only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct H264Info {
    /// An IDR slice starts in this packet.
    pub idr: bool,
    /// An SPS is in this packet.
    pub sps: bool,
    /// A PPS is in this packet.
    pub pps: bool,
    /// The packet starts a NAL unit (single NAL, STAP-A, or an FU-A start fragment).
    pub starts_nal: bool,
}

impl H264Info {
    /// A keyframe starts here: an IDR slice, or SPS/PPS that lead into one.
    pub fn is_keyframe_start(&self) -> bool {
        self.idr || (self.sps && self.pps)
    }

    /// Reads the NAL headers of one RTP payload.
    pub fn parse(p: &[u8]) -> Result<Self, DescriptorError> {
        let &h = p.first().ok_or(DescriptorError::Truncated)?;
        if h & 0x80 != 0 {
            return Err(DescriptorError::Malformed("H.264 forbidden_zero_bit set"));
        }
        let mut info = Self::default();
        let mut note = |t: u8| match t {
            nal::IDR => info.idr = true,
            nal::SPS => info.sps = true,
            nal::PPS => info.pps = true,
            _ => {}
        };
        match h & 0x1f {
            0 | 30 | 31 => return Err(DescriptorError::Malformed("reserved H.264 NAL type")),
            nal::STAP_A => {
                let mut i = 1;
                while i < p.len() {
                    let len = usize::from(u16::from_be_bytes([
                        p[i],
                        *p.get(i + 1).ok_or(DescriptorError::Truncated)?,
                    ]));
                    let &nh = p.get(i + 2).ok_or(DescriptorError::Truncated)?;
                    if len == 0 || i + 2 + len > p.len() {
                        return Err(DescriptorError::Truncated);
                    }
                    note(nh & 0x1f);
                    i += 2 + len;
                }
                info.starts_nal = true;
            }
            nal::FU_A => {
                let &fu = p.get(1).ok_or(DescriptorError::Truncated)?;
                if fu & 0x80 != 0 {
                    info.starts_nal = true;
                    note(fu & 0x1f);
                }
            }
            25..=29 => {
                return Err(DescriptorError::Malformed(
                    "unsupported H.264 aggregation type",
                ));
            }
            t => {
                info.starts_nal = true;
                note(t);
            }
        }
        Ok(info)
    }
}

/// The Opus TOC byte (RFC 6716 §3.1), readable in the clear prefix of encrypted audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusToc {
    /// Configuration number 0-31 (mode, bandwidth, frame size).
    pub config: u8,
    /// Stereo flag.
    pub stereo: bool,
    /// Frame count code 0-3.
    pub frame_count_code: u8,
}

impl OpusToc {
    /// Reads the TOC byte of an Opus packet.
    pub fn parse(p: &[u8]) -> Result<Self, DescriptorError> {
        let &t = p.first().ok_or(DescriptorError::Truncated)?;
        Ok(Self {
            config: t >> 3,
            stereo: t & 0x04 != 0,
            frame_count_code: t & 0x03,
        })
    }

    /// Frame duration in tenths of a millisecond (25 = 2.5 ms ... 600 = 60 ms).
    pub fn frame_duration_tenth_ms(&self) -> u16 {
        match self.config {
            0..=11 => [100, 200, 400, 600][usize::from(self.config % 4)],
            12..=15 => [100, 200][usize::from(self.config % 2)],
            _ => [25, 50, 100, 200][usize::from(self.config % 4)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_full_descriptor_keyframe_and_rewrite() {
        // X I L T; 15-bit picture id 0x1234; TL0PICIDX 9; TID 2 + Y; then keyframe 640x360.
        let mut p = vec![0x90, 0xe0, 0x92, 0x34, 9, 0xa0];
        p.extend_from_slice(&[0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
        let d = Vp8Descriptor::parse(&p).unwrap();
        assert_eq!(d.picture_id.clone().unwrap().0, 0x1234);
        assert_eq!(d.tl0_pic_idx.unwrap().0, 9);
        assert_eq!(d.tid.unwrap().0, 2);
        assert!(d.layer_sync && d.keyframe && d.start_of_partition);
        assert_eq!(d.dimensions, Some((640, 360)));
        assert_eq!(d.header_len, 6);
        d.write_picture_id(&mut p, 0x7001);
        d.write_tl0_pic_idx(&mut p, 200);
        let e = Vp8Descriptor::parse(&p).unwrap();
        assert_eq!(
            (e.picture_id.unwrap().0, e.tl0_pic_idx.unwrap().0),
            (0x7001, 200)
        );
    }

    #[test]
    fn vp8_delta_and_truncation() {
        let d = Vp8Descriptor::parse(&[0x10, 0x01, 0, 0]).unwrap();
        assert!(!d.keyframe && d.picture_id.is_none());
        assert_eq!(
            Vp8Descriptor::parse(&[0x80, 0x80]),
            Err(DescriptorError::Truncated)
        );
        assert_eq!(Vp8Descriptor::parse(&[]), Err(DescriptorError::Truncated));
    }

    #[test]
    fn h264_stap_a_and_fu_a() {
        // STAP-A with SPS (2 bytes) and PPS (2 bytes).
        let stap = [0x18, 0, 2, 0x67, 1, 0, 2, 0x68, 2];
        let i = H264Info::parse(&stap).unwrap();
        assert!(i.sps && i.pps && i.is_keyframe_start());
        // FU-A start of an IDR; FU-A continuation.
        assert!(H264Info::parse(&[0x7c, 0x85, 1]).unwrap().idr);
        assert!(!H264Info::parse(&[0x7c, 0x05, 1]).unwrap().starts_nal);
        assert!(H264Info::parse(&[0x18, 0, 9, 0x67]).is_err());
        assert!(H264Info::parse(&[0x80]).is_err());
    }

    #[test]
    fn opus_toc() {
        let t = OpusToc::parse(&[0xfc]).unwrap(); // config 31: CELT FB 20 ms, stereo
        assert_eq!(
            (t.config, t.stereo, t.frame_duration_tenth_ms()),
            (31, true, 200)
        );
    }
}
