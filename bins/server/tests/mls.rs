//! End-to-end encryption through the real server: native members (telesfu-e2ee `Session`s)
//! connect over the real WebSocket signaling on loopback, get their certificates from the
//! development authority (`POST /api/credential`), and key their call through the rooms' MLS
//! Delivery Service, exactly as the browser client does. Also: stale and uncertified commits,
//! malformed `mls` messages, the credential endpoint's refusals, and a production
//! configuration with no authority in the server.
//!
//! Each test starts its own server on ephemeral ports and shuts it down at the end. Members
//! use the real clock (their timers are short: a leave is committed at once by the member of
//! lowest rank, a new send key is used a second after a commit); every wait is bounded and
//! fails with the state it was waiting on.
#![cfg(feature = "server")]
// The tests are the caller of the sans-IO session: they read the clock.
#![allow(clippy::disallowed_methods)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use telesfu_e2ee::media::Codec;
use telesfu_e2ee::mls::ds::{FromDs, ToDs};
use telesfu_e2ee::mls::identity::{Authority, AuthorityKey, Certificate, Claims, TrustAnchors};
use telesfu_e2ee::session::{Event, MemberKey, Session, SessionConfig, SessionParams};
use telesfu_server::authority::subject_for;
use telesfu_server::config::Config;
use telesfu_server::server::{self, Server};
use telesfu_server::token::{Claims as TokenClaims, Role, TokenKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest any test waits for the call to reach a state.
const PATIENCE: Duration = Duration::from_secs(30);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs()
}

async fn start(dev_authority: bool) -> Server {
    let mut config = Config::embedded();
    config.server.http = "127.0.0.1:0".parse().unwrap();
    config.server.media = "127.0.0.1:0".parse().unwrap();
    config.server.drain_secs = 2;
    config.e2ee.dev_authority = dev_authority;
    server::start(config).await.expect("the server starts")
}

// ----- HTTP -----

