//! Configuration: embedded defaults, a TOML file, `TELESFU_*` environment variables and flags.
//!
//! Precedence, lowest first: the embedded `default.toml`, the file given with `--config`, then
//! flags and environment variables (clap reads both; a flag beats its variable). Every value is
//! validated once at start-up with an error that names the key and what to change.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use telesfu_e2ee::mls::identity::AuthorityKey;

use crate::signal::b64url_decode;

/// The embedded default configuration (also the documentation of every key).
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Sockets and process behaviour.
    pub server: ServerConfig,
    /// Room limits.
    pub rooms: RoomsConfig,
    /// Join tokens.
    pub auth: AuthConfig,
    /// Clinical profiles.
    pub policy: PolicyConfig,
    /// Bandwidth estimation and layer allocation.
    pub bandwidth: BandwidthSection,
    /// End-to-end encryption: MLS member certificates.
    pub e2ee: E2eeConfig,
    /// Test aids.
    pub debug: DebugConfig,
}

/// `[bandwidth]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BandwidthSection {
    /// Estimate each subscriber's bandwidth and allocate layers by the room's profile.
    pub estimation: bool,
    /// Add the short-horizon predictor to the estimator.
    pub predictor: bool,
    /// Pace media toward each subscriber at 2.5x its estimate (needs `estimation`).
    #[serde(default)]
    pub pacing: bool,
}

/// `[policy]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Visit type of rooms whose first token names none.
    pub default_visit_type: String,
    /// A TOML file of custom profiles added to the built-ins ("" for none).
    pub profiles_file: String,
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTP listen address.
    pub http: SocketAddr,
    /// Media UDP socket address.
    pub media: SocketAddr,
    /// ICE host candidate addresses; empty means the media socket's own.
    pub announce: Vec<SocketAddr>,
    /// `pretty` or `json`.
    pub log_format: LogFormat,
    /// Seconds shutdown waits for calls to end.
    pub drain_secs: u64,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[rooms]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoomsConfig {
    /// Participants per room.
    pub max_participants: usize,
    /// Seconds a dropped participant keeps its session.
    pub session_grace_secs: u64,
    /// Joins per client address per minute.
    pub joins_per_minute: u32,
}

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HMAC-SHA256 key for join tokens.
    pub token_key: String,
    /// Serve `GET /api/token`.
    pub dev_tokens: bool,
    /// Lifetime of minted tokens in seconds.
    pub token_ttl_secs: u64,
}

/// `[e2ee]`: who certifies MLS members (docs/signaling.md §6.2).
///
/// In production the authority is the vendor's backend and the server holds no authority key
/// at all: `dev_authority = false`, and at most the authority's *public* keys in
/// `authority_keys`. The development authority exists so the demo runs from one command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct E2eeConfig {
    /// Run the development authority in this process (`GET /api/authority`,
    /// `POST /api/credential`). Development only.
    pub dev_authority: bool,
    /// The development authority's Ed25519 seed, 64 hex digits; "" draws a random one at each
    /// start (certificates then last until a restart).
    pub dev_authority_seed: String,
    /// The tenant the development authority certifies.
    pub dev_authority_tenant: String,
    /// Authority public keys (base64url, no padding, 32 bytes) the rooms' Delivery Services
    /// check joiners' certificates against, besides the development authority's own.
    pub authority_keys: Vec<String>,
}

/// `[debug]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DebugConfig {
    /// Frames recorded per track for `GET /debug/frames`; 0 disables it.
    pub record_frames: usize,
    /// Serve `POST /debug/estimate-cap` (caps a participant's bandwidth estimate; tests) and
    /// `GET /debug/bandwidth` (estimates, allocations, measured layers, probe packets).
    pub api: bool,
}

/// A configuration that cannot be used, with the key at fault and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML did not parse or has an unknown key or a wrong type.
    #[error("config {origin}: {message}")]
    Parse {
        /// Where it came from.
        origin: String,
        /// The parser's message (it names the key and line).
        message: String,
    },
    /// A value is out of range.
    #[error("config key {key}: {message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What to change.
        message: String,
    },
}

