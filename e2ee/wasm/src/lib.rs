//! # telesfu-e2ee-wasm: telesfu-e2ee in the browser
//!
//! The browser half of telesfu's end-to-end encryption is this crate compiled to
//! `wasm32-unknown-unknown`: the same MLS key schedule, SFrame, clear-prefix rules and replay
//! windows as the native crate, so there is one implementation to review. `e2ee/web/` wraps
//! it as the package `@telesfu/e2ee` (ES module, types, the `.wasm` inside); its
//! `build.sh` makes the committed build in `e2ee/web/pkg/`, and CI rebuilds it and compares
//! byte for byte.
//!
//! What it exports to JavaScript:
//!
//! - [`Client`]: one call member (`telesfu_e2ee::session::Session`) for the
//!   `RTCRtpScriptTransform` worker: signaling messages in and out in the exact shape of
//!   `docs/signaling.md` §6, events as plain objects, `seal`/`open` of encoded frames.
//!   [`member_public_key`] gives the key to certify before the client is made.
//! - [`DeliveryService`] and [`Authority`]: the server's per-room DS and a certificate
//!   authority, for browser tests and for a vendor's JavaScript backend.
//! - [`SframeContext`], [`encode_header`], [`decode_header`], [`derive_key_material`], [`aead_seal`],
//!   [`aead_open`], [`clear_prefix_len`]: raw RFC 9605 with explicit suite, KID, counter, base
//!   key and metadata, for the published test vectors in the browser.
//!
//! ## Why wasm-bindgen
//!
//! mls-rs already links `wasm-bindgen` on wasm32 (its `MlsTime::now` and `getrandom`'s
//! `wasm_js` backend), so using the same version adds no second binding layer. It gives
//! typed classes with `free()`, `Uint8Array` conversions and thrown errors with a `.d.ts`,
//! where a hand-written C ABI would need its own memory protocol in JavaScript. `wasm-bindgen
//! --target web` output is a plain ES module: no bundler is needed, and every bundler takes it.
//!
//! ## Time and randomness: the boundary
//!
//! `telesfu-e2ee` never reads a clock or an entropy source; this crate is where JavaScript
//! hands them in.
//!
//! - **Monotonic time** is a `performance.now()` reading, `now_ms`, on every call that
//!   needs it. An `Instant` cannot be built from a number, so the [`Client`] constructor
//!   reads `Instant::now()` once (`web_time::Instant`, itself `performance.now()`, on wasm)
//!   next to the caller's `now_ms` and maps every later reading by its difference.
//!   [`Client::poll_timeout_ms`] answers in the same milliseconds, rounded up so a timer never
//!   fires before its deadline.
//! - **Wall-clock time** (certificate validity, commit times) is `Date.now()`, `unix_ms`, at
//!   construction (advanced by the monotonic clock after), and `sent_at_ms` on chat.
//! - **Randomness** comes in as bytes from `crypto.getRandomValues`: the member key seed, the
//!   32-byte seed of the MLS generator, and [`Client::add_entropy`] later. Nothing here calls
//!   `getrandom`: it is in the wasm build only because mls-rs links it, and its import is
//!   unused.
//!
//! ## Frames and memory
//!
//! `seal` and `open` copy the frame from its `Uint8Array` straight into one buffer the client
//! keeps (grown to the largest frame, erased on `free()`), work in place, and return the result
//! as a fresh `Uint8Array`: that copy out is the only allocation per frame, and it is
//! JavaScript's. A host test with a counting allocator holds the Rust side to zero
//! allocations per frame; the browser test watches the wasm memory stay flat over thousands of
//! frames. The codec is a number ([`Codec`]), so no string crosses per frame but the sender's
//! participant id on `open`.
//!
//! ## Errors
//!
//! Every failure is thrown as an `Error` named `TelesfuError` with a stable `code` (table in
//! [`error`] and in the package README). Bad input from JavaScript or the network
//! is an error, never a panic; MLS content that does not verify is a `refused` event.
//!
//! ## The worker's run loop (JavaScript)
//!
//! ```js
//! import init, { Client, Codec, memberPublicKey } from './pkg/telesfu_e2ee_wasm.js';
//! await init();
//! const seed = crypto.getRandomValues(new Uint8Array(32));
//! const certificate = await askTheAuthority(memberPublicKey(seed));
//! const client = new Client(room, participant, authorityKeys, seed, certificate,
//!   crypto.getRandomValues(new Uint8Array(32)), performance.now(), Date.now());
//! let timer;
//! function drain() {
//!   for (let m; (m = client.pollTransmit()); ) postToServer(m);   // {type:'mls', op, ...}
//!   for (let e; (e = client.pollEvent()); ) show(e);              // {type:'epoch', ...}
//!   clearTimeout(timer);
//!   const at = client.pollTimeoutMs();
//!   if (at !== undefined) timer = setTimeout(() => {
//!     client.handleTimeout(performance.now());
//!     drain();
//!   }, Math.max(0, at - performance.now()));
//! }
//! onServerMessage = (m) => { client.handleDs(performance.now(), m); drain(); };
//! onFrame = (frame) => { frame.data = client.seal(Codec.Vp8, new Uint8Array(frame.data)).buffer; };
//! ```
//!
//! The same loop from Rust (what the host build and tests use):
//!
//! ```no_run
//! use telesfu_e2ee_wasm::{Client, Codec};
//! use wasm_bindgen::JsValue;
//!
//! # fn demo(keys: JsValue, seed: [u8; 32], cert: Vec<u8>, msg: JsValue, frame: JsValue)
//! #     -> Result<(), JsValue> {
//! let mut client = Client::new("visit-42", "p3", &keys, &seed, &cert, &[7; 32],
//!     0.0, 1.8e12, &JsValue::UNDEFINED)?;
//! client.handle_ds(5.0, &msg)?;
//! while !client.poll_transmit()?.is_undefined() { /* to the server */ }
//! while !client.poll_event().is_undefined() { /* to the page */ }
//! let wire = client.seal(Codec::Vp8, &frame)?;
//! # let _ = wire; Ok(()) }
//! ```
// Unsafe code only in the tests' counting allocator.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![deny(missing_docs)]
// Not a core crate: the I/O boundary (STYLE.md §1 binds the core crates). wasm-bindgen's
// generated glue keeps every exported object in an `Rc<WasmRefCell<_>>`; nothing of ours does.
#![allow(clippy::disallowed_types)]

