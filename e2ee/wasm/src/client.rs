//! `Client`: one call member for the browser worker.

use js_sys::Uint8Array;
use telesfu_e2ee::session::MemberKey;
use telesfu_e2ee::time::Instant;
use wasm_bindgen::prelude::*;

use crate::codec::Codec;
use crate::js;
use crate::member::{self, Member, MemberParams};
use crate::msg;
use crate::value::Value;

/// One call member: the MLS group member and its SFrame keys (`telesfu_e2ee::session::Session`)
/// with JavaScript's clock. All key material stays inside; what comes out is signaling
/// messages, events, sealed and opened frames, and public facts (roster, code, epoch).
///
/// Drive it like the session: feed [`Client::handle_ds`], [`Client::participant_left`] and
/// [`Client::handle_timeout`] (at [`Client::poll_timeout_ms`]); after each, drain
/// [`Client::poll_transmit`] (send each to the server, in order), then [`Client::poll_event`].
/// Every `now_ms` is a `performance.now()` reading of the same realm (see the crate docs).
#[wasm_bindgen]
pub struct Client {
    inner: Member,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.inner.fmt(f)
    }
}

/// The 32-byte Ed25519 public key of the member key made from `seed` (32 bytes): what the
/// authority certifies before the worker makes its [`Client`] from the same seed.
#[wasm_bindgen(js_name = memberPublicKey)]
pub fn member_public_key(seed: &[u8]) -> Result<Vec<u8>, JsValue> {
    let seed = js::throw(member::seed32("seed", seed))?;
    Ok(MemberKey::from_seed(seed).public_key().to_vec())
}

#[wasm_bindgen]
impl Client {
    /// A member of `room` named `participant` on the SFU, not in the group yet.
    ///
    /// - `authority_keys`: an array of 32-byte Ed25519 public keys (`Uint8Array`) whose
    ///   certificates this member accepts: from the vendor's own bundle, never from the SFU;
    /// - `member_seed`: 32 random bytes, the member's signature key (certified);
    /// - `certificate`: the authority's certificate for `memberPublicKey(member_seed)`;
    /// - `rng_seed`: 32 bytes from `crypto.getRandomValues`, seeding all MLS randomness;
    /// - `now_ms`: `performance.now()`; `unix_ms`: `Date.now()`;
    /// - `config`: optional `{switchDelayMs, gracePeriodMs, updateIntervalMs,
    ///   removalStaggerMs, commitTimeoutMs, certificateSkewMs, maxMembers}`.
    ///
    /// Throws `certificate` when the certificate does not verify for this key, room and time
    /// under these anchors, `invalid_argument` for malformed arguments.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)] // the JavaScript constructor's documented positions
    pub fn new(
        room: &str,
        participant: &str,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array[]")] authority_keys: &JsValue,
        member_seed: &[u8],
        certificate: &[u8],
        rng_seed: &[u8],
        now_ms: f64,
        unix_ms: f64,
        #[wasm_bindgen(unchecked_param_type = "SessionOptions | undefined")] config: &JsValue,
    ) -> Result<Client, JsValue> {
        js::throw((|| {
            let config = member::session_config(&*js::options(config, "config")?)?;
            let params = MemberParams {
                room,
                participant,
                authority_keys: js::byte_list(authority_keys, "authorityKeys")?,
                member_seed,
                certificate: certificate.to_vec(),
                rng_seed,
                now_ms,
                unix_ms,
                config,
            };
            // The one clock read of the glue, paired with `now_ms` taken by the caller just
            // before: every later `now_ms` maps by its difference (crate::clock).
            #[allow(clippy::disallowed_methods)] // web_time on wasm; std only in host builds
            let origin = Instant::now();
            Ok(Client {
                inner: Member::new(params, origin)?,
            })
        })())
    }

    /// Feeds one `mls` message from the server (an object, or its JSON text), in the order
    /// the server sent them. Throws `bad_message` for one that breaks `docs/signaling.md`
    /// §6; MLS content that does not verify is not thrown but reported as a `refused` event.
    #[wasm_bindgen(js_name = handleDs)]
    pub fn handle_ds(
        &mut self,
        now_ms: f64,
        #[wasm_bindgen(unchecked_param_type = "MlsMessage | string")] message: &JsValue,
    ) -> Result<(), JsValue> {
        js::throw((|| {
            let get = js::fields(message)?;
            let msg = msg::from_ds(&get)?;
            self.inner.handle_ds(now_ms, msg)
        })())
    }

    /// The next message for the server, `{type: "mls", op, ...}` ready for `JSON.stringify`,
    /// or `undefined`.
    #[wasm_bindgen(js_name = pollTransmit, unchecked_return_type = "MlsMessage | undefined")]
    pub fn poll_transmit(&mut self) -> Result<JsValue, JsValue> {
        match self.inner.poll_transmit() {
            None => Ok(JsValue::UNDEFINED),
            Some(m) => js::throw(msg::to_ds_value(&m)).map(|v| js::to_js(&v)),
        }
    }

    /// The next event as a plain object with a `type`, or `undefined`.
    #[wasm_bindgen(js_name = pollEvent, unchecked_return_type = "TelesfuEvent | undefined")]
    pub fn poll_event(&mut self) -> JsValue {
        match self.inner.poll_event() {
            None => JsValue::UNDEFINED,
            Some(ev) => js::to_js(&msg::event_value(&ev)),
        }
    }

