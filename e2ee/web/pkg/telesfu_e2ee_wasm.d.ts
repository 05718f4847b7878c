/* tslint:disable */
/* eslint-disable */

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



/**
 * A certificate authority (`telesfu_e2ee::mls::identity::Authority`): what a vendor's
 * backend runs to certify members, and what tests use. Its seed is a secret of the
 * backend: a browser page that holds one can certify anybody.
 */
export class Authority {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * A certificate for the member key `signature_key` (32 bytes) with `claims`:
     * `{subject, room, notBefore, notAfter, name?, role?, tenant?}` (times in unix
     * seconds, texts at most 255 bytes of UTF-8).
     */
    issue(claims: Claims, signature_key: Uint8Array | number[]): Uint8Array;
    /**
     * The authority whose Ed25519 key is made from `seed` (32 bytes).
     */
    constructor(seed: Uint8Array | number[]);
    /**
     * The 32-byte public key members trust.
     */
    publicKey(): Uint8Array;
}

/**
 * One call member: the MLS group member and its SFrame keys (`telesfu_e2ee::session::Session`)
 * with JavaScript's clock. All key material stays inside; what comes out is signaling
 * messages, events, sealed and opened frames, and public facts (roster, code, epoch).
 *
 * Drive it like the session: feed [`Client::handle_ds`], [`Client::participant_left`] and
 * [`Client::handle_timeout`] (at [`Client::poll_timeout_ms`]); after each, drain
 * [`Client::poll_transmit`] (send each to the server, in order), then [`Client::poll_event`].
 * Every `now_ms` is a `performance.now()` reading of the same realm (see the crate docs).
 */
export class Client {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Mixes fresh bytes (from `crypto.getRandomValues`) into the generator behind all MLS
     * randomness.
     */
    addEntropy(bytes: Uint8Array | number[]): void;
    /**
     * The current epoch's verification code (six groups of five digits), or `undefined`.
     */
    code(): string | undefined;
    /**
     * The current epoch, or `undefined` before joining.
     */
    epoch(): number | undefined;
    /**
     * Feeds one `mls` message from the server (an object, or its JSON text), in the order
     * the server sent them. Throws `bad_message` for one that breaks `docs/signaling.md`
     * §6; MLS content that does not verify is not thrown but reported as a `refused` event.
     */
    handleDs(now_ms: number, message: MlsMessage | string): void;
    /**
     * Runs what is due (key switches and retirements, removals, the periodic update). A
     * call before the deadline does nothing.
     */
    handleTimeout(now_ms: number): void;
    /**
     * True once in the group.
     */
    isMember(): boolean;
    /**
     * A member of `room` named `participant` on the SFU, not in the group yet.
     *
     * - `authority_keys`: an array of 32-byte Ed25519 public keys (`Uint8Array`) whose
     *   certificates this member accepts: from the vendor's own bundle, never from the SFU;
     * - `member_seed`: 32 random bytes, the member's signature key (certified);
     * - `certificate`: the authority's certificate for `memberPublicKey(member_seed)`;
     * - `rng_seed`: 32 bytes from `crypto.getRandomValues`, seeding all MLS randomness;
     * - `now_ms`: `performance.now()`; `unix_ms`: `Date.now()`;
     * - `config`: optional `{switchDelayMs, gracePeriodMs, updateIntervalMs,
     *   removalStaggerMs, commitTimeoutMs, certificateSkewMs, maxMembers}`.
     *
     * Throws `certificate` when the certificate does not verify for this key, room and time
     * under these anchors, `invalid_argument` for malformed arguments.
     */
    constructor(room: string, participant: string, authority_keys: Uint8Array[], member_seed: Uint8Array | number[], certificate: Uint8Array | number[], rng_seed: Uint8Array | number[], now_ms: number, unix_ms: number, config: SessionOptions | undefined);
    /**
     * Opens one wire frame that the SFU attributes to participant `sender` and returns the
     * frame as encoded. Throws with `no_key`, `not_of_sender`, `unknown_sender`, `replayed`,
     * `too_old`, `auth_failed` or `malformed`; the caller drops the frame.
     */
    open(sender: string, codec: Codec, frame: Uint8Array): Uint8Array;
    /**
     * Signaling says `participant` left: the remaining members commit its removal.
     */
    participantLeft(now_ms: number, participant: string): void;
    /**
     * The next event as a plain object with a `type`, or `undefined`.
     */
    pollEvent(): TelesfuEvent | undefined;
    /**
     * When to call [`Client::handle_timeout`]: a `performance.now()` value, or `undefined`
     * when nothing is scheduled. Never earlier than the session's deadline.
     */
    pollTimeoutMs(): number | undefined;
    /**
     * The next message for the server, `{type: "mls", op, ...}` ready for `JSON.stringify`,
     * or `undefined`.
     */
    pollTransmit(): MlsMessage | undefined;
    /**
     * The members of the current epoch (empty before joining):
     * `[{leaf, participant, subject, name, role, tenant, fingerprint, isSelf}]`.
     */
    roster(): RosterEntry[];
    /**
     * Seals one encoded frame with this member's current key and returns the wire frame.
     * Throws (and the caller drops the frame) with `no_key` before the first epoch,
     * `malformed` for a frame that breaks its codec's clear-prefix rule.
     */
    seal(codec: Codec, frame: Uint8Array): Uint8Array;
    /**
     * Sends a chat message to the other members (drain [`Client::poll_transmit`] after);
     * returns its sequence number. `sent_at_ms` is `Date.now()`. Throws `not_in_group`
     * before joining, `too_long` beyond 4096 bytes of UTF-8.
     */
    sendChat(now_ms: number, sent_at_ms: number, text: string): number;
    /**
     * Counters: `{refused, commitsAccepted, commitsRejected, queueDrops, sealed, opened,
     * sealFailed, openFailed, sendKid, epoch, members}` (`sendKid`, `epoch`: `null` before
     * joining).
     */
    stats(): ClientStats;
}