/// Command-line flags; each also reads a `TELESFU_*` environment variable.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "telesfu",
    version,
    about = "telesfu: an SFU for end-to-end encrypted telehealth video",
    long_about = "telesfu: an SFU for end-to-end encrypted telehealth video.\n\n\
        Serves the demo page, WebSocket signaling (/ws), WHIP (/whip/{room}), WHEP \
        (/whep/{room}) and Prometheus metrics (/metrics) over HTTP, and WebRTC media (ICE-lite, \
        DTLS, SRTP) on one UDP socket. With no flags it runs the embedded default \
        configuration: open the printed URL in two browser tabs."
)]
pub struct Args {
    /// A TOML file overriding the embedded defaults (see --print-config for every key).
    #[arg(long, short = 'c', env = "TELESFU_CONFIG")]
    pub config: Option<PathBuf>,
    /// HTTP listen address (server.http).
    #[arg(long, env = "TELESFU_HTTP")]
    pub http: Option<SocketAddr>,
    /// Media UDP address (server.media).
    #[arg(long, env = "TELESFU_MEDIA")]
    pub media: Option<SocketAddr>,
    /// ICE candidate address to announce, repeatable (server.announce).
    #[arg(long, env = "TELESFU_ANNOUNCE", value_delimiter = ',')]
    pub announce: Vec<SocketAddr>,
    /// Log format (server.log_format).
    #[arg(long, env = "TELESFU_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Join-token HMAC key (auth.token_key).
    #[arg(long, env = "TELESFU_TOKEN_KEY", hide_env_values = true)]
    pub token_key: Option<String>,
    /// Serve GET /api/token for the demo page (auth.dev_tokens).
    #[arg(long, env = "TELESFU_DEV_TOKENS")]
    pub dev_tokens: Option<bool>,
    /// Run the development MLS authority, GET /api/authority and POST /api/credential
    /// (e2ee.dev_authority). Off in production.
    #[arg(long, env = "TELESFU_DEV_AUTHORITY")]
    pub dev_authority: Option<bool>,
    /// Record forwarded frames for GET /debug/frames (debug.record_frames).
    #[arg(long, env = "TELESFU_RECORD_FRAMES")]
    pub record_frames: Option<usize>,
    /// Serve the test-only POST /debug/estimate-cap and GET /debug/bandwidth (debug.api).
    #[arg(long, env = "TELESFU_DEBUG_API")]
    pub debug_api: Option<bool>,
    /// Print the configuration in force as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl Config {
    /// The embedded defaults.
    pub fn embedded() -> Self {
        // The embedded file is checked by a unit test; a failure here is a build defect.
        Self::from_toml(DEFAULT_TOML, "embedded default.toml")
            .expect("the embedded default.toml is valid")
    }

