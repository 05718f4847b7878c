//! Differential tests against the webrtc-rs `rtp` and `rtcp` crates: packets they build must
//! read the same through our views, and packets we build must parse the same in theirs.
//! (Well-formed input only: on malformed input those crates can panic, ours must not.)

use bytes::Bytes;
use proptest::prelude::*;
use telesfu_core::rtcp::{self as ours, RtcpPacket};
use telesfu_core::rtp::RtpPacket;
use webrtc_util::marshal::{Marshal, Unmarshal};

fn ext_strategy(two_byte: bool) -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let (ids, lens) = if two_byte {
        (1u8..=255, 0usize..=40)
    } else {
        (1u8..=14, 1usize..=16)
    };
    proptest::collection::btree_map(ids, proptest::collection::vec(any::<u8>(), lens), 0..5)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// RTP built by the `rtp` crate reads identically through `RtpPacket`.
    #[test]
    fn rtp_crate_packets_read_the_same(
        ssrc: u32, seq: u16, ts: u32, pt in 0u8..128, marker: bool,
        csrcs in proptest::collection::vec(any::<u32>(), 0..4),
        two_byte: bool,
        exts in prop_oneof![ext_strategy(false), ext_strategy(true)],
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut h = rtp::header::Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            csrc: csrcs.clone(),
            ..Default::default()
        };
        let two = two_byte || exts.iter().any(|(id, v)| *id > 14 || v.is_empty() || v.len() > 16);
        if !exts.is_empty() {
            h.extension = true;
            h.extension_profile = if two { 0x1000 } else { 0xBEDE };
            for (id, v) in &exts {
                h.set_extension(*id, Bytes::copy_from_slice(v)).unwrap();
            }
        }
        let pkt = rtp::packet::Packet { header: h, payload: Bytes::copy_from_slice(&payload) };
        let wire = pkt.marshal().unwrap();
        let v = RtpPacket::parse(&wire).unwrap();
        prop_assert_eq!((v.ssrc(), v.sequence_number(), v.timestamp()), (ssrc, seq, ts));
        prop_assert_eq!((v.payload_type(), v.marker()), (pt, marker));
        prop_assert_eq!(v.csrcs().collect::<Vec<_>>(), csrcs);
        for (id, val) in &exts {
            prop_assert_eq!(v.extension(*id), Some(&val[..]), "extension {}", id);
        }
        prop_assert_eq!(v.extensions().count(), exts.len());
        prop_assert_eq!(v.payload(), &payload[..]);
    }

    /// Receiver reports both ways.
    #[test]
    fn receiver_reports_both_ways(
        ssrc: u32,
        blocks in proptest::collection::vec(
            (any::<u32>(), any::<u8>(), 0u32..0x7f_ffff, any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()), 0..5),
    ) {
        let reports: Vec<rtcp::reception_report::ReceptionReport> = blocks.iter().map(|b| {
            rtcp::reception_report::ReceptionReport {
                ssrc: b.0, fraction_lost: b.1, total_lost: b.2, last_sequence_number: b.3,
                jitter: b.4, last_sender_report: b.5, delay: b.6,
            }
        }).collect();
        let theirs = rtcp::receiver_report::ReceiverReport { ssrc, reports: reports.clone(), ..Default::default() };
        let wire = theirs.marshal().unwrap();
        let Some(Ok(RtcpPacket::ReceiverReport(rr))) = ours::parse_compound(&wire).next() else {
            return Err(TestCaseError::fail("not an RR"));
        };
        prop_assert_eq!(rr.ssrc(), ssrc);
        let mine: Vec<ours::ReportBlock> = rr.reports().collect();
        prop_assert_eq!(mine.len(), reports.len());
        for (m, t) in mine.iter().zip(&reports) {
            prop_assert_eq!((m.ssrc, m.fraction_lost, m.cumulative_lost as u32), (t.ssrc, t.fraction_lost, t.total_lost));
            prop_assert_eq!((m.extended_highest_seq, m.jitter, m.last_sr, m.delay_since_last_sr),
                (t.last_sequence_number, t.jitter, t.last_sender_report, t.delay));
        }
        // Reverse: ours, parsed by theirs.
        let mut buf = [0u8; 256];
        let n = ours::write_receiver_report(&mut buf, ssrc, &mine).unwrap();
        let back = rtcp::receiver_report::ReceiverReport::unmarshal(&mut &buf[..n]).unwrap();
        prop_assert_eq!(back.ssrc, ssrc);
        prop_assert_eq!(back.reports, reports);
    }

    /// Generic NACK both ways, as the set of lost sequence numbers.
    #[test]
    fn nacks_both_ways(sender: u32, media: u32, mut lost in proptest::collection::btree_set(any::<u16>(), 1..40)) {
        let lost: Vec<u16> = std::mem::take(&mut lost).into_iter().collect();
        let mut buf = [0u8; 512];
        let n = ours::write_nack(&mut buf, sender, media, &lost).unwrap();
        let theirs = rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack::unmarshal(&mut &buf[..n]).unwrap();
        prop_assert_eq!((theirs.sender_ssrc, theirs.media_ssrc), (sender, media));
        let mut got: Vec<u16> = theirs.nacks.iter().flat_map(|p| p.packet_list()).collect();
        got.sort_unstable();
        prop_assert_eq!(&got, &lost);
        let wire = theirs.marshal().unwrap();
        let Some(Ok(RtcpPacket::Nack(nack))) = ours::parse_compound(&wire).next() else {
            return Err(TestCaseError::fail("not a NACK"));
        };
        let mut mine: Vec<u16> = nack.lost().collect();
        mine.sort_unstable();
        prop_assert_eq!(mine, lost);
    }

    /// Sender reports, PLI and REMB built by us parse the same in `rtcp`, as one compound.
    #[test]
    fn our_sr_pli_remb_parse_in_rtcp(ssrc: u32, ntp: u64, rtp_ts: u32, pc: u32, oc: u32, media: u32,
        bitrate in 1u64..10_000_000_000, ssrcs in proptest::collection::vec(any::<u32>(), 1..4)) {
        let mut buf = [0u8; 512];
        let info = ours::SenderInfo { ssrc, ntp_time: ntp, rtp_time: rtp_ts, packet_count: pc, octet_count: oc };
        let a = ours::write_sender_report(&mut buf, &info, &[]).unwrap();
        let b = ours::write_pli(&mut buf[a..], ssrc, media).unwrap();
        let c = ours::write_remb(&mut buf[a + b..], ssrc, bitrate, &ssrcs).unwrap();
        let pkts = rtcp::packet::unmarshal(&mut &buf[..a + b + c]).unwrap();
        prop_assert_eq!(pkts.len(), 3);
        let sr = pkts[0].as_any().downcast_ref::<rtcp::sender_report::SenderReport>().unwrap();
        prop_assert_eq!((sr.ssrc, sr.ntp_time, sr.rtp_time, sr.packet_count, sr.octet_count), (ssrc, ntp, rtp_ts, pc, oc));
        let pli = pkts[1].as_any()
            .downcast_ref::<rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication>().unwrap();
        prop_assert_eq!((pli.sender_ssrc, pli.media_ssrc), (ssrc, media));
        let remb = pkts[2].as_any()
            .downcast_ref::<rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate>().unwrap();
        prop_assert_eq!(&remb.ssrcs, &ssrcs);
        // 18-bit mantissa: the encoded value is within 2^-17 of the requested one, never above.
        let got = f64::from(remb.bitrate);
        prop_assert!(got <= bitrate as f64 * 1.000_01 && got >= bitrate as f64 * (1.0 - 1.0 / 131_072.0) - 1.0,
            "{} vs {}", got, bitrate);
    }

    /// Transport-wide CC feedback we build parses in `rtcp` with the same statuses and deltas.
    #[test]
    fn our_transport_cc_parses_in_rtcp(
        base: u16,
        steps in proptest::collection::vec(prop_oneof![3 => (0i64..20_000).prop_map(Some), 1 => Just(None)], 1..200),
    ) {
        let mut t = 5_000_000i64;
        let mut arrivals: Vec<Option<i64>> = steps.iter().map(|s| s.map(|d| { t += d; t })).collect();
        // At least one arrival (the base itself may be lost).
        let last = arrivals.len() - 1;
        arrivals[last].get_or_insert(t + 1);
        let mut buf = [0u8; 1500];
        let (n, covered) = ours::write_transport_cc(&mut buf, 1, 2, base, 7, &arrivals).unwrap();
        prop_assert_eq!(covered, arrivals.len());
        let theirs = rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc::unmarshal(&mut &buf[..n]).unwrap();
        prop_assert_eq!((theirs.base_sequence_number, theirs.packet_status_count, theirs.fb_pkt_count),
            (base, arrivals.len() as u16, 7));
        let received = arrivals.iter().filter(|a| a.is_some()).count();
        prop_assert_eq!(theirs.recv_deltas.len(), received);
        // Their deltas are in microseconds (ticks x 250); rebuild our tick times from them.
        let mut tick = i64::from(theirs.reference_time) * 256;
        let mut d = theirs.recv_deltas.iter();
        for a in arrivals.iter().flatten() {
            tick += d.next().unwrap().delta / 250;
            prop_assert_eq!(tick, a.div_euclid(250));
        }
    }
}
