//! DTLS-SRTP server for browser peers, behind a small handshake interface of our own.
//!
//! The media path never sees DTLS: once the handshake is done the transport hands the
//! negotiated SRTP protection profile and the exported keying material (RFC 5764 §4.2,
//! label `EXTRACTOR-dtls_srtp`) to our own SRTP code. [`DtlsTransport`] is that boundary, so
//! the library behind it can be swapped without touching the rest of the server.
//!
//! # Why dimpl 0.9
//!
//! [`DimplServer`] implements the trait over the `dimpl` crate, chosen because:
//! - it is sans-IO: datagrams in, datagrams and a timer out, with `now` passed in, so it runs
//!   inside our own event loop and under the virtual clock of our tests;
//! - it speaks DTLS 1.2 and 1.3 (see *Version* below for why we run 1.2);
//! - it is `forbid(unsafe_code)`, and its `rust-crypto` feature keeps the build pure Rust
//!   (no aws-lc C build);
//! - it answers a retransmitted client flight by resending its own last flight, so a lost
//!   server flight costs one client retransmission interval, not a server timer.
//!
//! The alternatives measured on this machine (notes/dtls.md) were worse fits. webrtc-dtls 0.12
//! interoperates with Chromium 156, but it is tied to tokio (the whole handshake runs inside an
//! async constructor with spawned tasks), it has had no release since 2025-05, and when the
//! server's flight is lost it ignores the browser's repeated ClientHellos and only recovers on
//! its own 1 s timer. rtc-dtls 0.21 is sans-IO but deadlocks when the server flight is lost:
//! the repeated ClientHello disarms its retransmission timer and nothing is ever resent.
//!
//! # Security settings (checked in dimpl 0.9.0's source and by tests/dtls.rs)
//!
//! - **Client certificate required** (`require_client_certificate(true)`, also dimpl's
//!   default): the server sends CertificateRequest and fails a client without a certificate.
//!   dimpl does no PKI validation; it reports the leaf certificate, and [`DimplServer`]
//!   compares its SHA-256 with the offer's `a=fingerprint`. On a mismatch the handshake fails
//!   with [`DtlsError::FingerprintMismatch`] and the server's final flight (CCS + Finished),
//!   already produced by dimpl, is discarded unsent: the client never completes.
//! - **Extended master secret (RFC 7627) is mandatory in dimpl's DTLS 1.2 server** and has no
//!   setting: `dtls12/server.rs` fails a ClientHello without the extension with
//!   `SecurityError::ExtendedMasterSecretNotNegotiated`, and derives the master secret from
//!   the session hash. tests/dtls.rs sends such a ClientHello and sees the handshake fail.
//! - **SRTP profile.** dimpl has no profile setting. Its DTLS 1.2 server picks in *server*
//!   order, AEAD_AES_256_GCM, then AEAD_AES_128_GCM, then AES128_CM_HMAC_SHA1_80, whatever the
//!   client's order. Chromium 156 offers CM, 256-GCM, 128-GCM in that order and so gets
//!   **AEAD_AES_256_GCM**; a client offering only CM and 128-GCM gets 128-GCM. We wanted
//!   128-GCM first; 256-GCM is the one deviation we cannot change without patching dimpl, and
//!   it is still GCM (our SRTP code must support both key lengths). A client offering no
//!   profile fails with [`DtlsError::NoSrtpProfile`].
//!
//! # Version
//!
//! The server runs DTLS 1.2 only ([`dimpl::Dtls::new_12`]); Chromium 156 offers 1.3 and
//! falls back to 1.2 without complaint. `new_auto` does work as a server, but dimpl's DTLS 1.3
//! server picks the SRTP profile in the *client's* order (`dtls13/server.rs`), which gives
//! Chromium AES128_CM_HMAC_SHA1_80, 5–10x slower than GCM in our SRTP path. Revisit when dimpl
//! gets a server-preference setting for 1.3.
//!
//! # Time
//!
//! `now` comes from the caller and must not go backwards. [`DtlsTransport::poll_timeout`]
//! says when to call [`DtlsTransport::handle_timeout`]; an early call is a no-op.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use dimpl::{Config, Dtls, DtlsCertificate, Output, SrtpProfile};

