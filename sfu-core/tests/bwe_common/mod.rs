//! A sender, a bottleneck link (`sim::Link`) and a transport-cc receiver around one
//! `SendSideBwe`, in virtual time. The sender paces media at the target (or at the
//! application's rate when that is lower) in 5 ms slots, sends probe clusters when asked, and
//! the receiver returns real transport-cc feedback bytes every 50 ms over a fixed-delay return
//! path.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use telesfu_core::bwe::{BweConfig, ProbeCluster, ProbeClusterId, SendSideBwe};
use telesfu_core::rtcp::{self, RtcpPacket};
use telesfu_core::sim::{Link, LinkConfig, SimRng};

/// Simulation step.
pub const STEP: Duration = Duration::from_micros(500);
/// Media pacing slot.
pub const PACE: Duration = Duration::from_millis(5);
/// Receiver feedback interval.
pub const FEEDBACK_EVERY: Duration = Duration::from_millis(50);
/// Media packet size.
pub const MTU: usize = 1200;
/// The receiver's clock runs this far ahead of ours (arrival times are only relative).
const RECEIVER_OFFSET_US: i64 = 3_600_000_000;

#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub at: Duration,
    pub target: u64,
    pub capacity: u64,
    pub sent_bps: u64,
    pub threshold: f64,
    pub trend: f64,
    pub delay_based: u64,
    pub loss_based: u64,
    pub loss: f64,
    pub queue_delay: Duration,
}

/// Per-run delivery figures.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Media packets delivered.
    pub delivered: u64,
    /// Media bytes delivered.
    pub bytes: u64,
    /// Media packets whose queueing delay (one-way delay minus the base delay) exceeded 200 ms.
    pub late: u64,
    /// Longest queueing delay seen.
    pub max_queue_delay: Duration,
    /// "Freezes": stretches of at least 200 ms in which no media packet arrived with queueing
    /// delay under 200 ms, after media had started (a jitter buffer this deep would stall).
    pub freezes: u32,
    /// Total frozen time.
    pub frozen: Duration,
}

/// REMB value (bps) as a function of time since the start.
pub type RembScript = Box<dyn FnMut(Duration) -> u64>;

pub struct Harness {
    pub bwe: SendSideBwe,
    pub link: Link,
    start: Instant,
    pub now: Instant,
    base_delay: Duration,
    return_delay: Duration,
    seq: u16,
    budget: f64,
    next_pace: Instant,
    /// Application rate cap (bps); `None` sends at the target.
    pub app_rate: Option<u64>,
    probe_queue: VecDeque<(Instant, usize, ProbeClusterId)>,

    // receiver
    arrivals: VecDeque<(u64, i64)>,
    recv_max: Option<u64>,
    next_report: Option<u64>,
    next_feedback: Instant,
    fb_count: u8,
    fb_buf: Vec<u8>,
    feedback_path: VecDeque<(Instant, Vec<u8>)>,
    pub samples: Vec<Sample>,
    pub delivery: Delivery,
    last_good: Option<Instant>,
    media_started: bool,
    last_q: Duration,
    pub remb_every: Option<(Duration, RembScript)>,
    next_remb: Instant,
    pub probes: Vec<ProbeCluster>,
    pub print_every: usize,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}

