//! Zero-copy RTCP: compound packets (RFC 3550 §6) with SR, RR, SDES, BYE, APP, and the
//! feedback an SFU lives on: generic NACK and transport-wide CC (RTPFB, RFC 4585 / draft-holmer),
//! PLI, FIR and REMB (PSFB, RFC 4585 / RFC 5104 / draft-alvestrand-rmcat-remb). Builders write
//! the packets the engine sends into a caller's buffer.
//!
//! Parsing validates each packet's structure once: lengths, counts, and for transport-wide CC
//! that the receive deltas the status chunks announce are all present. Views then read at fixed
//! offsets and iterate without allocating. The `rtcp` crate allocates 8-11 times per feedback
//! packet and panics on some malformed NACKs, so it is a test oracle only.

use core::fmt;

/// Why bytes are not valid RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpError {
    /// Shorter than a common header, or a packet's length field runs past the datagram.
    Truncated,
    /// Version is not 2.
    BadVersion(u8),
    /// A packet's body is too short for what its header announces.
    BadLength {
        /// The packet type.
        pt: u8,
    },
    /// The padding count is zero or larger than the packet.
    BadPadding,
    /// SDES items overrun their chunk or lack the terminating null.
    BadSdes,
    /// Transport-wide CC status chunks or deltas do not add up, or the feedback claims more
    /// than [`MAX_TWCC_STATUSES`] packets.
    BadTransportCc,
}

impl fmt::Display for RtcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("RTCP packet truncated"),
            Self::BadVersion(v) => write!(f, "RTCP version {v}, expected 2"),
            Self::BadLength { pt } => write!(f, "RTCP packet type {pt} too short for its counts"),
            Self::BadPadding => f.write_str("RTCP padding count is zero or exceeds the packet"),
            Self::BadSdes => f.write_str("malformed RTCP SDES chunk"),
            Self::BadTransportCc => f.write_str("malformed transport-wide CC feedback"),
        }
    }
}

impl std::error::Error for RtcpError {}

/// Packet type: sender report.
pub const PT_SR: u8 = 200;
/// Packet type: receiver report.
pub const PT_RR: u8 = 201;
/// Packet type: source description.
pub const PT_SDES: u8 = 202;
/// Packet type: goodbye.
pub const PT_BYE: u8 = 203;
/// Packet type: application-defined.
pub const PT_APP: u8 = 204;
/// Packet type: transport-layer feedback.
pub const PT_RTPFB: u8 = 205;
/// Packet type: payload-specific feedback.
pub const PT_PSFB: u8 = 206;

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter, in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from this source.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    const LEN: usize = 24;

    fn read(b: &[u8]) -> Self {
        let lost = u32_at(b, 4) & 0x00ff_ffff;
        // Sign-extend the 24-bit field.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        Self {
            ssrc: u32_at(b, 0),
            fraction_lost: b[4],
            cumulative_lost,
            extended_highest_seq: u32_at(b, 8),
            jitter: u32_at(b, 12),
            last_sr: u32_at(b, 16),
            delay_since_last_sr: u32_at(b, 20),
        }
    }

    fn write(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        let lost = (self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
        b[4..8].copy_from_slice(&(u32::from(self.fraction_lost) << 24 | lost).to_be_bytes());
        b[8..12].copy_from_slice(&self.extended_highest_seq.to_be_bytes());
        b[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        b[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        b[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// Report blocks of an SR or RR.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a>(core::slice::ChunksExact<'a, u8>);

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;
    fn next(&mut self) -> Option<ReportBlock> {
        self.0.next().map(ReportBlock::read)
    }
}

/// A sender report.
#[derive(Debug, Clone, Copy)]
pub struct SenderReport<'a> {
    body: &'a [u8],
    count: usize,
}

impl<'a> SenderReport<'a> {
    /// Sender SSRC.
    pub fn ssrc(&self) -> u32 {
        u32_at(self.body, 0)
    }
    /// 64-bit NTP timestamp.
    pub fn ntp_time(&self) -> u64 {
        u64::from(u32_at(self.body, 4)) << 32 | u64::from(u32_at(self.body, 8))
    }
    /// RTP timestamp corresponding to the NTP time.
    pub fn rtp_time(&self) -> u32 {
        u32_at(self.body, 12)
    }
    /// Packets sent.
    pub fn packet_count(&self) -> u32 {
        u32_at(self.body, 16)
    }
    /// Payload octets sent.
    pub fn octet_count(&self) -> u32 {
        u32_at(self.body, 20)
    }
    /// Reception report blocks.
    pub fn reports(&self) -> ReportBlocks<'a> {
        ReportBlocks(
            self.body[24..24 + self.count * ReportBlock::LEN].chunks_exact(ReportBlock::LEN),
        )
    }
}

/// A receiver report.
#[derive(Debug, Clone, Copy)]
pub struct ReceiverReport<'a> {
    body: &'a [u8],
    count: usize,
}

impl<'a> ReceiverReport<'a> {
    /// Reporter SSRC.
    pub fn ssrc(&self) -> u32 {
        u32_at(self.body, 0)
    }
    /// Reception report blocks.
    pub fn reports(&self) -> ReportBlocks<'a> {
        ReportBlocks(self.body[4..4 + self.count * ReportBlock::LEN].chunks_exact(ReportBlock::LEN))
    }
}