/// DTLS `use_srtp` id of SRTP_AES128_CM_HMAC_SHA1_80 (RFC 5764 §4.1.2).
pub const SRTP_AES128_CM_HMAC_SHA1_80: u16 = 0x0001;
/// DTLS `use_srtp` id of SRTP_AEAD_AES_128_GCM (RFC 7714 §14.2).
pub const SRTP_AEAD_AES_128_GCM: u16 = 0x0007;
/// DTLS `use_srtp` id of SRTP_AEAD_AES_256_GCM (RFC 7714 §14.2).
pub const SRTP_AEAD_AES_256_GCM: u16 = 0x0008;

/// Bound on datagrams waiting in [`DimplServer`]'s transmit queue. A handshake flight is a
/// handful of datagrams; anything beyond the bound is dropped and counted.
const MAX_QUEUED_TRANSMITS: usize = 32;
/// Bound on undelivered events (there are at most two per connection).
const MAX_QUEUED_EVENTS: usize = 8;

/// What the handshake produced, drained with [`DtlsTransport::poll_event`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DtlsEvent {
    /// The handshake completed, the peer's certificate matches the offer, and SRTP keys are
    /// available.
    Connected {
        /// The negotiated DTLS `use_srtp` profile id ([`SRTP_AEAD_AES_128_GCM`], …).
        profile_id: u16,
        /// `EXTRACTOR-dtls_srtp` output, `2 * (key_len + salt_len)` bytes laid out as client
        /// key | server key | client salt | server salt (RFC 5764 §4.2). Secret.
        keying_material: Vec<u8>,
    },
    /// The peer sent `close_notify`.
    Closed,
}

impl fmt::Debug for DtlsEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connected {
                profile_id,
                keying_material,
            } => f
                .debug_struct("Connected")
                .field("profile_id", &format_args!("{profile_id:#06x}"))
                .field("keying_material_len", &keying_material.len())
                .finish(),
            Self::Closed => f.write_str("Closed"),
        }
    }
}

/// DTLS errors, grouped by who is at fault. A returned error is terminal for the connection
/// unless noted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtlsError {
    /// Peer: its certificate's SHA-256 is not the `a=fingerprint` of its offer.
    #[error("peer certificate does not match the offer's fingerprint")]
    FingerprintMismatch,
    /// Peer: the handshake completed without a client certificate.
    #[error("handshake completed without a client certificate")]
    MissingPeerCertificate,
    /// Peer: no SRTP protection profile in common (or no `use_srtp` offered).
    #[error("no SRTP protection profile negotiated")]
    NoSrtpProfile,
    /// Peer: the handshake failed (protocol violation, unacceptable parameters, failed
    /// verification). The text is the DTLS library's.
    #[error("DTLS handshake failed: {0}")]
    Handshake(String),
    /// Peer or path: the handshake did not complete before the retry budget or deadline ran
    /// out.
    #[error("DTLS handshake timed out")]
    HandshakeTimeout,
    /// Configuration: the offer's fingerprint is not `sha-256` followed by 32 colon-separated
    /// hex bytes.
    #[error("unusable a=fingerprint value: {0}")]
    InvalidFingerprint(String),
    /// Configuration: generating the certificate or building the DTLS configuration failed.
    #[error("DTLS setup failed: {0}")]
    Setup(String),
}

/// A DTLS handshake driven by the caller. Sans-IO: datagrams in, datagrams, events and a
/// timer out.
///
/// Contract:
/// - input: [`handle_datagram`](Self::handle_datagram) for every DTLS datagram (RFC 7983
///   first byte 20–63) from the selected remote address;
///   [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout) is due
///   (a spurious or early call is a no-op); [`close`](Self::close) to end the session;
/// - after every input drain, in this order: [`poll_transmit`](Self::poll_transmit) until
///   `None` (send each datagram to the selected remote), [`poll_event`](Self::poll_event)
///   until `None`, then [`poll_timeout`](Self::poll_timeout);
/// - `now` only moves forward;
/// - after an error or [`close`](Self::close) the transport is terminal: further input is
///   ignored and returns `Ok(())`, and `poll_timeout` is `None`.
pub trait DtlsTransport: Send + fmt::Debug {
    /// Feeds one received datagram.
    ///
    /// # Errors
    ///
    /// A terminal [`DtlsError`]; malformed or stray datagrams are dropped, not errors.
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Result<(), DtlsError>;