/**
 * A media codec, as far as its clear prefix goes (`docs/e2ee-wire-format.md`). A number in
 * JavaScript (`Codec.Vp8` ...), so the per-frame calls pass no string.
 */
export enum Codec {
    /**
     * VP8: the frame tag (and on keyframes the dimensions) stay clear.
     */
    Vp8 = 0,
    /**
     * Opus: the TOC byte stays clear.
     */
    Opus = 1,
    /**
     * H.264 (Annex B): up to the first slice's NAL header stays clear; the rest is escaped.
     */
    H264 = 2,
    /**
     * AV1: nothing stays clear (the SFU reads the dependency descriptor).
     */
    Av1 = 3,
    /**
     * No prefix: RFC 9605 as is.
     */
    Plain = 4,
}

/**
 * One room's MLS Delivery Service (`telesfu_e2ee::mls::ds::DeliveryService`): orders
 * commits, keeps the GroupInfo for joiners, relays chat. It holds no key.
 */
export class DeliveryService {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Handles one member's `mls` message (object or JSON text): returns `{to: "sender" |
     * "all" | "others", msg}` where `msg` is the server's `mls` message to deliver; `from`
     * (the sender's participant id) is put on relayed `app` messages. Throws `bad_message`
     * for a message that breaks `docs/signaling.md` §6 (the server answers `error`
     * `bad_message`); MLS content the DS refuses comes back as a `rejected` to the sender.
     */
    handle(message: MlsMessage | string, unix_ms: number, from?: string | null): Delivery;
    /**
     * A DS for `room`. With `authority_keys` (an array of 32-byte keys) it also refuses an
     * external commit whose joiner's certificate does not verify for `room` (members refuse
     * it anyway; this keeps an uncertified joiner from stalling the room).
     */
    constructor(room: string, authority_keys: Uint8Array[] | undefined);
    /**
     * Forgets the group (the room emptied): the next member creates a new one.
     */
    reset(): void;
    /**
     * The `state` message a joining member gets.
     */
    state(): MlsMessage;
    /**
     * Commits accepted so far.
     */
    readonly accepted: number;
    /**
     * The epoch the next commit must be for.
     */
    readonly epoch: number;
    /**
     * Commits rejected so far.
     */
    readonly rejected: number;
}

/**
 * An SFrame context (RFC 9605 §4.4) of one suite: keys by KID, send counters, receive replay
 * windows (`telesfu_e2ee::Context`).
 */
export class SframeContext {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Installs a receive key under `kid` with a fresh replay window.
     */
    addRecvKey(kid: bigint, base_key: Uint8Array | number[]): void;
    /**
     * Installs a send key under `kid` whose next counter is `next_ctr` (0 when omitted).
     */
    addSendKey(kid: bigint, base_key: Uint8Array | number[], next_ctr?: bigint | null): void;
    /**
     * A context for the suite with IANA id `suite` (4 is `AES_128_GCM_SHA256_128`).
     */
    constructor(suite: number);
    /**
     * The counter the next seal under `kid` uses, or `undefined`.
     */
    nextCounter(kid: bigint): bigint | undefined;
    /**
     * Opens one wire frame: `{kid, ctr, frame}` with the frame as encoded.
     */
    openFrame(codec: Codec, wire: Uint8Array | number[]): OpenedFrame;
    /**
     * Opens an SFrame ciphertext: `{kid, ctr, payload}`. Throws with the codes of the
     * crate docs (`no_key`, `auth_failed`, `replayed`, `malformed`, ...).
     */
    open(metadata: Uint8Array | number[], ciphertext: Uint8Array | number[]): OpenedPayload;
    /**
     * Removes (and erases) the key under `kid`; whether there was one.
     */
    removeKey(kid: bigint): boolean;
    /**
     * Seals one encoded frame with its codec's clear prefix (`docs/e2ee-wire-format.md`).
     */
    sealFrame(codec: Codec, kid: bigint, frame: Uint8Array | number[]): Uint8Array;
    /**
     * `header || ciphertext || tag` of `plaintext` under `kid`, AAD `header || metadata`.
     */
    seal(kid: bigint, metadata: Uint8Array | number[], plaintext: Uint8Array | number[]): Uint8Array;
}

/**
 * Opens `ciphertext || tag` with the suite's AEAD alone; throws `auth_failed` when the tag
 * does not verify.
 */
export function aeadOpen(suite: number, key: Uint8Array | number[], nonce: Uint8Array | number[], aad: Uint8Array | number[], ciphertext: Uint8Array | number[]): Uint8Array;

/**
 * The suite's AEAD alone (RFC 9605 §4.5.1 for the CTR suites): `ciphertext || tag` of
 * `plaintext` under the AEAD `key` (`Nk` bytes), `nonce` (12 bytes) and `aad`.
 */
export function aeadSeal(suite: number, key: Uint8Array | number[], nonce: Uint8Array | number[], aad: Uint8Array | number[], plaintext: Uint8Array | number[]): Uint8Array;

/**
 * The length of the clear prefix of `frame` for `codec` (on a plain or a wire frame).
 */
export function clearPrefixLen(codec: Codec, frame: Uint8Array | number[]): number;

/**
 * The codec for a name or WebRTC MIME type: `"VP8"`, `"video/VP8"`, `"opus"`,
 * `"audio/opus"`, `"H264"`, `"AV1"`, `"plain"` (case-insensitive, parameters after `;`
 * ignored); `undefined` for any other. `codecFromName("video/VP8") === Codec.Vp8`.
 */
export function codecFromName(name: string): Codec | undefined;

/**
 * Decodes a certificate (format only, no signature check): `{authorityId, signatureKey,
 * subject, name, role, tenant, room, notBefore, notAfter}`.
 */
export function decodeCertificate(bytes: Uint8Array | number[]): CertificateInfo;

/**
 * Decodes the header at the front of `bytes`: `{kid, ctr, len}`. Strict: a truncated or
 * non-minimal header throws `malformed`.
 */
export function decodeHeader(bytes: Uint8Array | number[]): DecodedHeader;

/**
 * `{key, salt}`: `sframe_key` and `sframe_salt` for `kid` from `base_key` (§4.4.2).
 */
export function deriveKeyMaterial(suite: number, kid: bigint, base_key: Uint8Array | number[]): KeyMaterial;

/**
 * The SFrame header for `kid` and `ctr` (RFC 9605 §4.3).
 */
export function encodeHeader(kid: bigint, ctr: bigint): Uint8Array;

/**
 * The longest SFrame header (bytes).
 */
export function maxHeaderLen(): number;

/**
 * The 32-byte Ed25519 public key of the member key made from `seed` (32 bytes): what the
 * authority certifies before the worker makes its [`Client`] from the same seed.
 */
export function memberPublicKey(seed: Uint8Array | number[]): Uint8Array;

/**
 * This crate's version (the package's).
 */
export function version(): string;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __wbg_authority_free: (a: number, b: number) => void;
    readonly __wbg_client_free: (a: number, b: number) => void;
    readonly __wbg_deliveryservice_free: (a: number, b: number) => void;
    readonly __wbg_sframecontext_free: (a: number, b: number) => void;
    readonly aeadOpen: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number) => [number, number, number, number];
    readonly aeadSeal: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number) => [number, number, number, number];
    readonly authority_issue: (a: number, b: any, c: number, d: number) => [number, number, number, number];
    readonly authority_new: (a: number, b: number) => [number, number, number];
    readonly authority_publicKey: (a: number) => [number, number];
    readonly clearPrefixLen: (a: number, b: number, c: number) => [number, number, number];
    readonly client_addEntropy: (a: number, b: number, c: number) => void;
    readonly client_code: (a: number) => [number, number];
    readonly client_epoch: (a: number) => [number, number];
    readonly client_handleDs: (a: number, b: number, c: any) => [number, number];
    readonly client_handleTimeout: (a: number, b: number) => [number, number];
    readonly client_isMember: (a: number) => number;
    readonly client_new: (a: number, b: number, c: number, d: number, e: any, f: number, g: number, h: number, i: number, j: number, k: number, l: number, m: number, n: any) => [number, number, number];
    readonly client_open: (a: number, b: number, c: number, d: number, e: any) => [number, number, number];
    readonly client_participantLeft: (a: number, b: number, c: number, d: number) => [number, number];
    readonly client_pollEvent: (a: number) => any;
    readonly client_pollTimeoutMs: (a: number) => [number, number];
    readonly client_pollTransmit: (a: number) => [number, number, number];
    readonly client_roster: (a: number) => any;
    readonly client_seal: (a: number, b: number, c: any) => [number, number, number];
    readonly client_sendChat: (a: number, b: number, c: number, d: number, e: number) => [number, number, number];
    readonly client_stats: (a: number) => any;
    readonly codecFromName: (a: number, b: number) => number;
    readonly decodeCertificate: (a: number, b: number) => [number, number, number];
    readonly decodeHeader: (a: number, b: number) => [number, number, number];
    readonly deliveryservice_accepted: (a: number) => number;
    readonly deliveryservice_epoch: (a: number) => number;
    readonly deliveryservice_handle: (a: number, b: any, c: number, d: number, e: number) => [number, number, number];
    readonly deliveryservice_new: (a: number, b: number, c: any) => [number, number, number];
    readonly deliveryservice_rejected: (a: number) => number;
    readonly deliveryservice_reset: (a: number) => void;
    readonly deliveryservice_state: (a: number) => [number, number, number];
    readonly deriveKeyMaterial: (a: number, b: bigint, c: number, d: number) => [number, number, number];
    readonly encodeHeader: (a: bigint, b: bigint) => [number, number];
    readonly maxHeaderLen: () => number;
    readonly memberPublicKey: (a: number, b: number) => [number, number, number, number];
    readonly sframecontext_addRecvKey: (a: number, b: bigint, c: number, d: number) => [number, number];
    readonly sframecontext_addSendKey: (a: number, b: bigint, c: number, d: number, e: number, f: bigint) => [number, number];
    readonly sframecontext_new: (a: number) => [number, number, number];
    readonly sframecontext_nextCounter: (a: number, b: bigint) => [number, bigint];
    readonly sframecontext_open: (a: number, b: number, c: number, d: number, e: number) => [number, number, number];
    readonly sframecontext_openFrame: (a: number, b: number, c: number, d: number) => [number, number, number];
    readonly sframecontext_removeKey: (a: number, b: bigint) => number;
    readonly sframecontext_seal: (a: number, b: bigint, c: number, d: number, e: number, f: number) => [number, number, number, number];
    readonly sframecontext_sealFrame: (a: number, b: number, c: bigint, d: number, e: number) => [number, number, number, number];
    readonly version: () => [number, number];
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
