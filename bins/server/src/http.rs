//! The HTTP front end (axum): the demo page, WebSocket signaling, WHIP/WHEP, metrics, and the
//! development authority's endpoints (`/api/authority`, `/api/credential`).
//!
//! Handlers only translate between HTTP and [`Command`]s for the hub; they hold no call state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::authority::{CredentialError, DevAuthority};
use crate::config::Config;
use crate::hub::{CONN_QUEUE, Command, Outbound};
use crate::media::unix_now;
use crate::metrics::Metrics;
use crate::signal::{self, ErrorCode, MAX_MESSAGE, ServerMsg, b64url_decode, b64url_encode};
use crate::token::{Claims, Role, TokenKey};

/// Messages per second one WebSocket may send before it is closed as a flood.
const MESSAGES_PER_SECOND: u32 = 50;
/// The largest `POST /api/credential` body (a token is at most 2 KiB, a key 43 characters).
const MAX_CREDENTIAL_BODY: usize = 8 * 1024;

/// Shared by every handler.
#[derive(Debug)]
pub struct AppState {
    /// To the hub.
    pub commands: mpsc::Sender<Command>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub config: Arc<Config>,
    /// Mints demo tokens, and checks them for `/api/credential`.
    pub tokens: TokenKey,
    /// The development authority, when `e2ee.dev_authority` is on; `None` in production,
    /// where the process holds no authority key.
    pub authority: Option<Arc<DevAuthority>>,
    /// Connection ids.
    pub next_conn: AtomicU64,
}

/// The demo page's files, embedded at build time: `(path, content type, body)`.
const WEB: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../web/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../web/style.css"),
    ),
];

// The browser package @telesfu/e2ee (e2ee/web), listed by build.rs.
include!(concat!(env!("OUT_DIR"), "/package_files.rs"));

/// The demo page's test hooks: served only with `debug.api` on (see app.js).
const TEST_HOOKS: &str = include_str!("../web/test-hooks.js");

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    let mut r = Router::new();
    for (path, mime, body) in PACKAGE {
        let (mime, body): (&'static str, &'static [u8]) = (mime, body);
        r = r.route(
            path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, mime),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    body,
                )
            }),
        );
    }
    for (path, mime, body) in WEB {
        let (mime, body): (&'static str, &'static str) = (mime, body);
        r = r.route(
            path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, mime),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    body,
                )
            }),
        );
    }
    r.route("/ws", get(ws))
        .route("/api/token", get(token))
        .route("/api/authority", get(authority))
        .route(
            "/api/credential",
            post(credential).layer(DefaultBodyLimit::max(MAX_CREDENTIAL_BODY)),
        )
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/debug/frames", get(debug_frames))
        .route("/debug/bandwidth", get(debug_bandwidth))
        .route("/debug/test-hooks.js", get(test_hooks))
        .route("/debug/estimate-cap", post(estimate_cap))
        .route("/whip/{room}", post(whip).options(whip_options))
        .route("/whep/{room}", post(whep).options(whip_options))
        .route(
            "/whip/{room}/{id}",
            axum::routing::delete(whip_delete)
                .patch(whip_patch)
                .options(whip_options),
        )
        .route(
            "/whep/{room}/{id}",
            axum::routing::delete(whip_delete)
                .patch(whip_patch)
                .options(whip_options),
        )
        .with_state(state)
}

async fn metrics(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    room: Option<String>,
    role: Option<String>,
    name: Option<String>,
    visit: Option<String>,
}

async fn token(State(s): State<Arc<AppState>>, Query(q): Query<TokenQuery>) -> Response {
    if !s.config.auth.dev_tokens {
        return (
            StatusCode::NOT_FOUND,
            "dev tokens are off (auth.dev_tokens); mint tokens in your backend\n",
        )
            .into_response();
    }
    let room = q.room.unwrap_or_else(|| "demo".into());
    if room.is_empty() || room.len() > 64 {
        return (StatusCode::BAD_REQUEST, "room must be 1-64 bytes\n").into_response();
    }
    let role = match q.role.as_deref().map(Role::parse) {
        None => Role::Patient,
        Some(Some(r)) => r,
        Some(None) => {
            return (
                StatusCode::BAD_REQUEST,
                "role must be clinician, patient or observer\n",
            )
                .into_response();
        }
    };
    let mut name = q.name.unwrap_or_else(|| role.as_str().to_owned());
    name.truncate(64);
    let claims = Claims {
        room,
        name,
        role,
        exp: unix_now() + s.config.auth.token_ttl_secs,
        visit: q.visit.filter(|v| !v.is_empty() && v.len() <= 64),
    };
    axum::Json(serde_json::json!({ "token": s.tokens.mint(&claims) })).into_response()
}