    /// Advances time: retransmissions and the handshake deadline.
    ///
    /// # Errors
    ///
    /// [`DtlsError::HandshakeTimeout`] and other terminal errors.
    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsError>;

    /// Ends the session: sends `close_notify` when connected, aborts a handshake otherwise.
    fn close(&mut self, now: Instant);

    /// Writes the next datagram to send into `buf` (cleared first) and returns its length,
    /// or `None` when nothing is waiting.
    #[must_use]
    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<usize>;

    /// The next event, or `None`.
    #[must_use]
    fn poll_event(&mut self) -> Option<DtlsEvent>;

    /// When to call [`handle_timeout`](Self::handle_timeout) next; `None` once terminal.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;
}

/// The server's DTLS identity: a self-signed ECDSA P-256 certificate and its SDP fingerprint.
///
/// Generate one per server process and share it with every [`DimplServer`]; the fingerprint
/// goes into every answer's `a=fingerprint`. It also holds the dimpl configuration every
/// server shares: building one validates dimpl's crypto provider, which took 11.6 ms per
/// peer in a release build of the server (each join held the hub's loop that long, and the
/// `dtls_server` fuzz body ran 59 inputs a second in a plain release build, nearly all of it
/// that setup); with the configuration shared, a server costs 0.1 ms and the body runs
/// 4,800 inputs a second.
#[derive(Clone)]
pub struct DtlsIdentity {
    certificate: DtlsCertificate,
    fingerprint: String,
    config: Arc<Config>,
}

impl fmt::Debug for DtlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsIdentity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl DtlsIdentity {
    /// Generates a fresh self-signed ECDSA P-256 / SHA-256 certificate (rcgen, ring backend)
    /// with a random 16-byte serial number (Firefox rejects repeated serials).
    ///
    /// # Errors
    ///
    /// [`DtlsError::Setup`] when key generation or signing fails.
    pub fn generate() -> Result<Self, DtlsError> {
        let setup = |e: &dyn fmt::Display| DtlsError::Setup(e.to_string());
        let key =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| setup(&e))?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| setup(&e))?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "telesfu");
        params.distinguished_name = dn;
        let mut serial = [0u8; 16];
        getrandom::fill(&mut serial).map_err(|e| setup(&e))?;
        serial[0] &= 0x7f; // a positive INTEGER
        params.serial_number = Some(serial.to_vec().into());
        let cert = params.self_signed(&key).map_err(|e| setup(&e))?;
        let certificate = DtlsCertificate {
            certificate: cert.der().to_vec(),
            private_key: key.serialize_der(),
        };
        let fingerprint = sdp_fingerprint(&certificate.certificate);
        Ok(Self {
            certificate,
            fingerprint,
            config: Arc::new(server_config(None)?),
        })
    }

    /// This identity with dimpl's non-cryptographic randomness (the cookie secret,
    /// retransmission jitter) seeded in every server made from it, so a recorded client flight
    /// with a cookie is accepted again. Dangerous: a predictable cookie secret lets anyone
    /// forge cookies. Only the `dtls_server` fuzz target uses it.
    ///
    /// # Errors
    ///
    /// [`DtlsError::Setup`] when dimpl rejects the configuration.
    pub(crate) fn dangerously_seeded(mut self, seed: u64) -> Result<Self, DtlsError> {
        self.config = Arc::new(server_config(Some(seed))?);
        Ok(self)
    }

    /// The SDP form of the certificate's fingerprint, `"sha-256 AB:CD:…"` (uppercase hex,
    /// colon separated), for `a=fingerprint:`.
    #[must_use]
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The certificate, DER encoded.
    #[must_use]
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate.certificate
    }
}