    /// When to call [`Client::handle_timeout`]: a `performance.now()` value, or `undefined`
    /// when nothing is scheduled. Never earlier than the session's deadline.
    #[wasm_bindgen(js_name = pollTimeoutMs)]
    pub fn poll_timeout_ms(&self) -> Option<f64> {
        self.inner.poll_timeout_ms()
    }

    /// Runs what is due (key switches and retirements, removals, the periodic update). A
    /// call before the deadline does nothing.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now_ms: f64) -> Result<(), JsValue> {
        js::throw(self.inner.handle_timeout(now_ms))
    }

    /// Signaling says `participant` left: the remaining members commit its removal.
    #[wasm_bindgen(js_name = participantLeft)]
    pub fn participant_left(&mut self, now_ms: f64, participant: &str) -> Result<(), JsValue> {
        js::throw(self.inner.participant_left(now_ms, participant))
    }

    /// Sends a chat message to the other members (drain [`Client::poll_transmit`] after);
    /// returns its sequence number. `sent_at_ms` is `Date.now()`. Throws `not_in_group`
    /// before joining, `too_long` beyond 4096 bytes of UTF-8.
    #[wasm_bindgen(js_name = sendChat)]
    pub fn send_chat(&mut self, now_ms: f64, sent_at_ms: f64, text: &str) -> Result<f64, JsValue> {
        js::throw(self.inner.send_chat(now_ms, sent_at_ms, text)).map(|s| s as f64)
    }

    /// Seals one encoded frame with this member's current key and returns the wire frame.
    /// Throws (and the caller drops the frame) with `no_key` before the first epoch,
    /// `malformed` for a frame that breaks its codec's clear-prefix rule.
    pub fn seal(
        &mut self,
        codec: Codec,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] frame: &JsValue,
    ) -> Result<Uint8Array, JsValue> {
        let frame = js::throw(js::frame(frame, "frame"))?;
        let len = frame.length() as usize;
        js::throw(
            self.inner
                .seal(codec.into(), len, |dst| frame.copy_to(dst))
                .map(Uint8Array::from),
        )
    }

    /// Opens one wire frame that the SFU attributes to participant `sender` and returns the
    /// frame as encoded. Throws with `no_key`, `not_of_sender`, `unknown_sender`, `replayed`,
    /// `too_old`, `auth_failed` or `malformed`; the caller drops the frame.
    pub fn open(
        &mut self,
        sender: &str,
        codec: Codec,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] frame: &JsValue,
    ) -> Result<Uint8Array, JsValue> {
        let frame = js::throw(js::frame(frame, "frame"))?;
        let len = frame.length() as usize;
        js::throw(
            self.inner
                .open(sender, codec.into(), len, |dst| frame.copy_to(dst))
                .map(Uint8Array::from),
        )
    }

    /// The members of the current epoch (empty before joining):
    /// `[{leaf, participant, subject, name, role, tenant, fingerprint, isSelf}]`.
    #[wasm_bindgen(unchecked_return_type = "RosterEntry[]")]
    pub fn roster(&self) -> JsValue {
        js::to_js(&msg::roster(self.inner.roster()))
    }

    /// The current epoch's verification code (six groups of five digits), or `undefined`.
    pub fn code(&self) -> Option<String> {
        self.inner.session().verification_code().map(str::to_owned)
    }

    /// The current epoch, or `undefined` before joining.
    pub fn epoch(&self) -> Option<f64> {
        self.inner.session().epoch().map(|e| e as f64)
    }

    /// True once in the group.
    #[wasm_bindgen(js_name = isMember)]
    pub fn is_member(&self) -> bool {
        self.inner.session().is_member()
    }

    /// Counters: `{refused, commitsAccepted, commitsRejected, queueDrops, sealed, opened,
    /// sealFailed, openFailed, sendKid, epoch, members}` (`sendKid`, `epoch`: `null` before
    /// joining).
    #[wasm_bindgen(unchecked_return_type = "ClientStats")]
    pub fn stats(&self) -> JsValue {
        js::to_js(&stats_value(&self.inner))
    }

    /// Mixes fresh bytes (from `crypto.getRandomValues`) into the generator behind all MLS
    /// randomness.
    #[wasm_bindgen(js_name = addEntropy)]
    pub fn add_entropy(&mut self, bytes: &[u8]) {
        self.inner.add_entropy(bytes);
    }
}

pub(crate) fn stats_value(m: &Member) -> Value {
    let s = m.session();
    let f = m.frames();
    let mut fields = msg::session_stats(&s.stats());
    fields.extend([
        ("sealed", Value::num(f.sealed)),
        ("opened", Value::num(f.opened)),
        ("sealFailed", Value::num(f.seal_failed)),
        ("openFailed", Value::num(f.open_failed)),
        (
            "sendKid",
            m.send_kid().map_or(Value::Null, |k| Value::num(k.0)),
        ),
        ("epoch", s.epoch().map_or(Value::Null, Value::num)),
        ("members", Value::num(m.roster().len() as u64)),
    ]);
    Value::Obj(fields)
}
