//! The browser member: a [`Session`] with JavaScript's time, one reusable frame buffer and
//! the counters the worker reports. Plain Rust; [`crate::Client`] is its JavaScript face.

use telesfu_e2ee::media::Codec;
use telesfu_e2ee::mls::ds::{FromDs, ToDs};
use telesfu_e2ee::mls::identity::{AuthorityKey, TrustAnchors};
use telesfu_e2ee::session::{Event, MemberKey, RosterEntry, Session, SessionConfig, SessionParams};
use telesfu_e2ee::time::Instant;
use telesfu_e2ee::{Error, KeyId};
use zeroize::Zeroize;

use crate::clock::{self, Clock};
use crate::error::GlueError;
use crate::value::{Fields, Input};

/// The largest encoded frame accepted (bytes). A 4K keyframe is well under 2 MiB; the bound
/// keeps a bad caller from growing the worker's memory without limit.
pub(crate) const MAX_FRAME_LEN: usize = 8 << 20;

/// What the worker needs to make a member.
#[derive(Debug)]
pub(crate) struct MemberParams<'a> {
    pub(crate) room: &'a str,
    pub(crate) participant: &'a str,
    pub(crate) authority_keys: Vec<Vec<u8>>,
    pub(crate) member_seed: &'a [u8],
    pub(crate) certificate: Vec<u8>,
    pub(crate) rng_seed: &'a [u8],
    pub(crate) now_ms: f64,
    pub(crate) unix_ms: f64,
    pub(crate) config: SessionConfig,
}

/// Counts of frames through [`Member::seal`] and [`Member::open`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FrameStats {
    pub(crate) sealed: u64,
    pub(crate) opened: u64,
    pub(crate) seal_failed: u64,
    pub(crate) open_failed: u64,
}

pub(crate) struct Member {
    session: Session,
    clock: Clock,
    /// Scratch for one frame at a time, grown to the largest frame seen, erased on drop:
    /// it holds plaintext.
    buf: Vec<u8>,
    /// This member's chat sequence number, as the session numbers it (the session does not
    /// expose its own: it counts every successful `send_chat`, and so do we).
    chat_seq: u64,
    frames: FrameStats,
}

