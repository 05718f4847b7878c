//! Three members of a visit agree SFrame keys over MLS, with the SFU's Delivery Service in the
//! middle, seal and open media, then one leaves and is rekeyed out: the frames sealed after
//! the leave no longer open with what the leaver holds.
//!
//! ```sh
//! cargo run -p telesfu-examples --example sframe_session
//! ```
//!
//! Everything runs in one process on a virtual clock: the members' `Session`s (in a real call,
//! one per browser worker or native client), the `DeliveryService` (in a real call, inside the
//! SFU, which orders handshake messages and never learns a key), and the authority that
//! certifies members (in a real call, the vendor's backend). The signaling channel is a queue.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use telesfu_e2ee::media::Codec;
use telesfu_e2ee::mls::ds::{Delivery, DeliveryService, DsConfig, FromDs};
use telesfu_e2ee::mls::identity::{Authority, Claims, TrustAnchors};
use telesfu_e2ee::session::{MemberKey, Session, SessionConfig, SessionParams};

const ROOM: &str = "visit-42";
/// Wall-clock seconds at the start (certificate validity is checked against it).
const UNIX_START: u64 = 1_800_000_000;

struct Member {
    name: &'static str,
    participant: String,
    session: Session,
    inbox: VecDeque<FromDs>,
    connected: bool,
}

struct Visit {
    ds: DeliveryService,
    authority: Authority,
    members: Vec<Member>,
    start: Instant,
    now: Instant,
}

impl Visit {
    fn unix(&self) -> Duration {
        Duration::from_secs(UNIX_START) + self.now.duration_since(self.start)
    }

    /// A member joins: a key of its own, a certificate from the authority, a session; the DS
    /// hands it the group's state and the member takes it from there.
    fn join(&mut self, name: &'static str, role: &str) -> usize {
        let n = self.members.len() as u8 + 1;
        // Seeds from the OS generator in a real client; fixed here so runs repeat.
        let key = MemberKey::from_seed([n; 32]);
        let mut claims = Claims::new(
            &format!("user-{n}"),
            ROOM,
            UNIX_START - 60,
            UNIX_START + 3600,
        );
        claims.name = name.into();
        claims.role = role.into();
        let certificate = self
            .authority
            .issue(&claims, &key.public_key())
            .expect("a valid claim set");
        let anchors = TrustAnchors::new([self.authority.public_key()]);
        let participant = format!("p{n}");
        let params = SessionParams::new(
            ROOM,
            &participant,
            anchors,
            key,
            certificate,
            [n ^ 0x5a; 32],
        );
        let session = Session::new(SessionConfig::default(), params, self.now, self.unix())
            .expect("a valid session");
        self.members.push(Member {
            name,
            participant,
            session,
            inbox: VecDeque::from([self.ds.state()]),
            connected: true,
        });
        self.pump();
        self.members.len() - 1
    }

