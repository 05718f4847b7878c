//! A call in one process: members' `Session`s, the DS in the middle, a virtual clock.
//!
//! The DS is the real `DeliveryService`; tests that play a malicious server inject, drop,
//! replay or reorder what it delivers through [`Call::inject`] and [`Call::tap`].
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use telesfu_e2ee::media::Codec;
use telesfu_e2ee::mls::ds::{Delivery, DeliveryService, DsConfig, FromDs};
use telesfu_e2ee::mls::identity::{Authority, Claims, TrustAnchors};
use telesfu_e2ee::session::{Event, MemberKey, Session, SessionConfig, SessionParams};

pub const ROOM: &str = "visit-1";
pub const UNIX_START: u64 = 1_800_000_000;

/// A malicious DS's filter over what it delivers to member `usize`.
pub type Tap = Box<dyn FnMut(usize, FromDs) -> Vec<FromDs>>;

pub struct Member {
    pub name: String,
    pub participant: String,
    pub session: Session,
    pub inbox: VecDeque<FromDs>,
    pub events: Vec<Event>,
    pub connected: bool,
}

pub struct Call {
    pub ds: DeliveryService,
    pub members: Vec<Member>,
    pub start: Instant,
    pub now: Instant,
    pub authority: Authority,
    pub config: SessionConfig,
    /// Everything the DS delivered, in order, with its recipients.
    pub log: Vec<(Vec<usize>, FromDs)>,
    /// When set, deliveries pass through this filter (a malicious DS): it returns what to
    /// deliver instead (possibly nothing, possibly more).
    pub tap: Option<Tap>,
    /// When set, everything the DS sends this member is kept in `held` instead (the test
    /// delivers it later, in its own order).
    pub hold: Option<usize>,
    pub held: Vec<FromDs>,
    seed: u8,
}

impl Call {
    pub fn new() -> Self {
        Self::with_config(SessionConfig::default())
    }

