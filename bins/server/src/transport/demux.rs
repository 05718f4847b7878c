//! RFC 7983 demultiplexing of the one UDP socket that carries STUN, DTLS, SRTP and SRTCP.
//!
//! WebRTC bundles every protocol of a peer on one 5-tuple. RFC 7983 §7 tells them apart by the
//! first byte of the datagram:
//!
//! | first byte | protocol |
//! |---|---|
//! | 0–3 | STUN |
//! | 20–63 | DTLS |
//! | 128–191 | RTP or RTCP |
//!
//! Within 128–191, RTCP is recognised as RFC 5761 §4 does it: the second byte (marker bit plus
//! payload type for RTP, packet type for RTCP) with the top bit masked off lies in 64–95, which
//! is RTCP packet types 192–223. Everything else in the range is RTP.
//!
//! TURN channels (64–79) and ZRTP (16–19) are not used by telesfu and classify as
//! [`DatagramKind::Unknown`], like empty datagrams.

/// What a received datagram carries, from its first byte (RFC 7983).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatagramKind {
    /// A STUN message (first byte 0–3): ICE connectivity checks.
    Stun,
    /// A DTLS record (first byte 20–63).
    Dtls,
    /// An SRTP packet (first byte 128–191, not an RTCP packet type).
    Rtp,
    /// An SRTCP packet (first byte 128–191, second byte & 0x7f in 64–95).
    Rtcp,
    /// Empty, or a first byte no protocol of ours uses. Drop it.
    Unknown,
}

/// Classifies a datagram by its first byte (RFC 7983 §7, RFC 5761 §4 for RTP versus RTCP).
///
/// Never panics; an empty datagram, or an RTP-range datagram of one byte, is
/// [`DatagramKind::Unknown`].
#[must_use]
pub fn classify(datagram: &[u8]) -> DatagramKind {
    match datagram {
        [0..=3, ..] => DatagramKind::Stun,
        [20..=63, ..] => DatagramKind::Dtls,
        [128..=191, second, ..] => {
            if (64..=95).contains(&(second & 0x7f)) {
                DatagramKind::Rtcp
            } else {
                DatagramKind::Rtp
            }
        }
        _ => DatagramKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_unknown() {
        assert_eq!(classify(&[]), DatagramKind::Unknown);
    }

    #[test]
    fn first_byte_ranges() {
        for b in 0u8..=255 {
            let kind = classify(&[b, 0x60, 0, 0]);
            let expected = match b {
                0..=3 => DatagramKind::Stun,
                20..=63 => DatagramKind::Dtls,
                128..=191 => DatagramKind::Rtp,
                _ => DatagramKind::Unknown,
            };
            assert_eq!(kind, expected, "first byte {b}");
        }
    }

    #[test]
    fn stun_binding_request_header() {
        assert_eq!(classify(&[0x00, 0x01, 0x00, 0x4c]), DatagramKind::Stun);
    }

    #[test]
    fn dtls_handshake_and_application_data() {
        assert_eq!(classify(&[22, 0xfe, 0xfd]), DatagramKind::Dtls);
        assert_eq!(classify(&[23, 0xfe, 0xfd]), DatagramKind::Dtls);
        // DTLS 1.3 unified header starts with 0b001xxxxx (32–63).
        assert_eq!(classify(&[0x2f, 0x00]), DatagramKind::Dtls);
    }

    #[test]
    fn rtcp_packet_types_192_to_223() {
        for pt in 192u8..=223 {
            assert_eq!(classify(&[0x80, pt]), DatagramKind::Rtcp, "pt {pt}");
        }
        // Sender report and receiver report, the common ones.
        assert_eq!(classify(&[0x81, 200]), DatagramKind::Rtcp);
        assert_eq!(classify(&[0x81, 201]), DatagramKind::Rtcp);
    }

    #[test]
    fn rtp_payload_types_outside_rtcp_range() {
        // VP8 at PT 96 with and without the marker bit.
        assert_eq!(classify(&[0x80, 96]), DatagramKind::Rtp);
        assert_eq!(classify(&[0x80, 0x80 | 96]), DatagramKind::Rtp);
        // PT 0..=63 and 96..=127 with either marker value.
        for pt in (0u8..64).chain(96..128) {
            assert_eq!(classify(&[0x90, pt]), DatagramKind::Rtp, "pt {pt}");
            assert_eq!(classify(&[0x90, 0x80 | pt]), DatagramKind::Rtp, "pt {pt}+M");
        }
    }

    #[test]
    fn one_byte_rtp_range_is_unknown() {
        assert_eq!(classify(&[0x80]), DatagramKind::Unknown);
    }

    #[test]
    fn one_byte_stun_and_dtls_still_classify() {
        // Classification only looks at the first byte; the protocol parser rejects the rest.
        assert_eq!(classify(&[0x00]), DatagramKind::Stun);
        assert_eq!(classify(&[22]), DatagramKind::Dtls);
    }
}
