//! The hub driven through its commands, as the WebSocket front end drives it: joins, offers
//! from real Chromium 156 SDP, answers, bad input, resume, grace expiry, WHIP errors, and the
//! routing of the rooms' MLS Delivery Services (with real telesfu-e2ee sessions making the MLS
//! messages). No sockets: outgoing signaling is read from each connection's channel.
#![cfg(feature = "server")]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use telesfu_e2ee::mls::ds::{FromDs, ToDs};
use telesfu_e2ee::mls::identity::{Authority, Claims as CertClaims, TrustAnchors};
use telesfu_e2ee::session::{MemberKey, Session, SessionConfig, SessionParams};
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
fn publish_subscribe_and_layer_preferences() {
    let mut f = Fixture::new();
    let patient = f.connect([127, 0, 0, 1]);
    let clinician = f.connect([127, 0, 0, 1]);
    let pj = f.join(patient, "visit", Role::Patient);
    let cj = f.join(clinician, "visit", Role::Clinician);
    assert_ne!(pj["participant"], cj["participant"]);
    // SFrame KIDs come from the MLS group now (RFC 9605 §5.2), not from the server.
    assert!(
        pj.get("kid").is_none() && cj["peers"][0].get("kid").is_none(),
        "{cj}"
    );
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

    // The opaque relay is gone: E2EE messages are `mls` messages for the room's DS.
    f.send(patient, json!({"type": "e2ee", "data": "opaque-bytes"}));
    assert_eq!(error_codes(&f.recv(patient)), ["unknown_type"]);
    assert!(f.recv(clinician).is_empty());
}

// ----- MLS Delivery Service -----

/// The vendor's backend of these tests: it certifies members for room `visit`.
fn authority() -> Authority {
    Authority::from_seed(&[77; 32])
}

/// A real MLS member for `participant` (not yet in any group).
fn session(f: &Fixture, participant: &str, seed: u8) -> Session {
    let key = MemberKey::from_seed([seed; 32]);
    let mut claims = CertClaims::new(&format!("sub-{seed}"), "visit", UNIX - 60, UNIX + 3600);
    claims.name = participant.into();
    claims.role = "patient".into();
    claims.tenant = "demo".into();
    let cert = authority().issue(&claims, &key.public_key()).unwrap();
    let params = SessionParams::new(
        "visit",
        participant,
        TrustAnchors::new([authority().public_key()]),
        key,
        cert,
        [seed ^ 0x5a; 32],
    );
    Session::new(
        SessionConfig::default(),
        params,
        f.now,
        Duration::from_secs(UNIX),
    )
    .unwrap()
}

/// The signaling form of what a session sends.
fn mls_json(msg: ToDs) -> Value {
    match msg {
        ToDs::Create { group_info } => {
            json!({"type": "mls", "op": "create", "groupInfo": B64.encode(group_info)})
        }
        ToDs::Commit { commit, group_info } => json!({"type": "mls", "op": "commit",
            "commit": B64.encode(commit), "groupInfo": B64.encode(group_info)}),
        ToDs::Application { message } => {
            json!({"type": "mls", "op": "app", "message": B64.encode(message)})
        }
        ToDs::Sync => json!({"type": "mls", "op": "sync"}),
        other => panic!("unknown DS message {other:?}"),
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().expect("a base64url string")).unwrap()
}

/// The `mls` messages among `msgs`.
fn mls(msgs: &[Option<Value>]) -> Vec<Value> {
    msgs.iter()
        .flatten()
        .filter(|m| m["type"] == "mls")
        .cloned()
        .collect()
}

/// `conn`'s member creates the room's group with a real session; returns the session (a
/// member once the DS confirmed) and the GroupInfo.
fn create_group(f: &mut Fixture, conn: u64, participant: &str, seed: u8) -> (Session, Vec<u8>) {
    let mut s = session(f, participant, seed);
    s.handle_ds(f.now, FromDs::GroupState { group_info: None });
    let create = s.poll_transmit().expect("a member alone creates the group");
    let ToDs::Create { group_info } = &create else {
        panic!("{create:?}")
    };
    let group_info = group_info.clone();
    f.send(conn, mls_json(create));
    let got = mls(&f.recv(conn));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0]["op"].as_str(), bytes(&got[0]["groupInfo"])),
        (Some("state"), group_info.clone())
    );
    s.handle_ds(
        f.now,
        FromDs::GroupState {
            group_info: Some(group_info.clone()),
        },
    );
    assert!(s.is_member());
    (s, group_info)
}