/// The dimpl configuration of every server: a client certificate required, a cookie
/// exchange first, dimpl's defaults otherwise; `seed` seeds its non-cryptographic randomness
/// (fuzzing only).
fn server_config(seed: Option<u64>) -> Result<Config, DtlsError> {
    let mut builder = Config::builder()
        .require_client_certificate(true)
        .use_server_cookie(true);
    if let Some(seed) = seed {
        builder = builder.dangerously_set_rng_seed(seed);
    }
    builder.build().map_err(|e| DtlsError::Setup(e.to_string()))
}

/// The SDP fingerprint (`"sha-256 AB:CD:…"`) of a DER certificate.
#[must_use]
pub fn sdp_fingerprint(certificate_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, certificate_der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    format!("sha-256 {}", hex.join(":"))
}

/// Parses an offer's fingerprint, `sha-256 AB:CD:…` (the value of `a=fingerprint:`, which
/// may be included). Hash name and hex digits are case-insensitive. Only SHA-256 is accepted:
/// every browser sends it.
///
/// # Errors
///
/// [`DtlsError::InvalidFingerprint`].
pub fn parse_sdp_fingerprint(value: &str) -> Result<[u8; 32], DtlsError> {
    let invalid = |why: &str| DtlsError::InvalidFingerprint(format!("{why}: {value:?}"));
    let value = value.trim();
    let value = value.strip_prefix("a=fingerprint:").unwrap_or(value);
    let (hash, hex) = value
        .split_once(char::is_whitespace)
        .ok_or_else(|| invalid("expected '<hash> <hex>'"))?;
    if !hash.eq_ignore_ascii_case("sha-256") {
        return Err(invalid("only sha-256 is supported"));
    }
    let mut out = [0u8; 32];
    let mut parts = hex.trim().split(':');
    for byte in &mut out {
        let part = parts.next().ok_or_else(|| invalid("fewer than 32 bytes"))?;
        if part.len() != 2 {
            return Err(invalid("each byte is two hex digits"));
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| invalid("not hex"))?;
    }
    if parts.next().is_some() {
        return Err(invalid("more than 32 bytes"));
    }
    Ok(out)
}

fn profile_id(profile: SrtpProfile) -> Option<u16> {
    match profile {
        SrtpProfile::AES128_CM_SHA1_80 => Some(SRTP_AES128_CM_HMAC_SHA1_80),
        SrtpProfile::AEAD_AES_128_GCM => Some(SRTP_AEAD_AES_128_GCM),
        SrtpProfile::AEAD_AES_256_GCM => Some(SRTP_AEAD_AES_256_GCM),
        _ => None,
    }
}

fn map_dimpl_error(e: dimpl::Error) -> DtlsError {
    match e {
        dimpl::Error::Timeout(_) => DtlsError::HandshakeTimeout,
        other => DtlsError::Handshake(other.to_string()),
    }
}

/// [`DtlsTransport`] over dimpl 0.9 in the passive (server) role, DTLS 1.2, client certificate
/// required and pinned to the offer's fingerprint. See the module docs for what dimpl
/// enforces and chooses.
pub struct DimplServer {
    dtls: Dtls,
    expected_fingerprint: [u8; 32],
    scratch: Vec<u8>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<DtlsEvent>,
    next_timeout: Option<Instant>,
    peer_certificate_ok: bool,
    handshake_done: bool,
    keying: Option<(u16, Vec<u8>)>,
    connected_reported: bool,
    terminal: bool,
    ignored_datagrams: u64,
    dropped_transmits: u64,
}

impl fmt::Debug for DimplServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DimplServer")
            .field("dtls", &self.dtls)
            .field("connected", &self.connected_reported)
            .field("terminal", &self.terminal)
            .field("queued_transmits", &self.transmits.len())
            .field("ignored_datagrams", &self.ignored_datagrams)
            .field("dropped_transmits", &self.dropped_transmits)
            .finish_non_exhaustive()
    }
}

