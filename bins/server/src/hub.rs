//! The hub: rooms, participants, their WebRTC transports and the forwarding engine, in one
//! single-threaded state machine.
//!
//! The hub owns everything a call needs and is driven like the engine it wraps: commands from
//! the signaling front end ([`Hub::handle_command`]), datagrams from the media socket
//! ([`Hub::handle_datagram`]), timers ([`Hub::handle_timeout`] at [`Hub::poll_timeout`]). It
//! reads no clock and touches no socket: datagrams to send collect in [`Hub::transmit_parts`], and
//! signaling messages go out through each connection's bounded channel with `try_send` (a
//! client that does not read its socket is disconnected rather than buffered without limit).
//! [`crate::media`] runs it on a tokio task next to the UDP socket.
//!
//! Each room also runs the MLS Delivery Service of docs/signaling.md §6
//! ([`telesfu_e2ee::mls::ds::DeliveryService`]): the hub turns `mls` messages of the room's
//! WebSocket participants into its input and routes what it answers to their sockets, in the
//! order it answers. It holds no key; which members' certificates it pre-checks is
//! [`Hub::trust_authority`].
//!
//! Why one owner for signaling and media: every decision (an offer that publishes, a view that
//! changes a layer, a session that expires) changes engine state and transport state together,
//! and a single owner needs no locks and has no races between them. The engine is a few hundred
//! nanoseconds per packet, so signaling messages between batches of datagrams cost nothing
//! measurable at telehealth room sizes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use telesfu_core::alloc::{PublisherRole, TrackSource as CoreSource};
use telesfu_core::engine::{
    Codec, EncodingConfig, LayerPreference, Mid, ParticipantConfig, Rid, SubscriptionConfig,
    TrackConfig,
};
use telesfu_core::{
    Engine, EngineConfig, Event, Input, ParticipantId, RoomId, Ssrc, SubscriptionId, TrackId,
};
use telesfu_e2ee::mls::ds::{Delivery, DeliveryService, DsConfig, FromDs, ToDs};
use telesfu_e2ee::mls::identity::{AuthorityKey, TrustAnchors};
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::metrics::{Metrics, TransportDrop};
use crate::recorder::FrameRecorder;
use crate::sdp::{
    self, AUDIO_PREFERENCES, ChosenCodec, LocalParams, MediaKind, MediaSection, Offer,
    SectionAnswer, SectionRole, SendStream, VIDEO_PREFERENCES,
};
use crate::signal::{
    self, AlertSide, ClientConfig, ClientMls, ClientMsg, ErrorCode, MidInfo, PeerInfo, ServerMls,
    ServerMsg, TrackInfo,
};
use crate::token::{Role, TokenKey};
use crate::transport::demux::{DatagramKind, classify};
use crate::transport::dtls::{DimplServer, DtlsEvent, DtlsIdentity, DtlsTransport};
use crate::transport::ice::{IceCredentials, IceLite, IceState, local_ufrag_of};
use crate::transport::srtp::{SrtpError, SrtpProfile, SrtpSession};
use telesfu_policy::profiles::{ClinicalProfile, ProfileRegistry};

/// Bytes reserved per outgoing datagram (MTU-sized RTP plus the SRTP tag).
const SLOT: usize = 1500;
/// Largest SRTP/SRTCP overhead of the supported profiles.
const MAX_SRTP_OVERHEAD: usize = 16 + 4;
/// How often housekeeping runs (session expiry, consent).
const TICK: Duration = Duration::from_millis(500);
/// Outgoing signaling messages buffered per connection before it is dropped as stuck.
pub const CONN_QUEUE: usize = 256;

/// What the hub sends to a WebSocket task.
#[derive(Debug)]
pub enum Outbound {
    /// A JSON text frame.
    Text(String),
    /// Close the socket (after the queued texts).
    Close,
}

/// The reply to a WHIP/WHEP POST.
pub type HttpReply = Result<(String, String), (u16, String)>;

/// A command from the async front end.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// A WebSocket opened.
    Connect {
        /// Connection id (unique per process).
        conn: u64,
        /// Where to send its messages.
        tx: mpsc::Sender<Outbound>,
        /// The client's address (rate limits).
        addr: IpAddr,
    },
    /// A text frame arrived.
    Text {
        /// Connection.
        conn: u64,
        /// The frame.
        text: String,
    },
    /// The WebSocket closed.
    Closed {
        /// Connection.
        conn: u64,
    },
    /// WHIP (`egress` false) or WHEP (`egress` true) offer.
    Whip {
        /// The room in the URL.
        room: String,
        /// Bearer token.
        token: String,
        /// The offer.
        sdp: String,
        /// WHEP.
        egress: bool,
        /// `(session id, answer)` or `(status, message)`.
        reply: oneshot::Sender<HttpReply>,
    },
    /// WHIP/WHEP DELETE.
    WhipDelete {
        /// The session id.
        id: String,
        /// Whether it existed.
        reply: oneshot::Sender<bool>,
    },
    /// `POST /debug/estimate-cap`: caps (or with `None` uncaps) a participant's estimate.
    EstimateCap {
        /// Public participant id (`p7`).
        participant: String,
        /// The cap.
        bps: Option<u64>,
        /// Whether the participant exists and has a transport.
        reply: oneshot::Sender<bool>,
    },
    /// `GET /debug/bandwidth`: every subscriber's estimate (with its delay- and loss-based
    /// parts and state), per subscription the layer allocated and the layers measured, and
    /// the probe packets sent.
    DebugBandwidth {
        /// JSON.
        reply: oneshot::Sender<String>,
    },
    /// `GET /debug/frames`.
    DebugFrames {
        /// JSON.
        reply: oneshot::Sender<String>,
    },
    /// Tell every client to leave, then stop accepting joins.
    Shutdown,
}

#[derive(Debug)]
struct Room {
    engine_room: RoomId,
    /// The clinical profile, chosen by visit type when the room was created.
    profile: ClinicalProfile,
    visit_type: String,
    members: Vec<u64>,
    /// The room's MLS Delivery Service. Only WebSocket participants take part (WHIP/WHEP
    /// sessions have no signaling to carry MLS); it is reset when the last of them is gone.
    ds: DeliveryService,
}

#[derive(Debug)]
struct Peer {
    ice: IceLite,
    dtls: Box<dyn DtlsTransport>,
    srtp: Option<SrtpSession>,
    remote_fingerprint: String,
    failed: bool,
}

#[derive(Debug)]
struct Subscribed {
    sub: SubscriptionId,
    track: u64,
    ssrc: Ssrc,
    rtx_ssrc: Option<Ssrc>,
    codec: ChosenCodec,
}

#[derive(Debug)]
struct Member {
    room: String,
    name: String,
    role: Role,
    session: String,
    conn: Option<u64>,
    /// Set when the WebSocket dropped: the session ends at `disconnected + grace`.
    disconnected: Option<Instant>,
    /// WHIP/WHEP sessions have no WebSocket and end by DELETE. Every other member is a
    /// WebSocket participant, and only those take part in the room's MLS group.
    http_session: Option<String>,
    participant: Option<ParticipantId>,
    peer: Option<Peer>,
    published: BTreeMap<String, (u64, ChosenCodec, Vec<Rid>)>,
    subscribed: BTreeMap<String, Subscribed>,
    answers: u64,
}

#[derive(Debug)]
struct Track {
    owner: u64,
    room: String,
    engine: TrackId,
    kind: MediaKind,
    source: String,
    codec: Codec,
    layers: u8,
    payload_type: u8,
}

#[derive(Debug)]
struct Conn {
    tx: mpsc::Sender<Outbound>,
    addr: IpAddr,
    member: Option<u64>,
}