/// A source description packet: chunks of (SSRC, items).
#[derive(Debug, Clone, Copy)]
pub struct Sdes<'a> {
    body: &'a [u8],
    count: usize,
}

/// One SDES chunk.
#[derive(Debug, Clone, Copy)]
pub struct SdesChunk<'a> {
    /// The source described.
    pub ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// Items as (type, value); type 1 is CNAME.
    pub fn items(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let mut b = self.items;
        core::iter::from_fn(move || {
            let (&t, rest) = b.split_first()?;
            if t == 0 {
                return None;
            }
            let (&len, rest) = rest.split_first()?;
            let (v, rest) = rest.split_at_checked(usize::from(len))?;
            b = rest;
            Some((t, v))
        })
    }

    /// The CNAME item, if present.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items().find(|(t, _)| *t == 1).map(|(_, v)| v)
    }
}

/// Walks one SDES chunk at the start of `b`; returns its items and the chunk's length.
fn sdes_chunk(b: &[u8]) -> Result<(&[u8], usize), RtcpError> {
    if b.len() < 4 {
        return Err(RtcpError::BadSdes);
    }
    let mut i = 4;
    loop {
        match b.get(i) {
            None => return Err(RtcpError::BadSdes),
            Some(0) => break,
            Some(_) => {
                let len = usize::from(*b.get(i + 1).ok_or(RtcpError::BadSdes)?);
                i += 2 + len;
            }
        }
    }
    let items = &b[4..i];
    // The null terminator, then padding to the next 32-bit boundary.
    let end = (i + 1).next_multiple_of(4);
    if end > b.len() {
        return Err(RtcpError::BadSdes);
    }
    Ok((items, end))
}

impl<'a> Sdes<'a> {
    /// The chunks.
    pub fn chunks(&self) -> impl Iterator<Item = SdesChunk<'a>> + 'a {
        let mut b = self.body;
        let mut left = self.count;
        core::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            // Validated at parse time.
            let (items, len) = sdes_chunk(b).ok()?;
            let chunk = SdesChunk {
                ssrc: u32_at(b, 0),
                items,
            };
            b = &b[len..];
            Some(chunk)
        })
    }
}

/// A BYE packet.
#[derive(Debug, Clone, Copy)]
pub struct Bye<'a> {
    body: &'a [u8],
    count: usize,
}

impl<'a> Bye<'a> {
    /// The sources leaving.
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.body[..4 * self.count]
            .chunks_exact(4)
            .map(|c| u32_at(c, 0))
    }
    /// The optional reason.
    pub fn reason(&self) -> Option<&'a [u8]> {
        let rest = &self.body[4 * self.count..];
        let (&len, rest) = rest.split_first()?;
        rest.get(..usize::from(len))
    }
}

/// An APP packet.
#[derive(Debug, Clone, Copy)]
pub struct App<'a> {
    /// Subtype (the 5-bit count field).
    pub subtype: u8,
    /// Sender SSRC.
    pub ssrc: u32,
    /// Four-character name.
    pub name: [u8; 4],
    /// Application data.
    pub data: &'a [u8],
}

/// A generic NACK (RTPFB FMT 1): lost packets as (PID, BLP) pairs.
#[derive(Debug, Clone, Copy)]
pub struct Nack<'a> {
    /// Feedback sender.
    pub sender_ssrc: u32,
    /// The stream with losses.
    pub media_ssrc: u32,
    fci: &'a [u8],
}

impl<'a> Nack<'a> {
    /// Every sequence number reported lost, in packet order.
    pub fn lost(&self) -> impl Iterator<Item = u16> + 'a {
        self.fci.chunks_exact(4).flat_map(|c| {
            let pid = u16_at(c, 0);
            let blp = u16_at(c, 2);
            core::iter::once(pid).chain(
                (0..16u16)
                    .filter(move |i| blp & (1 << i) != 0)
                    .map(move |i| pid.wrapping_add(i + 1)),
            )
        })
    }
}

/// A FIR (PSFB FMT 4) request.
#[derive(Debug, Clone, Copy)]
pub struct Fir<'a> {
    /// Feedback sender.
    pub sender_ssrc: u32,
    fci: &'a [u8],
}

impl<'a> Fir<'a> {
    /// (media SSRC, command sequence number) entries.
    pub fn entries(&self) -> impl Iterator<Item = (u32, u8)> + 'a {
        self.fci.chunks_exact(8).map(|c| (u32_at(c, 0), c[4]))
    }
}

/// A REMB (PSFB FMT 15, "REMB") estimate.
#[derive(Debug, Clone, Copy)]
pub struct Remb<'a> {
    /// Feedback sender.
    pub sender_ssrc: u32,
    /// The estimate, bits per second.
    pub bitrate_bps: u64,
    ssrcs: &'a [u8],
}

impl<'a> Remb<'a> {
    /// The streams the estimate applies to.
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.ssrcs.chunks_exact(4).map(|c| u32_at(c, 0))
    }
}

