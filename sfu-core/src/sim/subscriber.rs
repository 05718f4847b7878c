//! A synthetic subscriber: receives the streams of its subscriptions (RTX unwrapped), runs a
//! [`VirtualDecoder`] per stream, and sends what a browser's receiver sends: NACKs for missing
//! packets, PLI while a decoder is stuck, and receiver reports (with LSR/DLSR, so the engine
//! learns the round-trip time).
//!
//! Sans-IO: [`Subscriber::handle_datagram`], [`Subscriber::handle_timeout`] when
//! [`Subscriber::poll_timeout`] says, and [`Subscriber::poll_transmit`] to drain.

use std::collections::VecDeque;
use std::time::Instant;

use super::decoder::{Received, ReceiverConfig, VirtualDecoder};
use super::publisher::MediaCodec;
use crate::engine::ExtensionIds;
use crate::ids::SubscriptionId;
use crate::rtcp::{self, ReportBlock, RtcpPacket};
use crate::rtp::RtpPacket;

/// Most sequence numbers put in one NACK packet.
const NACK_BATCH: usize = 128;
/// How often transport-wide CC feedback is sent (libwebrtc sends about every 50-100 ms).
const TWCC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);
/// Arrivals remembered for transport-wide feedback.
const TWCC_MAX: usize = 4096;

#[derive(Debug)]
struct Stream {
    subscription: SubscriptionId,
    ssrc: u32,
    rtx_ssrc: Option<u32>,
    decoder: VirtualDecoder,
    last_sr: Option<(u64, Instant)>,
    last_pli: Option<Instant>,
}

/// Counters of a subscriber that are not per stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberStats {
    /// RTP packets for an SSRC no stream claims.
    pub unknown_packets: u64,
    /// Datagrams that were neither valid RTP nor RTCP.
    pub malformed: u64,
    /// Sender reports received.
    pub sender_reports: u64,
    /// Receiver report packets sent.
    pub receiver_reports: u64,
    /// NACK packets sent.
    pub nack_packets: u64,
    /// Transport-wide CC feedback packets sent.
    pub twcc_feedback: u64,
}

/// A synthetic subscriber. See the module documentation.
#[derive(Debug)]
pub struct Subscriber {
    rtcp_ssrc: u32,
    config: ReceiverConfig,
    dd_id: Option<u8>,
    twcc_id: Option<u8>,
    /// Extended transport-wide sequence numbers and arrival times (µs since `epoch`) not yet
    /// reported, in arrival order.
    twcc: Vec<(u64, i64)>,
    twcc_max: Option<u64>,
    twcc_count: u8,
    next_twcc: Instant,
    epoch: Instant,
    streams: Vec<Stream>,
    out: VecDeque<Vec<u8>>,
    next_report: Instant,
    scratch: Vec<u16>,
    stats: SubscriberStats,
}

impl Subscriber {
    /// A subscriber sending its RTCP as `rtcp_ssrc`, with the extension IDs of its transport,
    /// starting at `start`.
    pub fn new(
        rtcp_ssrc: u32,
        config: ReceiverConfig,
        extensions: ExtensionIds,
        start: Instant,
    ) -> Self {
        Self {
            rtcp_ssrc,
            config,
            dd_id: extensions.dependency_descriptor,
            twcc_id: extensions.transport_cc,
            twcc: Vec::new(),
            twcc_max: None,
            twcc_count: 0,
            next_twcc: start + TWCC_INTERVAL,
            epoch: start,
            streams: Vec::new(),
            out: VecDeque::new(),
            next_report: start + config.report_interval,
            scratch: Vec::new(),
            stats: SubscriberStats::default(),
        }
    }

    /// Starts receiving `subscription` as `ssrc` (and `rtx_ssrc` for retransmissions).
    pub fn add_stream(
        &mut self,
        subscription: SubscriptionId,
        codec: MediaCodec,
        ssrc: u32,
        rtx_ssrc: Option<u32>,
    ) {
        self.streams.push(Stream {
            subscription,
            ssrc,
            rtx_ssrc,
            decoder: VirtualDecoder::new(codec, self.config, self.epoch),
            last_sr: None,
            last_pli: None,
        });
    }

    /// The virtual decoder of `subscription`.
    pub fn decoder(&self, subscription: SubscriptionId) -> Option<&VirtualDecoder> {
        self.streams
            .iter()
            .find(|s| s.subscription == subscription)
            .map(|s| &s.decoder)
    }