impl DimplServer {
    /// A server for one peer whose offer carried `remote_fingerprint`
    /// (`"sha-256 AB:CD:…"`).
    ///
    /// # Errors
    ///
    /// [`DtlsError::InvalidFingerprint`] for an unusable fingerprint.
    pub fn new(
        identity: &DtlsIdentity,
        remote_fingerprint: &str,
        now: Instant,
    ) -> Result<Self, DtlsError> {
        let expected_fingerprint = parse_sdp_fingerprint(remote_fingerprint)?;
        let mut dtls = Dtls::new_12(
            Arc::clone(&identity.config),
            identity.certificate.clone(),
            now,
        );
        dtls.set_active(false);
        Ok(Self {
            dtls,
            expected_fingerprint,
            scratch: vec![0; 2048],
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_timeout: None,
            peer_certificate_ok: false,
            handshake_done: false,
            keying: None,
            connected_reported: false,
            terminal: false,
            ignored_datagrams: 0,
            dropped_transmits: 0,
        })
    }

    /// Datagrams dropped without effect: not DTLS by first byte, rejected by a full receive
    /// queue, or received after the transport became terminal. Malformed DTLS records that
    /// dimpl discards internally are not counted here.
    #[must_use]
    pub fn ignored_datagrams(&self) -> u64 {
        self.ignored_datagrams
    }

    /// Outgoing datagrams dropped because the transmit queue was full.
    #[must_use]
    pub fn dropped_transmits(&self) -> u64 {
        self.dropped_transmits
    }

    /// Whether the `Connected` event has been produced.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.connected_reported
    }

    fn fail(&mut self, error: DtlsError) -> DtlsError {
        self.terminal = true;
        self.next_timeout = None;
        // Nothing produced in the failing step may leave: after a fingerprint mismatch that
        // includes the server's CCS + Finished.
        self.transmits.clear();
        self.events.retain(|e| matches!(e, DtlsEvent::Closed));
        self.dtls.close().ok();
        error
    }

    /// Drains dimpl's output into our queues, checking the peer certificate before anything
    /// that follows it can leave.
    fn pump(&mut self) -> Result<(), DtlsError> {
        enum Step {
            Packet,
            Grow(usize),
            Wait(Instant),
            PeerCert(bool),
            Done,
            Keys(Option<u16>, Vec<u8>),
            PeerClosed,
            Other,
        }
        loop {
            let step = match self.dtls.poll_output(&mut self.scratch) {
                Output::Packet(p) => {
                    if self.transmits.len() < MAX_QUEUED_TRANSMITS {
                        self.transmits.push_back(p.to_vec());
                    } else {
                        self.dropped_transmits += 1;
                    }
                    Step::Packet
                }
                Output::BufferTooSmall { needed } => Step::Grow(needed),
                Output::Timeout(t) => Step::Wait(t),
                Output::PeerCert(der) => {
                    let digest = ring::digest::digest(&ring::digest::SHA256, der);
                    Step::PeerCert(digest.as_ref() == self.expected_fingerprint)
                }
                Output::Connected => Step::Done,
                Output::KeyingMaterial(km, profile) => Step::Keys(profile_id(profile), km.to_vec()),
                Output::CloseNotify => Step::PeerClosed,
                _ => Step::Other,
            };
            match step {
                Step::Packet | Step::Other => {}
                Step::Grow(needed) => self.scratch.resize(needed, 0),
                Step::Wait(t) => {
                    self.next_timeout = Some(t);
                    break;
                }
                Step::PeerCert(true) => self.peer_certificate_ok = true,
                Step::PeerCert(false) => return Err(self.fail(DtlsError::FingerprintMismatch)),
                Step::Done => self.handshake_done = true,
                Step::Keys(Some(id), km) => self.keying = Some((id, km)),
                Step::Keys(None, _) => return Err(self.fail(DtlsError::NoSrtpProfile)),
                Step::PeerClosed => {
                    if self.events.len() < MAX_QUEUED_EVENTS {
                        self.events.push_back(DtlsEvent::Closed);
                    }
                    self.terminal = true;
                    self.next_timeout = None;
                }
            }
        }
        if self.handshake_done && !self.connected_reported {
            if !self.peer_certificate_ok {
                return Err(self.fail(DtlsError::MissingPeerCertificate));
            }
            let Some((profile_id, keying_material)) = self.keying.take() else {
                return Err(self.fail(DtlsError::NoSrtpProfile));
            };
            self.connected_reported = true;
            self.events.push_back(DtlsEvent::Connected {
                profile_id,
                keying_material,
            });
        }
        if self.terminal {
            self.next_timeout = None;
        }
        Ok(())
    }
}

