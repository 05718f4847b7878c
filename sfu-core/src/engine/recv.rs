//! Per-SSRC receive state: sequence extension, loss and jitter (RFC 3550 A.3, A.8), the last
//! sender report, and the NACK list for packets lost on the way in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rtcp::ReportBlock;

/// Most sequence numbers tracked as missing at once; older ones are given up.
pub(crate) const MAX_MISSING: usize = 512;
/// How many times a missing packet is NACKed before it is given up.
const MAX_NACKS: u8 = 10;
/// A missing packet older than this is given up (it would arrive too late to play).
const MAX_NACK_AGE: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Copy)]
struct Missing {
    seq: u64,
    since: Instant,
    next_at: Instant,
    tries: u8,
}

/// The last sender report from a stream, for timestamp alignment and RTT (LSR/DLSR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SrInfo {
    pub(crate) ntp: u64,
    pub(crate) rtp: u32,
    pub(crate) at: Instant,
}

#[derive(Debug)]
pub(crate) struct RecvStream {
    clock_rate: u32,
    max: Option<u64>,
    base: u64,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Interarrival jitter, scaled by 16 (RFC 3550 A.8).
    jitter_q4: u64,
    last_transit: Option<i64>,
    pub(crate) last_sr: Option<SrInfo>,
    missing: VecDeque<Missing>,
    pub(crate) bytes: u64,
}

/// What the arrival of a packet meant for sequencing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arrival {
    pub(crate) ext_seq: u64,
    /// The packet repaired a loss we were tracking (it was NACKed or late).
    pub(crate) recovered: bool,
    /// Newest packet so far.
    pub(crate) newest: bool,
    /// A duplicate of a packet already counted.
    pub(crate) duplicate: bool,
}

impl RecvStream {
    pub(crate) fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            max: None,
            base: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter_q4: 0,
            last_transit: None,
            last_sr: None,
            missing: VecDeque::with_capacity(MAX_MISSING),
            bytes: 0,
        }
    }

    /// Extends `seq` against the newest sequence number seen.
    pub(crate) fn extend(&self, seq: u16) -> u64 {
        match self.max {
            None => u64::from(seq) + (1 << 16),
            Some(max) => {
                let delta = i64::from(seq.wrapping_sub(max as u16) as i16);
                (max as i64 + delta).max(0) as u64
            }
        }
    }

    /// Records a packet that arrived at `now`, which is `at_us` microseconds after the engine's
    /// epoch (the caller has it already: one clock subtraction per packet, not two).
    pub(crate) fn on_packet_at(
        &mut self,
        seq: u16,
        ts: u32,
        len: usize,
        now: Instant,
        at_us: u64,
        rtt: Duration,
    ) -> Arrival {
        let ext = self.extend(seq);
        self.bytes += len as u64;
        let mut a = Arrival {
            ext_seq: ext,
            recovered: false,
            newest: false,
            duplicate: false,
        };
        match self.max {
            None => {
                self.base = ext;
                self.max = Some(ext);
                a.newest = true;
            }
            Some(max) if ext > max => {
                let gap = ext - max - 1;
                if gap as usize >= MAX_MISSING {
                    // A jump this large is a restart, not loss: track nothing before it.
                    self.missing.clear();
                } else if gap > 0 {
                    let first_nack = now + nack_delay(rtt);
                    for s in max + 1..ext {
                        if self.missing.len() == MAX_MISSING {
                            self.missing.pop_front();
                        }
                        self.missing.push_back(Missing {
                            seq: s,
                            since: now,
                            next_at: first_nack,
                            tries: 0,
                        });
                    }
                }
                self.max = Some(ext);
                a.newest = true;
            }
            Some(_) => {
                if let Some(i) = self.missing.iter().position(|m| m.seq == ext) {
                    self.missing.remove(i);
                    a.recovered = true;
                } else if ext >= self.base {
                    a.duplicate = true;
                    return a;
                }
            }
        }
        self.received += 1;
        // Jitter: transit time difference in RTP units.
        let arrival_rtp = (at_us * u64::from(self.clock_rate) / 1_000_000) as i64;
        let transit = arrival_rtp - i64::from(ts);
        if let Some(prev) = self.last_transit
            && a.newest
        {
            let d = (transit - prev).unsigned_abs();
            // J += (|D| - J) / 16, in Q4.
            self.jitter_q4 = self.jitter_q4 + d - (self.jitter_q4 >> 4);
        }
        if a.newest {
            self.last_transit = Some(transit);
        }
        a
    }

    /// Sequence numbers due for a NACK at `now`, written to `out` (oldest first). Gives up on
    /// packets asked for too often or too long.
    pub(crate) fn due_nacks(&mut self, now: Instant, rtt: Duration, out: &mut [u16]) -> usize {
        self.missing.retain(|m| {
            m.tries < MAX_NACKS && now.saturating_duration_since(m.since) < MAX_NACK_AGE
        });
        let mut n = 0;
        for m in self.missing.iter_mut() {
            if n == out.len() {
                break;
            }
            if m.next_at <= now {
                out[n] = m.seq as u16;
                n += 1;
                m.tries += 1;
                m.next_at = now + retry_interval(rtt);
            }
        }
        n
    }

    /// Newest extended sequence number received (0 before any).
    pub(crate) fn newest(&self) -> u64 {
        self.max.unwrap_or(0)
    }

    pub(crate) fn missing_count(&self) -> usize {
        self.missing.len()
    }

    /// Jitter in RTP timestamp units.
    pub(crate) fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }

    /// A reception report block for this stream, and resets the interval counters.
    pub(crate) fn report_block(&mut self, ssrc: u32, now: Instant) -> Option<ReportBlock> {
        let max = self.max?;
        let expected = max - self.base + 1;
        let lost = expected as i64 - self.received as i64;
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some(sr) => {
                let d = now.saturating_duration_since(sr.at);
                (
                    (sr.ntp >> 16) as u32,
                    (d.as_micros() as u64 * 65_536 / 1_000_000) as u32,
                )
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: lost.clamp(-0x80_0000, 0x7f_ffff) as i32,
            extended_highest_seq: max as u32,
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }
}