mod b64;
mod client;
mod clock;
mod codec;
mod ds;
pub mod error;
mod js;
mod member;
mod msg;
mod sframe;
mod value;

pub use client::{Client, member_public_key};
pub use codec::{Codec, codec_from_name};
pub use ds::{Authority, DeliveryService, decode_certificate};
pub use sframe::{
    SframeContext, aead_open, aead_seal, clear_prefix_len, decode_header, derive_key_material,
    encode_header, max_header_len,
};

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** A `{type: "mls"}` signaling message of docs/signaling.md §6 (binary fields: base64url, unpadded). */
export type MlsMessage =
  | { type: "mls"; op: "create"; groupInfo: string }
  | { type: "mls"; op: "commit"; commit: string; groupInfo?: string }
  | { type: "mls"; op: "app"; message: string; from?: string }
  | { type: "mls"; op: "sync" }
  | { type: "mls"; op: "state"; groupInfo: string | null }
  | { type: "mls"; op: "rejected"; reason: string; groupInfo: string | null };

/** A member of the group as every member sees it (names and roles verified by the authority). */
export interface RosterEntry {
  leaf: number;
  participant: string | null;
  subject: string;
  name: string;
  role: string;
  tenant: string;
  fingerprint: string;
  isSelf: boolean;
}

/** What the member reports. */
export type TelesfuEvent =
  | { type: "joined"; epoch: number; created: boolean }
  | { type: "epoch"; epoch: number; added: RosterEntry[]; removed: RosterEntry[]; committer: number | null; code: string }
  | { type: "sendKeyChanged"; kid: number; epoch: number }
  | { type: "refused"; kind: "commit" | "groupInfo" | "application" | "other"; reason: string }
  | { type: "chat"; from: RosterEntry; seq: number; text: string; sentAtMs: number; order: "inOrder" | "afterGap" | "late" | "other"; missing: number }
  | { type: "removed"; epoch: number }
  | { type: "duplicateParticipant"; participant: string }
  | { type: "other"; detail: string };

/** Session timings and limits; every field optional (defaults of telesfu_e2ee::session::SessionConfig). */
export interface SessionOptions {
  switchDelayMs?: number;
  gracePeriodMs?: number;
  updateIntervalMs?: number;
  removalStaggerMs?: number;
  commitTimeoutMs?: number;
  certificateSkewMs?: number;
  maxMembers?: number;
}

/** A member's counters. */
export interface ClientStats {
  refused: number;
  commitsAccepted: number;
  commitsRejected: number;
  queueDrops: number;
  sealed: number;
  opened: number;
  sealFailed: number;
  openFailed: number;
  sendKid: number | null;
  epoch: number | null;
  members: number;
}

/** Where the DS's answer goes, and what it is. */
export interface Delivery {
  to: "sender" | "all" | "others";
  msg: MlsMessage;
}

/** What an authority vouches for (times in unix seconds, texts at most 255 bytes). */
export interface Claims {
  subject: string;
  room: string;
  notBefore: number;
  notAfter: number;
  name?: string;
  role?: string;
  tenant?: string;
}

/** A decoded certificate's public facts. */
export interface CertificateInfo {
  authorityId: Uint8Array;
  signatureKey: Uint8Array;
  subject: string;
  name: string;
  role: string;
  tenant: string;
  room: string;
  notBefore: number;
  notAfter: number;
}

/** An opened SFrame ciphertext. */
export interface OpenedPayload { kid: bigint; ctr: bigint; payload: Uint8Array }
/** An opened media frame. */
export interface OpenedFrame { kid: bigint; ctr: bigint; frame: Uint8Array }
/** A decoded SFrame header. */
export interface DecodedHeader { kid: bigint; ctr: bigint; len: number }
/** sframe_key and sframe_salt. */
export interface KeyMaterial { key: Uint8Array; salt: Uint8Array }
"#;

/// This crate's version (the package's).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

#[cfg(test)]
mod tests;
