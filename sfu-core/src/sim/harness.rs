//! The harness: one engine and its clients on a simulated network, driven in virtual time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::decoder::{ReceiverConfig, VirtualDecoder};
use super::link::{Link, LinkConfig};
use super::publisher::{MediaCodec, Publisher, PublisherConfig};
use super::rng::SimRng;
use super::subscriber::Subscriber;
use crate::Engine;
use crate::engine::{
    EngineConfig, Error, Event, ExtensionIds, Input, LayerPreference, ParticipantConfig,
    SubscriptionConfig,
};
use crate::ids::{ParticipantId, RoomId, Ssrc, SubscriptionId, TrackId};

/// A client of the simulation: one engine participant with its own uplink and downlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub usize);

/// How a simulation runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimConfig {
    /// Seeds every random draw (links, frame sizes, SSRCs, payload bytes).
    pub seed: u64,
    /// The engine's configuration.
    pub engine: EngineConfig,
    /// Header extension IDs every client negotiates (transport-wide CC 3 and dependency
    /// descriptor 12 by default).
    pub extensions: ExtensionIds,
    /// Receiver behaviour of every client.
    pub receiver: ReceiverConfig,
    /// Rounds of work at one instant before the harness declares a livelock and panics.
    pub max_rounds_per_instant: usize,
    /// The wall clock at the start, NTP format (stamps sender reports).
    pub ntp_start: u64,
    /// Engine events kept (later ones are counted, not kept).
    pub max_events: usize,
}

impl SimConfig {
    /// Defaults with `seed`.
    pub fn new(seed: u64) -> Self {
        let extensions = ExtensionIds {
            transport_cc: Some(3),
            dependency_descriptor: Some(12),
            ..ExtensionIds::default()
        };
        Self {
            seed,
            engine: EngineConfig::default(),
            extensions,
            receiver: ReceiverConfig::default(),
            max_rounds_per_instant: 100_000,
            // 2025-01-01T00:00:00Z in NTP seconds.
            ntp_start: 3_944_678_400 << 32,
            max_events: 100_000,
        }
    }

    /// With this engine configuration.
    pub fn with_engine(mut self, engine: EngineConfig) -> Self {
        self.engine = engine;
        self
    }

    /// With this receiver behaviour for every client.
    pub fn with_receiver(mut self, receiver: ReceiverConfig) -> Self {
        self.receiver = receiver;
        self
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::new(1)
    }
}

/// One client: the participant, its links, what it publishes and what it receives.
#[derive(Debug)]
pub struct Client {
    participant: ParticipantId,
    uplink: Link,
    downlink: Link,
    publishers: Vec<(TrackId, Publisher)>,
    subscriber: Subscriber,
    active: bool,
    /// Earliest timer of the publishers and the subscriber, refreshed whenever they change.
    wakeup: Option<Instant>,
}

impl Client {
    /// The engine participant.
    pub fn participant(&self) -> ParticipantId {
        self.participant
    }

    /// Client to SFU.
    pub fn uplink(&self) -> &Link {
        &self.uplink
    }

    /// SFU to client.
    pub fn downlink(&self) -> &Link {
        &self.downlink
    }

    /// Client to SFU, to change its behaviour mid-run.
    pub fn uplink_mut(&mut self) -> &mut Link {
        &mut self.uplink
    }

    /// SFU to client, to change its behaviour mid-run.
    pub fn downlink_mut(&mut self) -> &mut Link {
        &mut self.downlink
    }

    /// The tracks it publishes.
    pub fn publishers(&self) -> impl Iterator<Item = (TrackId, &Publisher)> {
        self.publishers.iter().map(|(t, p)| (*t, p))
    }

    /// Its receiving side.
    pub fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }

    /// False once it left.
    pub fn is_active(&self) -> bool {
        self.active
    }

    fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if crate::rtp::is_rtcp(data) {
            for (_, p) in &mut self.publishers {
                p.handle_datagram(now, data);
            }
        }
        self.subscriber.handle_datagram(now, data);
        self.refresh();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.wakeup
    }

    fn refresh(&mut self) {
        self.wakeup = if self.active {
            self.publishers
                .iter()
                .filter_map(|(_, p)| p.poll_timeout())
                .chain(self.subscriber.poll_timeout())
                .min()
        } else {
            None
        };
    }

    fn handle_timeout(&mut self, now: Instant) {
        for (_, p) in &mut self.publishers {
            if p.poll_timeout().is_some_and(|t| t <= now) {
                p.handle_timeout(now);
            }
        }
        if self.subscriber.poll_timeout().is_some_and(|t| t <= now) {
            self.subscriber.handle_timeout(now);
        }
        self.refresh();
    }

    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        for (_, p) in &mut self.publishers {
            if let Some(d) = p.poll_transmit() {
                return Some(d);
            }
        }
        self.subscriber.poll_transmit()
    }
}

