//! Starting and stopping the whole server: sockets, the media loop, the HTTP front end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::authority::DevAuthority;
use crate::config::Config;
use crate::http::{AppState, router};
use crate::hub::{Command, Hub};
use crate::media;
use crate::metrics::Metrics;
use crate::signal::b64url_encode;
use crate::token::TokenKey;
use crate::transport::dtls::DtlsIdentity;
use telesfu_policy::profiles::ProfileRegistry;

/// Where a started server listens.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// HTTP.
    pub http: SocketAddr,
    /// Media UDP.
    pub media: SocketAddr,
}

/// A start-up failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A socket could not be bound.
    #[error(
        "cannot bind {what} on {addr}: {source} (is another telesfu running? pick another address with --{what})"
    )]
    Bind {
        /// `http` or `media`.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The custom profiles file could not be read or is invalid.
    #[error("policy.profiles_file {path}: {message}")]
    Profiles {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The DTLS certificate could not be made.
    #[error("cannot create the DTLS certificate: {0}")]
    Identity(String),
    /// No OS randomness for the development authority's key.
    #[error(
        "cannot draw a key for the development authority: {0} (set e2ee.dev_authority_seed, or \
         turn e2ee.dev_authority off)"
    )]
    Authority(String),
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// Its addresses.
    pub bound: Bound,
    commands: mpsc::Sender<Command>,
    media: tokio::task::JoinHandle<std::io::Result<()>>,
    http: tokio::task::JoinHandle<()>,
    shutdown_http: tokio::sync::watch::Sender<bool>,
    drain: Duration,
}

/// Binds the sockets and starts the tasks.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let config = Arc::new(config);
    let udp = UdpSocket::bind(config.server.media)
        .await
        .map_err(|source| StartError::Bind {
            what: "media",
            addr: config.server.media,
            source,
        })?;
    let media_addr = udp.local_addr().map_err(|source| StartError::Bind {
        what: "media",
        addr: config.server.media,
        source,
    })?;
    let tcp = TcpListener::bind(config.server.http)
        .await
        .map_err(|source| StartError::Bind {
            what: "http",
            addr: config.server.http,
            source,
        })?;
    let http_addr = tcp.local_addr().map_err(|source| StartError::Bind {
        what: "http",
        addr: config.server.http,
        source,
    })?;
    let candidates = if config.server.announce.is_empty() {
        vec![media_addr]
    } else {
        config.server.announce.clone()
    };
    let identity =
        Arc::new(DtlsIdentity::generate().map_err(|e| StartError::Identity(e.to_string()))?);
    let mut profiles = ProfileRegistry::builtin();
    let path = &config.policy.profiles_file;
    if !path.is_empty() {
        let text = std::fs::read_to_string(path).map_err(|e| StartError::Profiles {
            path: path.clone(),
            message: e.to_string(),
        })?;
        profiles
            .load_toml(&text)
            .map_err(|e| StartError::Profiles {
                path: path.clone(),
                message: e.to_string(),
            })?;
    }
    let authority = dev_authority(&config)?;
    let metrics = Arc::new(Metrics::default());
    #[allow(clippy::disallowed_methods)]
    let now = std::time::Instant::now();
    let mut hub = Hub::new(
        config.clone(),
        metrics.clone(),
        identity,
        candidates,
        profiles,
        now,
        media::ntp_now(),
    );
    if let Some(a) = &authority {
        hub.trust_authority(a.public_key());
    }
    let (commands, rx) = mpsc::channel(1024);
    let media = tokio::spawn(media::run(udp, hub, rx, metrics.clone()));
    let state = Arc::new(AppState {
        commands: commands.clone(),
        metrics,
        tokens: TokenKey::new(config.auth.token_key.as_bytes()),
        authority,
        config: config.clone(),
        next_conn: AtomicU64::new(1),
    });
    let (shutdown_http, mut stop) = tokio::sync::watch::channel(false);
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let http = tokio::spawn(async move {
        let r = axum::serve(tcp, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    Ok(Server {
        bound: Bound {
            http: http_addr,
            media: media_addr,
        },
        commands,
        media,
        http,
        shutdown_http,
        drain: Duration::from_secs(config.server.drain_secs),
    })
}

/// The development authority `config` asks for, or `None`: then this process holds no
/// authority key at all (production).
fn dev_authority(config: &Config) -> Result<Option<Arc<DevAuthority>>, StartError> {
    let e2ee = &config.e2ee;
    if !e2ee.dev_authority {
        tracing::info!(
            "development authority off: MLS member certificates come from the vendor's backend"
        );
        return Ok(None);
    }
    let tenant = &e2ee.dev_authority_tenant;
    let (authority, origin) = match config.dev_authority_seed() {
        Some(seed) => (
            DevAuthority::from_seed(&seed, tenant),
            "e2ee.dev_authority_seed",
        ),
        None => (
            DevAuthority::random(tenant).map_err(|e| StartError::Authority(e.to_string()))?,
            "random for this run (e2ee.dev_authority_seed is empty): certificates end with it",
        ),
    };
    tracing::warn!(
        key = b64url_encode(&authority.public_key().to_bytes()),
        origin,
        "development authority on: this server certifies MLS members itself \
         (POST /api/credential), so it could admit anyone to a call's keys; production sets \
         e2ee.dev_authority = false"
    );
    Ok(Some(Arc::new(authority)))
}

impl Server {
    /// Graceful shutdown: clients are told to leave, HTTP stops accepting, the media loop
    /// drains for up to `server.drain_secs`, then everything stops.
    pub async fn shutdown(self) {
        let _ = self.commands.send(Command::Shutdown).await;
        let _ = self.shutdown_http.send(true);
        drop(self.commands);
        let media = self.media;
        let abort = media.abort_handle();
        if tokio::time::timeout(self.drain, media).await.is_err() {
            tracing::warn!("drain period over with calls still up; stopping anyway");
            abort.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.http).await;
    }
}