/// Wait before the first NACK of a gap: reordering usually fills a gap within a few ms.
fn nack_delay(rtt: Duration) -> Duration {
    (rtt / 8).clamp(Duration::from_millis(5), Duration::from_millis(20))
}

/// Wait between NACKs for the same packet: about one RTT.
fn retry_interval(rtt: Duration) -> Duration {
    rtt.clamp(Duration::from_millis(20), Duration::from_millis(500))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        // The only place tests need a base instant; everything else is offsets from it.
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    fn on(
        r: &mut RecvStream,
        t: Instant,
        seq: u16,
        ts: u32,
        len: usize,
        now: Instant,
        rtt: Duration,
    ) -> Arrival {
        let at_us = now.saturating_duration_since(t).as_micros() as u64;
        r.on_packet_at(seq, ts, len, now, at_us, rtt)
    }

    #[test]
    fn extends_across_wraparound_and_counts_loss() {
        let t = t0();
        let rtt = Duration::from_millis(100);
        let mut r = RecvStream::new(90_000);
        let mut now = t;
        for seq in [65533u16, 65534, 65535, 0, 2, 3] {
            now += Duration::from_millis(10);
            on(&mut r, t, seq, 0, 100, now, rtt);
        }
        assert_eq!(r.extend(4), (1 << 16) + 65536 + 4);
        let rb = r.report_block(7, now).unwrap();
        assert_eq!(rb.cumulative_lost, 1);
        assert_eq!(rb.fraction_lost, (256 / 7) as u8);
        // The lost packet (seq 1) is NACKed after the short delay, then again after one RTT.
        let mut out = [0u16; 8];
        assert_eq!(r.due_nacks(now, rtt, &mut out), 0);
        now += Duration::from_millis(25);
        assert_eq!(r.due_nacks(now, rtt, &mut out), 1);
        assert_eq!(out[0], 1);
        assert_eq!(
            r.due_nacks(now + Duration::from_millis(50), rtt, &mut out),
            0
        );
        assert_eq!(
            r.due_nacks(now + Duration::from_millis(100), rtt, &mut out),
            1
        );
        // The retransmission arrives: recovered, no more NACKs.
        let a = on(&mut r, t, 1, 0, 100, now + Duration::from_millis(120), rtt);
        assert!(a.recovered && !a.duplicate);
        assert_eq!(r.missing_count(), 0);
        assert!(on(&mut r, t, 1, 0, 100, now, rtt).duplicate);
    }

    #[test]
    fn gives_up_after_max_age() {
        let t = t0();
        let rtt = Duration::from_millis(50);
        let mut r = RecvStream::new(90_000);
        on(&mut r, t, 10, 0, 1, t, rtt);
        on(&mut r, t, 20, 0, 1, t, rtt);
        assert_eq!(r.missing_count(), 9);
        let mut out = [0u16; 64];
        assert_eq!(r.due_nacks(t + Duration::from_millis(30), rtt, &mut out), 9);
        assert_eq!(r.due_nacks(t + Duration::from_secs(2), rtt, &mut out), 0);
        assert_eq!(r.missing_count(), 0);
    }
}
