//! Prometheus metrics (text exposition format 0.0.4) for `GET /metrics`.
//!
//! The media loop owns the engine and writes its counters here after each batch of work
//! (relaxed atomic stores: a scrape may see one batch half-applied, never a torn value); the HTTP
//! handler renders them. Transport-level drops (SRTP authentication, replays, unknown senders)
//! are counted beside the engine's own drop reasons so every discarded datagram shows up.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use telesfu_core::engine::{DropReason, EngineStats};

use crate::signal::CLIENT_MLS_OPS;

/// Why the transport (not the engine) discarded a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportDrop {
    /// From an address no ICE check has validated.
    UnknownSender,
    /// First byte matches no protocol (RFC 7983).
    Unclassified,
    /// A STUN message that failed ICE checks (integrity, username, shape).
    StunRejected,
    /// A DTLS record the handshake refused.
    DtlsError,
    /// SRTP/SRTCP before the DTLS handshake finished.
    SrtpNotReady,
    /// SRTP/SRTCP authentication failed.
    SrtpAuth,
    /// SRTP/SRTCP replayed or too old.
    SrtpReplay,
    /// SRTP/SRTCP otherwise malformed.
    SrtpMalformed,
    /// The socket refused a send.
    SendFailed,
}

impl TransportDrop {
    /// Every reason, in index order.
    pub const ALL: [Self; 9] = [
        Self::UnknownSender,
        Self::Unclassified,
        Self::StunRejected,
        Self::DtlsError,
        Self::SrtpNotReady,
        Self::SrtpAuth,
        Self::SrtpReplay,
        Self::SrtpMalformed,
        Self::SendFailed,
    ];

    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            Self::UnknownSender => "unknown_sender",
            Self::Unclassified => "unclassified",
            Self::StunRejected => "stun_rejected",
            Self::DtlsError => "dtls_error",
            Self::SrtpNotReady => "srtp_not_ready",
            Self::SrtpAuth => "srtp_auth",
            Self::SrtpReplay => "srtp_replay",
            Self::SrtpMalformed => "srtp_malformed",
            Self::SendFailed => "send_failed",
        }
    }
}

/// Every counter and gauge the server exports.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Rooms with at least one participant.
    pub rooms: AtomicU64,
    /// Participants (including those in their reconnect grace period).
    pub participants: AtomicU64,
    /// Open signaling WebSockets.
    pub websockets: AtomicU64,
    /// Datagrams received on the media socket.
    pub udp_datagrams_in: AtomicU64,
    /// Bytes received on the media socket.
    pub udp_bytes_in: AtomicU64,
    /// Receive system calls (datagrams / calls = batching factor).
    pub udp_recv_calls: AtomicU64,
    /// Datagrams sent.
    pub udp_datagrams_out: AtomicU64,
    /// Bytes sent.
    pub udp_bytes_out: AtomicU64,
    /// Send system calls.
    pub udp_send_calls: AtomicU64,
    /// DTLS handshakes completed.
    pub dtls_handshakes: AtomicU64,
    /// DTLS handshakes failed (including fingerprint mismatches).
    pub dtls_failures: AtomicU64,
    /// Signaling errors sent, all codes.
    pub signaling_errors: AtomicU64,
    /// Joins refused by the rate limit.
    pub joins_rate_limited: AtomicU64,
    /// Well-formed `mls` messages received from clients, by op in [`CLIENT_MLS_OPS`] order.
    pub mls_messages: [AtomicU64; CLIENT_MLS_OPS.len()],
    /// `create`/`commit` messages the rooms' Delivery Services accepted.
    pub mls_commits_accepted: AtomicU64,
    /// `create`/`commit` messages the rooms' Delivery Services rejected (another came first,
    /// or not a valid commit).
    pub mls_commits_rejected: AtomicU64,
    engine_rtp_in: AtomicU64,
    engine_rtp_bytes_in: AtomicU64,
    engine_rtcp_in: AtomicU64,
    engine_rtp_out: AtomicU64,
    engine_rtp_bytes_out: AtomicU64,
    engine_rtcp_out: AtomicU64,
    engine_drops: [AtomicU64; DropReason::ALL.len()],
    keyframe_requests: AtomicU64,
    layer_switches: AtomicU64,
    retransmissions: AtomicU64,
    nacks_sent: AtomicU64,
    transport_drops: [AtomicU64; 9],
}