    /// The subscriptions received, in the order they were added.
    pub fn subscriptions(&self) -> impl Iterator<Item = SubscriptionId> + '_ {
        self.streams.iter().map(|s| s.subscription)
    }

    /// Counters.
    pub fn stats(&self) -> SubscriberStats {
        self.stats
    }

    /// Takes one datagram from the SFU.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if crate::rtp::is_rtcp(data) {
            for p in rtcp::parse_compound(data) {
                let Ok(p) = p else {
                    self.stats.malformed += 1;
                    break;
                };
                if let RtcpPacket::SenderReport(sr) = p
                    && let Some(s) = self.streams.iter_mut().find(|s| s.ssrc == sr.ssrc())
                {
                    s.last_sr = Some((sr.ntp_time(), now));
                    self.stats.sender_reports += 1;
                }
            }
            return;
        }
        let Ok(p) = RtpPacket::parse(data) else {
            self.stats.malformed += 1;
            return;
        };
        if let Some(v) = self.twcc_id.and_then(|id| p.extension(id))
            && let [a, b] = *v
        {
            self.record_twcc(now, u16::from_be_bytes([a, b]));
        }
        let ssrc = p.ssrc();
        let dd = self.dd_id.and_then(|id| p.extension(id));
        let Some(i) = self
            .streams
            .iter()
            .position(|s| s.ssrc == ssrc || s.rtx_ssrc == Some(ssrc))
        else {
            self.stats.unknown_packets += 1;
            return;
        };
        let s = &mut self.streams[i];
        let mut packet = Received {
            seq: p.sequence_number(),
            ts: p.timestamp(),
            marker: p.marker(),
            payload: p.payload(),
            dependency_descriptor: dd,
            rtx: false,
        };
        if s.ssrc != ssrc {
            // RTX (RFC 4588): the original sequence number leads the payload.
            let [a, b, ref rest @ ..] = *packet.payload else {
                return; // padding only (a bandwidth probe): nothing to repair
            };
            packet.seq = u16::from_be_bytes([a, b]);
            packet.payload = rest;
            packet.rtx = true;
        }
        s.decoder.on_packet(now, packet);
        self.maybe_pli(i, now);
    }

    fn record_twcc(&mut self, now: Instant, seq: u16) {
        let ext = match self.twcc_max {
            None => u64::from(seq),
            Some(max) => {
                // Nearest extension of `seq` to the highest seen (RFC 3550 A.1 style).
                let base = max & !0xffff;
                let cands = [base.wrapping_sub(0x1_0000), base, base + 0x1_0000];
                cands
                    .into_iter()
                    .map(|b| b | u64::from(seq))
                    .min_by_key(|c| c.abs_diff(max))
                    .unwrap_or(u64::from(seq))
            }
        };
        self.twcc_max = Some(self.twcc_max.map_or(ext, |m| m.max(ext)));
        if self.twcc.len() < TWCC_MAX {
            let at = now.saturating_duration_since(self.epoch).as_micros() as i64;
            self.twcc.push((ext, at));
        }
    }

    fn send_twcc(&mut self) {
        if self.twcc.is_empty() {
            return;
        }
        self.twcc.sort_unstable_by_key(|e| e.0);
        self.twcc.dedup_by_key(|e| e.0);
        let first = self.twcc[0].0;
        let last = self.twcc[self.twcc.len() - 1].0;
        let span = (last - first + 1) as usize;
        let mut arrivals: Vec<Option<i64>> = vec![None; span];
        for &(seq, at) in &self.twcc {
            arrivals[(seq - first) as usize] = Some(at);
        }
        let mut start = 0;
        while start < arrivals.len() {
            // Each feedback packet must start with a received packet.
            while start < arrivals.len() && arrivals[start].is_none() {
                start += 1;
            }
            if start >= arrivals.len() {
                break;
            }
            let mut b = vec![0u8; 1200];
            let Some((n, covered)) = rtcp::write_transport_cc(
                &mut b,
                self.rtcp_ssrc,
                0,
                (first + start as u64) as u16,
                self.twcc_count,
                &arrivals[start..],
            ) else {
                break;
            };
            self.twcc_count = self.twcc_count.wrapping_add(1);
            b.truncate(n);
            self.out.push_back(b);
            self.stats.twcc_feedback += 1;
            start += covered.max(1);
        }
        self.twcc.clear();
    }

    fn maybe_pli(&mut self, i: usize, now: Instant) {
        let interval = self.config.pli_interval;
        let s = &mut self.streams[i];
        if s.decoder.wants_keyframe() && s.last_pli.is_none_or(|t| now >= t + interval) {
            let mut b = [0u8; 12];
            if let Some(n) = rtcp::write_pli(&mut b, self.rtcp_ssrc, s.ssrc) {
                self.out.push_back(b[..n].to_vec());
                s.last_pli = Some(now);
                s.decoder.note_pli();
            }
        }
    }

    /// When [`Subscriber::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_report;
        if self.twcc_id.is_some() {
            t = t.min(self.next_twcc);
        }
        for s in &self.streams {
            if let Some(d) = s.decoder.poll_timeout() {
                t = t.min(d);
            }
            if s.decoder.wants_keyframe() {
                t = t.min(
                    s.last_pli
                        .map_or(self.epoch, |p| p + self.config.pli_interval),
                );
            }
        }
        Some(t)
    }

    /// Runs the decoders' timers, sends due NACKs, PLIs and receiver reports.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.twcc_id.is_some() && now >= self.next_twcc {
            self.next_twcc = now + TWCC_INTERVAL;
            self.send_twcc();
        }
        for i in 0..self.streams.len() {
            let s = &mut self.streams[i];
            if s.decoder.poll_timeout().is_some_and(|t| t <= now) {
                s.decoder.handle_timeout(now);
            }
            self.scratch.clear();
            s.decoder.poll_nacks(now, &mut self.scratch);
            for chunk in self.scratch.chunks(NACK_BATCH) {
                let mut b = vec![0u8; 12 + 4 * chunk.len()];
                if let Some(n) = rtcp::write_nack(&mut b, self.rtcp_ssrc, s.ssrc, chunk) {
                    b.truncate(n);
                    self.out.push_back(b);
                    self.stats.nack_packets += 1;
                }
            }
            self.maybe_pli(i, now);
        }
        if now >= self.next_report {
            self.next_report = now + self.config.report_interval;
            let mut blocks: Vec<ReportBlock> = Vec::with_capacity(self.streams.len());
            for s in &mut self.streams {
                if let Some(b) = s.decoder.report_block(s.ssrc, now, s.last_sr) {
                    blocks.push(b);
                }
            }
            for chunk in blocks.chunks(31) {
                let mut b = vec![0u8; 8 + 24 * chunk.len()];
                if let Some(n) = rtcp::write_receiver_report(&mut b, self.rtcp_ssrc, chunk) {
                    b.truncate(n);
                    self.out.push_back(b);
                    self.stats.receiver_reports += 1;
                }
            }
        }
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
}
