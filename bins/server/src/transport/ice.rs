//! ICE-lite (RFC 8445 §2.5) for one browser peer: answer connectivity checks, follow the
//! browser's nomination and track consent freshness (RFC 7675).
//!
//! # Role
//!
//! telesfu is a lite agent with one host candidate per address family. It never sends checks
//! of its own; the browser is the full, controlling agent, sends Binding Requests to our
//! candidate and nominates a pair with USE-CANDIDATE. All we do per request is:
//!
//! 1. parse it as a STUN Binding Request (RFC 8489) and check FINGERPRINT;
//! 2. check that USERNAME is `<our ufrag>:<their ufrag>` (the remote part only when the
//!    offer's ufrag is known);
//! 3. check MESSAGE-INTEGRITY, HMAC-SHA1 keyed with *our* ice-pwd (short-term credentials);
//! 4. write a Binding Success Response with XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and
//!    FINGERPRINT into the caller's buffer;
//! 5. update the selected address and consent.
//!
//! A request that fails any check changes nothing and gets no response (the buffer is left
//! empty): answering a request with bad integrity would let anyone who can spoof a source
//! address make us confirm a path. An optional 401 error response is not sent.
//!
//! # Selected address
//!
//! Before any nomination, the source of the first valid request is selected, so media and
//! DTLS can start as soon as the browser's first check succeeds (browsers send DTLS right
//! after their first successful check). A valid request with USE-CANDIDATE selects its source
//! and latches it; a later nomination from another address moves the selection (the browser
//! switched pairs, for example after a network change). Valid requests without USE-CANDIDATE
//! from other addresses are answered but do not move a selection.
//!
//! # Time and consent
//!
//! `now` always comes from the caller and must not go backwards. Consent (RFC 7675) is fresh
//! while a valid request from the selected address arrived within [`CONSENT_TIMEOUT`]. The
//! browser sends consent checks every 5 s or so, so 30 s of silence means the path is gone.
//! [`IceLite::handle_timeout`] moves [`IceState::Connected`] to [`IceState::Disconnected`]
//! once that happens; [`IceLite::poll_timeout`] says when to call it. A fresh valid request
//! after that reconnects. A peer that never sends a valid request stays
//! [`IceState::New`]; the caller's session setup timer, not consent, limits that.
//!
//! # Parsing
//!
//! The STUN parser here is our own: it validates in place over the received bytes, never
//! allocates, and never panics on any input (there is a proptest for that). The `stun` crate
//! is the differential oracle in the tests: requests are built with it exactly as a browser
//! builds them, and our responses are verified with it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ring::hmac;

/// How long consent stays fresh after the last valid request from the selected address
/// (RFC 7675 §5.1: 30 s).
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Length of a generated ice-ufrag (RFC 8839 §5.4 asks for at least 4 characters).
pub const UFRAG_LEN: usize = 8;

/// Length of a generated ice-pwd (RFC 8839 §5.4 asks for at least 22 characters).
pub const PWD_LEN: usize = 24;

/// The 64 characters of the `ice-char` grammar (RFC 8839 §5.4): ALPHA / DIGIT / "+" / "/".
const ICE_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const MAGIC_COOKIE: u32 = 0x2112_A442;
const HEADER_LEN: usize = 20;
const ATTR_HEADER_LEN: usize = 4;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
const ATTR_USE_CANDIDATE: u16 = 0x0025;
const ATTR_FINGERPRINT: u16 = 0x8028;
const MESSAGE_INTEGRITY_LEN: usize = 20;
const FINGERPRINT_LEN: usize = 4;
const FINGERPRINT_XOR: u32 = 0x5354_554e;
/// RFC 8489 §14.3: USERNAME is shorter than 509 bytes.
const MAX_USERNAME_LEN: usize = 508;