impl Metrics {
    /// Copies the engine's counters.
    pub fn set_engine(&self, s: &EngineStats) {
        self.engine_rtp_in.store(s.rtp_in, Relaxed);
        self.engine_rtp_bytes_in.store(s.rtp_bytes_in, Relaxed);
        self.engine_rtcp_in.store(s.rtcp_in, Relaxed);
        self.engine_rtp_out.store(s.rtp_out, Relaxed);
        self.engine_rtp_bytes_out.store(s.rtp_bytes_out, Relaxed);
        self.engine_rtcp_out.store(s.rtcp_out, Relaxed);
        for (a, v) in self.engine_drops.iter().zip(s.drops) {
            a.store(v, Relaxed);
        }
        self.keyframe_requests.store(s.keyframe_requests, Relaxed);
        self.layer_switches.store(s.layer_switches, Relaxed);
        self.retransmissions.store(s.retransmissions, Relaxed);
        self.nacks_sent.store(s.nacks_sent, Relaxed);
    }

    /// Counts one transport drop.
    pub fn drop_transport(&self, why: TransportDrop) {
        let i = TransportDrop::ALL
            .iter()
            .position(|r| *r == why)
            .unwrap_or(0);
        self.transport_drops[i].fetch_add(1, Relaxed);
    }