#[test]
fn joined_is_followed_by_the_rooms_mls_state_fresh_or_resumed() {
    let mut f = Fixture::new();
    let a = f.connect([127, 0, 0, 1]);
    let token = f.token("visit", Role::Patient);
    f.send(a, json!({"type": "join", "token": token}));
    let msgs: Vec<Value> = f.recv(a).into_iter().flatten().collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(msgs[0]["type"], "joined");
    assert_eq!(
        msgs[1],
        json!({"type": "mls", "op": "state", "groupInfo": null})
    );
    let pa = msgs[0]["participant"].as_str().unwrap().to_owned();
    let session = msgs[0]["session"].clone();
    let (_s, info) = create_group(&mut f, a, &pa, 1);

    // Resumed on a new socket: joined, then the group as it is now.
    f.hub
        .handle_command(f.now, UNIX, Command::Closed { conn: a });
    let a2 = f.connect([127, 0, 0, 1]);
    f.send(a2, json!({"type": "join", "resume": session}));
    let msgs: Vec<Value> = f.recv(a2).into_iter().flatten().collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(
        (msgs[0]["type"].as_str(), msgs[0]["resumed"].as_bool()),
        (Some("joined"), Some(true))
    );
    assert_eq!(
        (msgs[1]["op"].as_str(), bytes(&msgs[1]["groupInfo"])),
        (Some("state"), info.clone())
    );

    // A second participant gets it too, right after its own `joined`.
    let b = f.connect([127, 0, 0, 1]);
    let token = f.token("visit", Role::Clinician);
    f.send(b, json!({"type": "join", "token": token}));
    let msgs: Vec<Value> = f.recv(b).into_iter().flatten().collect();
    assert_eq!(msgs[0]["type"], "joined");
    assert_eq!(bytes(&msgs[1]["groupInfo"]), info);
}