/// One HTTP/1.1 request on a fresh connection: (status, body).
async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).expect("a UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "this client reads fixed-length bodies only: {head}"
    );
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn dev_token(addr: SocketAddr, room: &str, role: &str, name: &str) -> String {
    let path = format!("/api/token?room={room}&role={role}&name={name}");
    get_json(addr, &path).await["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn anchors(addr: SocketAddr) -> TrustAnchors {
    let keys = get_json(addr, "/api/authority").await;
    let keys = keys["keys"].as_array().expect("a key list");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = B64.decode(keys[0].as_str().unwrap()).unwrap();
    TrustAnchors::new([AuthorityKey::from_bytes(&key).unwrap()])
}

async fn credential(addr: SocketAddr, token: &str, key: &[u8]) -> (u16, String) {
    let body = json!({"token": token, "signatureKey": B64.encode(key)}).to_string();
    http(addr, "POST", "/api/credential", Some(&body)).await
}

async fn metric(addr: SocketAddr, line_start: &str) -> u64 {
    let (status, text) = http(addr, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in /metrics"))
}

// ----- Members -----

/// The signaling form of what a session sends (docs/signaling.md §6.1).
fn to_json(msg: &ToDs) -> Value {
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
        other => panic!("no signaling form for {other:?}"),
    }
}

fn field(m: &Value, name: &str) -> Option<Vec<u8>> {
    m[name].as_str().map(|s| B64.decode(s).expect("base64url"))
}

/// What the server's `mls` message means to a session.
fn from_json(m: &Value) -> FromDs {
    match m["op"].as_str() {
        Some("state") => FromDs::GroupState {
            group_info: field(m, "groupInfo"),
        },
        Some("commit") => FromDs::Commit {
            commit: field(m, "commit").expect("commit"),
        },
        Some("rejected") => FromDs::Rejected {
            reason: m["reason"].as_str().expect("reason").to_owned(),
            group_info: field(m, "groupInfo"),
        },
        Some("app") => FromDs::Application {
            message: field(m, "message").expect("message"),
        },
        _ => panic!("unknown mls message from the server: {m}"),
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One call participant: a WebSocket, and a session once it has its certificate.
struct Member {
    name: String,
    participant: String,
    token: String,
    ws: Ws,
    session: Option<Session>,
    /// DS messages that came before the session existed.
    early: VecDeque<FromDs>,
    /// Every `mls` message the server sent, raw.
    mls_log: Vec<Value>,
    /// Every `error` the server sent.
    errors: Vec<Value>,
    /// Everything this member's session sent, in order.
    sent: Vec<ToDs>,
    events: Vec<Event>,
    closed: bool,
}

impl Member {
    /// Connects and joins `room`; checks `joined` is followed at once by `mls` `state`.
    async fn join(addr: SocketAddr, room: &str, role: &str, name: &str) -> Self {
        let token = dev_token(addr, room, role, name).await;
        Self::join_with(addr, name, token).await
    }

    async fn join_with(addr: SocketAddr, name: &str, token: String) -> Self {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("WebSocket connects");
        let join = json!({"type": "join", "token": token}).to_string();
        ws.send(Message::text(join)).await.unwrap();
        let joined = next_json(&mut ws).await.expect("a reply to join");
        assert_eq!(joined["type"], "joined", "{joined}");
        assert!(
            joined.get("kid").is_none(),
            "no server-assigned KIDs: {joined}"
        );
        let state = next_json(&mut ws).await.expect("a message after joined");
        assert_eq!(
            (state["type"].as_str(), state["op"].as_str()),
            (Some("mls"), Some("state")),
            "right after joined comes the room's MLS state: {state}"
        );
        Self {
            name: name.to_owned(),
            participant: joined["participant"].as_str().unwrap().to_owned(),
            token,
            ws,
            session: None,
            early: VecDeque::from([from_json(&state)]),
            mls_log: vec![state],
            errors: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
            closed: false,
        }
    }

    /// Gets a certificate for a fresh key from the development authority and starts the
    /// session (which then creates or joins the room's group).
    async fn certify(&mut self, addr: SocketAddr, room: &str, anchors: TrustAnchors, seed: u8) {
        let key = MemberKey::from_seed([seed; 32]);
        let (status, body) = credential(addr, &self.token, &key.public_key()).await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let cert = B64.decode(body["certificate"].as_str().unwrap()).unwrap();
        self.start_session(room, anchors, key, cert, seed).await;
    }

    async fn start_session(
        &mut self,
        room: &str,
        anchors: TrustAnchors,
        key: MemberKey,
        cert: Vec<u8>,
        seed: u8,
    ) {
        let params = SessionParams::new(room, &self.participant, anchors, key, cert, [seed; 32]);
        let s = Session::new(
            SessionConfig::default(),
            params,
            Instant::now(),
            Duration::from_secs(unix_now()),
        )
        .expect("the certificate verifies");
        self.session = Some(s);
        while let Some(m) = self.early.pop_front() {
            self.session().handle_ds(Instant::now(), m);
        }
        self.flush().await;
    }

    fn session(&mut self) -> &mut Session {
        self.session.as_mut().expect("a session")
    }

    async fn send_json(&mut self, v: &Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    /// Sends what the session wants sent, keeps its events.
    async fn flush(&mut self) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        while let Some(t) = s.poll_transmit() {
            out.push(t);
        }
        while let Some(e) = s.poll_event() {
            self.events.push(e);
        }
        for t in out {
            self.send_json(&to_json(&t)).await;
            self.sent.push(t);
        }
    }

    /// Handles what has arrived within `wait`, and due timers. Returns whether anything came.
    async fn step(&mut self, wait: Duration) -> bool {
        if let Some(s) = self.session.as_mut() {
            let now = Instant::now();
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
        let mut any = false;
        if !self.closed {
            while let Ok(msg) = tokio::time::timeout(wait, next_json(&mut self.ws)).await {
                let Some(m) = msg else {
                    self.closed = true;
                    break;
                };
                any = true;
                self.handle(m);
            }
        }
        self.flush().await;
        any
    }

    fn handle(&mut self, m: Value) {
        let now = Instant::now();
        match m["type"].as_str() {
            Some("mls") => {
                let ds = from_json(&m);
                self.mls_log.push(m);
                match self.session.as_mut() {
                    Some(s) => s.handle_ds(now, ds),
                    None => self.early.push_back(ds),
                }
            }
            Some("peer-left") => {
                let p = m["participant"].as_str().unwrap();
                if let Some(s) = self.session.as_mut() {
                    s.participant_left(now, p);
                }
            }
            Some("error") => self.errors.push(m),
            _ => {}
        }
    }

    fn epoch(&self) -> Option<u64> {
        self.session.as_ref()?.epoch()
    }

    fn chats(&self) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Chat(c) => Some((c.from.name.clone(), c.text.clone())),
                _ => None,
            })
            .collect()
    }

    fn roster(&self) -> Vec<(String, String, Option<String>)> {
        self.session.as_ref().map_or_else(Vec::new, |s| {
            s.roster()
                .iter()
                .map(|r| (r.name.clone(), r.role.clone(), r.participant.clone()))
                .collect()
        })
    }

    /// Leaves the room and closes the socket.
    async fn leave(mut self) {
        self.send_json(&json!({"type": "leave"})).await;
        while let Some(Ok(_)) = self.ws.next().await {}
    }
}

/// The next text frame as JSON; `None` when the socket closed.
async fn next_json(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).expect("JSON")),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Runs every member (messages in, timers, messages out) until `done` holds; fails with
/// `what` and each member's state after [`PATIENCE`].
async fn drive(members: &mut [&mut Member], what: &str, done: impl Fn(&[&mut Member]) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        for m in members.iter_mut() {
            m.step(Duration::from_millis(5)).await;
        }
        if done(members) {
            return;
        }
        if Instant::now() > deadline {
            let state: Vec<String> = members
                .iter()
                .map(|m| {
                    format!(
                        "{} ({}): epoch {:?}, roster {:?}, events {:?}, errors {:?}",
                        m.name,
                        m.participant,
                        m.epoch(),
                        m.roster(),
                        m.events,
                        m.errors
                    )
                })
                .collect();
            panic!("not reached in {PATIENCE:?}: {what}\n{}", state.join("\n"));
        }
    }
}