/// A deterministic simulation of one [`Engine`] and its clients.
///
/// Every call that runs time ([`Sim::run_for`], [`Sim::run_until`]) repeatedly finds the
/// earliest wakeup among the engine's [`Engine::poll_timeout`], every link's next delivery and
/// every client's timers, advances the virtual clock to it, and then handles everything due at
/// that instant: datagrams arriving, timeouts, and draining what the engine and the clients
/// want to send into the links, round after round until nothing is left. If more than
/// [`SimConfig::max_rounds_per_instant`] rounds pass without the clock moving, it panics with
/// what was due (a livelock: something keeps asking to be woken "now").
#[derive(Debug)]
pub struct Sim {
    config: SimConfig,
    start: Instant,
    now: Instant,
    engine: Engine,
    room: RoomId,
    clients: Vec<Client>,
    by_participant: BTreeMap<ParticipantId, usize>,
    tracks: BTreeMap<TrackId, (usize, usize, MediaCodec)>,
    subscriptions: BTreeMap<SubscriptionId, usize>,
    events: Vec<(Instant, Event)>,
    events_dropped: u64,
    undeliverable: u64,
    buf: Vec<u8>,
    next_ssrc: u32,
}

impl Sim {
    /// A simulation starting at `start` (any instant; the caller reads the clock once, or
    /// not at all), with one room.
    pub fn new(config: SimConfig, start: Instant) -> Self {
        let seed32 = (config.seed ^ (config.seed >> 32)) as u32;
        let mut engine = Engine::new(config.engine.clone(), start, config.ntp_start, seed32);
        let room = engine.create_room();
        let mut rng = SimRng::derive(config.seed, 0);
        Self {
            next_ssrc: (rng.next_u32() & 0x0fff_0000) | 0x1000_0000,
            start,
            now: start,
            engine,
            room,
            clients: Vec::new(),
            by_participant: BTreeMap::new(),
            tracks: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            events: Vec::new(),
            events_dropped: 0,
            undeliverable: 0,
            buf: vec![0; 1500],
            config,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The start.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// The room clients join by default.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, for commands the harness does not wrap. Pass it [`Sim::now`] as `now`.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Engine events so far, with when they were polled (the first [`SimConfig::max_events`]).
    pub fn events(&self) -> &[(Instant, Event)] {
        &self.events
    }

    /// Engine events polled after [`SimConfig::max_events`] were kept (counted, not kept).
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    /// Datagrams from the engine to a participant that has left or that the harness does not
    /// know.
    pub fn undeliverable(&self) -> u64 {
        self.undeliverable
    }

    fn ntp(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.start);
        let frac = (u128::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        self.config
            .ntp_start
            .wrapping_add(d.as_secs() << 32)
            .wrapping_add(frac as u64)
    }

    fn alloc_ssrc(&mut self, n: u32) -> u32 {
        let s = self.next_ssrc;
        self.next_ssrc = self.next_ssrc.wrapping_add(n.next_multiple_of(16));
        s
    }

    /// Adds a client to the default room.
    pub fn add_client(&mut self, uplink: LinkConfig, downlink: LinkConfig) -> ClientId {
        self.add_client_to(self.room, uplink, downlink)
            .expect("the default room exists for the simulation's lifetime")
    }

    /// Adds a client to `room` (from [`Engine::create_room`] via [`Sim::engine_mut`]).
    pub fn add_client_to(
        &mut self,
        room: RoomId,
        uplink: LinkConfig,
        downlink: LinkConfig,
    ) -> Result<ClientId, Error> {
        let pc = ParticipantConfig {
            extensions: self.config.extensions,
        };
        let participant = self.engine.add_participant(room, pc)?;
        let i = self.clients.len();
        let label = (i as u64 + 1) << 16;
        let rtcp_ssrc = self.alloc_ssrc(1);
        self.clients.push(Client {
            participant,
            uplink: Link::new(
                uplink,
                SimRng::derive(self.config.seed, label | 1),
                self.start,
            ),
            downlink: Link::new(
                downlink,
                SimRng::derive(self.config.seed, label | 2),
                self.start,
            ),
            publishers: Vec::new(),
            wakeup: None,
            subscriber: Subscriber::new(
                rtcp_ssrc,
                self.config.receiver,
                self.config.extensions,
                self.now,
            ),
            active: true,
        });
        self.clients[i].refresh();
        self.by_participant.insert(participant, i);
        Ok(ClientId(i))
    }

    fn client_index(&self, c: ClientId) -> Result<usize, Error> {
        match self.clients.get(c.0) {
            Some(cl) if cl.active => Ok(c.0),
            Some(cl) => Err(Error::UnknownParticipant(cl.participant)),
            None => Err(Error::UnknownParticipant(ParticipantId(u64::MAX))),
        }
    }

    /// A client.
    ///
    /// # Panics
    /// If `c` did not come from this simulation.
    pub fn client(&self, c: ClientId) -> &Client {
        &self.clients[c.0]
    }

    /// A client, to change its links mid-run.
    ///
    /// # Panics
    /// If `c` did not come from this simulation.
    pub fn client_mut(&mut self, c: ClientId) -> &mut Client {
        &mut self.clients[c.0]
    }

    /// Starts a synthetic publisher on `client` and publishes its track.
    pub fn publish(&mut self, client: ClientId, config: PublisherConfig) -> Result<TrackId, Error> {
        let i = self.client_index(client)?;
        config.validate().map_err(Error::InvalidConfig)?;
        let codec = config.codec;
        let base = self.alloc_ssrc(2 * config.layers.len() as u32);
        let k = self.clients[i].publishers.len() as u64;
        let rng = SimRng::derive(self.config.seed, ((i as u64 + 1) << 16) | (0x100 + k));
        let publisher = Publisher::new(
            config,
            base,
            self.config.extensions,
            rng,
            self.now,
            self.ntp(self.now),
        );
        let participant = self.clients[i].participant;
        let track = self.engine.publish(participant, publisher.track_config())?;
        let j = self.clients[i].publishers.len();
        self.clients[i].publishers.push((track, publisher));
        self.clients[i].refresh();
        self.tracks.insert(track, (i, j, codec));
        Ok(track)
    }

    /// Subscribes `client` to `track` with a preference. A video subscription negotiates RTX
    /// (audio never does) and the simulation's extension IDs; its SSRCs come from the
    /// simulation.
    pub fn subscribe(
        &mut self,
        client: ClientId,
        track: TrackId,
        preference: LayerPreference,
    ) -> Result<SubscriptionId, Error> {
        self.subscribe_with(client, track, preference, true)
    }

    /// [`Sim::subscribe`] with or without RTX (a receiver that offers no `video/rtx`, as some
    /// WHEP players do): without it the engine retransmits on the media SSRC and probes with
    /// padding there.
    pub fn subscribe_with(
        &mut self,
        client: ClientId,
        track: TrackId,
        preference: LayerPreference,
        rtx: bool,
    ) -> Result<SubscriptionId, Error> {
        let i = self.client_index(client)?;
        let &(_, _, codec) = self.tracks.get(&track).ok_or(Error::UnknownTrack(track))?;
        let ssrc = self.alloc_ssrc(2);
        let (pt, rtx_pt) = match codec {
            MediaCodec::Vp8 => (96, Some(97)),
            MediaCodec::Av1 => (45, Some(46)),
            MediaCodec::Opus => (111, None),
        };
        let rtx_pt = rtx_pt.filter(|_| rtx);
        let mut cfg = SubscriptionConfig::new(Ssrc(ssrc), pt);
        if let Some(rpt) = rtx_pt {
            cfg = cfg.with_rtx(Ssrc(ssrc + 1), rpt);
        }
        cfg.preference = preference;
        let participant = self.clients[i].participant;
        let sub = self.engine.subscribe(self.now, participant, track, cfg)?;
        self.clients[i]
            .subscriber
            .add_stream(sub, codec, ssrc, rtx_pt.map(|_| ssrc + 1));
        self.clients[i].refresh();
        self.subscriptions.insert(sub, i);
        Ok(sub)
    }

    /// Changes a subscription's layer preference now.
    pub fn set_preference(
        &mut self,
        sub: SubscriptionId,
        pref: LayerPreference,
    ) -> Result<(), Error> {
        self.engine.set_preference(self.now, sub, pref)
    }

    /// The client receiving `sub`.
    pub fn subscriber_of(&self, sub: SubscriptionId) -> Option<ClientId> {
        self.subscriptions.get(&sub).map(|&i| ClientId(i))
    }

    /// The virtual decoder of `sub` (kept after the subscription or its track ended).
    pub fn decoder(&self, sub: SubscriptionId) -> Option<&VirtualDecoder> {
        let &i = self.subscriptions.get(&sub)?;
        self.clients[i].subscriber.decoder(sub)
    }

    /// The synthetic publisher of `track`.
    pub fn publisher(&self, track: TrackId) -> Option<&Publisher> {
        let &(i, j, _) = self.tracks.get(&track)?;
        self.clients[i].publishers.get(j).map(|(_, p)| p)
    }

    /// The synthetic publisher of `track`, to change what it sends.
    pub fn publisher_mut(&mut self, track: TrackId) -> Option<&mut Publisher> {
        let &(i, j, _) = self.tracks.get(&track)?;
        self.clients[i].publishers.get_mut(j).map(|(_, p)| p)
    }

    /// The client leaves now: removed from the engine (its tracks and subscriptions end), its
    /// publishers stop, and it stops sending and receiving. Datagrams it already sent still
    /// reach the engine (which drops them as from an unknown participant).
    pub fn remove_client(&mut self, client: ClientId) -> Result<(), Error> {
        let i = self.client_index(client)?;
        let c = &mut self.clients[i];
        self.engine.remove_participant(c.participant)?;
        c.active = false;
        for (_, p) in &mut c.publishers {
            p.stop();
        }
        c.refresh();
        Ok(())
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs until `until` (nothing happens if it has passed).
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.process_now();
            match self.next_wakeup() {
                Some(t) if t <= until => {
                    // After `process_now` nothing is due at `now`, so `t` is in the future;
                    // if it is not, something claims to be due and does nothing.
                    if t <= self.now {
                        panic!(
                            "{}",
                            self.livelock_report("a wakeup at or before now did nothing")
                        );
                    }
                    self.now = t;
                }
                _ => {
                    if until > self.now {
                        self.now = until;
                        self.process_now();
                    }
                    return;
                }
            }
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        let mut t = self.engine.poll_timeout();
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for c in &self.clients {
            min(c.uplink.next_delivery());
            min(c.downlink.next_delivery());
            min(c.poll_timeout());
        }
        t
    }

    /// Handles everything due at `now`, round after round, until nothing is left.
    fn process_now(&mut self) {
        let now = self.now;
        let mut rounds = 0usize;
        loop {
            let mut progressed = false;
            for i in 0..self.clients.len() {
                let from = self.clients[i].participant;
                while let Some(d) = self.clients[i].uplink.poll_delivery(now) {
                    self.engine
                        .handle_input(now, Input::Datagram { from, contents: &d });
                    progressed = true;
                }
                while let Some(d) = self.clients[i].downlink.poll_delivery(now) {
                    if self.clients[i].active {
                        self.clients[i].handle_datagram(now, &d);
                    }
                    progressed = true;
                }
            }
            if self.engine.poll_timeout().is_some_and(|t| t <= now) {
                self.engine.handle_input(now, Input::Timeout);
                progressed = true;
            }
            for c in &mut self.clients {
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                    progressed = true;
                }
            }
            progressed |= self.drain(now);
            if !progressed {
                return;
            }
            rounds += 1;
            if rounds > self.config.max_rounds_per_instant {
                panic!(
                    "{}",
                    self.livelock_report("too many rounds of work at one instant")
                );
            }
        }
    }

    /// Moves what the engine and the clients want to send into the links.
    fn drain(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(t) = self.engine.poll_transmit(now, &mut self.buf) {
            any = true;
            match self
                .by_participant
                .get(&t.to)
                .map(|&i| &mut self.clients[i])
            {
                Some(c) if c.active => c.downlink.send(now, self.buf[..t.len].to_vec()),
                _ => self.undeliverable += 1,
            }
        }
        while let Some(e) = self.engine.poll_event() {
            any = true;
            if self.events.len() < self.config.max_events {
                self.events.push((now, e));
            } else {
                self.events_dropped += 1;
            }
        }
        for c in &mut self.clients {
            if !c.active {
                continue;
            }
            while let Some(d) = c.poll_transmit() {
                any = true;
                c.uplink.send(now, d);
            }
        }
        any
    }

    fn livelock_report(&self, what: &str) -> String {
        let now = self.now;
        let mut s = format!(
            "simulation livelock at {:?} after start: {what}\n  engine wakeup: {:?}\n",
            self.elapsed(),
            self.engine
                .poll_timeout()
                .map(|t| t.saturating_duration_since(self.start)),
        );
        for (i, c) in self.clients.iter().enumerate() {
            let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
            if due(c.poll_timeout())
                || due(c.uplink.next_delivery())
                || due(c.downlink.next_delivery())
            {
                let _ = writeln!(
                    s,
                    "  client {i} ({}): timer {:?}, uplink {:?} ({} in flight), downlink {:?} ({} in flight)",
                    c.participant,
                    c.poll_timeout()
                        .map(|t| t.saturating_duration_since(self.start)),
                    c.uplink
                        .next_delivery()
                        .map(|t| t.saturating_duration_since(self.start)),
                    c.uplink.in_flight(),
                    c.downlink
                        .next_delivery()
                        .map(|t| t.saturating_duration_since(self.start)),
                    c.downlink.in_flight(),
                );
            }
        }
        s
    }
}