    /// Moves messages between the members and the DS until nothing moves (the drain order of
    /// every telesfu state machine: feed, then poll transmits, then events).
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.members.len() {
                if !self.members[i].connected {
                    continue;
                }
                while let Some(msg) = self.members[i].inbox.pop_front() {
                    moved = true;
                    self.members[i].session.handle_ds(self.now, msg);
                }
                while self.members[i].session.poll_event().is_some() {}
                while let Some(msg) = self.members[i].session.poll_transmit() {
                    moved = true;
                    let unix = self.unix().as_secs();
                    match self.ds.handle(msg, unix) {
                        Delivery::Sender(m) => self.members[i].inbox.push_back(m),
                        Delivery::All(m) => self.send_to(&m, |_| true),
                        Delivery::Others(m) => self.send_to(&m, |j| j != i),
                        _ => {}
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn send_to(&mut self, msg: &FromDs, to: impl Fn(usize) -> bool) {
        for (j, m) in self.members.iter_mut().enumerate() {
            if m.connected && to(j) {
                m.inbox.push_back(msg.clone());
            }
        }
    }

    /// Advances the virtual clock by `d`, firing the members' timers.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self
            .members
            .iter()
            .filter(|m| m.connected)
            .filter_map(|m| m.session.poll_timeout())
            .filter(|t| *t <= end)
            .min()
        {
            self.now = self.now.max(t);
            for m in self.members.iter_mut().filter(|m| m.connected) {
                if m.session.poll_timeout().is_some_and(|x| x <= self.now) {
                    m.session.handle_timeout(self.now);
                }
            }
            self.pump();
        }
        self.now = end;
        self.pump();
    }

    /// Member `i` leaves; signaling tells the others, who commit its removal.
    fn leave(&mut self, i: usize) {
        self.members[i].connected = false;
        let gone = self.members[i].participant.clone();
        for m in self.members.iter_mut().filter(|m| m.connected) {
            m.session.participant_left(self.now, &gone);
        }
        self.pump();
    }

    /// Member `i` seals a VP8 delta frame (3 clear bytes, the rest encrypted).
    fn seal(&mut self, i: usize, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x31, 0x00, 0x00];
        frame.extend_from_slice(payload);
        let s = &mut self.members[i].session;
        let mut buf = vec![0u8; s.seal_buffer_len(Codec::Vp8, frame.len())];
        buf[..frame.len()].copy_from_slice(&frame);
        let n = s
            .seal_frame(Codec::Vp8, &mut buf, frame.len())
            .expect("a key to seal with");
        buf.truncate(n);
        buf
    }

    /// Member `i` opens `wire`, which the SFU attributes to participant `from`.
    fn open(&mut self, i: usize, from: &str, wire: &[u8]) -> Result<Vec<u8>, telesfu_e2ee::Error> {
        let mut buf = wire.to_vec();
        let (_, n) = self.members[i]
            .session
            .open_frame(from, Codec::Vp8, &mut buf)?;
        Ok(buf[3..n].to_vec())
    }

    fn show(&self, what: &str) {
        println!("{what}");
        for m in self.members.iter().filter(|m| m.connected) {
            println!(
                "  {:<12} epoch {} code {}",
                m.name,
                m.session.epoch().unwrap_or(0),
                m.session.verification_code().unwrap_or("-")
            );
        }
    }
}

fn main() {
    #[allow(
        clippy::disallowed_methods,
        reason = "the example's clock; sessions read none"
    )]
    let start = Instant::now();
    let mut visit = Visit {
        ds: DeliveryService::new(DsConfig::default()),
        authority: Authority::from_seed(&[7; 32]),
        members: Vec::new(),
        start,
        now: start,
    };
    let clinician = visit.join("Dr Lee", "clinician");
    let patient = visit.join("Pat", "patient");
    let interpreter = visit.join("Ivy", "interpreter");
    visit.advance(Duration::from_secs(2));
    visit.show("three members, one group (each screen shows the same code):");

    // Media: the patient's camera frame, opened by both others.
    let wire = visit.seal(patient, b"patient camera, frame 1");
    let from = visit.members[patient].participant.clone();
    for i in [clinician, interpreter] {
        let got = visit.open(i, &from, &wire).expect("a member opens");
        println!(
            "{} opens {}'s frame: {:?}",
            visit.members[i].name,
            visit.members[patient].name,
            String::from_utf8_lossy(&got)
        );
    }

    // The interpreter leaves. Keep its session to show what it can still do.
    visit.leave(interpreter);
    visit.advance(Duration::from_secs(5));
    visit.show("after the interpreter left (a new epoch, a new code):");
    let wire = visit.seal(patient, b"patient camera, frame 2");
    let got = visit
        .open(clinician, &from, &wire)
        .expect("the clinician opens");
    println!("Dr Lee opens frame 2: {:?}", String::from_utf8_lossy(&got));
    let leaver = visit.open(interpreter, &from, &wire);
    println!("Ivy (gone) tries frame 2: {leaver:?}");
    assert!(
        leaver.is_err(),
        "a member that left must not open new frames"
    );
    let (accepted, rejected) = visit.ds.counts();
    println!("the DS ordered {accepted} handshake messages, refused {rejected}; it holds no key");
}