/// Rooms, participants, transports and the engine.
#[derive(Debug)]
pub struct Hub {
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    engine: Engine,
    identity: Arc<DtlsIdentity>,
    candidates: Vec<SocketAddr>,
    tokens: TokenKey,
    profiles: ProfileRegistry,
    /// Authority keys the rooms' Delivery Services check joiners' certificates against.
    ds_trust: Option<TrustAnchors>,
    rooms: BTreeMap<String, Room>,
    members: BTreeMap<u64, Member>,
    conns: BTreeMap<u64, Conn>,
    tracks: BTreeMap<u64, Track>,
    by_ufrag: HashMap<String, u64>,
    by_addr: HashMap<SocketAddr, u64>,
    by_participant: BTreeMap<ParticipantId, u64>,
    by_sub: BTreeMap<SubscriptionId, (u64, u64)>,
    sessions: BTreeMap<String, u64>,
    http_sessions: BTreeMap<String, u64>,
    joins: HashMap<IpAddr, VecDeque<Instant>>,
    recorder: Option<FrameRecorder>,
    next_member: u64,
    next_track: u64,
    shutting_down: bool,
    next_tick: Option<Instant>,
    tx: Vec<u8>,
    tx_meta: Vec<(SocketAddr, usize, usize)>,
    scratch: Vec<u8>,
}

/// Fills `buf` from the OS. The server crate is the I/O shell, so OS randomness is allowed here.
fn random_bytes(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        // No OS randomness is not recoverable for a server that mints keys and SSRCs.
        panic!("the OS random number generator failed");
    }
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    random_bytes(&mut b);
    u32::from_le_bytes(b)
}