    /// Parses a complete configuration.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Defaults, then `file` merged key by key over them.
    pub fn with_file_overrides(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let parse = |t: &str, o: &str| {
            t.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
                origin: o.to_owned(),
                message: e.to_string(),
            })
        };
        let mut base = parse(DEFAULT_TOML, "embedded default.toml")?;
        let file = parse(text, origin)?;
        merge(&mut base, file);
        let merged = toml::to_string(&base).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_toml(&merged, origin)
    }

    /// Loads what `args` asks for: defaults, the file, then flags and environment.
    pub fn load(args: &Args) -> Result<Self, ConfigError> {
        let mut config = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Self::with_file_overrides(&text, &path.display().to_string())?
            }
            None => Self::embedded(),
        };
        if let Some(a) = args.http {
            config.server.http = a;
        }
        if let Some(a) = args.media {
            config.server.media = a;
        }
        if !args.announce.is_empty() {
            config.server.announce = args.announce.clone();
        }
        if let Some(f) = args.log_format {
            config.server.log_format = f;
        }
        if let Some(k) = &args.token_key {
            config.auth.token_key = k.clone();
        }
        if let Some(d) = args.dev_tokens {
            config.auth.dev_tokens = d;
        }
        if let Some(d) = args.dev_authority {
            config.e2ee.dev_authority = d;
        }
        if let Some(n) = args.record_frames {
            config.debug.record_frames = n;
        }
        if let Some(d) = args.debug_api {
            config.debug.api = d;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if !(2..=64).contains(&self.rooms.max_participants) {
            return invalid("rooms.max_participants", "must be between 2 and 64");
        }
        if self.rooms.session_grace_secs > 3600 {
            return invalid(
                "rooms.session_grace_secs",
                "must be at most 3600 (one hour)",
            );
        }
        if self.rooms.joins_per_minute == 0 {
            return invalid("rooms.joins_per_minute", "must be at least 1");
        }
        if self.auth.token_key.len() < 16 {
            return invalid(
                "auth.token_key",
                "must be at least 16 bytes; use a random 32-byte string",
            );
        }
        if self.auth.token_ttl_secs == 0 || self.auth.token_ttl_secs > 86_400 * 7 {
            return invalid(
                "auth.token_ttl_secs",
                "must be between 1 and 604800 (a week)",
            );
        }
        if self.policy.default_visit_type.trim().is_empty() {
            return invalid(
                "policy.default_visit_type",
                "must name a visit type (e.g. general-consult)",
            );
        }
        if self.debug.record_frames > 10_000 {
            return invalid("debug.record_frames", "must be at most 10000");
        }
        if self.server.drain_secs > 300 {
            return invalid("server.drain_secs", "must be at most 300");
        }
        if self
            .server
            .announce
            .iter()
            .any(|a| a.ip().is_unspecified() || a.port() == 0)
        {
            return invalid(
                "server.announce",
                "candidates need a concrete address and port (not 0.0.0.0 or port 0)",
            );
        }
        self.validate_e2ee()
    }

    fn validate_e2ee(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        let e = &self.e2ee;
        if !e.dev_authority_seed.is_empty() {
            if !e.dev_authority {
                return invalid(
                    "e2ee.dev_authority_seed",
                    "is set but e2ee.dev_authority is off; remove it (a production server holds \
                     no authority key)"
                        .into(),
                );
            }
            if parse_seed(&e.dev_authority_seed).is_none() {
                return invalid(
                    "e2ee.dev_authority_seed",
                    format!(
                        "must be 64 hex digits (32 bytes), or \"\" for a random key at each \
                         start; got {} characters (make one with `openssl rand -hex 32`)",
                        e.dev_authority_seed.len()
                    ),
                );
            }
        }
        let tenant = e.dev_authority_tenant.trim();
        if tenant.is_empty() || e.dev_authority_tenant.len() > 64 {
            return invalid(
                "e2ee.dev_authority_tenant",
                "must be 1-64 bytes (e.g. \"demo\")".into(),
            );
        }
        for (i, k) in e.authority_keys.iter().enumerate() {
            if let Err(why) = parse_authority_key(k) {
                return invalid(
                    "e2ee.authority_keys",
                    format!(
                        "entry {i} ({k:?}) {why}; each entry is the base64url (no padding) of a \
                         32-byte Ed25519 public key, as GET /api/authority prints them"
                    ),
                );
            }
        }
        Ok(())
    }

    /// The development authority's configured seed; `None` when it is to be random (or the
    /// development authority is off).
    pub fn dev_authority_seed(&self) -> Option<[u8; 32]> {
        parse_seed(&self.e2ee.dev_authority_seed)
    }

    /// The keys of `e2ee.authority_keys` (checked by [`Config::validate`]).
    pub fn authority_keys(&self) -> Vec<AuthorityKey> {
        self.e2ee
            .authority_keys
            .iter()
            .filter_map(|k| parse_authority_key(k).ok())
            .collect()
    }

    /// Seconds a dropped participant keeps its session.
    pub fn session_grace(&self) -> Duration {
        Duration::from_secs(self.rooms.session_grace_secs)
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

fn parse_seed(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut seed = [0u8; 32];
    for (b, pair) in seed.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *b = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(seed)
}

fn parse_authority_key(text: &str) -> Result<AuthorityKey, String> {
    let bytes = b64url_decode(text)?;
    if bytes.len() != 32 {
        return Err(format!("decodes to {} bytes, not 32", bytes.len()));
    }
    AuthorityKey::from_bytes(&bytes).map_err(|_| "is not an Ed25519 public key".to_owned())
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_and_validate() {
        let c = Config::embedded();
        assert_eq!(c.server.http.to_string(), "127.0.0.1:8080");
        assert!(c.server.http.ip().is_loopback());
        assert!(c.server.media.ip().is_loopback());
        assert!(c.auth.dev_tokens);
    }

    #[test]
    fn file_overrides_key_by_key() {
        let c = Config::with_file_overrides("[rooms]\nmax_participants = 4\n", "test").unwrap();
        assert_eq!(c.rooms.max_participants, 4);
        assert_eq!(c.rooms.session_grace_secs, 30);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::with_file_overrides("[rooms]\nmax_participant = 4\n", "test.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_participant"), "{e}");
        assert!(e.contains("test.toml"), "{e}");
    }

    #[test]
    fn bad_values_say_what_to_change() {
        let e = Config::with_file_overrides("[rooms]\nmax_participants = 1\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rooms.max_participants"), "{e}");
        let e = Config::with_file_overrides("[auth]\ntoken_key = \"short\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("auth.token_key"), "{e}");
        let e = Config::with_file_overrides("[server]\nhttp = \"nonsense\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http"), "{e}");
    }

    #[test]
    fn e2ee_section() {
        let c = Config::embedded();
        assert!(
            c.e2ee.dev_authority,
            "the demo needs the development authority"
        );
        assert_eq!(c.dev_authority_seed(), None);
        assert!(c.authority_keys().is_empty());
        let seed = "00".repeat(31) + "ff";
        let key = telesfu_e2ee::mls::identity::Authority::from_seed(&[3; 32]).public_key();
        let key_text = crate::signal::b64url_encode(&key.to_bytes());
        let c = Config::with_file_overrides(
            &format!(
                "[e2ee]\ndev_authority_seed = \"{seed}\"\nauthority_keys = [\"{key_text}\"]\n"
            ),
            "t",
        )
        .unwrap();
        let mut want = [0u8; 32];
        want[31] = 0xff;
        assert_eq!(c.dev_authority_seed(), Some(want));
        assert_eq!(c.authority_keys(), [key]);
        assert!(
            c.to_toml().contains("[e2ee]"),
            "--print-config shows the section"
        );
    }

    #[test]
    fn bad_e2ee_values_say_what_to_change() {
        let err = |toml: &str| {
            Config::with_file_overrides(toml, "t")
                .unwrap_err()
                .to_string()
        };
        let e = err("[e2ee]\ndev_authority_seed = \"abc\"\n");
        assert!(
            e.contains("e2ee.dev_authority_seed") && e.contains("64 hex"),
            "{e}"
        );
        let e = err(&format!(
            "[e2ee]\ndev_authority_seed = \"{}\"\n",
            "zz".repeat(32)
        ));
        assert!(e.contains("e2ee.dev_authority_seed"), "{e}");
        let e = err(&format!(
            "[e2ee]\ndev_authority = false\ndev_authority_seed = \"{}\"\n",
            "ab".repeat(32)
        ));
        assert!(e.contains("e2ee.dev_authority is off"), "{e}");
        let e = err("[e2ee]\nauthority_keys = [\"AAAA\"]\n");
        assert!(
            e.contains("e2ee.authority_keys") && e.contains("entry 0"),
            "{e}"
        );
        let e = err("[e2ee]\nauthority_keys = [\"not-base64!\"]\n");
        assert!(
            e.contains("e2ee.authority_keys") && e.contains("'!'"),
            "{e}"
        );
        let e = err("[e2ee]\ndev_authority_tenant = \"\"\n");
        assert!(e.contains("e2ee.dev_authority_tenant"), "{e}");
    }

    #[test]
    fn flags_override_file() {
        let args = Args {
            http: Some("127.0.0.1:9999".parse().unwrap()),
            record_frames: Some(50),
            dev_authority: Some(false),
            ..Args::default()
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.server.http.port(), 9999);
        assert_eq!(c.debug.record_frames, 50);
        assert!(!c.e2ee.dev_authority);
    }

    #[test]
    fn printed_config_round_trips() {
        let c = Config::embedded();
        assert_eq!(Config::from_toml(&c.to_toml(), "printed").unwrap(), c);
    }
}