impl Harness {
    pub fn new(config: BweConfig, link: LinkConfig, seed: u64) -> Self {
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let base_delay = link.delay;
        let mut bwe = SendSideBwe::new(config, start);
        bwe.on_rtt(base_delay * 2);
        Self {
            bwe,
            link: Link::new(link, SimRng::derive(seed, 1), start),
            start,
            now: start,
            base_delay,
            return_delay: base_delay,
            seq: 0,
            budget: 0.0,
            next_pace: start,
            app_rate: None,
            probe_queue: VecDeque::new(),

            arrivals: VecDeque::new(),
            recv_max: None,
            next_report: None,
            next_feedback: start + FEEDBACK_EVERY,
            fb_count: 0,
            fb_buf: vec![0u8; 1500],
            feedback_path: VecDeque::new(),
            samples: Vec::new(),
            delivery: Delivery::default(),
            last_good: None,
            media_started: false,
            last_q: Duration::ZERO,
            remb_every: None,
            next_remb: start,
            probes: Vec::new(),
            print_every: 5,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn send(&mut self, at: Instant, size: usize, probe: Option<ProbeClusterId>) {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.bwe.on_packet_sent(at, seq, size, probe);
        let mut data = vec![0u8; size.max(11)];
        data[0..2].copy_from_slice(&seq.to_be_bytes());
        data[2] = u8::from(probe.is_some());
        let us = (at - self.start).as_micros() as u64;
        data[3..11].copy_from_slice(&us.to_be_bytes());
        self.link.send(at, data);
    }

    fn receive(&mut self, now: Instant) {
        while let Some(d) = self.link.poll_delivery(now) {
            let seq = u16::from_be_bytes([d[0], d[1]]);
            let at_us = (now - self.start).as_micros() as i64 + RECEIVER_OFFSET_US;
            let ext = match self.recv_max {
                None => u64::from(seq) + (1 << 16),
                Some(m) => (m as i64 + i64::from(seq.wrapping_sub(m as u16) as i16)) as u64,
            };
            if self.recv_max.is_none_or(|m| ext > m) {
                self.recv_max = Some(ext);
            }
            if self.next_report.is_none() {
                self.next_report = Some(ext);
            }
            if self.next_report.is_some_and(|n| ext >= n) {
                self.arrivals.push_back((ext, at_us));
            }
            if d[2] == 0 {
                let sent_us = u64::from_be_bytes(d[3..11].try_into().unwrap());
                let owd = (now - self.start) - Duration::from_micros(sent_us);
                let q = owd.saturating_sub(self.base_delay);
                self.last_q = q;
                self.delivery.delivered += 1;
                self.delivery.bytes += d.len() as u64;
                self.delivery.max_queue_delay = self.delivery.max_queue_delay.max(q);
                self.media_started = true;
                if q > Duration::from_millis(200) {
                    self.delivery.late += 1;
                } else {
                    self.good(now);
                }
            }
        }
    }

    fn good(&mut self, now: Instant) {
        if let Some(l) = self.last_good {
            let gap = now - l;
            if gap >= Duration::from_millis(200) {
                self.delivery.freezes += 1;
                self.delivery.frozen += gap;
            }
        }
        self.last_good = Some(now);
    }

    fn send_feedback(&mut self, now: Instant) {
        let (Some(mut next), Some(max)) = (self.next_report, self.recv_max) else {
            return;
        };
        let mut arrivals: Vec<Option<i64>> = Vec::new();
        // Collect arrivals in [next, max].
        let mut got: Vec<(u64, i64)> = self.arrivals.drain(..).filter(|a| a.0 >= next).collect();
        got.sort_by_key(|a| a.0);
        got.dedup_by_key(|a| a.0);
        if got.is_empty() {
            return;
        }
        // The builder needs a received first entry: start at the first arrival.
        next = next.max(got[0].0);
        for ext in next..=max {
            arrivals.push(None);
            let _ = ext;
        }
        for (ext, at) in &got {
            if *ext >= next {
                arrivals[(ext - next) as usize] = Some(*at);
            }
        }
        let mut base = next;
        let mut rest = &arrivals[..];
        while !rest.is_empty() {
            if rest[0].is_none() {
                // Skip leading losses (they are reported as a gap).
                rest = &rest[1..];
                base += 1;
                continue;
            }
            let Some((n, covered)) =
                rtcp::write_transport_cc(&mut self.fb_buf, 1, 2, base as u16, self.fb_count, rest)
            else {
                break;
            };
            self.fb_count = self.fb_count.wrapping_add(1);
            self.feedback_path
                .push_back((now + self.return_delay, self.fb_buf[..n].to_vec()));
            rest = &rest[covered..];
            base += covered as u64;
        }
        self.next_report = Some(max + 1);
    }

    fn deliver_feedback(&mut self, now: Instant) {
        while self.feedback_path.front().is_some_and(|f| f.0 <= now) {
            let (_, bytes) = self.feedback_path.pop_front().unwrap();
            for p in rtcp::parse_compound(&bytes) {
                if let Ok(RtcpPacket::TransportCc(fb)) = p {
                    self.bwe.on_feedback(now, &fb);
                }
            }
        }
    }

    fn pace(&mut self, now: Instant) {
        while self.next_pace <= now {
            let at = self.next_pace;
            self.next_pace += PACE;
            let target = self.bwe.target_bitrate();
            let rate = self.app_rate.map_or(target, |a| a.min(target));
            self.budget += rate as f64 * PACE.as_secs_f64() / 8.0;
            self.budget = self.budget.min(4.0 * MTU as f64);
            while self.budget >= MTU as f64 {
                self.budget -= MTU as f64;
                self.send(at, MTU, None);
            }
        }
    }

    fn probe(&mut self, now: Instant) {
        if let Some(c) = self.bwe.poll_probe(now) {
            self.probes.push(c);
            // Padding at the cluster's rate, evenly sized and paced; media goes on untagged.
            let pad_bps = c.target_bps;
            let pad_bytes = c.min_bytes;
            let n = (pad_bytes.div_ceil(MTU as u64) as u32).max(c.min_packets);
            let size = (pad_bytes / u64::from(n)).clamp(100, MTU as u64) as usize;
            let gap = Duration::from_secs_f64(size as f64 * 8.0 / pad_bps as f64);
            for i in 0..n {
                self.probe_queue.push_back((now + gap * i, size, c.id));
            }
        }
        while self.probe_queue.front().is_some_and(|p| p.0 <= now) {
            let (at, size, id) = self.probe_queue.pop_front().unwrap();
            self.send(at, size, Some(id));
        }
    }

    /// Runs for `d`, sampling every 100 ms.
    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += STEP;
            let now = self.now;
            self.pace(now);
            self.probe(now);
            self.receive(now);
            if now >= self.next_feedback {
                self.next_feedback += FEEDBACK_EVERY;
                self.send_feedback(now);
            }
            self.deliver_feedback(now);
            if let Some((every, f)) = self.remb_every.as_mut()
                && now >= self.next_remb
            {
                self.next_remb = now + *every;
                let bps = f(now - self.start);
                self.bwe.on_remb(now, bps);
            }
            if now >= self.bwe.poll_timeout() {
                self.bwe.handle_timeout(now);
            }
            // Receiver reports once a second: the round trip includes the queue the media
            // waits in (an SR or RR waits there too), as the engine measures it.
            if (now - self.start).as_micros().is_multiple_of(1_000_000) {
                self.bwe
                    .on_rtt(self.base_delay + self.return_delay + self.last_q);
            }
            if (now - self.start).as_micros().is_multiple_of(100_000) {
                let capacity = self.link.rate_at(now).unwrap_or(0);
                let sent_bps = self.bwe.send_rate(now);
                self.samples.push(Sample {
                    at: now - self.start,
                    target: self.bwe.target_bitrate(),
                    capacity,
                    sent_bps,
                    threshold: self.bwe.detector().threshold(),
                    trend: self.bwe.trendline().modified_trend(),
                    delay_based: self.bwe.delay_based_bitrate(),
                    loss_based: self.bwe.loss_based_bitrate(),
                    loss: self.bwe.loss_fraction(),
                    queue_delay: self.last_q,
                });
            }
        }
    }