/// Errors of the ICE-lite responder. Each one means the request was dropped unanswered and
/// nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IceError {
    /// Malformed input: not a well-formed STUN message (what is wrong is named).
    #[error("malformed STUN message: {0}")]
    Malformed(&'static str),
    /// A well-formed STUN message that is not a Binding Request (a lite agent answers only
    /// those).
    #[error("not a STUN Binding Request (message type {message_type:#06x})")]
    NotBindingRequest {
        /// The STUN message type found.
        message_type: u16,
    },
    /// The peer left out an attribute that ICE checks must carry.
    #[error("Binding Request without {0}")]
    MissingAttribute(&'static str),
    /// FINGERPRINT does not match the message (corrupted, or not STUN at all).
    #[error("STUN FINGERPRINT mismatch")]
    BadFingerprint,
    /// USERNAME does not start with our ufrag: the request is for another peer or session.
    #[error("USERNAME is not for our ice-ufrag")]
    WrongLocalUfrag,
    /// USERNAME's remote part is not the ufrag from the peer's offer.
    #[error("USERNAME's remote ufrag does not match the offer")]
    WrongRemoteUfrag,
    /// MESSAGE-INTEGRITY does not verify with our ice-pwd.
    #[error("STUN MESSAGE-INTEGRITY check failed")]
    BadIntegrity,
    /// The operating system's random number generator failed (environment, not the peer).
    #[error("OS random number generator failed: {0}")]
    Randomness(String),
}

/// ICE username fragment and password of one side of a session (`a=ice-ufrag`, `a=ice-pwd`).
#[derive(Clone, PartialEq, Eq)]
pub struct IceCredentials {
    /// `a=ice-ufrag`.
    pub ufrag: String,
    /// `a=ice-pwd`: the short-term credential that keys MESSAGE-INTEGRITY. Secret.
    pub pwd: String,
}

impl fmt::Debug for IceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceCredentials")
            .field("ufrag", &self.ufrag)
            .field("pwd", &"<redacted>")
            .finish()
    }
}

impl IceCredentials {
    /// Fresh local credentials from the operating system's RNG: an 8-character ufrag and a
    /// 24-character pwd from the ice-char set (48 and 144 bits of entropy).
    ///
    /// # Errors
    ///
    /// [`IceError::Randomness`] when the OS RNG fails.
    pub fn random() -> Result<Self, IceError> {
        let mut entropy = [0u8; UFRAG_LEN + PWD_LEN];
        getrandom::fill(&mut entropy).map_err(|e| IceError::Randomness(e.to_string()))?;
        Ok(Self::from_entropy(&entropy))
    }

    /// Credentials derived from caller-supplied bytes, one ice-char per byte (the low 6 bits;
    /// uniform when the bytes are). For tests and seeded simulations.
    #[must_use]
    pub fn from_entropy(entropy: &[u8; UFRAG_LEN + PWD_LEN]) -> Self {
        let to_chars = |bytes: &[u8]| -> String {
            bytes
                .iter()
                .map(|b| char::from(ICE_CHARS[usize::from(b & 0x3f)]))
                .collect()
        };
        Self {
            ufrag: to_chars(&entropy[..UFRAG_LEN]),
            pwd: to_chars(&entropy[UFRAG_LEN..]),
        }
    }
}

/// The local ufrag a Binding Request is addressed to: the part of its USERNAME
/// (`<our ufrag>:<their ufrag>`) before the colon.
///
/// For routing a request from an address no peer has used yet to the peer that owns the
/// ufrag. Nothing is verified beyond the STUN framing; the peer's [`IceLite::handle_stun`]
/// checks integrity. `None` when the datagram is not a well-formed Binding Request with a
/// UTF-8 USERNAME containing a colon.
#[must_use]
pub fn local_ufrag_of(request: &[u8]) -> Option<&str> {
    let parsed = BindingRequest::parse(request).ok()?;
    let username = std::str::from_utf8(parsed.username?).ok()?;
    username.split_once(':').map(|(local, _)| local)
}