#[test]
fn mls_messages_are_routed_to_sender_all_or_others() {
    let mut f = Fixture::new();
    let a = f.connect([127, 0, 0, 1]);
    let b = f.connect([127, 0, 0, 1]);
    let c = f.connect([127, 0, 0, 1]);
    // Before joining: not_joined, and the DS never sees it.
    f.send(c, json!({"type": "mls", "op": "sync"}));
    assert_eq!(error_codes(&f.recv(c)), ["not_joined"]);
    let pa = f.join(a, "visit", Role::Clinician)["participant"]
        .as_str()
        .unwrap()
        .to_owned();
    let pb = f.join(b, "visit", Role::Patient)["participant"]
        .as_str()
        .unwrap()
        .to_owned();
    f.recv(a);
    // Someone in another room: never sees this room's MLS traffic.
    f.join(c, "elsewhere", Role::Patient);

    // `create`: accepted, to everyone in the room including its sender.
    let mut sa = session(&f, &pa, 1);
    sa.handle_ds(f.now, FromDs::GroupState { group_info: None });
    let create = sa.poll_transmit().unwrap();
    f.send(a, mls_json(create));
    let (to_a, to_b) = (mls(&f.recv(a)), mls(&f.recv(b)));
    assert_eq!(to_a.len(), 1);
    assert_eq!(to_a, to_b, "every member gets the same state");
    assert_eq!(to_a[0]["op"], "state");
    sa.handle_ds(
        f.now,
        FromDs::GroupState {
            group_info: Some(bytes(&to_a[0]["groupInfo"])),
        },
    );
    assert!(sa.is_member());

    // A second `create`: rejected, to its sender only, with the group to join instead.
    let mut sb = session(&f, &pb, 2);
    sb.handle_ds(f.now, FromDs::GroupState { group_info: None });
    f.send(b, mls_json(sb.poll_transmit().unwrap()));
    let to_b = mls(&f.recv(b));
    assert_eq!(to_b.len(), 1, "{to_b:?}");
    assert_eq!(to_b[0]["op"], "rejected");
    assert!(
        to_b[0]["reason"].as_str().unwrap().contains("already"),
        "{to_b:?}"
    );
    assert_eq!(bytes(&to_b[0]["groupInfo"]), bytes(&to_a[0]["groupInfo"]));
    assert!(f.recv(a).is_empty());

    // B joins by external commit: the commit goes to both, B's copy is its confirmation.
    sb.handle_ds(
        f.now,
        FromDs::Rejected {
            reason: String::new(),
            group_info: Some(bytes(&to_b[0]["groupInfo"])),
        },
    );
    let commit = sb.poll_transmit().unwrap();
    assert!(matches!(commit, ToDs::Commit { .. }), "{commit:?}");
    f.send(b, mls_json(commit));
    let (to_a, to_b) = (mls(&f.recv(a)), mls(&f.recv(b)));
    assert_eq!(to_a, to_b);
    assert_eq!(to_a[0]["op"], "commit");
    for (s, m) in [(&mut sa, &to_a[0]), (&mut sb, &to_b[0])] {
        s.handle_ds(
            f.now,
            FromDs::Commit {
                commit: bytes(&m["commit"]),
            },
        );
    }
    assert_eq!((sa.epoch(), sb.epoch()), (Some(1), Some(1)));
    assert_eq!(sa.verification_code(), sb.verification_code());

    // `app`: to the others only, with the sender's participant id.
    sa.send_chat(f.now, 1, "hello").unwrap();
    f.send(a, mls_json(sa.poll_transmit().unwrap()));
    assert!(
        f.recv(a).is_empty(),
        "the sender does not get its own chat back"
    );
    let to_b = mls(&f.recv(b));
    assert_eq!(
        (to_b[0]["op"].as_str(), to_b[0]["from"].as_str()),
        (Some("app"), Some(pa.as_str()))
    );
    sb.handle_ds(
        f.now,
        FromDs::Application {
            message: bytes(&to_b[0]["message"]),
        },
    );
    let chat = std::iter::from_fn(|| sb.poll_event()).find_map(|e| match e {
        telesfu_e2ee::session::Event::Chat(c) => Some(c.text),
        _ => None,
    });
    assert_eq!(chat.as_deref(), Some("hello"));

    // `sync`: the state, to the sender only.
    f.send(b, json!({"type": "mls", "op": "sync"}));
    let to_b = mls(&f.recv(b));
    assert_eq!(to_b[0]["op"], "state");
    assert!(f.recv(a).is_empty());

    // Malformed: bad_message to the sender, nothing to anyone else, nothing changed.
    for bad in [
        json!({"type": "mls", "op": "commit", "commit": "AAAA"}),
        json!({"type": "mls", "op": "create", "groupInfo": "AA=="}),
        json!({"type": "mls", "op": "state", "groupInfo": null}),
        json!({"type": "mls", "op": "app", "message": ""}),
        json!({"type": "mls"}),
    ] {
        f.send(a, bad.clone());
        let msgs = f.recv(a);
        assert_eq!(error_codes(&msgs), ["bad_message"], "{bad}");
        assert_eq!(msgs[0].as_ref().unwrap()["ref"], "mls");
    }
    assert!(f.recv(b).is_empty());
    f.send(a, json!({"type": "mls", "op": "sync"}));
    let to_a = mls(&f.recv(a));
    assert_eq!(
        to_a[0]["groupInfo"], to_b[0]["groupInfo"],
        "the group did not move"
    );
    assert!(f.recv(c).iter().flatten().all(|m| m["type"] != "mls"));
}