const NO_AUTHORITY: &str = "the development authority is off (e2ee.dev_authority); clients get \
     their authority keys and certificates from the vendor's backend\n";

async fn authority(State(s): State<Arc<AppState>>) -> Response {
    let Some(a) = &s.authority else {
        return (StatusCode::NOT_FOUND, NO_AUTHORITY).into_response();
    };
    let key = b64url_encode(&a.public_key().to_bytes());
    axum::Json(serde_json::json!({ "keys": [key] })).into_response()
}

#[derive(Debug, Deserialize)]
struct CredentialRequest {
    token: String,
    #[serde(rename = "signatureKey")]
    signature_key: String,
}

/// `POST /api/credential`: a member certificate for the holder of a valid join token. The
/// token is checked exactly as the WebSocket `join` checks it. Not rate limited, like
/// `/api/token` (development only; issuing is one Ed25519 signature).
async fn credential(State(s): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(a) = &s.authority else {
        return (StatusCode::NOT_FOUND, NO_AUTHORITY).into_response();
    };
    let bad =
        |status: StatusCode, message: String| (status, format!("{message}\n")).into_response();
    let req: CredentialRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad(
                StatusCode::BAD_REQUEST,
                format!(
                    "expected a JSON object {{\"token\": \"<join token>\", \"signatureKey\": \
                     \"<base64url>\"}}: {e}"
                ),
            );
        }
    };
    let now = unix_now();
    let claims = match s.tokens.verify(&req.token, now) {
        Ok(c) => c,
        Err(e) => return bad(StatusCode::UNAUTHORIZED, e.to_string()),
    };
    let issued = b64url_decode(&req.signature_key)
        .map_err(|e| CredentialError::BadKey(format!("it {e}")))
        .and_then(|key| a.certify(&claims, &key, now));
    match issued {
        Ok(cert) => {
            axum::Json(serde_json::json!({ "certificate": b64url_encode(&cert) })).into_response()
        }
        Err(e @ CredentialError::BadKey(_)) => bad(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "the development authority could not issue");
            bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

async fn debug_frames(State(s): State<Arc<AppState>>) -> Response {
    if s.config.debug.record_frames == 0 {
        return (
            StatusCode::NOT_FOUND,
            "frame recording is off (debug.record_frames)\n",
        )
            .into_response();
    }
    hub_json(&s, |reply| Command::DebugFrames { reply }).await
}

/// Sends the hub a command that answers with JSON, and serves the answer.
async fn hub_json(
    s: &AppState,
    command: impl FnOnce(oneshot::Sender<String>) -> Command,
) -> Response {
    let (reply, rx) = oneshot::channel();
    if s.commands.send(command(reply)).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match rx.await {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct CapQuery {
    participant: String,
    bps: Option<u64>,
}

async fn test_hooks(State(s): State<Arc<AppState>>) -> Response {
    if !s.config.debug.api {
        return (StatusCode::NOT_FOUND, "the debug API is off (debug.api)\n").into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        TEST_HOOKS,
    )
        .into_response()
}

/// `GET /debug/bandwidth` (debug API only): estimates, the probe controller's state,
/// allocations, measured layers and the probe packets sent.
async fn debug_bandwidth(State(s): State<Arc<AppState>>) -> Response {
    if !s.config.debug.api {
        return (StatusCode::NOT_FOUND, "the debug API is off (debug.api)\n").into_response();
    }
    hub_json(&s, |reply| Command::DebugBandwidth { reply }).await
}

async fn estimate_cap(State(s): State<Arc<AppState>>, Query(q): Query<CapQuery>) -> Response {
    if !s.config.debug.api {
        return (StatusCode::NOT_FOUND, "the debug API is off (debug.api)\n").into_response();
    }
    let (reply, rx) = oneshot::channel();
    let cmd = Command::EstimateCap {
        participant: q.participant,
        bps: q.bps,
        reply,
    };
    if s.commands.send(cmd).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match rx.await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            "no such participant, or it has no media transport yet\n",
        )
            .into_response(),
    }
}

// ----- WebSocket -----

async fn ws(
    ws: WebSocketUpgrade,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    State(s): State<Arc<AppState>>,
) -> Response {
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| connection(socket, addr, s))
}

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

