//! Records forwarded frames for `GET /debug/frames`, so a test can prove the server only ever
//! handles SFrame ciphertext (docs/signaling.md §6).
//!
//! Enabled by `debug.record_frames`; off by default. It rebuilds frames from the plain RTP the
//! server forwards (after SRTP, before the engine) — VP8 from its payload descriptor, Opus one
//! packet per frame — then checks what an SFU can check without a key: the codec's clear prefix
//! ([`telesfu_e2ee::media::clear_prefix_len`]) followed by a well-formed SFrame header. It keeps
//! the first bytes after the prefix so a test can compare them with the sender's plaintext.

use std::collections::BTreeMap;

use serde::Serialize;
use telesfu_core::codec::Vp8Descriptor;
use telesfu_core::rtp::RtpPacket;
use telesfu_e2ee::Header;
use telesfu_e2ee::media::{Codec, clear_prefix_len};

/// Bytes after the clear prefix kept per frame.
const HEAD_LEN: usize = 32;
/// A frame larger than this is not reassembled (recorded as not SFrame).
const MAX_FRAME: usize = 512 * 1024;

/// One recorded frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    /// The track's public id.
    pub track: String,
    /// `audio` or `video`.
    pub kind: &'static str,
    /// `VP8` or `opus`.
    pub codec: &'static str,
    /// The RTP SSRC it arrived on.
    pub ssrc: u32,
    /// Length of the frame.
    pub len: usize,
    /// Clear prefix length, when the frame starts like one of its codec.
    pub prefix_len: Option<usize>,
    /// An SFrame header decoded right after the prefix.
    pub sframe_ok: bool,
    /// Its KID.
    pub kid: Option<u64>,
    /// Its counter.
    pub ctr: Option<u64>,
    /// Hex of the first bytes after the prefix.
    pub head_hex: String,
}

#[derive(Debug, Default)]
struct Assembly {
    buf: Vec<u8>,
    active: bool,
    recorded: usize,
}

/// Reassembles and records frames per SSRC.
#[derive(Debug)]
pub struct FrameRecorder {
    per_ssrc_limit: usize,
    streams: BTreeMap<u32, Assembly>,
    frames: Vec<FrameRecord>,
}

impl FrameRecorder {
    /// Records up to `per_ssrc_limit` frames per SSRC.
    pub fn new(per_ssrc_limit: usize) -> Self {
        Self {
            per_ssrc_limit,
            streams: BTreeMap::new(),
            frames: Vec::new(),
        }
    }

    /// The frames so far.
    pub fn frames(&self) -> &[FrameRecord] {
        &self.frames
    }

    /// Feeds one plain RTP packet of `codec` on `track`.
    pub fn record(&mut self, track: &str, codec: Codec, packet: &[u8]) {
        let Ok(rtp) = RtpPacket::parse(packet) else {
            return;
        };
        if rtp.is_padding_only() || self.streams.len() > 256 {
            return;
        }
        let ssrc = rtp.ssrc();
        let limit = self.per_ssrc_limit;
        let a = self.streams.entry(ssrc).or_default();
        if a.recorded >= limit {
            return;
        }
        let payload = rtp.payload();
        let done = match codec {
            Codec::Opus => {
                a.buf.clear();
                a.buf.extend_from_slice(payload);
                true
            }
            Codec::Vp8 => {
                let Ok(d) = Vp8Descriptor::parse(payload) else {
                    return;
                };
                if d.start_of_partition && d.partition_id == 0 {
                    a.buf.clear();
                    a.active = true;
                }
                if !a.active {
                    return;
                }
                if a.buf.len() + payload.len() > MAX_FRAME {
                    a.active = false;
                    return;
                }
                a.buf
                    .extend_from_slice(&payload[d.header_len.min(payload.len())..]);
                rtp.marker()
            }
            _ => return,
        };
        if !done {
            return;
        }
        a.active = false;
        a.recorded += 1;
        let frame = &a.buf;
        let prefix_len = clear_prefix_len(codec, frame).ok();
        let (mut kid, mut ctr) = (None, None);
        let mut head_hex = String::new();
        if let Some(p) = prefix_len {
            if let Ok((h, _)) = Header::decode(&frame[p..]) {
                kid = Some(h.kid.0);
                ctr = Some(h.ctr.0);
            }
            for b in frame[p..].iter().take(HEAD_LEN) {
                head_hex.push_str(&format!("{b:02x}"));
            }
        }
        self.frames.push(FrameRecord {
            track: track.to_owned(),
            kind: if codec == Codec::Opus {
                "audio"
            } else {
                "video"
            },
            codec: if codec == Codec::Opus { "opus" } else { "VP8" },
            ssrc,
            len: frame.len(),
            prefix_len,
            sframe_ok: kid.is_some(),
            kid,
            ctr,
            head_hex,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telesfu_e2ee::{CipherSuite, Context};

    fn rtp(ssrc: u32, seq: u16, marker: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 96 | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&1234u32.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn vp8_frame_over_two_packets_is_recognised_as_sframe() {
        let mut ctx = Context::new(CipherSuite::Aes128GcmSha256).unwrap();
        ctx.add_send_key(telesfu_e2ee::KeyId(7), &[9u8; 16])
            .unwrap();
        // An interframe: 3-byte frame tag (bit 0 set), then payload.
        let mut frame = vec![0x31, 0x02, 0x00];
        frame.extend_from_slice(&[0xab; 100]);
        let len = frame.len();
        frame.resize(len + 64, 0);
        let n = telesfu_e2ee::media::seal_frame(
            &mut ctx,
            Codec::Vp8,
            telesfu_e2ee::KeyId(7),
            &mut frame,
            len,
        )
        .unwrap();
        let (a, b) = frame[..n].split_at(50);
        let mut first = vec![0x10]; // S=1, PID=0, no extension
        first.extend_from_slice(a);
        let mut second = vec![0x00];
        second.extend_from_slice(b);
        let mut r = FrameRecorder::new(10);
        r.record("t1", Codec::Vp8, &rtp(5, 1, false, &first));
        assert!(r.frames().is_empty());
        r.record("t1", Codec::Vp8, &rtp(5, 2, true, &second));
        let f = &r.frames()[0];
        assert_eq!((f.prefix_len, f.sframe_ok, f.kid), (Some(3), true, Some(7)));
        assert_eq!(f.len, n);
    }

    #[test]
    fn plain_opus_is_not_sframe_and_limit_holds() {
        let mut r = FrameRecorder::new(2);
        for seq in 0..5 {
            // TOC, then bytes that are not a valid SFrame header followed by enough data.
            r.record("t2", Codec::Opus, &rtp(6, seq, true, &[0x78, 0xff]));
        }
        assert_eq!(r.frames().len(), 2);
        assert!(!r.frames()[0].sframe_ok);
    }
}