/// Connection state of an [`IceLite`] agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IceState {
    /// No valid Binding Request yet.
    New,
    /// A remote address is selected and its consent is fresh.
    Connected,
    /// Consent expired: no valid request from the selected address for [`CONSENT_TIMEOUT`].
    /// Stop sending to it (RFC 7675 §5.1). A later valid request reconnects.
    Disconnected,
}

/// What a valid Binding Request did. The Binding Success Response is in the caller's buffer;
/// send it to the request's source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StunOutcome {
    /// The request carried USE-CANDIDATE: the browser nominated this pair.
    pub nominated: bool,
    /// [`IceLite::selected_remote`] changed because of this request.
    pub selected_changed: bool,
}

/// The ICE-lite agent of one peer. Sans-IO: the caller owns the socket and the clock.
///
/// Contract, in the order a media loop uses it:
/// - input: [`handle_stun`](Self::handle_stun) for every STUN datagram routed to this peer,
///   [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout) is
///   due (a spurious or early call is a no-op);
/// - getters: [`state`](Self::state), [`selected_remote`](Self::selected_remote),
///   [`is_nominated`](Self::is_nominated), [`consent_expired`](Self::consent_expired),
///   [`local_credentials`](Self::local_credentials);
/// - `now` only moves forward across calls.
#[derive(Debug)]
pub struct IceLite {
    local: IceCredentials,
    remote: Option<IceCredentials>,
    key: hmac::Key,
    selected: Option<SocketAddr>,
    nominated: bool,
    last_consent: Option<Instant>,
    state: IceState,
}