fn random_token() -> String {
    let mut b = [0u8; 18];
    random_bytes(&mut b);
    b.iter().fold(String::with_capacity(36), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// The signaling form of a Delivery Service message to a client; `sender` is the member whose
/// message the DS answered (the `from` of a relayed application message).
fn server_mls(msg: FromDs, sender: u64) -> Option<ServerMls> {
    Some(match msg {
        FromDs::GroupState { group_info } => ServerMls::State { group_info },
        FromDs::Commit { commit } => ServerMls::Commit { commit },
        FromDs::Rejected { reason, group_info } => ServerMls::Rejected { reason, group_info },
        FromDs::Application { message } => ServerMls::App {
            message,
            from: format!("p{sender}"),
        },
        other => {
            // A message this server's protocol has no form for: a version mismatch between
            // the server and telesfu-e2ee, never a client's doing. Dropped and logged.
            tracing::error!(?other, "no signaling form for a Delivery Service message");
            return None;
        }
    })
}

fn codec_name(c: Codec) -> &'static str {
    match c {
        Codec::Vp8 => "VP8",
        Codec::H264 => "H264",
        Codec::Av1 => "AV1",
        Codec::Opus => "opus",
        _ => "unknown",
    }
}

fn e2ee_codec(c: Codec) -> Option<telesfu_e2ee::media::Codec> {
    match c {
        Codec::Vp8 => Some(telesfu_e2ee::media::Codec::Vp8),
        Codec::Opus => Some(telesfu_e2ee::media::Codec::Opus),
        _ => None,
    }
}

impl Hub {
    /// A hub whose media socket is reachable at `candidates`.
    pub fn new(
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        identity: Arc<DtlsIdentity>,
        candidates: Vec<SocketAddr>,
        profiles: ProfileRegistry,
        now: Instant,
        ntp_now: u64,
    ) -> Self {
        let mut engine_config = EngineConfig::default();
        engine_config.bandwidth.enabled = config.bandwidth.estimation;
        engine_config.bandwidth.predictor = config.bandwidth.predictor;
        engine_config.bandwidth.pacing.enabled = config.bandwidth.pacing;
        let engine = Engine::new(engine_config, now, ntp_now, random_u32());
        let recorder = (config.debug.record_frames > 0)
            .then(|| FrameRecorder::new(config.debug.record_frames));
        let keys = config.authority_keys();
        Self {
            tokens: TokenKey::new(config.auth.token_key.as_bytes()),
            profiles,
            ds_trust: (!keys.is_empty()).then(|| TrustAnchors::new(keys)),
            config,
            metrics,
            engine,
            identity,
            candidates,
            rooms: BTreeMap::new(),
            members: BTreeMap::new(),
            conns: BTreeMap::new(),
            tracks: BTreeMap::new(),
            by_ufrag: HashMap::default(),
            by_addr: HashMap::default(),
            by_participant: BTreeMap::new(),
            by_sub: BTreeMap::new(),
            sessions: BTreeMap::new(),
            http_sessions: BTreeMap::new(),
            joins: HashMap::default(),
            recorder,
            next_member: 1,
            next_track: 1,
            shutting_down: false,
            next_tick: None,
            tx: Vec::with_capacity(64 * SLOT),
            tx_meta: Vec::with_capacity(64),
            scratch: Vec::with_capacity(256),
        }
    }

    /// Adds `key` to the authority keys the rooms' Delivery Services check joiners'
    /// certificates against (besides `e2ee.authority_keys`): the development authority's key
    /// when it runs in this process. Call before the first join; rooms that exist keep their
    /// anchors.
    ///
    /// The check is a liveness guard, not the security boundary: every member checks every
    /// certificate itself against the keys its client ships with, and refuses a commit that
    /// adds a member without one. Checking here too keeps such a commit from moving the DS to
    /// an epoch no member follows. With no keys at all, the DS orders commits unchecked.
    pub fn trust_authority(&mut self, key: AuthorityKey) {
        let mut keys = self
            .ds_trust
            .as_ref()
            .map(|t| t.keys().to_vec())
            .unwrap_or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
        self.ds_trust = Some(TrustAnchors::new(keys));
    }

    // ----- Outputs -----

    /// The waiting datagrams as `(destination, start, len)` into one buffer, packed back to
    /// back in order (so runs to one destination can go out as one GSO send).
    pub fn transmit_parts(&self) -> (&[(SocketAddr, usize, usize)], &[u8]) {
        (&self.tx_meta, &self.tx)
    }

    /// Forgets the datagrams returned by [`Hub::transmit_parts`].
    pub fn clear_transmits(&mut self) {
        self.tx.clear();
        self.tx_meta.clear();
    }

    fn queue_datagram(&mut self, to: SocketAddr, bytes: &[u8]) {
        let start = self.tx.len();
        self.tx.extend_from_slice(bytes);
        self.tx_meta.push((to, start, bytes.len()));
    }

    fn send(&mut self, conn: u64, msg: &ServerMsg) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if let ServerMsg::Error { .. } = msg {
            self.metrics
                .signaling_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.send_text(conn, signal::to_text(msg));
    }

    fn send_text(&self, conn: u64, text: String) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.tx.try_send(Outbound::Text(text)).is_err() {
            // Stuck or gone: close it; its member keeps the reconnect grace period.
            let _ = c.tx.try_send(Outbound::Close);
        }
    }

    fn debug_bandwidth(&self, now: Instant) -> serde_json::Value {
        let mut layers = Vec::new();
        let members: Vec<serde_json::Value> = self
            .members
            .iter()
            .filter_map(|(&m, mem)| {
                let p = mem.participant?;
                let subs: Vec<serde_json::Value> = self
                    .by_sub
                    .iter()
                    .filter(|(_, (sm, _))| *sm == m)
                    .map(|(&sub, &(_, t))| {
                        self.engine.measured_layers(now, sub, &mut layers);
                        serde_json::json!({
                            "track": format!("t{t}"),
                            "allocation": self.engine.allocation(sub),
                            "layers": layers.iter().map(|l| serde_json::json!({
                                "spatial": l.spatial, "temporal": l.temporal,
                                "bps": l.bitrate_bps, "width": l.width, "height": l.height,
                                "fps": l.fps,
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let bwe = self.engine.estimator(p);
                Some(serde_json::json!({
                    "participant": format!("p{m}"),
                    "estimateBps": self.engine.estimate(p),
                    "delayBasedBps": bwe.map(|b| b.delay_based_bitrate()),
                    "lossBasedBps": bwe.map(|b| b.loss_based_bitrate()),
                    "lossFraction": bwe.map(|b| b.loss_fraction()),
                    "state": bwe.map(|b| format!("{:?}", b.state())),
                    "probe": bwe.map(|b| {
                        let pc = b.probe_controller();
                        serde_json::json!({
                            "failures": pc.failures(),
                            "contradictions": pc.contradictions(),
                            "distrusted": pc.distrusted(now),
                            "ceilingBps": pc.ceiling(now),
                            "lastResultBps": pc.last_result().map(|(_, r)| r as u64),
                            "inFlight": pc.in_flight().is_some(),
                            "durationMs": pc.duration().as_millis() as u64,
                        })
                    }),
                    "subscriptions": subs,
                }))
            })
            .collect();
        serde_json::json!({
            "members": members,
            "probePackets": self.engine.stats().probe_packets,
        })
    }

    fn send_member(&mut self, member: u64, msg: &ServerMsg) {
        if let Some(conn) = self.members.get(&member).and_then(|m| m.conn) {
            self.send(conn, msg);
        }
    }

    fn broadcast(&mut self, room: &str, except: u64, msg: &ServerMsg) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let targets: Vec<u64> = r.members.iter().copied().filter(|m| *m != except).collect();
        self.send_members(&targets, msg);
    }

    /// Sends `msg` to each of `members` that has a socket, serialised once.
    fn send_members(&mut self, members: &[u64], msg: &ServerMsg) {
        let conns: Vec<u64> = members
            .iter()
            .filter_map(|m| self.members.get(m)?.conn)
            .collect();
        if conns.is_empty() {
            return;
        }
        let text = signal::to_text(msg);
        for conn in conns {
            self.send_text(conn, text.clone());
        }
    }

    fn error(&mut self, conn: u64, code: ErrorCode, message: impl Into<String>, reference: &str) {
        self.send(
            conn,
            &ServerMsg::Error {
                code,
                message: message.into(),
                reference: Some(reference.to_owned()),
            },
        );
    }

    fn close(&mut self, conn: u64) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.tx.try_send(Outbound::Close);
        }
    }

    // ----- Commands -----

    /// Handles one command. `unix_secs` is the wall clock (token expiry).
    pub fn handle_command(&mut self, now: Instant, unix_secs: u64, cmd: Command) {
        match cmd {
            Command::Connect { conn, tx, addr } => {
                self.conns.insert(
                    conn,
                    Conn {
                        tx,
                        addr,
                        member: None,
                    },
                );
            }
            Command::Text { conn, text } => self.handle_text(now, unix_secs, conn, &text),
            Command::Closed { conn } => {
                if let Some(c) = self.conns.remove(&conn)
                    && let Some(m) = c.member.and_then(|id| self.members.get_mut(&id))
                    && m.conn == Some(conn)
                {
                    m.conn = None;
                    m.disconnected = Some(now);
                }
            }
            Command::Whip {
                room,
                token,
                sdp,
                egress,
                reply,
            } => {
                let r = self.whip(now, unix_secs, &room, &token, &sdp, egress);
                let _ = reply.send(r);
            }
            Command::WhipDelete { id, reply } => {
                let found = self.http_sessions.get(&id).copied();
                if let Some(m) = found {
                    self.remove_member(m);
                }
                let _ = reply.send(found.is_some());
            }
            Command::EstimateCap {
                participant,
                bps,
                reply,
            } => {
                let p = participant
                    .strip_prefix('p')
                    .and_then(|n| n.parse::<u64>().ok())
                    .and_then(|n| self.members.get(&n))
                    .and_then(|m| m.participant);
                let ok = p.is_some_and(|p| self.engine.set_estimate_cap(p, bps).is_ok());
                let _ = reply.send(ok);
            }
            Command::DebugBandwidth { reply } => {
                let _ = reply.send(self.debug_bandwidth(now).to_string());
            }
            Command::DebugFrames { reply } => {
                let frames = self.recorder.as_ref().map(FrameRecorder::frames);
                let json = serde_json::json!({ "frames": frames.unwrap_or(&[]) });
                let _ = reply.send(json.to_string());
            }
            Command::Shutdown => {
                self.shutting_down = true;
                let conns: Vec<u64> = self.conns.keys().copied().collect();
                for c in conns {
                    self.error(
                        c,
                        ErrorCode::Internal,
                        "the server is shutting down; reconnect later",
                        "shutdown",
                    );
                    self.close(c);
                }
            }
        }
    }

    fn handle_text(&mut self, now: Instant, unix_secs: u64, conn: u64, text: &str) {
        let msg = match signal::parse(text) {
            Ok(m) => m,
            Err(e) => {
                self.send(conn, &e.into_msg());
                return;
            }
        };
        let member = self.conns.get(&conn).and_then(|c| c.member);
        match (msg, member) {
            (ClientMsg::Join { token, resume }, None) => {
                self.join(now, unix_secs, conn, token.as_deref(), resume.as_deref());
            }
            (ClientMsg::Join { .. }, Some(_)) => self.error(
                conn,
                ErrorCode::BadMessage,
                "already joined on this connection; open a new one to join another room",
                "join",
            ),
            (ClientMsg::Ping { id }, _) => self.send(conn, &ServerMsg::Pong { id }),
            (_, None) => self.error(
                conn,
                ErrorCode::NotJoined,
                "send a join message first",
                "join",
            ),
            (ClientMsg::Offer { sdp, mids }, Some(m)) => {
                match self.apply_offer(now, m, &sdp, &mids) {
                    Ok(answer) => self.send(conn, &ServerMsg::Answer { sdp: answer }),
                    Err((code, message)) => self.error(conn, code, message, "offer"),
                }
            }
            (
                ClientMsg::View {
                    track,
                    width,
                    height,
                },
                Some(m),
            ) => {
                let pref = match signal::layer_for_view(width, height) {
                    Some(l) => LayerPreference::new(l, u8::MAX),
                    None => {
                        let mut p = LayerPreference::ALL;
                        p.paused = true;
                        p
                    }
                };
                self.set_preference(now, conn, m, &track, pref, "view");
            }
            (
                ClientMsg::Layer {
                    track,
                    max_spatial,
                    max_temporal,
                    paused,
                },
                Some(m),
            ) => {
                let mut pref = LayerPreference::new(max_spatial, max_temporal.unwrap_or(u8::MAX));
                pref.paused = paused;
                self.set_preference(now, conn, m, &track, pref, "layer");
            }
            (ClientMsg::Mls(msg), Some(m)) => self.mls(unix_secs, m, msg),
            (ClientMsg::Leave, Some(m)) => {
                self.remove_member(m);
                self.close(conn);
            }
        }
    }

    fn rate_limited(&mut self, now: Instant, addr: IpAddr) -> bool {
        let limit = self.config.rooms.joins_per_minute as usize;
        let q = self.joins.entry(addr).or_default();
        while q
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(60))
        {
            q.pop_front();
        }
        if q.len() >= limit {
            return true;
        }
        q.push_back(now);
        false
    }

    fn join(
        &mut self,
        now: Instant,
        unix_secs: u64,
        conn: u64,
        token: Option<&str>,
        resume: Option<&str>,
    ) {
        if self.shutting_down {
            self.error(
                conn,
                ErrorCode::Internal,
                "the server is shutting down",
                "join",
            );
            self.close(conn);
            return;
        }
        if let Some(session) = resume {
            match self.sessions.get(session).copied() {
                Some(m) => self.attach(conn, m, true),
                None => self.error(
                    conn,
                    ErrorCode::SessionExpired,
                    "unknown or expired session; join again with a token",
                    "join",
                ),
            }
            return;
        }
        let addr = self
            .conns
            .get(&conn)
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.addr);
        if self.rate_limited(now, addr) {
            self.metrics
                .joins_rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.error(
                conn,
                ErrorCode::RateLimited,
                format!(
                    "more than {} joins per minute from {addr}; wait and retry",
                    self.config.rooms.joins_per_minute
                ),
                "join",
            );
            self.close(conn);
            return;
        }
        let Some(token) = token else {
            self.error(
                conn,
                ErrorCode::Unauthorized,
                "join needs a token (or resume with a session)",
                "join",
            );
            self.close(conn);
            return;
        };
        let claims = match self.tokens.verify(token, unix_secs) {
            Ok(c) => c,
            Err(e) => {
                self.error(conn, ErrorCode::Unauthorized, e.to_string(), "join");
                self.close(conn);
                return;
            }
        };
        match self.add_member(
            &claims.room,
            claims.name,
            claims.role,
            claims.visit.as_deref(),
        ) {
            Ok(m) => self.attach(conn, m, false),
            Err(message) => {
                self.error(conn, ErrorCode::RoomFull, message, "join");
                self.close(conn);
            }
        }
    }

    fn add_member(
        &mut self,
        room: &str,
        name: String,
        role: Role,
        visit: Option<&str>,
    ) -> Result<u64, String> {
        if !self.rooms.contains_key(room) {
            let engine_room = self.engine.create_room();
            let visit_type = visit
                .unwrap_or(&self.config.policy.default_visit_type)
                .to_owned();
            let profile = self.profiles.for_visit_type(&visit_type).clone();
            tracing::info!(room, visit_type, profile = profile.name(), "room created");
            // The profile is the allocator's specialty hook for this room's subscribers (with
            // bandwidth estimation on; off, nothing allocates and the engine refuses a hook).
            if self.config.bandwidth.estimation
                && let Err(e) = self
                    .engine
                    .set_room_hook(engine_room, Box::new(profile.clone()))
            {
                tracing::warn!(room, error = %e, "cannot set the room's profile hook");
            }
            let mut ds = DsConfig::default();
            ds.trust.clone_from(&self.ds_trust);
            room.clone_into(&mut ds.room);
            self.rooms.insert(
                room.to_owned(),
                Room {
                    engine_room,
                    profile,
                    visit_type,
                    members: Vec::new(),
                    ds: DeliveryService::new(ds),
                },
            );
        }
        let max = self.config.rooms.max_participants;
        let r = self.rooms.get_mut(room).ok_or("room vanished")?;
        if r.members.len() >= max {
            return Err(format!("room {room:?} already has {max} participants"));
        }
        let id = self.next_member;
        self.next_member += 1;
        r.members.push(id);
        let session = random_token();
        self.sessions.insert(session.clone(), id);
        self.members.insert(
            id,
            Member {
                room: room.to_owned(),
                name,
                role,
                session,
                conn: None,
                disconnected: None,
                http_session: None,
                participant: None,
                peer: None,
                published: BTreeMap::new(),
                subscribed: BTreeMap::new(),
                answers: 0,
            },
        );
        self.update_gauges();
        Ok(id)
    }

    fn peer_info(&self, id: u64) -> Option<PeerInfo> {
        let m = self.members.get(&id)?;
        Some(PeerInfo {
            participant: format!("p{id}"),
            name: m.name.clone(),
            role: m.role.as_str().to_owned(),
        })
    }

    fn track_info(&self, id: u64) -> Option<TrackInfo> {
        let t = self.tracks.get(&id)?;
        Some(TrackInfo {
            track: format!("t{id}"),
            participant: format!("p{}", t.owner),
            kind: t.kind.as_str().to_owned(),
            source: t.source.clone(),
            codec: codec_name(t.codec).to_owned(),
            layers: t.layers,
        })
    }

    fn attach(&mut self, conn: u64, member: u64, resumed: bool) {
        // A resume replaces an older connection of the same member.
        let old = self.members.get(&member).and_then(|m| m.conn);
        if let Some(old) = old
            && old != conn
        {
            if let Some(c) = self.conns.get_mut(&old) {
                c.member = None;
            }
            self.close(old);
        }
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        m.conn = Some(conn);
        m.disconnected = None;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.member = Some(member);
        }
        let room = m.room.clone();
        let (name, role, session) = (m.name.clone(), m.role, m.session.clone());
        let others: Vec<u64> = self
            .rooms
            .get(&room)
            .map(|r| r.members.iter().copied().filter(|x| *x != member).collect())
            .unwrap_or_default();
        let peers = others.iter().filter_map(|o| self.peer_info(*o)).collect();
        let config = self.rooms.get(&room).map_or_else(
            || ClientConfig::for_profile(self.profiles.for_visit_type(""), ""),
            |r| ClientConfig::for_profile(&r.profile, &r.visit_type),
        );
        let tracks = self
            .tracks
            .iter()
            .filter(|(_, t)| t.room == room && t.owner != member)
            .filter_map(|(id, _)| self.track_info(*id))
            .collect();
        self.send(
            conn,
            &ServerMsg::Joined {
                participant: format!("p{member}"),
                session,
                resumed,
                room: room.clone(),
                role: role.as_str().to_owned(),
                name,
                peers,
                tracks,
                config,
            },
        );
        // Right after every `joined`: the room's group as the DS holds it, from which the
        // client creates the group, joins it, or (resumed) checks it is still current.
        let state = self.rooms.get(&room).map(|r| r.ds.state());
        if let Some(state) = state.and_then(|s| server_mls(s, member)) {
            self.send(conn, &ServerMsg::Mls(state));
        }
        if !resumed && let Some(info) = self.peer_info(member) {
            self.broadcast(&room, member, &ServerMsg::PeerJoined(info));
        }
    }

    /// Hands one `mls` message of `member` to its room's Delivery Service and routes the
    /// answer: to the sender, or to every WebSocket participant of the room with or without
    /// it. The hub handles one command at a time, so every socket gets the DS's answers in
    /// the order the DS gave them.
    fn mls(&mut self, unix_secs: u64, member: u64, msg: ClientMls) {
        use std::sync::atomic::Ordering::Relaxed;
        self.metrics.mls_messages[msg.op_index()].fetch_add(1, Relaxed);
        let is_commit = matches!(msg, ClientMls::Create { .. } | ClientMls::Commit { .. });
        let input = match msg {
            ClientMls::Create { group_info } => ToDs::Create { group_info },
            ClientMls::Commit { commit, group_info } => ToDs::Commit { commit, group_info },
            ClientMls::App { message } => ToDs::Application { message },
            ClientMls::Sync => ToDs::Sync,
        };
        let Some(room) = self.members.get(&member).map(|m| m.room.clone()) else {
            return;
        };
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        let delivery = r.ds.handle(input, unix_secs);
        let epoch = r.ds.epoch();
        let (targets, out) = match delivery {
            Delivery::Sender(out) => (vec![member], out),
            Delivery::All(out) => (self.mls_members(&room, None), out),
            Delivery::Others(out) => (self.mls_members(&room, Some(member)), out),
            other => {
                tracing::error!(
                    ?other,
                    "the Delivery Service answered with an unknown routing"
                );
                return;
            }
        };
        if is_commit {
            match &out {
                FromDs::Rejected { reason, .. } => {
                    self.metrics.mls_commits_rejected.fetch_add(1, Relaxed);
                    tracing::debug!(room, participant = member, reason, "MLS commit rejected");
                }
                _ => {
                    self.metrics.mls_commits_accepted.fetch_add(1, Relaxed);
                    tracing::debug!(room, participant = member, epoch, "MLS commit accepted");
                }
            }
        }
        if let Some(out) = server_mls(out, member) {
            self.send_members(&targets, &ServerMsg::Mls(out));
        }
    }

    /// The room's members that take part in MLS (its WebSocket participants), but `except`.
    fn mls_members(&self, room: &str, except: Option<u64>) -> Vec<u64> {
        self.rooms.get(room).map_or_else(Vec::new, |r| {
            r.members
                .iter()
                .copied()
                .filter(|m| Some(*m) != except && self.is_mls_member(*m))
                .collect()
        })
    }

    fn is_mls_member(&self, member: u64) -> bool {
        self.members
            .get(&member)
            .is_some_and(|m| m.http_session.is_none())
    }

    fn set_preference(
        &mut self,
        now: Instant,
        conn: u64,
        member: u64,
        track: &str,
        pref: LayerPreference,
        reference: &str,
    ) {
        let tid: Option<u64> = track.strip_prefix('t').and_then(|n| n.parse().ok());
        let sub = self.members.get(&member).and_then(|m| {
            m.subscribed
                .values()
                .find(|s| Some(s.track) == tid)
                .map(|s| s.sub)
        });
        match sub {
            Some(sub) => {
                if let Err(e) = self.engine.set_preference(now, sub, pref) {
                    self.error(conn, ErrorCode::UnknownTrack, e.to_string(), reference);
                }
            }
            None => self.error(
                conn,
                ErrorCode::UnknownTrack,
                format!("not subscribed to track {track:?}; subscribe with an offer first"),
                reference,
            ),
        }
    }

    // ----- Offers -----

    fn apply_offer(
        &mut self,
        now: Instant,
        member: u64,
        text: &str,
        mids: &BTreeMap<String, MidInfo>,
    ) -> Result<String, (ErrorCode, String)> {
        let bad = |m: String| (ErrorCode::BadSdp, m);
        let offer = sdp::parse_offer(text).map_err(|e| bad(e.to_string()))?;
        if !offer.fingerprint.algorithm.eq_ignore_ascii_case("sha-256") {
            return Err(bad("the offer's fingerprint must be sha-256".into()));
        }
        self.ensure_transport(now, member, &offer)?;
        let mut decisions = Vec::with_capacity(offer.sections.len());
        let mut added = Vec::new();
        let mut removed = Vec::new();
        for section in &offer.sections {
            let d = self.decide(now, member, section, mids, &mut added, &mut removed);
            decisions.push(d.map_err(bad)?);
        }
        // Sections no longer in the offer (or rejected) end their tracks and subscriptions.
        self.prune(member, &offer, &mut removed);
        let m = self
            .members
            .get_mut(&member)
            .ok_or_else(|| (ErrorCode::Internal, "participant vanished".to_owned()))?;
        m.answers += 1;
        let peer = m
            .peer
            .as_ref()
            .ok_or_else(|| (ErrorCode::Internal, "transport vanished".to_owned()))?;
        let creds = peer.ice.local_credentials();
        let local = LocalParams::new(
            creds.ufrag.clone(),
            creds.pwd.clone(),
            self.identity.fingerprint().to_owned(),
            self.candidates.clone(),
            member,
            m.answers,
        );
        let answer =
            sdp::build_answer(&offer, &local, &decisions).map_err(|e| bad(e.to_string()))?;
        let room = m.room.clone();
        for t in added {
            if let Some(info) = self.track_info(t) {
                self.broadcast(&room, member, &ServerMsg::TrackAdded(info));
            }
        }
        for t in removed {
            self.broadcast(
                &room,
                member,
                &ServerMsg::TrackRemoved {
                    track: format!("t{t}"),
                },
            );
        }
        Ok(answer)
    }

    /// Creates the ICE/DTLS transport and the engine participant on the first offer; handles
    /// an ICE restart (new remote credentials) on later ones.
    fn ensure_transport(
        &mut self,
        now: Instant,
        member: u64,
        offer: &Offer,
    ) -> Result<(), (ErrorCode, String)> {
        let m = self
            .members
            .get_mut(&member)
            .ok_or_else(|| (ErrorCode::Internal, "participant vanished".to_owned()))?;
        let remote = IceCredentials {
            ufrag: offer.ice_ufrag.clone(),
            pwd: offer.ice_pwd.clone(),
        };
        let fingerprint = offer.fingerprint.value.clone();
        match &mut m.peer {
            Some(peer) => {
                if !peer.remote_fingerprint.eq_ignore_ascii_case(&fingerprint) {
                    return Err((
                        ErrorCode::BadSdp,
                        "the DTLS fingerprint changed within a session; join again for a new \
                         connection"
                            .into(),
                    ));
                }
                if peer.ice.remote_ufrag() != Some(remote.ufrag.as_str()) {
                    // ICE restart: new credentials on both sides, DTLS and SRTP carry on.
                    let old = peer.ice.local_credentials().ufrag.clone();
                    let local = IceCredentials::random()
                        .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
                    let ufrag = local.ufrag.clone();
                    peer.ice = IceLite::new(local, Some(remote));
                    self.by_ufrag.remove(&old);
                    self.by_ufrag.insert(ufrag, member);
                }
            }
            None => {
                let local =
                    IceCredentials::random().map_err(|e| (ErrorCode::Internal, e.to_string()))?;
                let dtls = DimplServer::new(&self.identity, &format!("sha-256 {fingerprint}"), now)
                    .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
                self.by_ufrag.insert(local.ufrag.clone(), member);
                m.peer = Some(Peer {
                    ice: IceLite::new(local, Some(remote)),
                    dtls: Box::new(dtls),
                    srtp: None,
                    remote_fingerprint: fingerprint,
                    failed: false,
                });
            }
        }
        if m.participant.is_none() {
            let room = self
                .rooms
                .get(&m.room)
                .ok_or_else(|| (ErrorCode::Internal, "room vanished".to_owned()))?
                .engine_room;
            let mut config = ParticipantConfig::default();
            config.extensions = offer.extension_ids();
            let p = self
                .engine
                .add_participant(room, config)
                .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
            m.participant = Some(p);
            self.by_participant.insert(p, member);
        }
        Ok(())
    }

    fn decide(
        &mut self,
        now: Instant,
        member: u64,
        section: &MediaSection,
        mids: &BTreeMap<String, MidInfo>,
        added: &mut Vec<u64>,
        removed: &mut Vec<u64>,
    ) -> Result<SectionAnswer, String> {
        let Some(mid) = section.mid.as_ref().map(|m| m.as_str().to_owned()) else {
            return Ok(SectionAnswer::Reject);
        };
        let prefs: &[Codec] = match section.kind {
            MediaKind::Audio => &AUDIO_PREFERENCES,
            MediaKind::Video => &VIDEO_PREFERENCES,
            _ => return Ok(SectionAnswer::Reject),
        };
        match section.role() {
            SectionRole::Publish => {
                let m = self.members.get(&member).ok_or("participant vanished")?;
                if let Some((_, codec, _)) = m.published.get(&mid) {
                    return Ok(SectionAnswer::Receive {
                        codec: codec.clone(),
                    });
                }
                if m.role == Role::Observer {
                    return Err(format!(
                        "m-section {mid}: observers may not publish; make it recvonly or inactive"
                    ));
                }
                let codec = sdp::choose_codec(section, prefs).ok_or_else(|| {
                    format!(
                        "m-section {mid}: none of the offered codecs is supported (video: VP8, \
                         H264 packetization-mode=1, AV1; audio: opus/48000/2)"
                    )
                })?;
                let rids = section.simulcast_layers();
                let encodings: Vec<EncodingConfig> = if rids.is_empty() {
                    let media = section.ssrcs.first().map(|s| s.ssrc);
                    let rtx = section
                        .ssrc_groups
                        .iter()
                        .find(|g| g.semantics == "FID" && g.ssrcs.len() == 2)
                        .map(|g| g.ssrcs[1]);
                    match media {
                        Some(s) => vec![EncodingConfig::ssrc(s, rtx)],
                        None => {
                            return Err(format!(
                                "m-section {mid}: publish needs a=ssrc lines or a=simulcast \
                                 with rids"
                            ));
                        }
                    }
                } else {
                    rids.iter().map(|r| EncodingConfig::rid(*r)).collect()
                };
                let p = m.participant.ok_or("no transport")?;
                let room = m.room.clone();
                let source = mids
                    .get(&mid)
                    .and_then(|i| i.source.clone())
                    .unwrap_or_else(|| {
                        if section.kind == MediaKind::Audio {
                            "mic".into()
                        } else {
                            "camera".into()
                        }
                    });
                if !matches!(source.as_str(), "camera" | "mic" | "screen") {
                    return Err(format!(
                        "m-section {mid}: source {source:?} is not camera, mic or screen"
                    ));
                }
                let layers = encodings.len() as u8;
                let core_source = match source.as_str() {
                    "screen" => CoreSource::Screen,
                    "mic" => CoreSource::Microphone,
                    _ => CoreSource::Camera,
                };
                let core_role = match m.role {
                    Role::Patient => PublisherRole::Patient,
                    Role::Clinician => PublisherRole::Clinician,
                    Role::Observer => PublisherRole::Other,
                };
                let config = TrackConfig::new(
                    codec.codec,
                    codec.payload_type,
                    codec.rtx_payload_type,
                    encodings,
                )
                .with_meta(core_source, core_role);
                let engine_track = self.engine.publish(p, config).map_err(|e| e.to_string())?;
                let id = self.next_track;
                self.next_track += 1;
                self.tracks.insert(
                    id,
                    Track {
                        owner: member,
                        room,
                        engine: engine_track,
                        kind: section.kind.clone(),
                        source,
                        codec: codec.codec,
                        layers,
                        payload_type: codec.payload_type,
                    },
                );
                if let Some(m) = self.members.get_mut(&member) {
                    m.published.insert(mid, (id, codec.clone(), rids));
                }
                added.push(id);
                Ok(SectionAnswer::Receive { codec })
            }
            SectionRole::Subscribe => {
                let m = self.members.get(&member).ok_or("participant vanished")?;
                if let Some(s) = m.subscribed.get(&mid)
                    && self.tracks.contains_key(&s.track)
                {
                    return Ok(SectionAnswer::Send {
                        codec: s.codec.clone(),
                        stream: self.send_stream(s.track, s.ssrc, s.rtx_ssrc),
                    });
                }
                let wanted = mids.get(&mid).and_then(|i| i.track.clone());
                let Some(wanted) = wanted else {
                    return Ok(match sdp::choose_codec(section, prefs) {
                        Some(codec) => SectionAnswer::Inactive { codec },
                        None => SectionAnswer::Reject,
                    });
                };
                let tid = wanted
                    .strip_prefix('t')
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|t| {
                        self.tracks
                            .get(t)
                            .is_some_and(|t| t.room == m.room && t.owner != member)
                    })
                    .ok_or_else(|| {
                        format!("m-section {mid}: no track {wanted:?} to receive in this room")
                    })?;
                let track = &self.tracks[&tid];
                if track.kind != section.kind {
                    return Err(format!(
                        "m-section {mid} is {} but track {wanted} is {}",
                        section.kind.as_str(),
                        track.kind.as_str()
                    ));
                }
                let codec = sdp::choose_codec(section, &[track.codec]).ok_or_else(|| {
                    format!(
                        "m-section {mid}: track {wanted} is {} and the section does not offer it",
                        codec_name(track.codec)
                    )
                })?;
                let p = m.participant.ok_or("no transport")?;
                let engine_track = track.engine;
                let ssrc = Ssrc(random_u32() | 1);
                let mut config = SubscriptionConfig::new(ssrc, codec.payload_type);
                if let Some(mid_token) = Mid::new(&mid) {
                    config = config.with_mid(mid_token);
                }
                let rtx_ssrc = codec.rtx_payload_type.map(|pt| {
                    let s = Ssrc(random_u32() & !1);
                    config = config.with_rtx(s, pt);
                    s
                });
                let sub = self
                    .engine
                    .subscribe(now, p, engine_track, config)
                    .map_err(|e| e.to_string())?;
                self.by_sub.insert(sub, (member, tid));
                let stream = self.send_stream(tid, ssrc, rtx_ssrc);
                if let Some(m) = self.members.get_mut(&member) {
                    m.subscribed.insert(
                        mid,
                        Subscribed {
                            sub,
                            track: tid,
                            ssrc,
                            rtx_ssrc,
                            codec: codec.clone(),
                        },
                    );
                }
                Ok(SectionAnswer::Send { codec, stream })
            }
            SectionRole::Inactive | SectionRole::Rejected => {
                self.end_section(member, &mid, removed);
                Ok(match sdp::choose_codec(section, prefs) {
                    Some(codec) if section.port != 0 => SectionAnswer::Inactive { codec },
                    _ => SectionAnswer::Reject,
                })
            }
        }
    }

    fn send_stream(&self, track: u64, ssrc: Ssrc, rtx: Option<Ssrc>) -> SendStream {
        let owner = self.tracks.get(&track).map_or(0, |t| t.owner);
        SendStream::new(
            ssrc,
            rtx,
            format!("p{owner}"),
            format!("p{owner}"),
            format!("t{track}"),
        )
    }

    fn end_section(&mut self, member: u64, mid: &str, removed: &mut Vec<u64>) {
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        let published = m.published.remove(mid);
        let subscribed = m.subscribed.remove(mid);
        if let Some((t, _, _)) = published {
            if let Some(track) = self.tracks.remove(&t) {
                let _ = self.engine.unpublish(track.engine);
                self.drop_subscriptions_of(t);
            }
            removed.push(t);
        }
        if let Some(s) = subscribed {
            self.by_sub.remove(&s.sub);
            let _ = self.engine.unsubscribe(s.sub);
        }
    }

    fn drop_subscriptions_of(&mut self, track: u64) {
        let subs: Vec<(SubscriptionId, u64)> = self
            .by_sub
            .iter()
            .filter(|(_, (_, t))| *t == track)
            .map(|(s, (m, _))| (*s, *m))
            .collect();
        for (s, m) in subs {
            self.by_sub.remove(&s);
            if let Some(m) = self.members.get_mut(&m) {
                m.subscribed.retain(|_, x| x.sub != s);
            }
        }
    }

    fn prune(&mut self, member: u64, offer: &Offer, removed: &mut Vec<u64>) {
        let Some(m) = self.members.get(&member) else {
            return;
        };
        let present: Vec<String> = offer
            .sections
            .iter()
            .filter_map(|s| s.mid.as_ref().map(|m| m.as_str().to_owned()))
            .collect();
        let gone: Vec<String> = m
            .published
            .keys()
            .chain(m.subscribed.keys())
            .filter(|mid| !present.contains(mid))
            .cloned()
            .collect();
        for mid in gone {
            self.end_section(member, &mid, removed);
        }
    }

    // ----- WHIP / WHEP -----

    fn whip(
        &mut self,
        now: Instant,
        unix_secs: u64,
        room: &str,
        token: &str,
        text: &str,
        egress: bool,
    ) -> HttpReply {
        if self.shutting_down {
            return Err((503, "the server is shutting down".into()));
        }
        let claims = self
            .tokens
            .verify(token, unix_secs)
            .map_err(|e| (401, e.to_string()))?;
        if claims.room != room {
            return Err((
                401,
                format!("the token is for room {:?}, not {room:?}", claims.room),
            ));
        }
        let offer = sdp::parse_offer(text).map_err(|e| (400, e.to_string()))?;
        let role = if egress { Role::Observer } else { claims.role };
        let member = self
            .add_member(room, claims.name, role, claims.visit.as_deref())
            .map_err(|e| (409, e))?;
        // Map sections: WHIP publishes by kind; WHEP receives the room's first tracks by kind.
        let mut mids = BTreeMap::new();
        for s in &offer.sections {
            let Some(mid) = s.mid.as_ref().map(|m| m.as_str().to_owned()) else {
                continue;
            };
            let info = if egress {
                let track = self
                    .tracks
                    .iter()
                    .find(|(_, t)| t.room == room && t.kind == s.kind && t.source != "screen")
                    .map(|(id, _)| format!("t{id}"));
                MidInfo {
                    source: None,
                    track,
                }
            } else {
                MidInfo {
                    source: None,
                    track: None,
                }
            };
            mids.insert(mid, info);
        }
        match self.apply_offer(now, member, text, &mids) {
            Ok(answer) => {
                let id = random_token();
                self.http_sessions.insert(id.clone(), member);
                if let Some(m) = self.members.get_mut(&member) {
                    m.http_session = Some(id.clone());
                }
                if let Some(info) = self.peer_info(member) {
                    self.broadcast(room, member, &ServerMsg::PeerJoined(info));
                }
                Ok((id, answer))
            }
            Err((_, message)) => {
                self.remove_member(member);
                Err((400, message))
            }
        }
    }

    // ----- Leaving -----

    fn remove_member(&mut self, member: u64) {
        let Some(m) = self.members.remove(&member) else {
            return;
        };
        self.sessions.remove(&m.session);
        if let Some(s) = &m.http_session {
            self.http_sessions.remove(s);
        }
        if let Some(c) = m.conn.and_then(|c| self.conns.get_mut(&c)) {
            c.member = None;
        }
        if let Some(peer) = &m.peer {
            self.by_ufrag.remove(&peer.ice.local_credentials().ufrag);
        }
        self.by_addr.retain(|_, v| *v != member);
        if let Some(p) = m.participant {
            self.by_participant.remove(&p);
            let _ = self.engine.remove_participant(p);
        }
        for s in m.subscribed.values() {
            self.by_sub.remove(&s.sub);
        }
        let mut removed = Vec::new();
        for (t, _, _) in m.published.values() {
            self.tracks.remove(t);
            self.drop_subscriptions_of(*t);
            removed.push(*t);
        }
        let room = m.room.clone();
        if let Some(r) = self.rooms.get_mut(&room) {
            r.members.retain(|x| *x != member);
        }
        for t in removed {
            self.broadcast(
                &room,
                member,
                &ServerMsg::TrackRemoved {
                    track: format!("t{t}"),
                },
            );
        }
        self.broadcast(
            &room,
            member,
            &ServerMsg::PeerLeft {
                participant: format!("p{member}"),
            },
        );
        let mls_left = self.mls_members(&room, None).is_empty();
        if self.rooms.get(&room).is_some_and(|r| r.members.is_empty()) {
            self.rooms.remove(&room);
        } else if mls_left && let Some(r) = self.rooms.get_mut(&room) {
            // Only WHIP/WHEP sessions remain: nobody holds the group's keys any more, so the
            // next participant starts a new group rather than joining one nobody answers in.
            r.ds.reset();
        }
        self.update_gauges();
    }

    fn update_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.metrics.rooms.store(self.rooms.len() as u64, Relaxed);
        self.metrics
            .participants
            .store(self.members.len() as u64, Relaxed);
    }

    // ----- Datagrams -----

    /// Handles one datagram from the media socket. `buf` is decrypted in place.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, buf: &mut [u8]) {
        let kind = classify(buf);
        match kind {
            DatagramKind::Stun => self.handle_stun(now, from, buf),
            DatagramKind::Dtls => {
                let Some(member) = self.by_addr.get(&from).copied() else {
                    self.metrics.drop_transport(TransportDrop::UnknownSender);
                    return;
                };
                let Some(peer) = self.members.get_mut(&member).and_then(|m| m.peer.as_mut()) else {
                    return;
                };
                if peer.failed {
                    self.metrics.drop_transport(TransportDrop::DtlsError);
                    return;
                }
                if let Err(e) = peer.dtls.handle_datagram(now, buf) {
                    tracing::warn!(participant = member, error = %e, "DTLS handshake failed");
                    peer.failed = true;
                    self.metrics.drop_transport(TransportDrop::DtlsError);
                    self.metrics
                        .dtls_failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                self.drain_dtls(member, from);
            }
            DatagramKind::Rtp | DatagramKind::Rtcp => {
                let rtcp = kind == DatagramKind::Rtcp;
                let Some(member) = self.by_addr.get(&from).copied() else {
                    self.metrics.drop_transport(TransportDrop::UnknownSender);
                    return;
                };
                let Some(m) = self.members.get_mut(&member) else {
                    return;
                };
                let (Some(p), Some(srtp)) =
                    (m.participant, m.peer.as_mut().and_then(|p| p.srtp.as_mut()))
                else {
                    self.metrics.drop_transport(TransportDrop::SrtpNotReady);
                    return;
                };
                let len = buf.len();
                let r = if rtcp {
                    srtp.unprotect_rtcp(buf, len)
                } else {
                    srtp.unprotect_rtp(buf, len)
                };
                let n = match r {
                    Ok(n) => n,
                    Err(e) => {
                        self.metrics.drop_transport(match e {
                            SrtpError::AuthenticationFailed => TransportDrop::SrtpAuth,
                            SrtpError::Replayed { .. } | SrtpError::TooOld { .. } => {
                                TransportDrop::SrtpReplay
                            }
                            _ => TransportDrop::SrtpMalformed,
                        });
                        return;
                    }
                };
                if !rtcp && self.recorder.is_some() {
                    self.record(member, &buf[..n]);
                }
                self.engine.handle_input(
                    now,
                    Input::Datagram {
                        from: p,
                        contents: &buf[..n],
                    },
                );
            }
            _ => self.metrics.drop_transport(TransportDrop::Unclassified),
        }
    }

    fn record(&mut self, member: u64, packet: &[u8]) {
        let Ok(rtp) = telesfu_core::rtp::RtpPacket::parse(packet) else {
            return;
        };
        let pt = rtp.payload_type();
        let found = self
            .tracks
            .iter()
            .find(|(_, t)| t.owner == member && t.payload_type == pt)
            .and_then(|(id, t)| Some((*id, e2ee_codec(t.codec)?)));
        if let (Some((id, codec)), Some(rec)) = (found, self.recorder.as_mut()) {
            rec.record(&format!("t{id}"), codec, packet);
        }
    }

    fn handle_stun(&mut self, now: Instant, from: SocketAddr, buf: &[u8]) {
        let member = self
            .by_addr
            .get(&from)
            .copied()
            .or_else(|| local_ufrag_of(buf).and_then(|u| self.by_ufrag.get(u).copied()));
        let Some(member) = member else {
            self.metrics.drop_transport(TransportDrop::UnknownSender);
            return;
        };
        let Some(peer) = self.members.get_mut(&member).and_then(|m| m.peer.as_mut()) else {
            return;
        };
        let mut response = std::mem::take(&mut self.scratch);
        match peer.ice.handle_stun(now, from, buf, &mut response) {
            Ok(_) => {
                self.by_addr.insert(from, member);
                self.queue_datagram(from, &response);
            }
            Err(e) => {
                tracing::debug!(%from, error = %e, "STUN request rejected");
                self.metrics.drop_transport(TransportDrop::StunRejected);
            }
        }
        self.scratch = response;
    }

    fn drain_dtls(&mut self, member: u64, fallback: SocketAddr) {
        let mut out = Vec::new();
        let mut connected = None;
        if let Some(peer) = self.members.get_mut(&member).and_then(|m| m.peer.as_mut()) {
            let to = peer.ice.selected_remote().unwrap_or(fallback);
            let mut d = Vec::with_capacity(1500);
            while let Some(n) = peer.dtls.poll_transmit(&mut d) {
                out.push((to, d[..n.min(d.len())].to_vec()));
            }
            while let Some(ev) = peer.dtls.poll_event() {
                match ev {
                    DtlsEvent::Connected {
                        profile_id,
                        keying_material,
                    } => connected = Some((profile_id, keying_material)),
                    DtlsEvent::Closed => {
                        tracing::info!(participant = member, "DTLS closed by the peer");
                    }
                }
            }
            if let Some((id, km)) = connected.take() {
                let session = match SrtpProfile::from_dtls_id(id) {
                    Some(p) => SrtpSession::new(p, &km, false).map_err(|e| e.to_string()),
                    None => Err(format!("DTLS negotiated unknown SRTP profile {id:#06x}")),
                };
                match session {
                    Ok(s) => {
                        tracing::info!(
                            participant = member,
                            profile = ?s.profile(),
                            "DTLS connected, SRTP ready"
                        );
                        peer.srtp = Some(s);
                        self.metrics
                            .dtls_handshakes
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::warn!(participant = member, error = %e, "SRTP setup failed");
                        peer.failed = true;
                    }
                }
            }
        }
        for (to, d) in out {
            self.queue_datagram(to, &d);
        }
    }

    // ----- Timers -----

    /// When [`Hub::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.engine.poll_timeout();
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        min(self.next_tick);
        for m in self.members.values() {
            if let Some(p) = &m.peer {
                min(p.dtls.poll_timeout());
            }
        }
        t
    }

    /// Runs what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_input(now, Input::Timeout);
        }
        let due: Vec<u64> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.peer
                    .as_ref()
                    .and_then(|p| p.dtls.poll_timeout())
                    .is_some_and(|t| t <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let mut fallback = None;
            if let Some(peer) = self.members.get_mut(&id).and_then(|m| m.peer.as_mut()) {
                if let Err(e) = peer.dtls.handle_timeout(now) {
                    tracing::warn!(participant = id, error = %e, "DTLS timed out");
                    peer.failed = true;
                }
                fallback = peer.ice.selected_remote();
            }
            if let Some(f) = fallback {
                self.drain_dtls(id, f);
            }
        }
        if self.next_tick.is_none_or(|t| t <= now) {
            self.next_tick = Some(now + TICK);
            self.housekeeping(now);
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        let grace = self.config.session_grace();
        let shutting_down = self.shutting_down;
        let expired: Vec<u64> = self
            .members
            .iter()
            .filter(|(_, m)| {
                // While shutting down, a member whose socket closed (or that never had one,
                // WHIP/WHEP) is done: nobody will resume.
                (shutting_down && m.conn.is_none())
                    || m.disconnected
                        .is_some_and(|t| now.saturating_duration_since(t) >= grace)
            })
            .map(|(id, _)| *id)
            .collect();
        for m in expired {
            tracing::info!(participant = m, "session grace period over; removing");
            self.remove_member(m);
        }
        for m in self.members.values_mut() {
            if let Some(p) = &mut m.peer {
                p.ice.handle_timeout(now);
            }
        }
        self.joins.retain(|_, q| {
            q.back()
                .is_some_and(|t| now.saturating_duration_since(*t) < Duration::from_secs(60))
        });
    }

    /// Moves what the engine produced out: media to the socket, events to the clients.
    pub fn flush(&mut self, now: Instant) {
        loop {
            let start = self.tx.len();
            self.tx.resize(start + SLOT + MAX_SRTP_OVERHEAD, 0);
            let Some(t) = self
                .engine
                .poll_transmit(now, &mut self.tx[start..start + SLOT])
            else {
                self.tx.truncate(start);
                break;
            };
            // No consent (RFC 7675: none for 30 s), no media: the packet is dropped here; a
            // later valid check restores the path and the subscriber NACKs or asks for a
            // keyframe.
            let dest = self.by_participant.get(&t.to).and_then(|m| {
                let p = self.members.get(m)?.peer.as_ref()?;
                (p.ice.state() != IceState::Disconnected)
                    .then(|| p.ice.selected_remote())
                    .flatten()
            });
            let srtp = self
                .by_participant
                .get(&t.to)
                .copied()
                .and_then(|m| self.members.get_mut(&m)?.peer.as_mut()?.srtp.as_mut());
            let (Some(dest), Some(srtp)) = (dest, srtp) else {
                self.tx.truncate(start);
                continue;
            };
            let slot = &mut self.tx[start..start + SLOT + MAX_SRTP_OVERHEAD];
            let r = if t.rtcp {
                srtp.protect_rtcp(slot, t.len)
            } else {
                srtp.protect_rtp(slot, t.len)
            };
            match r {
                Ok(n) => {
                    self.tx.truncate(start + n);
                    self.tx_meta.push((dest, start, n));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "SRTP protect failed");
                    self.tx.truncate(start);
                }
            }
        }
        while let Some(ev) = self.engine.poll_event() {
            match ev {
                Event::LayerSwitched {
                    subscription,
                    spatial,
                } => {
                    if let Some(&(m, t)) = self.by_sub.get(&subscription) {
                        self.send_member(
                            m,
                            &ServerMsg::LayerSwitched {
                                track: format!("t{t}"),
                                spatial,
                            },
                        );
                    }
                }
                Event::QualityAlert {
                    subscription,
                    floor,
                    delivered,
                    estimate_bps,
                } => {
                    if let Some(&(m, t)) = self.by_sub.get(&subscription) {
                        let owner = self.tracks.get(&t).map(|tr| tr.owner);
                        tracing::warn!(
                            subscriber = m,
                            track = t,
                            estimate_bps,
                            paused = delivered.is_none(),
                            "clinical quality floor cannot be held"
                        );
                        let alert = |side, publisher, subscriber| ServerMsg::QualityAlert {
                            track: format!("t{t}"),
                            side,
                            publisher,
                            subscriber,
                            min_width: floor.min_width,
                            min_height: floor.min_height,
                            min_fps: floor.min_fps,
                            delivered: delivered.map(|(w, h, f)| [w, h, f]),
                            estimate_bps,
                        };
                        self.send_member(
                            m,
                            &alert(AlertSide::Viewer, owner.map(|o| format!("p{o}")), None),
                        );
                        // Both sides know: the patient whose picture it is hears it too.
                        if let Some(o) = owner.filter(|&o| o != m) {
                            self.send_member(
                                o,
                                &alert(AlertSide::Publisher, None, Some(format!("p{m}"))),
                            );
                        }
                    }
                }
                Event::QualityRestored { subscription } => {
                    if let Some(&(m, t)) = self.by_sub.get(&subscription) {
                        let owner = self.tracks.get(&t).map(|tr| tr.owner);
                        self.send_member(
                            m,
                            &ServerMsg::QualityRestored {
                                track: format!("t{t}"),
                                side: AlertSide::Viewer,
                                subscriber: None,
                            },
                        );
                        if let Some(o) = owner.filter(|&o| o != m) {
                            self.send_member(
                                o,
                                &ServerMsg::QualityRestored {
                                    track: format!("t{t}"),
                                    side: AlertSide::Publisher,
                                    subscriber: Some(format!("p{m}")),
                                },
                            );
                        }
                    }
                }
                Event::ActiveSpeaker { participant, .. } => {
                    if let Some(&m) = self.by_participant.get(&participant)
                        && let Some(room) = self.members.get(&m).map(|m| m.room.clone())
                    {
                        self.broadcast(
                            &room,
                            u64::MAX,
                            &ServerMsg::ActiveSpeaker {
                                participant: format!("p{m}"),
                            },
                        );
                    }
                }
                _ => {}
            }
        }
        self.metrics.set_engine(self.engine.stats());
    }

    /// Whether any call is still in progress (graceful shutdown waits for none).
    pub fn is_idle(&self) -> bool {
        self.members.is_empty()
    }
}