/// Transport-wide congestion control feedback (RTPFB FMT 15).
#[derive(Debug, Clone, Copy)]
pub struct TransportCc<'a> {
    /// Feedback sender.
    pub sender_ssrc: u32,
    /// Media source (unused by senders; often 0 or the first media SSRC).
    pub media_ssrc: u32,
    /// First transport-wide sequence number reported.
    pub base_seq: u16,
    /// Number of packets reported.
    pub status_count: u16,
    /// Reference time, in multiples of 64 ms (24-bit signed).
    pub reference_time: i32,
    /// Feedback packet count (wraps at 256).
    pub fb_count: u8,
    chunks: &'a [u8],
    deltas: &'a [u8],
}

/// One packet's entry in transport-wide CC feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwccEntry {
    /// Transport-wide sequence number.
    pub seq: u16,
    /// Arrival delta from the previous received packet (or the reference time), in units of
    /// 250 µs; `None` if the packet was not received.
    pub delta_ticks: Option<i32>,
}

/// Status symbols: 0 not received, 1 small delta, 2 large delta.
fn twcc_symbols(chunk: u16) -> (usize, [u8; 14]) {
    let mut syms = [0u8; 14];
    if chunk & 0x8000 == 0 {
        // Run length: the count can be up to 8191; the caller expands it (see `walk_twcc`).
        syms[0] = ((chunk >> 13) & 0x3) as u8;
        (usize::from(chunk & 0x1fff), syms)
    } else if chunk & 0x4000 == 0 {
        for (i, s) in syms.iter_mut().enumerate() {
            *s = ((chunk >> (13 - i)) & 1) as u8;
        }
        (14, syms)
    } else {
        for (i, s) in syms.iter_mut().take(7).enumerate() {
            *s = ((chunk >> (12 - 2 * i)) & 3) as u8;
        }
        (7, syms)
    }
}

/// Walks status chunks for `count` packets, calling `f(status)` per packet. Returns the chunk
/// bytes used, or `None` if the chunks run out.
fn walk_twcc(chunks: &[u8], count: usize, mut f: impl FnMut(u8)) -> Option<usize> {
    let mut done = 0;
    let mut used = 0;
    while done < count {
        let c = u16_at(chunks.get(used..used + 2)?, 0);
        used += 2;
        let (n, syms) = twcc_symbols(c);
        if c & 0x8000 == 0 {
            if n == 0 {
                return None; // a zero-length run makes no progress
            }
            for _ in 0..n.min(count - done) {
                f(syms[0]);
            }
            done += n.min(count - done);
        } else {
            for &s in syms.iter().take(n.min(count - done)) {
                f(s);
            }
            done += n.min(count - done);
        }
    }
    Some(used)
}

/// The most packets one transport-wide CC feedback may report. RFC 8888's predecessor
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01) allows 65,535, but a run-length chunk
/// reports 8,191 packets in two bytes, so 20 bytes could make every parse walk 65,535 statuses
/// twice (once to validate, once to read): the `rtcp_view` fuzz target slowed from 10,000 to
/// 4,000 inputs a second as its corpus filled with such packets, and a subscriber could make
/// the server do that per datagram. Browsers send feedback every 50-100 ms, a few hundred
/// packets each; the estimator remembers 8,192 sent packets, so a report of more could not be
/// matched anyway.
pub const MAX_TWCC_STATUSES: u16 = 8192;

impl<'a> TransportCc<'a> {
    fn parse(sender_ssrc: u32, media_ssrc: u32, fci: &'a [u8]) -> Result<Self, RtcpError> {
        if fci.len() < 8 {
            return Err(RtcpError::BadTransportCc);
        }
        let base_seq = u16_at(fci, 0);
        let status_count = u16_at(fci, 2);
        let rt = u32_at(fci, 4) >> 8;
        let reference_time = ((rt << 8) as i32) >> 8;
        let fb_count = fci[7];
        if status_count > MAX_TWCC_STATUSES {
            return Err(RtcpError::BadTransportCc);
        }
        let rest = &fci[8..];
        let mut delta_bytes = 0usize;
        let mut bad = false;
        let used = walk_twcc(rest, usize::from(status_count), |s| match s {
            1 => delta_bytes += 1,
            2 => delta_bytes += 2,
            3 => bad = true,
            _ => {}
        })
        .ok_or(RtcpError::BadTransportCc)?;
        if bad || used + delta_bytes > rest.len() {
            return Err(RtcpError::BadTransportCc);
        }
        Ok(Self {
            sender_ssrc,
            media_ssrc,
            base_seq,
            status_count,
            reference_time,
            fb_count,
            chunks: &rest[..used],
            deltas: &rest[used..used + delta_bytes],
        })
    }

    /// Calls `f` for each reported packet in order. (A callback rather than an iterator keeps
    /// run-length expansion simple and allocation-free.)
    pub fn for_each(&self, mut f: impl FnMut(TwccEntry)) {
        let mut seq = self.base_seq;
        let mut d = 0usize;
        let deltas = self.deltas;
        // Validated in `parse`: the chunks cover `status_count` and the deltas are present.
        let _ = walk_twcc(self.chunks, usize::from(self.status_count), |s| {
            let delta_ticks = match s {
                1 => {
                    d += 1;
                    Some(i32::from(deltas[d - 1]))
                }
                2 => {
                    d += 2;
                    Some(i32::from(i16::from_be_bytes([
                        deltas[d - 2],
                        deltas[d - 1],
                    ])))
                }
                _ => None,
            };
            f(TwccEntry { seq, delta_ticks });
            seq = seq.wrapping_add(1);
        });
    }
}