async fn connection(socket: WebSocket, addr: SocketAddr, s: Arc<AppState>) {
    let conn = s.next_conn.fetch_add(1, Relaxed);
    let (tx, mut rx) = mpsc::channel(CONN_QUEUE);
    if s.commands
        .send(Command::Connect {
            conn,
            tx,
            addr: addr.ip(),
        })
        .await
        .is_err()
    {
        return;
    }
    s.metrics.websockets.fetch_add(1, Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (mut window, mut count) = (now(), 0u32);
    loop {
        tokio::select! {
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    // Binary frames are not part of the protocol: the hub answers bad_json.
                    Some(Ok(Message::Binary(_))) => String::new(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                let t = now();
                if t.duration_since(window) >= Duration::from_secs(1) {
                    (window, count) = (t, 0);
                }
                count += 1;
                if count > MESSAGES_PER_SECOND {
                    let msg = ServerMsg::Error {
                        code: ErrorCode::RateLimited,
                        message: format!(
                            "more than {MESSAGES_PER_SECOND} messages per second; closing"
                        ),
                        reference: None,
                    };
                    let _ = sink.send(Message::Text(signal::to_text(&msg).into())).await;
                    break;
                }
                if s.commands.send(Command::Text { conn, text }).await.is_err() {
                    break;
                }
            }
            out = rx.recv() => match out {
                Some(Outbound::Text(t)) => {
                    if sink.send(Message::Text(t.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outbound::Close) | None => break,
            },
        }
    }
    // Deliver what the hub queued before it asked to close (e.g. the error that explains it).
    while let Ok(Outbound::Text(t)) = rx.try_recv() {
        let _ = sink.send(Message::Text(t.into())).await;
    }
    let _ = sink.send(Message::Close(None)).await;
    let _ = s.commands.send(Command::Closed { conn }).await;
    s.metrics.websockets.fetch_sub(1, Relaxed);
}

// ----- WHIP / WHEP (RFC 9725) -----

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(|t| t.trim().to_owned())
}

async fn whip(
    State(s): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    whip_post(s, room, headers, body, false).await
}

async fn whep(
    State(s): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    whip_post(s, room, headers, body, true).await
}

async fn whip_post(
    s: Arc<AppState>,
    room: String,
    headers: HeaderMap,
    body: Bytes,
    egress: bool,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/sdp") {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the offer must be sent as Content-Type: application/sdp\n",
        )
            .into_response();
    }
    let Some(token) = bearer(&headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "an Authorization: Bearer <token> header is required\n",
        )
            .into_response();
    };
    let Ok(sdp) = String::from_utf8(body.to_vec()) else {
        return (StatusCode::BAD_REQUEST, "the offer is not UTF-8\n").into_response();
    };
    let (reply, rx) = oneshot::channel();
    let cmd = Command::Whip {
        room: room.clone(),
        token,
        sdp,
        egress,
        reply,
    };
    if s.commands.send(cmd).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match rx.await {
        Ok(Ok((id, answer))) => {
            let kind = if egress { "whep" } else { "whip" };
            let location = format!("/{kind}/{room}/{id}");
            let mut r = (StatusCode::CREATED, answer).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/sdp"),
            );
            if let Ok(v) = HeaderValue::from_str(&location) {
                h.insert(header::LOCATION, v);
            }
            r
        }
        Ok(Err((status, message))) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            format!("{message}\n"),
        )
            .into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn whip_delete(
    State(s): State<Arc<AppState>>,
    Path((_room, id)): Path<(String, String)>,
) -> Response {
    let (reply, rx) = oneshot::channel();
    if s.commands
        .send(Command::WhipDelete { id, reply })
        .await
        .is_err()
    {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match rx.await {
        Ok(true) => StatusCode::OK.into_response(),
        _ => (StatusCode::NOT_FOUND, "no such session\n").into_response(),
    }
}

async fn whip_patch() -> StatusCode {
    // ICE-lite with every candidate in the answer: trickled client candidates are not needed,
    // the client's own checks reach us.
    StatusCode::NO_CONTENT
}

async fn whip_options() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ALLOW, "OPTIONS, POST, DELETE, PATCH"),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                "OPTIONS, POST, DELETE, PATCH",
            ),
        ],
    )
        .into_response()
}