impl IceLite {
    /// An agent answering checks for `local` credentials. `remote` holds the ufrag and pwd
    /// from the peer's offer; when known, USERNAME's remote part must equal its ufrag. (The
    /// remote pwd is not needed by a lite agent, which never sends checks.)
    #[must_use]
    pub fn new(local: IceCredentials, remote: Option<IceCredentials>) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, local.pwd.as_bytes());
        Self {
            local,
            remote,
            key,
            selected: None,
            nominated: false,
            last_consent: None,
            state: IceState::New,
        }
    }

    /// The remote ufrag from the offer, if given (a new one means an ICE restart).
    #[must_use]
    pub fn remote_ufrag(&self) -> Option<&str> {
        self.remote.as_ref().map(|r| r.ufrag.as_str())
    }

    /// Our credentials, for the answer SDP.
    #[must_use]
    pub fn local_credentials(&self) -> &IceCredentials {
        &self.local
    }

    /// Handles one STUN datagram from `from`. On success the Binding Success Response is in
    /// `response` (cleared first) and must be sent to `from`.
    ///
    /// # Errors
    ///
    /// The request is dropped, `response` is left empty and no state changes:
    /// [`IceError::Malformed`], [`IceError::NotBindingRequest`],
    /// [`IceError::MissingAttribute`], [`IceError::BadFingerprint`],
    /// [`IceError::WrongLocalUfrag`], [`IceError::WrongRemoteUfrag`],
    /// [`IceError::BadIntegrity`].
    pub fn handle_stun(
        &mut self,
        now: Instant,
        from: SocketAddr,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<StunOutcome, IceError> {
        response.clear();
        let parsed = BindingRequest::parse(request)?;
        let fingerprint_offset = parsed
            .fingerprint_offset
            .ok_or(IceError::MissingAttribute("FINGERPRINT"))?;
        if fingerprint_value(&request[..fingerprint_offset]) != parsed.fingerprint {
            return Err(IceError::BadFingerprint);
        }
        let username = parsed
            .username
            .ok_or(IceError::MissingAttribute("USERNAME"))?;
        self.check_username(username)?;
        let integrity_offset = parsed
            .integrity_offset
            .ok_or(IceError::MissingAttribute("MESSAGE-INTEGRITY"))?;
        let received_mac = &request[integrity_offset + ATTR_HEADER_LEN..][..MESSAGE_INTEGRITY_LEN];
        let body_len = integrity_offset + ATTR_HEADER_LEN + MESSAGE_INTEGRITY_LEN - HEADER_LEN;
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&request[..2]);
        ctx.update(&stun_len(body_len).to_be_bytes());
        ctx.update(&request[4..integrity_offset]);
        // Constant-time comparison of the full 20-byte MAC.
        if !constant_time_eq(ctx.sign().as_ref(), received_mac) {
            return Err(IceError::BadIntegrity);
        }

        write_success_response(&self.key, &parsed.transaction_id, from, response);
        Ok(self.accept(now, from, parsed.use_candidate))
    }

    fn check_username(&self, username: &[u8]) -> Result<(), IceError> {
        let local = self.local.ufrag.as_bytes();
        let rest = username
            .strip_prefix(local)
            .and_then(|rest| rest.strip_prefix(b":"))
            .ok_or(IceError::WrongLocalUfrag)?;
        if let Some(remote) = &self.remote
            && rest != remote.ufrag.as_bytes()
        {
            return Err(IceError::WrongRemoteUfrag);
        }
        Ok(())
    }

    fn accept(&mut self, now: Instant, from: SocketAddr, use_candidate: bool) -> StunOutcome {
        let before = self.selected;
        if use_candidate {
            self.selected = Some(from);
            self.nominated = true;
        } else if self.selected.is_none() {
            self.selected = Some(from);
        }
        if self.selected == Some(from) {
            self.last_consent = Some(now);
            self.state = IceState::Connected;
        }
        StunOutcome {
            nominated: use_candidate,
            selected_changed: before != self.selected,
        }
    }

    /// Moves [`IceState::Connected`] to [`IceState::Disconnected`] once consent has expired.
    /// Calling it early or twice is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == IceState::Connected && self.consent_expired(now) {
            self.state = IceState::Disconnected;
        }
    }

    /// When consent expires unless refreshed: call [`handle_timeout`](Self::handle_timeout)
    /// then. `None` unless [`IceState::Connected`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            IceState::Connected => self.last_consent.map(|t| t + CONSENT_TIMEOUT),
            IceState::New | IceState::Disconnected => None,
        }
    }

    /// True when consent was granted once and no valid request from the selected address has
    /// arrived for [`CONSENT_TIMEOUT`]. False before the first valid request.
    #[must_use]
    pub fn consent_expired(&self, now: Instant) -> bool {
        self.last_consent
            .is_some_and(|t| now.saturating_duration_since(t) >= CONSENT_TIMEOUT)
    }

    /// The remote address to send DTLS and media to: the nominated one, or before any
    /// nomination the first that sent a valid request.
    #[must_use]
    pub fn selected_remote(&self) -> Option<SocketAddr> {
        self.selected
    }

    /// Whether the browser has nominated a pair (USE-CANDIDATE).
    #[must_use]
    pub fn is_nominated(&self) -> bool {
        self.nominated
    }

    /// The agent's state as of the last input or [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn state(&self) -> IceState {
        self.state
    }
}

/// A validated view of a STUN Binding Request. Offsets index the datagram.
struct BindingRequest<'a> {
    transaction_id: [u8; 12],
    username: Option<&'a [u8]>,
    use_candidate: bool,
    /// Offset of the MESSAGE-INTEGRITY attribute header; its value is known to be 20 bytes.
    integrity_offset: Option<usize>,
    /// Offset of the FINGERPRINT attribute header; it is known to be the last attribute.
    fingerprint_offset: Option<usize>,
    fingerprint: u32,
}