impl DtlsTransport for DimplServer {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Result<(), DtlsError> {
        if self.terminal || !matches!(datagram.first(), Some(20..=63)) {
            self.ignored_datagrams += 1;
            return Ok(());
        }
        // dimpl wants its clock refreshed before input at a new instant.
        if let Err(e) = self.dtls.handle_timeout(now) {
            return Err(self.fail(map_dimpl_error(e)));
        }
        match self.dtls.handle_packet(datagram) {
            Ok(()) => {}
            // The datagram was dropped before touching any state; not fatal.
            Err(dimpl::Error::ReceiveQueueFull) => self.ignored_datagrams += 1,
            Err(e) => return Err(self.fail(map_dimpl_error(e))),
        }
        self.pump()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsError> {
        if self.terminal {
            return Ok(());
        }
        if let Err(e) = self.dtls.handle_timeout(now) {
            return Err(self.fail(map_dimpl_error(e)));
        }
        self.pump()
    }

    fn close(&mut self, now: Instant) {
        if self.terminal {
            return;
        }
        let _ = self.dtls.handle_timeout(now);
        let _ = self.dtls.close();
        // Queue the close_notify (if connected); errors here change nothing for the caller.
        let _ = self.pump();
        self.terminal = true;
        self.next_timeout = None;
    }

    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<usize> {
        let datagram = self.transmits.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&datagram);
        Some(buf.len())
    }

    fn poll_event(&mut self) -> Option<DtlsEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.terminal {
            None
        } else {
            self.next_timeout
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_fingerprint_is_sdp_form_and_parses_back() {
        let id = DtlsIdentity::generate().expect("generate");
        let fp = id.fingerprint();
        assert!(fp.starts_with("sha-256 "));
        let hex = &fp["sha-256 ".len()..];
        assert_eq!(hex.len(), 32 * 3 - 1);
        assert!(
            hex.chars()
                .all(|c| c == ':' || c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        let parsed = parse_sdp_fingerprint(fp).expect("parses");
        let digest = ring::digest::digest(&ring::digest::SHA256, id.certificate_der());
        assert_eq!(parsed.as_slice(), digest.as_ref());
        // Case-insensitive and with the attribute prefix, as found in an offer.
        let lower = format!("a=fingerprint:SHA-256 {}", hex.to_lowercase());
        assert_eq!(parse_sdp_fingerprint(&lower), Ok(parsed));
        assert_ne!(
            DtlsIdentity::generate().expect("second").fingerprint(),
            fp,
            "fresh key per identity"
        );
    }

    #[test]
    fn bad_fingerprints_are_rejected() {
        let good = "sha-256 ".to_string() + &["AB"; 32].join(":");
        assert!(parse_sdp_fingerprint(&good).is_ok());
        for bad in [
            "",
            "sha-256",
            &("sha-1 ".to_string() + &["AB"; 20].join(":")),
            &("sha-256 ".to_string() + &["AB"; 31].join(":")),
            &("sha-256 ".to_string() + &["AB"; 33].join(":")),
            &("sha-256 ".to_string() + &["ZZ"; 32].join(":")),
            &("sha-256 ".to_string() + &["ABC"; 32].join(":")),
        ] {
            assert!(
                matches!(
                    parse_sdp_fingerprint(bad),
                    Err(DtlsError::InvalidFingerprint(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn server_is_send_and_starts_quiet() {
        fn assert_send<T: Send>() {}
        assert_send::<DimplServer>();
        let id = DtlsIdentity::generate().expect("generate");
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut server = DimplServer::new(&id, id.fingerprint(), now).expect("new");
        let mut buf = Vec::new();
        assert_eq!(server.poll_transmit(&mut buf), None);
        assert_eq!(server.poll_event(), None);
        assert!(matches!(
            DimplServer::new(&id, "sha-256 nope", now),
            Err(DtlsError::InvalidFingerprint(_))
        ));
    }
}
