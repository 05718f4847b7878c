//! The hub driven through its commands, as the WebSocket front end drives it: joins, offers
//! from real Chromium 156 SDP, answers, relays, bad input, resume, grace expiry, WHIP errors.
//! No sockets: outgoing signaling is read from each connection's channel.
#![cfg(feature = "server")]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use telesfu_policy::profiles::ProfileRegistry;
use telesfu_server::config::Config;
use telesfu_server::hub::{Command, Hub, Outbound};
use telesfu_server::metrics::Metrics;
use telesfu_server::token::{Claims, Role, TokenKey};
use telesfu_server::transport::dtls::DtlsIdentity;
use tokio::sync::{mpsc, oneshot};

const PUBLISH: &str = include_str!("data/sdp/chromium156-publish-simulcast.sdp");
const SUBSCRIBE: &str = include_str!("data/sdp/chromium156-subscribe.sdp");
const UNIX: u64 = 1_800_000_000;

struct Fixture {
    hub: Hub,
    now: Instant,
    key: TokenKey,
    conns: Vec<mpsc::Receiver<Outbound>>,
}

impl Fixture {
    fn new() -> Self {
        let config = Config::embedded();
        let key = TokenKey::new(config.auth.token_key.as_bytes());
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let hub = Hub::new(
            Arc::new(config),
            Arc::new(Metrics::default()),
            Arc::new(DtlsIdentity::generate().unwrap()),
            vec![SocketAddr::from(([127, 0, 0, 1], 5000))],
            ProfileRegistry::builtin(),
            now,
            0,
        );
        Self {
            hub,
            now,
            key,
            conns: Vec::new(),
        }
    }

    fn token(&self, room: &str, role: Role) -> String {
        self.key.mint(&Claims {
            room: room.into(),
            name: role.as_str().into(),
            role,
            exp: UNIX + 3600,
            visit: Some("dermatology".into()),
        })
    }

    /// Opens connection `conns.len()` from `ip`.
    fn connect(&mut self, ip: [u8; 4]) -> u64 {
        let (tx, rx) = mpsc::channel(256);
        let conn = self.conns.len() as u64;
        self.conns.push(rx);
        self.hub.handle_command(
            self.now,
            UNIX,
            Command::Connect {
                conn,
                tx,
                addr: IpAddr::from(ip),
            },
        );
        conn
    }

    fn send(&mut self, conn: u64, msg: Value) {
        self.text(conn, &msg.to_string());
    }

    fn text(&mut self, conn: u64, text: &str) {
        self.hub.handle_command(
            self.now,
            UNIX,
            Command::Text {
                conn,
                text: text.into(),
            },
        );
        self.hub.flush(self.now);
    }

    /// Everything conn has been sent so far; `None` stands for a close.
    fn recv(&mut self, conn: u64) -> Vec<Option<Value>> {
        let mut out = Vec::new();
        while let Ok(m) = self.conns[conn as usize].try_recv() {
            out.push(match m {
                Outbound::Text(t) => Some(serde_json::from_str(&t).unwrap()),
                Outbound::Close => None,
            });
        }
        out
    }

    fn recv_type(&mut self, conn: u64, ty: &str) -> Vec<Value> {
        self.recv(conn)
            .into_iter()
            .flatten()
            .filter(|m| m["type"] == ty)
            .collect()
    }

    fn join(&mut self, conn: u64, room: &str, role: Role) -> Value {
        let token = self.token(room, role);
        self.send(conn, json!({"type": "join", "token": token}));
        let joined = self.recv_type(conn, "joined");
        assert_eq!(joined.len(), 1, "no joined reply");
        joined[0].clone()
    }
}