impl<'a> BindingRequest<'a> {
    fn parse(msg: &'a [u8]) -> Result<Self, IceError> {
        let header: &[u8; HEADER_LEN] = msg
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(IceError::Malformed("shorter than the 20-byte header"))?;
        let message_type = u16::from_be_bytes([header[0], header[1]]);
        if message_type & 0xc000 != 0 {
            return Err(IceError::Malformed("top two bits of the message type set"));
        }
        if u32::from_be_bytes([header[4], header[5], header[6], header[7]]) != MAGIC_COOKIE {
            return Err(IceError::Malformed("no magic cookie"));
        }
        let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if length % 4 != 0 {
            return Err(IceError::Malformed("length not a multiple of 4"));
        }
        if HEADER_LEN + length != msg.len() {
            return Err(IceError::Malformed("length does not match the datagram"));
        }
        if message_type != BINDING_REQUEST {
            return Err(IceError::NotBindingRequest { message_type });
        }
        let mut transaction_id = [0u8; 12];
        transaction_id.copy_from_slice(&header[8..]);

        let mut parsed = Self {
            transaction_id,
            username: None,
            use_candidate: false,
            integrity_offset: None,
            fingerprint_offset: None,
            fingerprint: 0,
        };
        let mut offset = HEADER_LEN;
        while offset < msg.len() {
            if parsed.fingerprint_offset.is_some() {
                return Err(IceError::Malformed("attribute after FINGERPRINT"));
            }
            let attr_header = msg
                .get(offset..offset + ATTR_HEADER_LEN)
                .ok_or(IceError::Malformed("truncated attribute header"))?;
            let typ = u16::from_be_bytes([attr_header[0], attr_header[1]]);
            let len = usize::from(u16::from_be_bytes([attr_header[2], attr_header[3]]));
            let value_start = offset + ATTR_HEADER_LEN;
            let value = msg
                .get(value_start..value_start + len)
                .ok_or(IceError::Malformed("attribute value past the end"))?;
            let padded = len.next_multiple_of(4);
            if value_start + padded > msg.len() {
                return Err(IceError::Malformed("attribute padding past the end"));
            }
            // RFC 8489 §14.5: attributes after MESSAGE-INTEGRITY, except FINGERPRINT, are
            // not covered by it and are ignored.
            let after_integrity = parsed.integrity_offset.is_some();
            match typ {
                ATTR_FINGERPRINT => {
                    let value: [u8; FINGERPRINT_LEN] = value
                        .try_into()
                        .map_err(|_| IceError::Malformed("FINGERPRINT is not 4 bytes"))?;
                    parsed.fingerprint = u32::from_be_bytes(value);
                    parsed.fingerprint_offset = Some(offset);
                }
                _ if after_integrity => {}
                ATTR_MESSAGE_INTEGRITY => {
                    if len != MESSAGE_INTEGRITY_LEN {
                        return Err(IceError::Malformed("MESSAGE-INTEGRITY is not 20 bytes"));
                    }
                    parsed.integrity_offset = Some(offset);
                }
                ATTR_USERNAME if parsed.username.is_none() => {
                    if len > MAX_USERNAME_LEN {
                        return Err(IceError::Malformed("USERNAME longer than 508 bytes"));
                    }
                    parsed.username = Some(value);
                }
                ATTR_USE_CANDIDATE => parsed.use_candidate = true,
                _ => {}
            }
            offset = value_start + padded;
        }
        Ok(parsed)
    }
}

/// The header length field for a message body of `body_len` bytes. Bodies here are bounded by
/// a received datagram (its own 16-bit length field) or by our own fixed-size response.
fn stun_len(body_len: usize) -> u16 {
    u16::try_from(body_len).unwrap_or(u16::MAX)
}