/// Waits until nothing arrives for `quiet` at any member.
async fn settle(members: &mut [&mut Member], quiet: Duration) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let mut any = false;
        for m in members.iter_mut() {
            any |= m.step(quiet).await;
        }
        if !any {
            return;
        }
    }
    panic!("the call did not settle within {PATIENCE:?}");
}

fn all_at(members: &[&mut Member], epoch: u64, size: usize) -> bool {
    members.iter().all(|m| {
        m.epoch() == Some(epoch) && m.session.as_ref().is_some_and(|s| s.roster().len() == size)
    })
}

/// Every member: same epoch, same verification code, same roster. Returns the code.
fn assert_agree(members: &[&mut Member]) -> String {
    let first = members[0].session.as_ref().unwrap();
    let code = first
        .verification_code()
        .expect("a member has a code")
        .to_owned();
    let roster = |s: &Session| -> Vec<_> {
        s.roster()
            .iter()
            .map(|r| (r.leaf, r.fingerprint.clone(), r.participant.clone()))
            .collect()
    };
    for m in members {
        let s = m.session.as_ref().unwrap();
        assert_eq!(
            s.epoch(),
            first.epoch(),
            "{} disagrees on the epoch",
            m.name
        );
        assert_eq!(
            s.verification_code(),
            Some(code.as_str()),
            "{}: code",
            m.name
        );
        assert_eq!(
            roster(s),
            roster(first),
            "{} disagrees on the roster",
            m.name
        );
    }
    code
}

/// Seals a VP8 delta frame as `from`; every other member opens it under `from`'s id.
fn assert_media_flows(members: &mut [&mut Member]) {
    for i in 0..members.len() {
        let payload = format!("frame from {}", members[i].name).into_bytes();
        let mut frame = vec![0x31, 0x00, 0x00];
        frame.extend_from_slice(&payload);
        let s = members[i].session();
        let mut buf = vec![0u8; s.seal_buffer_len(Codec::Vp8, frame.len())];
        buf[..frame.len()].copy_from_slice(&frame);
        let n = s
            .seal_frame(Codec::Vp8, &mut buf, frame.len())
            .expect("seal");
        buf.truncate(n);
        let sender = members[i].participant.clone();
        for (j, m) in members.iter_mut().enumerate() {
            if i == j {
                continue;
            }
            let mut wire = buf.clone();
            let (_, n) = m
                .session()
                .open_frame(&sender, Codec::Vp8, &mut wire)
                .unwrap_or_else(|e| panic!("{} cannot open {sender}'s frame: {e}", m.name));
            assert_eq!(wire[3..n], payload[..]);
        }
    }
}