impl core::fmt::Debug for Member {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Member")
            .field("session", &self.session)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

pub(crate) fn seed32(what: &str, bytes: &[u8]) -> Result<[u8; 32], GlueError> {
    bytes
        .try_into()
        .map_err(|_| GlueError::invalid(format!("{what} must be 32 bytes, got {}", bytes.len())))
}

/// Trust anchors from 32-byte Ed25519 public keys.
pub(crate) fn anchors(keys: &[Vec<u8>]) -> Result<TrustAnchors, GlueError> {
    if keys.is_empty() {
        return Err(GlueError::invalid(
            "authorityKeys is empty: configure at least one authority key",
        ));
    }
    let keys = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            AuthorityKey::from_bytes(k)
                .map_err(|e| GlueError::invalid(format!("authorityKeys[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TrustAnchors::new(keys))
}

/// A session configuration from an options object: the defaults of `SessionConfig`, with
/// any of `switchDelayMs`, `gracePeriodMs`, `updateIntervalMs`, `removalStaggerMs`,
/// `commitTimeoutMs`, `certificateSkewMs` (non-negative milliseconds) and `maxMembers`
/// (1-64) replaced.
pub(crate) fn session_config(get: Fields<'_>) -> Result<SessionConfig, GlueError> {
    let mut c = SessionConfig::default();
    let ms = |key: &str| -> Result<Option<core::time::Duration>, GlueError> {
        match get(key) {
            Input::Missing => Ok(None),
            Input::Num(n) => clock::unix(key, n).map(Some),
            other => Err(GlueError::invalid(format!(
                "config.{key} must be a number of milliseconds, got {}",
                other.kind()
            ))),
        }
    };
    if let Some(d) = ms("switchDelayMs")? {
        c.switch_delay = d;
    }
    if let Some(d) = ms("gracePeriodMs")? {
        c.grace_period = d;
    }
    if let Some(d) = ms("updateIntervalMs")? {
        c.update_interval = d;
    }
    if let Some(d) = ms("removalStaggerMs")? {
        c.removal_stagger = d;
    }
    if let Some(d) = ms("commitTimeoutMs")? {
        c.commit_timeout = d;
    }
    if let Some(d) = ms("certificateSkewMs")? {
        c.certificate_skew = d;
    }
    match get("maxMembers") {
        Input::Missing => {}
        Input::Num(n) if n.fract() == 0.0 && (1.0..=64.0).contains(&n) => {
            c.max_members = n as usize;
        }
        other => {
            return Err(GlueError::invalid(format!(
                "config.maxMembers must be a whole number in 1..=64, got {}",
                match other {
                    Input::Num(n) => n.to_string(),
                    o => o.kind().to_string(),
                }
            )));
        }
    }
    Ok(c)
}

impl Member {
    /// A member that is not in the group yet. `origin` is read at the same moment as
    /// `params.now_ms` (see [`crate::clock`]).
    pub(crate) fn new(params: MemberParams<'_>, origin: Instant) -> Result<Self, GlueError> {
        let clock = Clock::new(origin, params.now_ms)?;
        let unix_now = clock::unix("unixMs", params.unix_ms)?;
        let anchors = anchors(&params.authority_keys)?;
        let key = MemberKey::from_seed(seed32("memberSeed", params.member_seed)?);
        let rng_seed = seed32("rngSeed", params.rng_seed)?;
        if params.room.is_empty() || params.participant.is_empty() {
            return Err(GlueError::invalid("room and participant must not be empty"));
        }
        let p = SessionParams::new(
            params.room,
            params.participant,
            anchors,
            key,
            params.certificate,
            rng_seed,
        );
        let now = clock.at(params.now_ms)?;
        let session = Session::new(params.config, p, now, unix_now)?;
        Ok(Self {
            session,
            clock,
            buf: Vec::new(),
            chat_seq: 0,
            frames: FrameStats::default(),
        })
    }

    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    pub(crate) fn frames(&self) -> FrameStats {
        self.frames
    }

    pub(crate) fn handle_ds(&mut self, now_ms: f64, msg: FromDs) -> Result<(), GlueError> {
        let now = self.clock.at(now_ms)?;
        self.session.handle_ds(now, msg);
        Ok(())
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<ToDs> {
        self.session.poll_transmit()
    }

    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.session.poll_event()
    }

    /// When [`Member::handle_timeout`] should run, in the caller's milliseconds.
    pub(crate) fn poll_timeout_ms(&self) -> Option<f64> {
        self.session.poll_timeout().map(|t| self.clock.ms_of(t))
    }

    pub(crate) fn handle_timeout(&mut self, now_ms: f64) -> Result<(), GlueError> {
        let now = self.clock.at(now_ms)?;
        self.session.handle_timeout(now);
        Ok(())
    }

    pub(crate) fn participant_left(
        &mut self,
        now_ms: f64,
        participant: &str,
    ) -> Result<(), GlueError> {
        let now = self.clock.at(now_ms)?;
        self.session.participant_left(now, participant);
        Ok(())
    }

    /// Sends a chat message; returns its sequence number.
    pub(crate) fn send_chat(
        &mut self,
        now_ms: f64,
        sent_at_ms: f64,
        text: &str,
    ) -> Result<u64, GlueError> {
        let now = self.clock.at(now_ms)?;
        let sent_at = clock::whole_ms("sentAtMs", sent_at_ms)?;
        match self.session.send_chat(now, sent_at, text) {
            Ok(()) => {
                self.chat_seq += 1;
                Ok(self.chat_seq)
            }
            Err(Error::MetadataTooLong { len, max }) => Err(GlueError::new(
                "too_long",
                format!("chat text of {len} bytes exceeds the {max}-byte limit"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn add_entropy(&mut self, bytes: &[u8]) {
        self.session.add_entropy(bytes);
    }

    pub(crate) fn roster(&self) -> &[RosterEntry] {
        self.session.roster()
    }

    pub(crate) fn send_kid(&self) -> Option<KeyId> {
        self.session.send_kid()
    }

    /// Makes `buf` at least `need` bytes, erasing what the old one held.
    fn room_for(&mut self, need: usize) {
        if self.buf.len() < need {
            self.buf.zeroize();
            // Grow in steps so a stream of slowly larger frames reallocates rarely.
            self.buf = vec![0; need.next_power_of_two().max(4096)];
        }
    }

    fn check_len(len: usize) -> Result<(), GlueError> {
        if len > MAX_FRAME_LEN {
            return Err(GlueError::new(
                "too_long",
                format!("a frame of {len} bytes exceeds the {MAX_FRAME_LEN}-byte limit"),
            ));
        }
        Ok(())
    }

    /// Seals the `len`-byte frame that `fill` writes into the slice it is given; returns the
    /// wire frame. Allocates nothing once the buffer has grown to the largest frame.
    pub(crate) fn seal(
        &mut self,
        codec: Codec,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<&[u8], GlueError> {
        Self::check_len(len)?;
        let need = self.session.seal_buffer_len(codec, len);
        self.room_for(need);
        fill(&mut self.buf[..len]);
        match self.session.seal_frame(codec, &mut self.buf[..need], len) {
            Ok(n) => {
                self.frames.sealed += 1;
                Ok(&self.buf[..n])
            }
            Err(e) => {
                self.frames.seal_failed += 1;
                Err(e.into())
            }
        }
    }

    /// Opens the `len`-byte wire frame that `fill` writes, attributed to `sender`; returns the
    /// frame as encoded. Allocates nothing on success once the buffer has grown.
    pub(crate) fn open(
        &mut self,
        sender: &str,
        codec: Codec,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<&[u8], GlueError> {
        Self::check_len(len)?;
        self.room_for(len);
        fill(&mut self.buf[..len]);
        match self.session.open_frame(sender, codec, &mut self.buf[..len]) {
            Ok((_, n)) => {
                self.frames.opened += 1;
                Ok(&self.buf[..n])
            }
            Err(e) => {
                self.frames.open_failed += 1;
                Err(e.into())
            }
        }
    }
}