/// Writes a Binding Success Response for `transaction_id` reporting `from` as
/// XOR-MAPPED-ADDRESS, with MESSAGE-INTEGRITY (keyed with our pwd) and FINGERPRINT.
fn write_success_response(
    key: &hmac::Key,
    transaction_id: &[u8; 12],
    from: SocketAddr,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // length, set below
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(transaction_id);

    // XOR-MAPPED-ADDRESS (RFC 8489 §14.2). A v4-mapped IPv6 source (dual-stack socket) is
    // reported as the IPv4 address the browser actually used.
    let ip = from.ip().to_canonical();
    let mut xor_key = [0u8; 16];
    xor_key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    xor_key[4..].copy_from_slice(transaction_id);
    let port = from.port() ^ ((MAGIC_COOKIE >> 16) as u16);
    match ip {
        IpAddr::V4(v4) => {
            out.extend_from_slice(&ATTR_XOR_MAPPED_ADDRESS.to_be_bytes());
            out.extend_from_slice(&8u16.to_be_bytes());
            out.extend_from_slice(&[0, 0x01]);
            out.extend_from_slice(&port.to_be_bytes());
            out.extend(v4.octets().iter().zip(&xor_key).map(|(a, k)| a ^ k));
        }
        IpAddr::V6(v6) => {
            out.extend_from_slice(&ATTR_XOR_MAPPED_ADDRESS.to_be_bytes());
            out.extend_from_slice(&20u16.to_be_bytes());
            out.extend_from_slice(&[0, 0x02]);
            out.extend_from_slice(&port.to_be_bytes());
            out.extend(v6.octets().iter().zip(&xor_key).map(|(a, k)| a ^ k));
        }
    }

    // MESSAGE-INTEGRITY: the length field covers the attribute itself while hashing.
    let len = out.len() - HEADER_LEN + ATTR_HEADER_LEN + MESSAGE_INTEGRITY_LEN;
    out[2..4].copy_from_slice(&stun_len(len).to_be_bytes());
    let mac = hmac::sign(key, out);
    out.extend_from_slice(&ATTR_MESSAGE_INTEGRITY.to_be_bytes());
    out.extend_from_slice(&stun_len(MESSAGE_INTEGRITY_LEN).to_be_bytes());
    out.extend_from_slice(mac.as_ref());

    // FINGERPRINT, last, over everything before it with the final length.
    let len = out.len() - HEADER_LEN + ATTR_HEADER_LEN + FINGERPRINT_LEN;
    out[2..4].copy_from_slice(&stun_len(len).to_be_bytes());
    let crc = fingerprint_value(out);
    out.extend_from_slice(&ATTR_FINGERPRINT.to_be_bytes());
    out.extend_from_slice(&stun_len(FINGERPRINT_LEN).to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// CRC-32 (ISO-HDLC, as in RFC 1952) XOR 0x5354554e: the STUN FINGERPRINT value.
fn fingerprint_value(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC32_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    !crc ^ FINGERPRINT_XOR
}

const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The standard CRC-32 check value of "123456789" is 0xCBF43926.
        assert_eq!(
            fingerprint_value(b"123456789") ^ FINGERPRINT_XOR,
            0xCBF4_3926
        );
    }

    #[test]
    fn credentials_use_ice_chars_and_lengths() {
        let mut entropy = [0u8; UFRAG_LEN + PWD_LEN];
        for (i, b) in entropy.iter_mut().enumerate() {
            *b = (i * 37) as u8;
        }
        let c = IceCredentials::from_entropy(&entropy);
        assert_eq!(c.ufrag.len(), UFRAG_LEN);
        assert_eq!(c.pwd.len(), PWD_LEN);
        assert!(
            c.ufrag
                .bytes()
                .chain(c.pwd.bytes())
                .all(|b| ICE_CHARS.contains(&b))
        );
    }

    #[test]
    fn random_credentials_differ() {
        let a = IceCredentials::random().expect("OS RNG");
        let b = IceCredentials::random().expect("OS RNG");
        assert_ne!(a, b);
        assert!(
            !format!("{a:?}").contains(&a.pwd),
            "Debug must not print the pwd"
        );
    }

    #[test]
    fn empty_and_short_inputs_are_malformed() {
        for len in 0..HEADER_LEN {
            let bytes = vec![0u8; len];
            assert!(matches!(
                BindingRequest::parse(&bytes),
                Err(IceError::Malformed(_))
            ));
        }
    }
}