fn error_codes(msgs: &[Option<Value>]) -> Vec<String> {
    msgs.iter()
        .flatten()
        .filter(|m| m["type"] == "error")
        .map(|m| m["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn publish_subscribe_and_relay() {
    let mut f = Fixture::new();
    let patient = f.connect([127, 0, 0, 1]);
    let clinician = f.connect([127, 0, 0, 1]);
    let pj = f.join(patient, "visit", Role::Patient);
    let cj = f.join(clinician, "visit", Role::Clinician);
    assert_ne!(pj["participant"], cj["participant"]);
    assert_ne!(pj["kid"], cj["kid"], "KIDs must differ per participant");
    // The room runs the dermatology profile named in the first token.
    assert_eq!(pj["config"]["profile"], "dermatology");
    assert_eq!(
        pj["config"]["publish"]["encodings"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        pj["config"]["publish"]["degradationPreference"],
        "maintain-resolution"
    );
    assert_eq!(cj["peers"][0]["participant"], pj["participant"]);
    assert_eq!(f.recv_type(patient, "peer-joined").len(), 1);

    // The patient publishes a simulcast camera and a microphone.
    f.send(
        patient,
        json!({"type": "offer", "sdp": PUBLISH,
               "mids": {"0": {"source": "camera"}, "1": {"source": "mic"}}}),
    );
    let answer = f.recv_type(patient, "answer");
    let sdp = answer[0]["sdp"].as_str().unwrap();
    assert!(sdp.contains("a=ice-lite"), "{sdp}");
    assert!(sdp.contains("a=simulcast:recv q;h;f"), "{sdp}");
    assert!(sdp.contains("a=setup:passive"), "{sdp}");
    assert!(sdp.contains("a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"));
    let added = f.recv_type(clinician, "track-added");
    assert_eq!(added.len(), 2);
    let video = added.iter().find(|t| t["kind"] == "video").unwrap();
    let audio = added.iter().find(|t| t["kind"] == "audio").unwrap();
    assert_eq!(
        (video["layers"].as_u64(), video["codec"].as_str()),
        (Some(3), Some("VP8"))
    );
    assert_eq!(audio["codec"], "opus");

    // The clinician receives both.
    f.send(
        clinician,
        json!({"type": "offer", "sdp": SUBSCRIBE,
               "mids": {"0": {"track": video["track"]}, "1": {"track": audio["track"]}}}),
    );
    let answer = f.recv_type(clinician, "answer");
    let sdp = answer[0]["sdp"].as_str().unwrap();
    assert_eq!(sdp.matches("a=sendonly").count(), 2, "{sdp}");
    assert!(sdp.contains("a=ssrc-group:FID"), "{sdp}");
    let track = video["track"].as_str().unwrap();
    assert!(sdp.contains(&format!(
        "a=msid:{} {track}",
        pj["participant"].as_str().unwrap()
    )));

    // Layer preferences: known track accepted silently, unknown one refused.
    f.send(
        clinician,
        json!({"type": "view", "track": track, "width": 320, "height": 180}),
    );
    assert!(f.recv(clinician).is_empty());
    f.send(
        clinician,
        json!({"type": "view", "track": "t999", "width": 1, "height": 1}),
    );
    assert_eq!(error_codes(&f.recv(clinician)), ["unknown_track"]);

    // E2EE relay: opaque, to one or all.
    f.send(patient, json!({"type": "e2ee", "data": "opaque-bytes"}));
    let got = f.recv_type(clinician, "e2ee");
    assert_eq!(
        (got[0]["from"].clone(), got[0]["data"].clone()),
        (pj["participant"].clone(), json!("opaque-bytes"))
    );
    f.send(patient, json!({"type": "e2ee", "to": "p999", "data": "x"}));
    assert_eq!(error_codes(&f.recv(patient)), ["bad_message"]);
}

#[test]
fn bad_input_gets_documented_errors_and_the_room_keeps_working() {
    let mut f = Fixture::new();
    let a = f.connect([127, 0, 0, 1]);
    f.text(a, "{not json");
    f.text(a, r#"{"type":"dance"}"#);
    f.send(a, json!({"type": "offer", "sdp": "v=0"}));
    assert_eq!(
        error_codes(&f.recv(a)),
        ["bad_json", "unknown_type", "not_joined"]
    );

    // A wrong token closes the connection after the error.
    let other = TokenKey::new(b"some other key of sufficient length");
    let forged = other.mint(&Claims {
        room: "visit".into(),
        name: "x".into(),
        role: Role::Clinician,
        exp: UNIX + 60,
        visit: None,
    });
    f.send(a, json!({"type": "join", "token": forged}));
    let msgs = f.recv(a);
    assert_eq!(error_codes(&msgs), ["unauthorized"]);
    assert!(msgs.last().unwrap().is_none(), "socket not closed");

    let p = f.connect([127, 0, 0, 1]);
    f.join(p, "visit", Role::Patient);
    f.send(
        p,
        json!({"type": "offer", "sdp": PUBLISH, "mids": {"0": {"source": "camera"}}}),
    );
    assert_eq!(f.recv_type(p, "answer").len(), 1);
    // Bad SDP: an error naming the problem; the earlier negotiation stands.
    f.send(p, json!({"type": "offer", "sdp": PUBLISH.replace("a=fingerprint:sha-256", "a=fingerprint:md5")}));
    let msgs = f.recv(p);
    assert_eq!(error_codes(&msgs), ["bad_sdp"]);
    f.send(p, json!({"type": "offer", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:300 VP8/90000\r\n"}));
    assert_eq!(error_codes(&f.recv(p)), ["bad_sdp"]);
    // Still in the room: a later joiner sees the camera.
    let c = f.connect([127, 0, 0, 1]);
    let joined = f.join(c, "visit", Role::Clinician);
    assert_eq!(joined["tracks"].as_array().unwrap().len(), 2, "{joined}");
}

#[test]
fn join_flood_is_rate_limited_and_rooms_fill_up() {
    let mut f = Fixture::new();
    let mut codes = Vec::new();
    for _ in 0..30 {
        let c = f.connect([10, 0, 0, 9]);
        let token = f.token("busy", Role::Patient);
        f.send(c, json!({"type": "join", "token": token}));
        let msgs = f.recv(c);
        codes.push(
            error_codes(&msgs)
                .first()
                .cloned()
                .unwrap_or_else(|| "joined".into()),
        );
    }
    let count = |c: &str| codes.iter().filter(|x| *x == c).count();
    assert_eq!(count("joined"), 8, "{codes:?}");
    assert_eq!(count("room_full"), 12, "{codes:?}");
    assert_eq!(count("rate_limited"), 10, "{codes:?}");
    // Another address is not affected by the flood.
    let d = f.connect([127, 0, 0, 2]);
    f.join(d, "quiet", Role::Patient);
}

#[test]
fn resume_within_grace_keeps_the_participant_and_expiry_removes_it() {
    let mut f = Fixture::new();
    let p = f.connect([127, 0, 0, 1]);
    let c = f.connect([127, 0, 0, 1]);
    let pj = f.join(p, "visit", Role::Patient);
    f.join(c, "visit", Role::Clinician);
    f.send(p, json!({"type": "offer", "sdp": PUBLISH, "mids": {}}));
    assert_eq!(f.recv_type(c, "track-added").len(), 2);

    f.hub
        .handle_command(f.now, UNIX, Command::Closed { conn: p });
    f.now += Duration::from_secs(10);
    f.hub.handle_timeout(f.now);
    let p2 = f.connect([127, 0, 0, 1]);
    f.send(p2, json!({"type": "join", "resume": pj["session"]}));
    let rj = f.recv_type(p2, "joined");
    assert_eq!(rj[0]["resumed"], true);
    assert_eq!(rj[0]["participant"], pj["participant"]);
    assert!(f.recv_type(c, "peer-left").is_empty());

    // An unknown session is refused without closing.
    let x = f.connect([127, 0, 0, 1]);
    f.send(x, json!({"type": "join", "resume": "nope"}));
    assert_eq!(error_codes(&f.recv(x)), ["session_expired"]);

    // Dropped again and not back within 30 s: removed, tracks and all.
    f.hub
        .handle_command(f.now, UNIX, Command::Closed { conn: p2 });
    f.now += Duration::from_secs(31);
    f.hub.handle_timeout(f.now);
    f.hub.flush(f.now);
    let msgs = f.recv(c);
    let types: Vec<_> = msgs
        .iter()
        .flatten()
        .map(|m| m["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types.iter().filter(|t| *t == "track-removed").count(),
        2,
        "{types:?}"
    );
    assert!(types.contains(&"peer-left".to_owned()), "{types:?}");
}

#[test]
fn whip_errors_are_http_statuses() {
    let mut f = Fixture::new();
    let whip = |f: &mut Fixture, room: &str, token: String, sdp: &str| {
        let (reply, rx) = oneshot::channel();
        f.hub.handle_command(
            f.now,
            UNIX,
            Command::Whip {
                room: room.into(),
                token,
                sdp: sdp.into(),
                egress: false,
                reply,
            },
        );
        rx.blocking_recv().unwrap()
    };
    let t = f.token("stage", Role::Patient);
    assert_eq!(
        whip(&mut f, "stage", "garbage".into(), PUBLISH)
            .unwrap_err()
            .0,
        401
    );
    assert_eq!(
        whip(&mut f, "other", t.clone(), PUBLISH).unwrap_err().0,
        401
    );
    assert_eq!(
        whip(&mut f, "stage", t.clone(), "v=0\r\n").unwrap_err().0,
        400
    );
    let (id, answer) = whip(&mut f, "stage", t, PUBLISH).unwrap();
    assert!(answer.contains("a=simulcast:recv q;h;f"));
    let (reply, rx) = oneshot::channel();
    f.hub
        .handle_command(f.now, UNIX, Command::WhipDelete { id, reply });
    assert!(rx.blocking_recv().unwrap());
    let (reply, rx) = oneshot::channel();
    f.hub.handle_command(
        f.now,
        UNIX,
        Command::WhipDelete {
            id: "nope".into(),
            reply,
        },
    );
    assert!(!rx.blocking_recv().unwrap());
}