#[test]
fn the_group_is_forgotten_when_the_last_participant_leaves_even_with_whip_left() {
    let mut f = Fixture::new();
    let a = f.connect([127, 0, 0, 1]);
    let pa = f.join(a, "visit", Role::Clinician)["participant"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_s, info) = create_group(&mut f, a, &pa, 1);
    // A WHIP publisher in the same room: part of the room, not of its MLS group.
    let (reply, rx) = oneshot::channel();
    let token = f.token("visit", Role::Patient);
    f.hub.handle_command(
        f.now,
        UNIX,
        Command::Whip {
            room: "visit".into(),
            token,
            sdp: PUBLISH.into(),
            egress: false,
            reply,
        },
    );
    assert!(rx.blocking_recv().unwrap().is_ok());

    // Disconnected within the grace period: still a member, the group stays.
    f.hub
        .handle_command(f.now, UNIX, Command::Closed { conn: a });
    let b = f.connect([127, 0, 0, 1]);
    let token = f.token("visit", Role::Patient);
    f.send(b, json!({"type": "join", "token": token}));
    let state = mls(&f.recv(b));
    assert_eq!(bytes(&state[0]["groupInfo"]), info);
    f.send(b, json!({"type": "leave"}));

    // Grace over: no participant left, only the WHIP session: the next one starts afresh.
    f.now += Duration::from_secs(31);
    f.hub.handle_timeout(f.now);
    let c = f.connect([127, 0, 0, 1]);
    let joined = f.join(c, "visit", Role::Patient);
    assert_eq!(
        joined["tracks"].as_array().unwrap().len(),
        2,
        "the room lives on: {joined}"
    );
    f.send(c, json!({"type": "mls", "op": "sync"}));
    assert_eq!(
        mls(&f.recv(c)),
        [json!({"type": "mls", "op": "state", "groupInfo": null})]
    );
}

#[test]
fn the_mls_field_limit_is_the_delivery_services() {
    assert_eq!(
        telesfu_server::signal::MAX_MLS_FIELD,
        telesfu_e2ee::mls::ds::MAX_MESSAGE_LEN
    );
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

/// Passes `mls` messages between the hub and each `(conn, session)` until nothing moves.
fn pump(f: &mut Fixture, sessions: &mut [(u64, Session)]) {
    for _ in 0..100 {
        let mut moved = false;
        for (conn, s) in sessions.iter_mut() {
            for m in mls(&f.recv(*conn)) {
                moved = true;
                let info = m["groupInfo"].as_str().map(|x| B64.decode(x).unwrap());
                let msg = match m["op"].as_str() {
                    Some("state") => FromDs::GroupState { group_info: info },
                    Some("commit") => FromDs::Commit {
                        commit: bytes(&m["commit"]),
                    },
                    Some("rejected") => FromDs::Rejected {
                        reason: m["reason"].as_str().unwrap().into(),
                        group_info: info,
                    },
                    Some("app") => FromDs::Application {
                        message: bytes(&m["message"]),
                    },
                    _ => panic!("unknown mls message {m}"),
                };
                s.handle_ds(f.now, msg);
            }
            let out: Vec<ToDs> = std::iter::from_fn(|| s.poll_transmit()).collect();
            for t in out {
                moved = true;
                f.send(*conn, mls_json(t));
            }
        }
        if !moved {
            return;
        }
    }
    panic!("mls messages still moving after 100 rounds");
}

/// Two participants open an empty room at the same moment: both get `state: null` and both
/// `create`. The server accepts the first and rejects the second; both end up in one group
/// (the loser acts only on the answer to its own `create`, not on the winner's `state`).
#[test]
fn simultaneous_creates_end_in_one_group() {
    let mut f = Fixture::new();
    let a = f.connect([127, 0, 0, 1]);
    let b = f.connect([127, 0, 0, 1]);
    let pa = f.join(a, "visit", Role::Clinician)["participant"]
        .as_str()
        .unwrap()
        .to_owned();
    let pb = f.join(b, "visit", Role::Patient)["participant"]
        .as_str()
        .unwrap()
        .to_owned();
    f.recv(a);
    let mut sessions = [(a, session(&f, &pa, 1)), (b, session(&f, &pb, 2))];
    let mut creates = Vec::new();
    for (conn, s) in &mut sessions {
        s.handle_ds(f.now, FromDs::GroupState { group_info: None });
        creates.push((*conn, s.poll_transmit().unwrap()));
    }
    // Both creates reach the server before either hears back.
    for (conn, t) in creates {
        f.send(conn, mls_json(t));
    }
    pump(&mut f, &mut sessions);
    let [(_, sa), (_, sb)] = &sessions;
    assert_eq!((sa.epoch(), sb.epoch()), (Some(1), Some(1)));
    assert_eq!(sa.roster().len(), 2);
    assert_eq!(sa.verification_code(), sb.verification_code());
}