/// Members `a` and `b` of `room` in one group at epoch 1.
async fn two_members(addr: SocketAddr, room: &str) -> (Member, Member) {
    let anchors = anchors(addr).await;
    let mut a = Member::join(addr, room, "clinician", "Ada").await;
    a.certify(addr, room, anchors.clone(), 1).await;
    drive(&mut [&mut a], "Ada creates the group", |m| {
        m[0].epoch() == Some(0)
    })
    .await;
    let mut b = Member::join(addr, room, "patient", "Pat").await;
    b.certify(addr, room, anchors, 2).await;
    drive(&mut [&mut a, &mut b], "Pat joins", |m| all_at(m, 1, 2)).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_key_their_call_through_the_server_and_rekey_when_one_leaves() {
    let server = start(true).await;
    let addr = server.bound.http;
    let anchors = anchors(addr).await;
    let room = "visit-3";

    let mut a = Member::join(addr, room, "clinician", "Ada").await;
    a.certify(addr, room, anchors.clone(), 1).await;
    drive(&mut [&mut a], "Ada creates the group", |m| {
        m[0].epoch() == Some(0)
    })
    .await;
    assert!(
        a.events
            .iter()
            .any(|e| matches!(e, Event::Joined { created: true, .. })),
        "{:?}",
        a.events
    );
    let mut b = Member::join(addr, room, "patient", "Pat").await;
    b.certify(addr, room, anchors.clone(), 2).await;
    drive(&mut [&mut a, &mut b], "Pat joins", |m| all_at(m, 1, 2)).await;
    let mut c = Member::join(addr, room, "observer", "Sam").await;
    c.certify(addr, room, anchors.clone(), 3).await;
    drive(&mut [&mut a, &mut b, &mut c], "Sam joins", |m| {
        all_at(m, 2, 3)
    })
    .await;

    let code3 = assert_agree(&[&mut a, &mut b, &mut c]);
    assert_eq!(code3.len(), 35, "{code3}");
    // The roster is who the authority certified, under the ids the server gave them.
    let mut roster = a.roster();
    roster.sort();
    let mut want = vec![
        (
            "Ada".to_owned(),
            "clinician".to_owned(),
            Some(a.participant.clone()),
        ),
        (
            "Pat".to_owned(),
            "patient".to_owned(),
            Some(b.participant.clone()),
        ),
        (
            "Sam".to_owned(),
            "observer".to_owned(),
            Some(c.participant.clone()),
        ),
    ];
    want.sort();
    assert_eq!(roster, want);

    // Media keys agree: once everyone seals under the new epoch, every frame opens.
    drive(
        &mut [&mut a, &mut b, &mut c],
        "send keys switch to epoch 2",
        |m| {
            m.iter().all(|m| {
                m.events
                    .iter()
                    .any(|e| matches!(e, Event::SendKeyChanged { epoch: 2, .. }))
            })
        },
    )
    .await;
    assert_media_flows(&mut [&mut a, &mut b, &mut c]);

    // Chat: MLS application data through `op: app`, to the others only.
    a.session()
        .send_chat(Instant::now(), 1, "hello from Ada")
        .unwrap();
    a.flush().await;
    drive(&mut [&mut a, &mut b, &mut c], "the chat arrives", |m| {
        m[1..].iter().all(|m| !m.chats().is_empty())
    })
    .await;
    let chat = vec![("Ada".to_owned(), "hello from Ada".to_owned())];
    assert_eq!((b.chats(), c.chats()), (chat.clone(), chat));
    assert!(a.chats().is_empty());
    let app = b.mls_log.iter().find(|m| m["op"] == "app").unwrap();
    assert_eq!(app["from"], a.participant.as_str());

    // Sam leaves: the others commit the removal and converge on a new epoch without it.
    let gone = c.participant.clone();
    c.leave().await;
    drive(&mut [&mut a, &mut b], "Ada and Pat remove Sam", |m| {
        all_at(m, 3, 2)
    })
    .await;
    let code2 = assert_agree(&[&mut a, &mut b]);
    assert_ne!(code2, code3, "a new epoch has a new code");
    assert!(
        a.roster()
            .iter()
            .all(|r| r.2.as_deref() != Some(gone.as_str()))
    );
    drive(&mut [&mut a, &mut b], "send keys switch to epoch 3", |m| {
        m.iter().all(|m| {
            m.events
                .iter()
                .any(|e| matches!(e, Event::SendKeyChanged { epoch: 3, .. }))
        })
    })
    .await;
    assert_media_flows(&mut [&mut a, &mut b]);
    settle(&mut [&mut a, &mut b], Duration::from_millis(300)).await;
    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "{:?} {:?}",
        a.errors,
        b.errors
    );

    // The server counted it: a create, two joins and the removal accepted; one chat.
    let accepted = metric(addr, "telesfu_mls_commits_total{result=\"accepted\"}").await;
    let rejected = metric(addr, "telesfu_mls_commits_total{result=\"rejected\"}").await;
    assert_eq!(accepted, 4, "rejected: {rejected}");
    assert_eq!(
        metric(addr, "telesfu_mls_messages_total{op=\"create\"}").await,
        1
    );
    assert_eq!(
        metric(addr, "telesfu_mls_messages_total{op=\"app\"}").await,
        1
    );
    assert_eq!(
        metric(addr, "telesfu_mls_messages_total{op=\"commit\"}").await,
        3 + rejected
    );

    a.leave().await;
    b.leave().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_uncertified_commits_are_rejected_and_change_nothing() {
    let server = start(true).await;
    let addr = server.bound.http;
    let room = "visit-stale";
    let (mut a, mut b) = two_members(addr, room).await;
    settle(&mut [&mut a, &mut b], Duration::from_millis(200)).await;
    let code = assert_agree(&[&mut a, &mut b]);
    let (a_log, b_log) = (a.mls_log.len(), b.mls_log.len());

    // Pat sends its (accepted) join commit again: the group is past that epoch.
    let stale = b
        .sent
        .iter()
        .find(|t| matches!(t, ToDs::Commit { .. }))
        .expect("Pat joined by commit")
        .clone();
    b.send_json(&to_json(&stale)).await;
    drive(&mut [&mut a, &mut b], "the stale commit is answered", |m| {
        m[1].mls_log.len() > b_log
    })
    .await;
    let answer = b.mls_log[b_log].clone();
    assert_eq!(answer["op"], "rejected", "{answer}");
    assert!(
        answer["reason"].as_str().unwrap().contains("epoch 0"),
        "{answer}"
    );
    let current = field(&answer, "groupInfo").expect("the group to build on");

    // A member whose certificate the server's authority did not issue: its external commit
    // is refused before any member sees it.
    let rogue_authority = Authority::from_seed(&[99; 32]);
    let mut r = Member::join(addr, room, "clinician", "Mallory").await;
    let key = MemberKey::from_seed([66; 32]);
    let now = unix_now();
    let mut claims = Claims::new("mallory", room, now - 60, now + 3600);
    claims.name = "Dr Mallory".into();
    claims.role = "clinician".into();
    let cert = rogue_authority.issue(&claims, &key.public_key()).unwrap();
    // It trusts its own authority and the real one, so it can build a join of the group.
    let both = TrustAnchors::new([rogue_authority.public_key(), anchors(addr).await.keys()[0]]);
    let params = SessionParams::new(room, &r.participant, both, key, cert, [66; 32]);
    let mut rogue = Session::new(
        SessionConfig::default(),
        params,
        Instant::now(),
        Duration::from_secs(now),
    )
    .unwrap();
    rogue.handle_ds(Instant::now(), r.early.pop_front().unwrap());
    let commit = rogue.poll_transmit().expect("an external commit");
    assert!(matches!(commit, ToDs::Commit { .. }), "{commit:?}");
    r.send_json(&to_json(&commit)).await;
    drive(&mut [&mut r], "the uncertified commit is answered", |m| {
        m[0].mls_log.len() > 1
    })
    .await;
    let answer = &r.mls_log[1];
    assert_eq!(answer["op"], "rejected", "{answer}");
    assert!(
        answer["reason"].as_str().unwrap().contains("certificate"),
        "{answer}"
    );

    // Nothing moved: no member saw either commit, the group is where it was.
    settle(&mut [&mut a, &mut b], Duration::from_millis(300)).await;
    assert_eq!(a.mls_log.len(), a_log, "{:?}", &a.mls_log[a_log..]);
    assert_eq!(b.mls_log.len(), b_log + 1, "{:?}", &b.mls_log[b_log..]);
    assert_eq!(assert_agree(&[&mut a, &mut b]), code);
    assert_eq!((a.epoch(), b.epoch()), (Some(1), Some(1)));
    a.send_json(&json!({"type": "mls", "op": "sync"})).await;
    drive(&mut [&mut a], "sync is answered", |m| {
        m[0].mls_log.len() > a_log
    })
    .await;
    assert_eq!(field(&a.mls_log[a_log], "groupInfo"), Some(current));
    assert!(metric(addr, "telesfu_mls_commits_total{result=\"rejected\"}").await >= 2);

    r.leave().await;
    a.leave().await;
    b.leave().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_mls_messages_get_bad_message_and_change_nothing() {
    let server = start(true).await;
    let addr = server.bound.http;
    // Before joining: not_joined.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    let sync = json!({"type": "mls", "op": "sync"}).to_string();
    ws.send(Message::text(sync)).await.unwrap();
    let e = next_json(&mut ws).await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("not_joined"))
    );
    drop(ws);

    let (mut a, mut b) = two_members(addr, "visit-bad").await;
    settle(&mut [&mut a, &mut b], Duration::from_millis(200)).await;
    let code = assert_agree(&[&mut a, &mut b]);
    let (a_log, b_log) = (a.mls_log.len(), b.mls_log.len());
    let huge = "A".repeat(90_000);
    let bad = [
        (json!({"type": "mls"}), "op"),
        (json!({"type": "mls", "op": "dance"}), "dance"),
        (
            json!({"type": "mls", "op": "state", "groupInfo": null}),
            "state",
        ),
        (
            json!({"type": "mls", "op": "commit", "commit": "AAAA"}),
            "groupInfo",
        ),
        (
            json!({"type": "mls", "op": "create", "groupInfo": 7}),
            "string",
        ),
        (
            json!({"type": "mls", "op": "app", "message": "AA=="}),
            "'='",
        ),
        (
            json!({"type": "mls", "op": "app", "message": "a+/b"}),
            "offset 1",
        ),
        (
            json!({"type": "mls", "op": "app", "message": "AB"}),
            "canonical",
        ),
        (json!({"type": "mls", "op": "app", "message": ""}), "empty"),
        (
            json!({"type": "mls", "op": "create", "groupInfo": huge}),
            "65536",
        ),
    ];
    for (msg, _) in &bad {
        a.send_json(msg).await;
    }
    drive(
        &mut [&mut a, &mut b],
        "every malformed message is answered",
        |m| m[0].errors.len() >= bad.len(),
    )
    .await;
    for ((msg, says), e) in bad.iter().zip(&a.errors) {
        assert_eq!(
            (e["code"].as_str(), e["ref"].as_str()),
            (Some("bad_message"), Some("mls"))
        );
        let text = e["message"].as_str().unwrap();
        assert!(text.contains(says), "{msg} -> {text}");
    }
    // Well-formed base64url that is not MLS: the DS's own refusal, to the sender only.
    a.send_json(&json!({"type": "mls", "op": "commit", "commit": "AAAA", "groupInfo": "AAAA"}))
        .await;
    drive(
        &mut [&mut a, &mut b],
        "the non-MLS commit is answered",
        |m| m[0].mls_log.len() > a_log,
    )
    .await;
    assert_eq!(a.mls_log[a_log]["op"], "rejected");

    settle(&mut [&mut a, &mut b], Duration::from_millis(300)).await;
    assert_eq!(b.mls_log.len(), b_log, "the other member saw none of it");
    assert!(b.errors.is_empty());
    assert_eq!(assert_agree(&[&mut a, &mut b]), code);
    assert_eq!(a.epoch(), Some(1));
    // The socket stayed open and the call still works: a chat goes through.
    b.session()
        .send_chat(Instant::now(), 5, "still here")
        .unwrap();
    b.flush().await;
    drive(&mut [&mut a, &mut b], "the chat arrives", |m| {
        !m[0].chats().is_empty()
    })
    .await;
    assert_eq!(a.chats(), [("Pat".to_owned(), "still here".to_owned())]);

    a.leave().await;
    b.leave().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_endpoint_certifies_valid_tokens_only() {
    let server = start(true).await;
    let addr = server.bound.http;
    let anchors = anchors(addr).await;
    let token = dev_token(addr, "visit-cred", "clinician", "Ada").await;
    let key = MemberKey::from_seed([4; 32]).public_key();

    let (status, body) = credential(addr, &token, &key).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let cert = B64.decode(body["certificate"].as_str().unwrap()).unwrap();
    let cert = Certificate::decode(&cert).unwrap();
    let now = unix_now();
    cert.verify(&anchors, &key, "visit-cred", Some(now), 0)
        .expect("signed by the key /api/authority serves, for this key and room");
    let c = &cert.claims;
    assert_eq!(
        (
            c.name.as_str(),
            c.role.as_str(),
            c.tenant.as_str(),
            c.subject.clone()
        ),
        ("Ada", "clinician", "demo", subject_for("Ada"))
    );
    // From a minute ago until the token's expiry (the default token lifetime is an hour).
    assert!((now - 62..=now - 58).contains(&c.not_before), "{c:?}");
    assert!((now + 3595..=now + 3605).contains(&c.not_after), "{c:?}");

    // Bad tokens: 401.
    let config = Config::embedded();
    let forged = TokenKey::new(b"not the server's key, but long enough").mint(&TokenClaims {
        room: "visit-cred".into(),
        name: "Eve".into(),
        role: Role::Clinician,
        exp: now + 600,
        visit: None,
    });
    let expired = TokenKey::new(config.auth.token_key.as_bytes()).mint(&TokenClaims {
        room: "visit-cred".into(),
        name: "Old".into(),
        role: Role::Patient,
        exp: now - 1,
        visit: None,
    });
    for (t, says) in [
        (forged.as_str(), "signature"),
        (expired.as_str(), "expired"),
        ("garbage", "malformed"),
    ] {
        let (status, body) = credential(addr, t, &key).await;
        assert_eq!(status, 401, "{t}: {body}");
        assert!(body.contains(says), "{body}");
    }

    // Bad keys and bodies: 400 with what is wrong.
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    for (k, says) in [
        (&key[..31], "31 bytes"),
        (&not_a_point[..], "point"),
        (&[][..], "0 bytes"),
    ] {
        let (status, body) = credential(addr, &token, k).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body.contains("signatureKey") && body.contains(says),
            "{body}"
        );
    }
    for (body, says) in [
        (
            json!({"token": token, "signatureKey": "not base64!"}).to_string(),
            "signatureKey",
        ),
        (json!({"token": token}).to_string(), "signatureKey"),
        ("{".to_owned(), "JSON"),
    ] {
        let (status, text) = http(addr, "POST", "/api/credential", Some(&body)).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(says), "{body}: {text}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_development_authority_off_the_server_holds_no_key_and_still_orders() {
    let server = start(false).await;
    let addr = server.bound.http;
    let room = "visit-prod";
    let token = dev_token(addr, room, "clinician", "Ada").await;
    let (status, body) = http(addr, "GET", "/api/authority", None).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("e2ee.dev_authority"), "{body}");
    let key = MemberKey::from_seed([4; 32]).public_key();
    let (status, body) = credential(addr, &token, &key).await;
    assert_eq!(status, 404, "a valid token gets no certificate: {body}");

    // The vendor's backend certifies; the server only orders and relays.
    let vendor = Authority::from_seed(&[31; 32]);
    let anchors = TrustAnchors::new([vendor.public_key()]);
    let now = unix_now();
    let mut members = Vec::new();
    for (i, (role, name)) in [("clinician", "Ada"), ("patient", "Pat")]
        .into_iter()
        .enumerate()
    {
        let mut m = Member::join(addr, room, role, name).await;
        let seed = 10 + i as u8;
        let key = MemberKey::from_seed([seed; 32]);
        let mut claims = Claims::new(&format!("user-{seed}"), room, now - 60, now + 3600);
        claims.name = name.into();
        claims.role = role.into();
        claims.tenant = "clinic-a".into();
        let cert = vendor.issue(&claims, &key.public_key()).unwrap();
        m.start_session(room, anchors.clone(), key, cert, seed)
            .await;
        members.push(m);
    }
    let [a, b] = &mut members[..] else {
        unreachable!()
    };
    drive(&mut [&mut *a, &mut *b], "Ada and Pat form the group", |m| {
        all_at(m, 1, 2)
    })
    .await;
    assert_agree(&[a, b]);
    for m in members {
        m.leave().await;
    }
    server.shutdown().await;
}