    pub fn with_config(config: SessionConfig) -> Self {
        // The test is the caller: its clock starts anywhere.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        Self {
            ds: DeliveryService::new(DsConfig::default()),
            members: Vec::new(),
            start: now,
            now,
            authority: Authority::from_seed(&[42; 32]),
            config,
            log: Vec::new(),
            tap: None,
            hold: None,
            held: Vec::new(),
            seed: 0,
        }
    }

    pub fn anchors(&self) -> TrustAnchors {
        TrustAnchors::new([self.authority.public_key()])
    }

    pub fn unix(&self) -> Duration {
        Duration::from_secs(UNIX_START) + self.now.duration_since(self.start)
    }

    pub fn certify(
        &self,
        authority: &Authority,
        key: &MemberKey,
        name: &str,
        role: &str,
    ) -> Vec<u8> {
        let mut claims = Claims::new(
            &format!("sub-{name}"),
            ROOM,
            UNIX_START - 60,
            UNIX_START + 86_400,
        );
        claims.name = name.into();
        claims.role = role.into();
        claims.tenant = "clinic-a".into();
        authority.issue(&claims, &key.public_key()).unwrap()
    }

    /// A session for `name`, certified by the call's authority, not yet connected.
    pub fn session(&mut self, name: &str, role: &str) -> (Session, String) {
        self.seed += 1;
        let key = MemberKey::from_seed([self.seed; 32]);
        let cert = self.certify(&self.authority, &key, name, role);
        let participant = format!("p{}", self.seed);
        let params = SessionParams::new(
            ROOM,
            &participant,
            self.anchors(),
            key,
            cert,
            [self.seed ^ 0xa5; 32],
        );
        (
            Session::new(self.config.clone(), params, self.now, self.unix()).unwrap(),
            participant,
        )
    }

    /// Connects `session` to the DS (it receives the group state) and runs to quiet.
    pub fn connect(&mut self, name: &str, session: Session, participant: String) -> usize {
        let idx = self.members.len();
        self.members.push(Member {
            name: name.into(),
            participant,
            session,
            inbox: VecDeque::new(),
            events: Vec::new(),
            connected: true,
        });
        let state = self.ds.state();
        self.deliver(vec![idx], state);
        self.pump();
        idx
    }

    pub fn join(&mut self, name: &str, role: &str) -> usize {
        let (s, p) = self.session(name, role);
        self.connect(name, s, p)
    }

    fn deliver(&mut self, to: Vec<usize>, msg: FromDs) {
        self.log.push((to.clone(), msg.clone()));
        for i in to {
            if !self.members[i].connected {
                continue;
            }
            if self.hold == Some(i) {
                self.held.push(msg.clone());
                continue;
            }
            let msgs = match self.tap.as_mut() {
                Some(tap) => tap(i, msg.clone()),
                None => vec![msg.clone()],
            };
            self.members[i].inbox.extend(msgs);
        }
    }

    /// Delivers `msg` to member `i` as if the DS sent it (a malicious DS), then runs to quiet.
    pub fn inject(&mut self, i: usize, msg: FromDs) {
        self.members[i].inbox.push_back(msg);
        self.pump();
    }

    /// Runs message passing until nothing moves.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..self.members.len() {
                if !self.members[i].connected {
                    continue;
                }
                while let Some(msg) = self.members[i].inbox.pop_front() {
                    moved = true;
                    let now = self.now;
                    self.members[i].session.handle_ds(now, msg);
                }
                while let Some(ev) = self.members[i].session.poll_event() {
                    self.members[i].events.push(ev);
                }
                while let Some(t) = self.members[i].session.poll_transmit() {
                    moved = true;
                    let unix = self.unix().as_secs();
                    let out = self.ds.handle(t, unix);
                    let connected: Vec<usize> = (0..self.members.len())
                        .filter(|j| self.members[*j].connected)
                        .collect();
                    match out {
                        Delivery::Sender(m) => self.deliver(vec![i], m),
                        Delivery::All(m) => self.deliver(connected, m),
                        Delivery::Others(m) => {
                            self.deliver(connected.into_iter().filter(|j| *j != i).collect(), m)
                        }
                        other => panic!("unknown delivery {other:?}"),
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("livelock: messages still moving after 10000 rounds");
    }

    /// Advances the clock by `d` in steps, firing every due timer and pumping.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            let next = self
                .members
                .iter()
                .filter(|m| m.connected)
                .filter_map(|m| m.session.poll_timeout())
                .filter(|t| *t <= end)
                .min();
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            for i in 0..self.members.len() {
                if self.members[i].connected
                    && self.members[i]
                        .session
                        .poll_timeout()
                        .is_some_and(|x| x <= self.now)
                {
                    let now = self.now;
                    self.members[i].session.handle_timeout(now);
                }
            }
            self.pump();
        }
        self.now = end;
        self.pump();
    }

    /// The member leaves (its connection closes); signaling tells the others.
    pub fn leave(&mut self, i: usize) {
        self.members[i].connected = false;
        let p = self.members[i].participant.clone();
        for j in 0..self.members.len() {
            if self.members[j].connected {
                let now = self.now;
                self.members[j].session.participant_left(now, &p);
            }
        }
        if self.members.iter().all(|m| !m.connected) {
            self.ds.reset();
        }
        self.pump();
    }

    pub fn connected(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|i| self.members[*i].connected)
            .collect()
    }

    /// Every connected member: same epoch, same code, same roster (by leaf and fingerprint).
    pub fn assert_agree(&self) -> (u64, String) {
        let c = self.connected();
        let first = &self.members[c[0]].session;
        let epoch = first.epoch().expect("member");
        let code = first.verification_code().unwrap().to_string();
        let roster: Vec<_> = first
            .roster()
            .iter()
            .map(|r| (r.leaf, r.fingerprint.clone(), r.name.clone()))
            .collect();
        for i in &c {
            let s = &self.members[*i].session;
            assert_eq!(
                s.epoch(),
                Some(epoch),
                "{} disagrees on the epoch",
                self.members[*i].name
            );
            assert_eq!(
                s.verification_code(),
                Some(code.as_str()),
                "{} disagrees on the code",
                self.members[*i].name
            );
            let r: Vec<_> = s
                .roster()
                .iter()
                .map(|r| (r.leaf, r.fingerprint.clone(), r.name.clone()))
                .collect();
            assert_eq!(
                r, roster,
                "{} disagrees on the roster",
                self.members[*i].name
            );
        }
        assert_eq!(
            roster.len(),
            c.len(),
            "roster size differs from the members connected"
        );
        (epoch, code)
    }

    /// Member `from` seals a VP8 delta frame; returns the wire bytes.
    pub fn seal(&mut self, from: usize, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x31, 0x00, 0x00]; // VP8 delta frame tag: 3 clear bytes
        frame.extend_from_slice(payload);
        let s = &mut self.members[from].session;
        let mut buf = vec![0u8; s.seal_buffer_len(Codec::Vp8, frame.len())];
        buf[..frame.len()].copy_from_slice(&frame);
        let n = s
            .seal_frame(Codec::Vp8, &mut buf, frame.len())
            .expect("seal");
        buf.truncate(n);
        buf
    }

    /// Member `to` opens `wire` as sent by participant `sender`; returns the payload.
    pub fn open(
        &mut self,
        to: usize,
        sender: &str,
        wire: &[u8],
    ) -> Result<Vec<u8>, telesfu_e2ee::Error> {
        let mut buf = wire.to_vec();
        let (_, n) = self.members[to]
            .session
            .open_frame(sender, Codec::Vp8, &mut buf)?;
        Ok(buf[3..n].to_vec())
    }

    /// Every connected member opens a fresh frame of every other.
    pub fn assert_media_flows(&mut self) {
        let c = self.connected();
        for &a in &c {
            let payload = format!("frame from {}", self.members[a].name).into_bytes();
            let wire = self.seal(a, &payload);
            let pa = self.members[a].participant.clone();
            for &b in &c {
                if a != b {
                    let got = self.open(b, &pa, &wire).unwrap_or_else(|e| {
                        panic!(
                            "{} cannot open {}'s frame: {e}",
                            self.members[b].name, self.members[a].name
                        )
                    });
                    assert_eq!(got, payload);
                }
            }
        }
    }

    pub fn events(&self, i: usize) -> &[Event] {
        &self.members[i].events
    }

    pub fn refusals(&self, i: usize) -> usize {
        self.members[i]
            .events
            .iter()
            .filter(|e| matches!(e, Event::Refused { .. }))
            .count()
    }
}