    /// Transport drops for one reason.
    pub fn transport_drops(&self, why: TransportDrop) -> u64 {
        let i = TransportDrop::ALL
            .iter()
            .position(|r| *r == why)
            .unwrap_or(0);
        self.transport_drops[i].load(Relaxed)
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut one = |name: &str, kind: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", v.load(Relaxed));
        };
        one(
            "telesfu_rooms",
            "gauge",
            "Rooms with participants.",
            &self.rooms,
        );
        one(
            "telesfu_participants",
            "gauge",
            "Participants, including those within their reconnect grace period.",
            &self.participants,
        );
        one(
            "telesfu_websockets",
            "gauge",
            "Open signaling WebSockets.",
            &self.websockets,
        );
        one(
            "telesfu_udp_datagrams_received_total",
            "counter",
            "Datagrams received on the media socket.",
            &self.udp_datagrams_in,
        );
        one(
            "telesfu_udp_bytes_received_total",
            "counter",
            "Bytes received on the media socket.",
            &self.udp_bytes_in,
        );
        one(
            "telesfu_udp_receive_calls_total",
            "counter",
            "Receive system calls (recvmmsg/GRO batches).",
            &self.udp_recv_calls,
        );
        one(
            "telesfu_udp_datagrams_sent_total",
            "counter",
            "Datagrams sent on the media socket.",
            &self.udp_datagrams_out,
        );
        one(
            "telesfu_udp_bytes_sent_total",
            "counter",
            "Bytes sent on the media socket.",
            &self.udp_bytes_out,
        );
        one(
            "telesfu_udp_send_calls_total",
            "counter",
            "Send system calls (sendmmsg/GSO batches).",
            &self.udp_send_calls,
        );
        one(
            "telesfu_dtls_handshakes_total",
            "counter",
            "DTLS handshakes completed.",
            &self.dtls_handshakes,
        );
        one(
            "telesfu_dtls_failures_total",
            "counter",
            "DTLS handshakes failed (fingerprint mismatch, alerts, protocol errors).",
            &self.dtls_failures,
        );
        one(
            "telesfu_signaling_errors_total",
            "counter",
            "Signaling error replies sent.",
            &self.signaling_errors,
        );
        one(
            "telesfu_joins_rate_limited_total",
            "counter",
            "Joins refused by the per-address rate limit.",
            &self.joins_rate_limited,
        );
        one(
            "telesfu_rtp_packets_received_total",
            "counter",
            "RTP packets received by the forwarding engine.",
            &self.engine_rtp_in,
        );
        one(
            "telesfu_rtp_bytes_received_total",
            "counter",
            "RTP bytes received by the forwarding engine.",
            &self.engine_rtp_bytes_in,
        );
        one(
            "telesfu_rtcp_packets_received_total",
            "counter",
            "RTCP datagrams received by the forwarding engine.",
            &self.engine_rtcp_in,
        );
        one(
            "telesfu_rtp_packets_sent_total",
            "counter",
            "RTP packets sent (forwards and retransmissions).",
            &self.engine_rtp_out,
        );
        one(
            "telesfu_rtp_bytes_sent_total",
            "counter",
            "RTP bytes sent.",
            &self.engine_rtp_bytes_out,
        );
        one(
            "telesfu_rtcp_packets_sent_total",
            "counter",
            "RTCP packets sent.",
            &self.engine_rtcp_out,
        );
        one(
            "telesfu_layer_switches_total",
            "counter",
            "Spatial layer switches of subscriptions.",
            &self.layer_switches,
        );
        one(
            "telesfu_keyframe_requests_total",
            "counter",
            "Keyframe requests (PLI/FIR) sent to publishers.",
            &self.keyframe_requests,
        );
        one(
            "telesfu_retransmissions_total",
            "counter",
            "NACKed packets answered with a retransmission.",
            &self.retransmissions,
        );
        one(
            "telesfu_nacks_sent_total",
            "counter",
            "Sequence numbers NACKed toward publishers.",
            &self.nacks_sent,
        );
        let _ = writeln!(
            out,
            "# HELP telesfu_mls_messages_total MLS signaling messages received from clients, by op.\n\
             # TYPE telesfu_mls_messages_total counter"
        );
        for (op, v) in CLIENT_MLS_OPS.iter().zip(&self.mls_messages) {
            let _ = writeln!(
                out,
                "telesfu_mls_messages_total{{op=\"{op}\"}} {}",
                v.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP telesfu_mls_commits_total MLS creates and commits the Delivery Service accepted or rejected.\n\
             # TYPE telesfu_mls_commits_total counter\n\
             telesfu_mls_commits_total{{result=\"accepted\"}} {}\n\
             telesfu_mls_commits_total{{result=\"rejected\"}} {}",
            self.mls_commits_accepted.load(Relaxed),
            self.mls_commits_rejected.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP telesfu_drops_total Packets or datagrams discarded, by layer and reason.\n\
             # TYPE telesfu_drops_total counter"
        );
        for (r, v) in DropReason::ALL.iter().zip(&self.engine_drops) {
            let _ = writeln!(
                out,
                "telesfu_drops_total{{layer=\"engine\",reason=\"{}\"}} {}",
                r.name(),
                v.load(Relaxed)
            );
        }
        for (r, v) in TransportDrop::ALL.iter().zip(&self.transport_drops) {
            let _ = writeln!(
                out,
                "telesfu_drops_total{{layer=\"transport\",reason=\"{}\"}} {}",
                r.name(),
                v.load(Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_once_with_counts() {
        let m = Metrics::default();
        m.rooms.store(2, Relaxed);
        m.drop_transport(TransportDrop::SrtpAuth);
        m.drop_transport(TransportDrop::SrtpAuth);
        m.mls_messages[2].fetch_add(3, Relaxed);
        m.mls_commits_rejected.fetch_add(1, Relaxed);
        let text = m.render();
        assert!(text.contains("telesfu_mls_messages_total{op=\"app\"} 3\n"));
        assert!(text.contains("telesfu_mls_messages_total{op=\"sync\"} 0\n"));
        assert!(text.contains("telesfu_mls_commits_total{result=\"accepted\"} 0\n"));
        assert!(text.contains("telesfu_mls_commits_total{result=\"rejected\"} 1\n"));
        assert!(text.contains("telesfu_rooms 2\n"));
        assert!(text.contains("telesfu_drops_total{layer=\"transport\",reason=\"srtp_auth\"} 2\n"));
        assert!(text.contains("telesfu_drops_total{layer=\"engine\",reason=\"queue_full\"} 0\n"));
        // Each family has exactly one TYPE line.
        let types: Vec<_> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut names: Vec<_> = types.iter().map(|l| l.split(' ').nth(2)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), types.len());
    }
}