    /// Delivery figures, counting a freeze still open at the end of the run.
    pub fn delivery(&self) -> Delivery {
        let mut d = self.delivery.clone();
        let open = self.now - self.last_good.unwrap_or(self.start);
        if self.media_started && open >= Duration::from_millis(200) {
            d.freezes += 1;
            d.frozen += open;
        }
        d
    }

    /// Targets sampled in `[from, to)`.
    pub fn targets(&self, from: Duration, to: Duration) -> impl Iterator<Item = u64> + '_ {
        self.samples
            .iter()
            .filter(move |s| s.at >= from && s.at < to)
            .map(|s| s.target)
    }

    /// First sample at or after `from` satisfying `pred`.
    pub fn first_at(&self, from: Duration, pred: impl Fn(u64) -> bool) -> Option<Duration> {
        self.samples
            .iter()
            .find(|s| s.at >= from && pred(s.target))
            .map(|s| s.at)
    }

    pub fn print(&self, label: &str) {
        println!("--- {label}");
        for s in self.samples.iter().step_by(self.print_every) {
            println!(
                "{:>6.1}s target {:>8} capacity {:>8} sent {:>8} D {:>8} L {:>8} loss {:.3} m {:>7.1} thr {:>6.1} q {:>4}ms",
                s.at.as_secs_f64(),
                s.target,
                s.capacity,
                s.sent_bps,
                s.delay_based,
                s.loss_based,
                s.loss,
                s.trend,
                s.threshold,
                s.queue_delay.as_millis()
            );
        }
    }
}

/// A bottleneck link: `delay` one way, `rate` bps, a queue of `queue_ms` at that rate.
pub fn bottleneck(delay_ms: u64, rate: u64, queue_ms: u64) -> LinkConfig {
    let queue = (rate * queue_ms / 8000) as usize;
    LinkConfig::new(Duration::from_millis(delay_ms)).with_rate(rate, queue.max(20 * MTU))
}