/// One packet of a compound datagram.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RtcpPacket<'a> {
    /// Sender report.
    SenderReport(SenderReport<'a>),
    /// Receiver report.
    ReceiverReport(ReceiverReport<'a>),
    /// Source description.
    Sdes(Sdes<'a>),
    /// Goodbye.
    Bye(Bye<'a>),
    /// Application-defined.
    App(App<'a>),
    /// Generic NACK.
    Nack(Nack<'a>),
    /// Picture loss indication.
    Pli {
        /// Feedback sender.
        sender_ssrc: u32,
        /// The stream that needs a keyframe.
        media_ssrc: u32,
    },
    /// Full intra request.
    Fir(Fir<'a>),
    /// Receiver estimated maximum bitrate.
    Remb(Remb<'a>),
    /// Transport-wide congestion control feedback.
    TransportCc(TransportCc<'a>),
    /// A valid packet of a type the SFU does not interpret (XR, other feedback).
    Other {
        /// Packet type.
        pt: u8,
        /// Count or FMT field.
        count: u8,
        /// Body after the 4-byte header, padding removed.
        body: &'a [u8],
    },
}

fn parse_one(pt: u8, count: u8, body: &[u8]) -> Result<RtcpPacket<'_>, RtcpError> {
    let n = usize::from(count);
    let need = |len: usize| {
        if body.len() < len {
            Err(RtcpError::BadLength { pt })
        } else {
            Ok(())
        }
    };
    Ok(match pt {
        PT_SR => {
            need(24 + n * ReportBlock::LEN)?;
            RtcpPacket::SenderReport(SenderReport { body, count: n })
        }
        PT_RR => {
            need(4 + n * ReportBlock::LEN)?;
            RtcpPacket::ReceiverReport(ReceiverReport { body, count: n })
        }
        PT_SDES => {
            let mut b = body;
            for _ in 0..n {
                let (_, len) = sdes_chunk(b)?;
                b = &b[len..];
            }
            RtcpPacket::Sdes(Sdes { body, count: n })
        }
        PT_BYE => {
            need(4 * n)?;
            RtcpPacket::Bye(Bye { body, count: n })
        }
        PT_APP => {
            need(8)?;
            RtcpPacket::App(App {
                subtype: count,
                ssrc: u32_at(body, 0),
                name: [body[4], body[5], body[6], body[7]],
                data: &body[8..],
            })
        }
        PT_RTPFB | PT_PSFB => {
            need(8)?;
            let (sender_ssrc, media_ssrc) = (u32_at(body, 0), u32_at(body, 4));
            let fci = &body[8..];
            match (pt, count) {
                (PT_RTPFB, 1) => RtcpPacket::Nack(Nack {
                    sender_ssrc,
                    media_ssrc,
                    fci,
                }),
                (PT_RTPFB, 15) => {
                    RtcpPacket::TransportCc(TransportCc::parse(sender_ssrc, media_ssrc, fci)?)
                }
                (PT_PSFB, 1) => RtcpPacket::Pli {
                    sender_ssrc,
                    media_ssrc,
                },
                (PT_PSFB, 4) => RtcpPacket::Fir(Fir { sender_ssrc, fci }),
                (PT_PSFB, 15) if fci.starts_with(b"REMB") => {
                    if fci.len() < 8 {
                        return Err(RtcpError::BadLength { pt });
                    }
                    let num = usize::from(fci[4]);
                    let exp = u32::from(fci[5] >> 2);
                    let mantissa = u64::from(u32_at(fci, 4) & 0x3_ffff);
                    if fci.len() < 8 + 4 * num {
                        return Err(RtcpError::BadLength { pt });
                    }
                    RtcpPacket::Remb(Remb {
                        sender_ssrc,
                        bitrate_bps: mantissa.checked_shl(exp).unwrap_or(u64::MAX),
                        ssrcs: &fci[8..8 + 4 * num],
                    })
                }
                _ => RtcpPacket::Other { pt, count, body },
            }
        }
        _ => RtcpPacket::Other { pt, count, body },
    })
}

/// Iterator over the packets of a compound RTCP datagram. Yields an error (once, then stops)
/// at the first malformed packet; packets before it are still delivered.
#[derive(Debug, Clone)]
pub struct Compound<'a> {
    rest: &'a [u8],
}

/// Iterates over the packets of `datagram`.
pub fn parse_compound(datagram: &[u8]) -> Compound<'_> {
    Compound { rest: datagram }
}

impl<'a> Iterator for Compound<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.next_packet();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

impl<'a> Compound<'a> {
    fn next_packet(&mut self) -> Result<RtcpPacket<'a>, RtcpError> {
        let b = self.rest;
        if b.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        let v = b[0] >> 6;
        if v != 2 {
            return Err(RtcpError::BadVersion(v));
        }
        let len = (usize::from(u16_at(b, 2)) + 1) * 4;
        if len > b.len() {
            return Err(RtcpError::Truncated);
        }
        let mut body = &b[4..len];
        if b[0] & 0x20 != 0 {
            let pad = usize::from(b[len - 1]);
            if pad == 0 || pad > body.len() {
                return Err(RtcpError::BadPadding);
            }
            body = &body[..body.len() - pad];
        }
        self.rest = &b[len..];
        parse_one(b[1], b[0] & 0x1f, body)
    }
}

// ----- Builders -----

/// Writes a common header for a packet of `len` bytes (a multiple of 4).
fn header(out: &mut [u8], count: u8, pt: u8, len: usize) {
    out[0] = 0x80 | (count & 0x1f);
    out[1] = pt;
    out[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
}

fn room(out: &[u8], len: usize) -> Option<()> {
    (out.len() >= len).then_some(())
}

/// Fields of a sender report to build.
#[derive(Debug, Clone, Copy, Default)]
pub struct SenderInfo {
    /// Sender SSRC.
    pub ssrc: u32,
    /// NTP time of the report.
    pub ntp_time: u64,
    /// RTP time matching `ntp_time`.
    pub rtp_time: u32,
    /// Packets sent.
    pub packet_count: u32,
    /// Payload octets sent.
    pub octet_count: u32,
}

/// Builds an SR with up to 31 report blocks. Returns its length, or `None` if `out` is too
/// small or there are too many blocks.
pub fn write_sender_report(
    out: &mut [u8],
    info: &SenderInfo,
    reports: &[ReportBlock],
) -> Option<usize> {
    if reports.len() > 31 {
        return None;
    }
    let len = 28 + reports.len() * ReportBlock::LEN;
    room(out, len)?;
    header(out, reports.len() as u8, PT_SR, len);
    out[4..8].copy_from_slice(&info.ssrc.to_be_bytes());
    out[8..16].copy_from_slice(&info.ntp_time.to_be_bytes());
    out[16..20].copy_from_slice(&info.rtp_time.to_be_bytes());
    out[20..24].copy_from_slice(&info.packet_count.to_be_bytes());
    out[24..28].copy_from_slice(&info.octet_count.to_be_bytes());
    for (i, r) in reports.iter().enumerate() {
        r.write(&mut out[28 + i * ReportBlock::LEN..]);
    }
    Some(len)
}

/// Builds an RR with up to 31 report blocks.
pub fn write_receiver_report(out: &mut [u8], ssrc: u32, reports: &[ReportBlock]) -> Option<usize> {
    if reports.len() > 31 {
        return None;
    }
    let len = 8 + reports.len() * ReportBlock::LEN;
    room(out, len)?;
    header(out, reports.len() as u8, PT_RR, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    for (i, r) in reports.iter().enumerate() {
        r.write(&mut out[8 + i * ReportBlock::LEN..]);
    }
    Some(len)
}

/// Builds a PLI.
pub fn write_pli(out: &mut [u8], sender_ssrc: u32, media_ssrc: u32) -> Option<usize> {
    room(out, 12)?;
    header(out, 1, PT_PSFB, 12);
    out[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    out[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
    Some(12)
}

/// Builds a FIR for one stream with command sequence number `seq`.
pub fn write_fir(out: &mut [u8], sender_ssrc: u32, media_ssrc: u32, seq: u8) -> Option<usize> {
    room(out, 20)?;
    header(out, 4, PT_PSFB, 20);
    out[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    out[8..12].fill(0);
    out[12..16].copy_from_slice(&media_ssrc.to_be_bytes());
    out[16] = seq;
    out[17..20].fill(0);
    Some(20)
}

/// Builds a REMB for `ssrcs` (at most 255).
pub fn write_remb(
    out: &mut [u8],
    sender_ssrc: u32,
    bitrate_bps: u64,
    ssrcs: &[u32],
) -> Option<usize> {
    if ssrcs.len() > 255 {
        return None;
    }
    let len = 20 + 4 * ssrcs.len();
    room(out, len)?;
    header(out, 15, PT_PSFB, len);
    out[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    out[8..12].fill(0);
    out[12..16].copy_from_slice(b"REMB");
    let mut exp = 0u32;
    while bitrate_bps >> exp > 0x3_ffff {
        exp += 1;
    }
    let mantissa = (bitrate_bps >> exp) as u32;
    out[16] = ssrcs.len() as u8;
    out[17] = ((exp as u8) << 2) | ((mantissa >> 16) as u8 & 0x3);
    out[18..20].copy_from_slice(&(mantissa as u16).to_be_bytes());
    for (i, s) in ssrcs.iter().enumerate() {
        out[20 + 4 * i..24 + 4 * i].copy_from_slice(&s.to_be_bytes());
    }
    Some(len)
}

/// Builds a generic NACK for `lost` (in any order), packing runs into (PID, BLP) pairs. A
/// NACK names a set: a number repeated in `lost` is sent once. Returns `None` if `out` cannot
/// hold them all.
pub fn write_nack(
    out: &mut [u8],
    sender_ssrc: u32,
    media_ssrc: u32,
    lost: &[u16],
) -> Option<usize> {
    room(out, 12)?;
    out[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    out[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
    let mut len = 12;
    let mut i = 0;
    while i < lost.len() {
        let pid = lost[i];
        let mut blp = 0u16;
        let mut j = i + 1;
        while j < lost.len() {
            let d = lost[j].wrapping_sub(pid);
            if d == 0 || d > 16 {
                break;
            }
            blp |= 1 << (d - 1);
            j += 1;
        }
        room(out, len + 4)?;
        out[len..len + 2].copy_from_slice(&pid.to_be_bytes());
        out[len + 2..len + 4].copy_from_slice(&blp.to_be_bytes());
        len += 4;
        i = j;
    }
    header(out, 1, PT_RTPFB, len);
    Some(len)
}

/// Builds transport-wide CC feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
///
/// `arrivals[i]` is the arrival time in microseconds of transport sequence number
/// `base_seq + i`, or `None` if it was not received. The base may be a lost packet: the
/// reference time is taken from the first received entry (as libwebrtc's receivers do), so
/// losses at the front of a report are reported rather than skipped. Times are quantised to
/// 250 µs ticks, the reference time to 64 ms. Returns the packet length and how many entries it
/// covers: fewer than `arrivals.len()` when `out` fills up, a gap between arrivals exceeds
/// the 16-bit delta range, or past [`MAX_TWCC_STATUSES`] (send the rest in another packet
/// starting there). `None` if `out`
/// cannot hold even one entry or no entry was received.
pub fn write_transport_cc(
    out: &mut [u8],
    sender_ssrc: u32,
    media_ssrc: u32,
    base_seq: u16,
    fb_count: u8,
    arrivals: &[Option<i64>],
) -> Option<(usize, usize)> {
    // A report with nothing received says nothing a later one cannot say.
    let first = arrivals.iter().flatten().next().copied()?;
    let ref_time = first.div_euclid(64_000);
    const FIXED: usize = 20; // header 4 + ssrcs 8 + base/count 4 + ref/fb 4
    // Pass 1: how many entries fit (status chunks at worst 2 bytes per symbol-run of 1, deltas
    // up to 2 bytes), and the tick of each.
    let max = arrivals.len().min(usize::from(MAX_TWCC_STATUSES));
    let mut ticks_prev = ref_time * 256;
    let mut covered = 0usize;
    let mut delta_bytes = 0usize;
    let budget = out.len().checked_sub(FIXED + 4)?; // room for padding
    for a in &arrivals[..max] {
        let add = match a {
            Some(t) => {
                let tick = t.div_euclid(250);
                let d = tick - ticks_prev;
                if !(i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&d) {
                    break;
                }
                ticks_prev = tick;
                if (0..=255).contains(&d) { 1 } else { 2 }
            }
            None => 0,
        };
        // Conservative chunk cost: a 2-byte chunk per 7 symbols, rounded up.
        let chunk_bytes = (covered + 1).div_ceil(7) * 2;
        if chunk_bytes + delta_bytes + add > budget {
            break;
        }
        delta_bytes += add;
        covered += 1;
    }
    if covered == 0 {
        return None;
    }
    let entries = &arrivals[..covered];
    let status = |i: usize, prev: &mut i64| -> (u8, i64) {
        match entries[i] {
            Some(t) => {
                let tick = t.div_euclid(250);
                let d = tick - *prev;
                *prev = tick;
                (if (0..=255).contains(&d) { 1 } else { 2 }, d)
            }
            None => (0, 0),
        }
    };
    // Pass 2: statuses into a small stack buffer per chunk, chunks then deltas.
    out[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    out[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
    out[12..14].copy_from_slice(&base_seq.to_be_bytes());
    out[14..16].copy_from_slice(&(covered as u16).to_be_bytes());
    let rt = (ref_time as u32 & 0x00ff_ffff) << 8 | u32::from(fb_count);
    out[16..20].copy_from_slice(&rt.to_be_bytes());
    let mut pos = FIXED;
    let mut prev = ref_time * 256;
    let mut statuses = [0u8; 7];
    let mut i = 0;
    // Chunks: run-length when at least 7 equal statuses follow, else a 2-bit vector of 7.
    let mut scan_prev = prev;
    while i < covered {
        let (s0, _) = status(i, &mut scan_prev);
        let mut run = 1;
        let mut p2 = scan_prev;
        while i + run < covered && run < 0x1fff {
            let mut p3 = p2;
            let (s, _) = status(i + run, &mut p3);
            if s != s0 {
                break;
            }
            p2 = p3;
            run += 1;
        }
        if run >= 7 {
            let c = (u16::from(s0) << 13) | run as u16;
            out[pos..pos + 2].copy_from_slice(&c.to_be_bytes());
            scan_prev = p2;
            i += run;
        } else {
            let n = (covered - i).min(7);
            statuses[0] = s0;
            let mut p = scan_prev;
            for (k, st) in statuses.iter_mut().enumerate().take(n).skip(1) {
                *st = status(i + k, &mut p).0;
            }
            scan_prev = p;
            let mut c = 0xc000u16;
            for (k, &st) in statuses.iter().enumerate().take(n) {
                c |= u16::from(st) << (12 - 2 * k);
            }
            out[pos..pos + 2].copy_from_slice(&c.to_be_bytes());
            i += n;
        }
        pos += 2;
    }
    for k in 0..covered {
        match status(k, &mut prev) {
            (1, d) => {
                out[pos] = d as u8;
                pos += 1;
            }
            (2, d) => {
                out[pos..pos + 2].copy_from_slice(&(d as i16).to_be_bytes());
                pos += 2;
            }
            _ => {}
        }
    }
    // Pad to a 32-bit boundary the RFC 3550 way: P bit, count in the last byte.
    let pad = (4 - pos % 4) % 4;
    if pad > 0 {
        out[pos..pos + pad].fill(0);
        out[pos + pad - 1] = pad as u8;
        pos += pad;
    }
    header(out, 15, PT_RTPFB, pos);
    if pad > 0 {
        out[0] |= 0x20;
    }
    Some((pos, covered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sr_rr_round_trip_in_one_compound() {
        let mut buf = [0u8; 256];
        let block = ReportBlock {
            ssrc: 7,
            fraction_lost: 25,
            cumulative_lost: -3,
            extended_highest_seq: 70_000,
            jitter: 12,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        };
        let info = SenderInfo {
            ssrc: 1,
            ntp_time: 0xdead_beef_0000_0001,
            rtp_time: 90_000,
            packet_count: 10,
            octet_count: 12_000,
        };
        let a = write_sender_report(&mut buf, &info, &[block]).unwrap();
        let b = write_receiver_report(&mut buf[a..], 2, &[block, block]).unwrap();
        let c = write_pli(&mut buf[a + b..], 2, 1).unwrap();
        let pkts: Vec<_> = parse_compound(&buf[..a + b + c])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(pkts.len(), 3);
        match pkts[0] {
            RtcpPacket::SenderReport(sr) => {
                assert_eq!(
                    (sr.ssrc(), sr.ntp_time(), sr.rtp_time()),
                    (1, info.ntp_time, 90_000)
                );
                assert_eq!(sr.reports().collect::<Vec<_>>(), vec![block]);
            }
            p => panic!("{p:?}"),
        }
        match pkts[1] {
            RtcpPacket::ReceiverReport(rr) => assert_eq!(rr.reports().count(), 2),
            p => panic!("{p:?}"),
        }
        assert!(matches!(
            pkts[2],
            RtcpPacket::Pli {
                sender_ssrc: 2,
                media_ssrc: 1
            }
        ));
    }

    #[test]
    fn nack_packs_runs_and_expands_back() {
        let lost = [100u16, 101, 105, 116, 117, 200, 65535, 0];
        let mut buf = [0u8; 64];
        let n = write_nack(&mut buf, 9, 8, &lost).unwrap();
        let Some(Ok(RtcpPacket::Nack(nack))) = parse_compound(&buf[..n]).next() else {
            panic!("not a NACK");
        };
        assert_eq!(nack.lost().collect::<Vec<_>>(), lost);
        // 100..=116 fit in one pair; 117 starts another; 200; 65535 with 0 in its BLP.
        assert_eq!(n, 12 + 4 * 4);
    }

    #[test]
    fn remb_and_fir_round_trip() {
        let mut buf = [0u8; 64];
        let n = write_remb(&mut buf, 1, 1_500_000, &[5, 6]).unwrap();
        let Some(Ok(RtcpPacket::Remb(r))) = parse_compound(&buf[..n]).next() else {
            panic!()
        };
        assert_eq!(r.bitrate_bps, 1_500_000 >> 3 << 3);
        assert_eq!(r.ssrcs().collect::<Vec<_>>(), vec![5, 6]);
        let n = write_fir(&mut buf, 1, 77, 3).unwrap();
        let Some(Ok(RtcpPacket::Fir(f))) = parse_compound(&buf[..n]).next() else {
            panic!()
        };
        assert_eq!(f.entries().collect::<Vec<_>>(), vec![(77, 3)]);
    }

    #[test]
    fn transport_cc_example() {
        // base 10, 5 packets: run of 2 small, then vector (2-bit): large, not received, small.
        let mut p = vec![0x8f, PT_RTPFB, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2];
        p.extend_from_slice(&[0, 10, 0, 5, 0, 0, 1, 7]);
        p.extend_from_slice(&(0x2000u16 | 2).to_be_bytes()); // run: status 1 x2
        p.extend_from_slice(&(0xc000u16 | (2 << 12) | (1 << 8)).to_be_bytes()); // 2-bit: 2,0,1
        p.extend_from_slice(&[4, 8]); // small deltas
        p.extend_from_slice(&(-4i16).to_be_bytes()); // large delta
        p.push(1); // small delta
        while p.len() % 4 != 0 {
            p.push(0);
        }
        let words = (p.len() / 4 - 1) as u16;
        p[2..4].copy_from_slice(&words.to_be_bytes());
        let Some(Ok(RtcpPacket::TransportCc(t))) = parse_compound(&p).next() else {
            panic!()
        };
        assert_eq!(
            (t.base_seq, t.status_count, t.reference_time, t.fb_count),
            (10, 5, 1, 7)
        );
        let mut got = vec![];
        t.for_each(|e| got.push((e.seq, e.delta_ticks)));
        assert_eq!(
            got,
            vec![
                (10, Some(4)),
                (11, Some(8)),
                (12, Some(-4)),
                (13, None),
                (14, Some(1))
            ]
        );
        // Missing deltas are a structural error, not a panic later.
        let mut short = p[..p.len() - 4].to_vec();
        let words = (short.len() / 4 - 1) as u16;
        short[2..4].copy_from_slice(&words.to_be_bytes());
        assert!(matches!(
            parse_compound(&short).next(),
            Some(Err(RtcpError::BadTransportCc))
        ));
    }

    #[test]
    fn transport_cc_builder_round_trips() {
        // Mixed: runs of received, a loss burst, a late packet (negative delta), a big gap.
        let mut arrivals = vec![];
        let mut t = 1_000_000i64;
        for i in 0..40 {
            arrivals.push(if (10..20).contains(&i) { None } else { Some(t) });
            t += if i == 25 { 70_000 } else { 1_250 };
        }
        arrivals[30] = Some(arrivals[29].unwrap() - 500);
        let mut buf = [0u8; 1200];
        let (n, covered) = write_transport_cc(&mut buf, 1, 2, 65530, 9, &arrivals).unwrap();
        assert_eq!(covered, 40);
        assert_eq!(n % 4, 0);
        let Some(Ok(RtcpPacket::TransportCc(fb))) = parse_compound(&buf[..n]).next() else {
            panic!("feedback does not parse");
        };
        assert_eq!((fb.base_seq, fb.status_count, fb.fb_count), (65530, 40, 9));
        let mut tick = i64::from(fb.reference_time) * 256;
        let mut i = 0;
        fb.for_each(|e| {
            assert_eq!(e.seq, 65530u16.wrapping_add(i as u16));
            match (arrivals[i], e.delta_ticks) {
                (Some(a), Some(d)) => {
                    tick += i64::from(d);
                    assert_eq!(tick, a.div_euclid(250), "entry {i}");
                }
                (None, None) => {}
                other => panic!("entry {i}: {other:?}"),
            }
            i += 1;
        });
        assert_eq!(i, 40);
        // A small buffer covers a prefix; nothing received is refused.
        let (n, covered) = write_transport_cc(&mut buf[..40], 1, 2, 0, 0, &arrivals).unwrap();
        assert!(covered < 40 && n <= 40);
        assert!(write_transport_cc(&mut buf, 1, 2, 0, 0, &[None, None]).is_none());
        // A lost base is reported as lost, the reference time comes from the first arrival.
        let (n, covered) =
            write_transport_cc(&mut buf, 1, 2, 7, 0, &[None, None, Some(200_000), None]).unwrap();
        assert_eq!(covered, 4);
        let Some(Ok(RtcpPacket::TransportCc(fb))) = parse_compound(&buf[..n]).next() else {
            panic!("feedback with a lost base does not parse");
        };
        assert_eq!((fb.base_seq, fb.status_count), (7, 4));
        assert_eq!(fb.reference_time, 3);
        let mut seen = vec![];
        fb.for_each(|e| seen.push((e.seq, e.delta_ticks)));
        assert_eq!(
            seen,
            [(7, None), (8, None), (9, Some(800 - 768)), (10, None)]
        );
    }

    #[test]
    fn malformed_is_an_error_never_a_panic() {
        // The 20-byte NACK with the padding bit set that panics the rtcp 0.17 crate.
        let mut p = [0u8; 20];
        p[0] = 0xa1;
        p[1] = PT_RTPFB;
        p[3] = 4;
        p[19] = 0;
        assert!(matches!(
            parse_compound(&p).next(),
            Some(Err(RtcpError::BadPadding))
        ));
        assert!(matches!(
            parse_compound(&[0x80, 200]).next(),
            Some(Err(RtcpError::Truncated))
        ));
        assert!(matches!(
            parse_compound(&[0x81, 200, 0, 1, 0, 0, 0, 0]).next(),
            Some(Err(RtcpError::BadLength { pt: 200 }))
        ));
    }
}

#[cfg(test)]
mod twcc_cap_tests {
    use super::*;

    /// A feedback whose run-length chunks claim 65,535 packets in a few bytes is refused
    /// before anything walks them; one at the cap still parses.
    #[test]
    fn feedback_claiming_more_than_the_cap_is_malformed() {
        let packet = |count: u16| {
            let mut p = vec![0x8f, 205, 0, 0];
            p.extend_from_slice(&1u32.to_be_bytes());
            p.extend_from_slice(&2u32.to_be_bytes());
            p.extend_from_slice(&0u16.to_be_bytes());
            p.extend_from_slice(&count.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 0]);
            // Run-length chunks of "not received" (no deltas), 8,191 packets each.
            let mut left = count;
            while left > 0 {
                let run = left.min(8191);
                p.extend_from_slice(&run.to_be_bytes());
                left -= run;
            }
            while p.len() % 4 != 0 {
                p.push(0);
            }
            let words = (p.len() / 4 - 1) as u16;
            p[2..4].copy_from_slice(&words.to_be_bytes());
            p
        };
        let at_cap = packet(MAX_TWCC_STATUSES);
        match parse_compound(&at_cap).next() {
            Some(Ok(RtcpPacket::TransportCc(t))) => assert_eq!(t.status_count, MAX_TWCC_STATUSES),
            other => panic!("{other:?}"),
        }
        let over = packet(u16::MAX);
        assert!(matches!(
            parse_compound(&over).next(),
            Some(Err(RtcpError::BadTransportCc))
        ));
    }
}
