/* @ts-self-types="./telesfu_e2ee_wasm.d.ts" */
import * as import1 from "./snippets/mls-rs-core-f99cdecbb456b09c/inline0.js"


/**
 * A certificate authority (`telesfu_e2ee::mls::identity::Authority`): what a vendor's
 * backend runs to certify members, and what tests use. Its seed is a secret of the
 * backend: a browser page that holds one can certify anybody.
 */
export class Authority {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        AuthorityFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_authority_free(ptr, 0);
    }
    /**
     * A certificate for the member key `signature_key` (32 bytes) with `claims`:
     * `{subject, room, notBefore, notAfter, name?, role?, tenant?}` (times in unix
     * seconds, texts at most 255 bytes of UTF-8).
     * @param {Claims} claims
     * @param {Uint8Array | number[]} signature_key
     * @returns {Uint8Array}
     */
    issue(claims, signature_key) {
        const ptr0 = passArray8ToWasm0(signature_key, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.authority_issue(this.__wbg_ptr, claims, ptr0, len0);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v2 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v2;
    }
    /**
     * The authority whose Ed25519 key is made from `seed` (32 bytes).
     * @param {Uint8Array | number[]} seed
     */
    constructor(seed) {
        const ptr0 = passArray8ToWasm0(seed, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.authority_new(ptr0, len0);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        this.__wbg_ptr = ret[0];
        AuthorityFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * The 32-byte public key members trust.
     * @returns {Uint8Array}
     */
    publicKey() {
        const ret = wasm.authority_publicKey(this.__wbg_ptr);
        var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v1;
    }
}
if (Symbol.dispose) Authority.prototype[Symbol.dispose] = Authority.prototype.free;

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
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        ClientFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_client_free(ptr, 0);
    }
    /**
     * Mixes fresh bytes (from `crypto.getRandomValues`) into the generator behind all MLS
     * randomness.
     * @param {Uint8Array | number[]} bytes
     */
    addEntropy(bytes) {
        const ptr0 = passArray8ToWasm0(bytes, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        wasm.client_addEntropy(this.__wbg_ptr, ptr0, len0);
    }
    /**
     * The current epoch's verification code (six groups of five digits), or `undefined`.
     * @returns {string | undefined}
     */
    code() {
        const ret = wasm.client_code(this.__wbg_ptr);
        let v1;
        if (ret[0] !== 0) {
            v1 = getStringFromWasm0(ret[0], ret[1]);
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        }
        return v1;
    }
    /**
     * The current epoch, or `undefined` before joining.
     * @returns {number | undefined}
     */
    epoch() {
        const ret = wasm.client_epoch(this.__wbg_ptr);
        return ret[0] === 0 ? undefined : ret[1];
    }
    /**
     * Feeds one `mls` message from the server (an object, or its JSON text), in the order
     * the server sent them. Throws `bad_message` for one that breaks `docs/signaling.md`
     * §6; MLS content that does not verify is not thrown but reported as a `refused` event.
     * @param {number} now_ms
     * @param {MlsMessage | string} message
     */
    handleDs(now_ms, message) {
        const ret = wasm.client_handleDs(this.__wbg_ptr, now_ms, message);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    /**
     * Runs what is due (key switches and retirements, removals, the periodic update). A
     * call before the deadline does nothing.
     * @param {number} now_ms
     */
    handleTimeout(now_ms) {
        const ret = wasm.client_handleTimeout(this.__wbg_ptr, now_ms);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    /**
     * True once in the group.
     * @returns {boolean}
     */
    isMember() {
        const ret = wasm.client_isMember(this.__wbg_ptr);
        return ret !== 0;
    }
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
     * @param {string} room
     * @param {string} participant
     * @param {Uint8Array[]} authority_keys
     * @param {Uint8Array | number[]} member_seed
     * @param {Uint8Array | number[]} certificate
     * @param {Uint8Array | number[]} rng_seed
     * @param {number} now_ms
     * @param {number} unix_ms
     * @param {SessionOptions | undefined} config
     */
    constructor(room, participant, authority_keys, member_seed, certificate, rng_seed, now_ms, unix_ms, config) {
        const val6 = +now_ms;
        const val7 = +unix_ms;
        let ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3, ptr4, len4;
        try {
            ptr0 = passStringToWasm0(room, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passStringToWasm0(participant, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len1 = WASM_VECTOR_LEN;
            ptr2 = passArray8ToWasm0(member_seed, wasm.__wbindgen_malloc);
            len2 = WASM_VECTOR_LEN;
            ptr3 = passArray8ToWasm0(certificate, wasm.__wbindgen_malloc);
            len3 = WASM_VECTOR_LEN;
            ptr4 = passArray8ToWasm0(rng_seed, wasm.__wbindgen_malloc);
            len4 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr4) { wasm.__wbindgen_free(ptr4, len4 * 1, 1); }
            if (ptr3) { wasm.__wbindgen_free(ptr3, len3 * 1, 1); }
            if (ptr2) { wasm.__wbindgen_free(ptr2, len2 * 1, 1); }
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.client_new(ptr0, len0, ptr1, len1, authority_keys, ptr2, len2, ptr3, len3, ptr4, len4, val6, val7, config);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        this.__wbg_ptr = ret[0];
        ClientFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * Opens one wire frame that the SFU attributes to participant `sender` and returns the
     * frame as encoded. Throws with `no_key`, `not_of_sender`, `unknown_sender`, `replayed`,
     * `too_old`, `auth_failed` or `malformed`; the caller drops the frame.
     * @param {string} sender
     * @param {Codec} codec
     * @param {Uint8Array} frame
     * @returns {Uint8Array}
     */
    open(sender, codec, frame) {
        const val2 = +codec;
        const ptr0 = passStringToWasm0(sender, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.client_open(this.__wbg_ptr, ptr0, len0, val2, frame);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    /**
     * Signaling says `participant` left: the remaining members commit its removal.
     * @param {number} now_ms
     * @param {string} participant
     */
    participantLeft(now_ms, participant) {
        const val2 = +now_ms;
        const ptr0 = passStringToWasm0(participant, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.client_participantLeft(this.__wbg_ptr, val2, ptr0, len0);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    /**
     * The next event as a plain object with a `type`, or `undefined`.
     * @returns {TelesfuEvent | undefined}
     */
    pollEvent() {
        const ret = wasm.client_pollEvent(this.__wbg_ptr);
        return ret;
    }
    /**
     * When to call [`Client::handle_timeout`]: a `performance.now()` value, or `undefined`
     * when nothing is scheduled. Never earlier than the session's deadline.
     * @returns {number | undefined}
     */
    pollTimeoutMs() {
        const ret = wasm.client_pollTimeoutMs(this.__wbg_ptr);
        return ret[0] === 0 ? undefined : ret[1];
    }
    /**
     * The next message for the server, `{type: "mls", op, ...}` ready for `JSON.stringify`,
     * or `undefined`.
     * @returns {MlsMessage | undefined}
     */
    pollTransmit() {
        const ret = wasm.client_pollTransmit(this.__wbg_ptr);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    /**
     * The members of the current epoch (empty before joining):
     * `[{leaf, participant, subject, name, role, tenant, fingerprint, isSelf}]`.
     * @returns {RosterEntry[]}
     */
    roster() {
        const ret = wasm.client_roster(this.__wbg_ptr);
        return ret;
    }
    /**
     * Seals one encoded frame with this member's current key and returns the wire frame.
     * Throws (and the caller drops the frame) with `no_key` before the first epoch,
     * `malformed` for a frame that breaks its codec's clear-prefix rule.
     * @param {Codec} codec
     * @param {Uint8Array} frame
     * @returns {Uint8Array}
     */
    seal(codec, frame) {
        const ret = wasm.client_seal(this.__wbg_ptr, codec, frame);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    /**
     * Sends a chat message to the other members (drain [`Client::poll_transmit`] after);
     * returns its sequence number. `sent_at_ms` is `Date.now()`. Throws `not_in_group`
     * before joining, `too_long` beyond 4096 bytes of UTF-8.
     * @param {number} now_ms
     * @param {number} sent_at_ms
     * @param {string} text
     * @returns {number}
     */
    sendChat(now_ms, sent_at_ms, text) {
        const val2 = +now_ms;
        const val3 = +sent_at_ms;
        const ptr0 = passStringToWasm0(text, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.client_sendChat(this.__wbg_ptr, val2, val3, ptr0, len0);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return ret[0];
    }
    /**
     * Counters: `{refused, commitsAccepted, commitsRejected, queueDrops, sealed, opened,
     * sealFailed, openFailed, sendKid, epoch, members}` (`sendKid`, `epoch`: `null` before
     * joining).
     * @returns {ClientStats}
     */
    stats() {
        const ret = wasm.client_stats(this.__wbg_ptr);
        return ret;
    }
}
if (Symbol.dispose) Client.prototype[Symbol.dispose] = Client.prototype.free;

/**
 * A media codec, as far as its clear prefix goes (`docs/e2ee-wire-format.md`). A number in
 * JavaScript (`Codec.Vp8` ...), so the per-frame calls pass no string.
 * @enum {0 | 1 | 2 | 3 | 4}
 */
export const Codec = Object.freeze({
    /**
     * VP8: the frame tag (and on keyframes the dimensions) stay clear.
     */
    Vp8: 0, "0": "Vp8",
    /**
     * Opus: the TOC byte stays clear.
     */
    Opus: 1, "1": "Opus",
    /**
     * H.264 (Annex B): up to the first slice's NAL header stays clear; the rest is escaped.
     */
    H264: 2, "2": "H264",
    /**
     * AV1: nothing stays clear (the SFU reads the dependency descriptor).
     */
    Av1: 3, "3": "Av1",
    /**
     * No prefix: RFC 9605 as is.
     */
    Plain: 4, "4": "Plain",
});

/**
 * One room's MLS Delivery Service (`telesfu_e2ee::mls::ds::DeliveryService`): orders
 * commits, keeps the GroupInfo for joiners, relays chat. It holds no key.
 */
export class DeliveryService {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        DeliveryServiceFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_deliveryservice_free(ptr, 0);
    }
    /**
     * Commits accepted so far.
     * @returns {number}
     */
    get accepted() {
        const ret = wasm.deliveryservice_accepted(this.__wbg_ptr);
        return ret;
    }
    /**
     * The epoch the next commit must be for.
     * @returns {number}
     */
    get epoch() {
        const ret = wasm.deliveryservice_epoch(this.__wbg_ptr);
        return ret;
    }
    /**
     * Handles one member's `mls` message (object or JSON text): returns `{to: "sender" |
     * "all" | "others", msg}` where `msg` is the server's `mls` message to deliver; `from`
     * (the sender's participant id) is put on relayed `app` messages. Throws `bad_message`
     * for a message that breaks `docs/signaling.md` §6 (the server answers `error`
     * `bad_message`); MLS content the DS refuses comes back as a `rejected` to the sender.
     * @param {MlsMessage | string} message
     * @param {number} unix_ms
     * @param {string | null} [from]
     * @returns {Delivery}
     */
    handle(message, unix_ms, from) {
        const val2 = +unix_ms;
        var ptr0 = isLikeNone(from) ? 0 : passStringToWasm0(from, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        var len0 = WASM_VECTOR_LEN;
        const ret = wasm.deliveryservice_handle(this.__wbg_ptr, message, val2, ptr0, len0);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    /**
     * A DS for `room`. With `authority_keys` (an array of 32-byte keys) it also refuses an
     * external commit whose joiner's certificate does not verify for `room` (members refuse
     * it anyway; this keeps an uncertified joiner from stalling the room).
     * @param {string} room
     * @param {Uint8Array[] | undefined} authority_keys
     */
    constructor(room, authority_keys) {
        const ptr0 = passStringToWasm0(room, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.deliveryservice_new(ptr0, len0, authority_keys);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        this.__wbg_ptr = ret[0];
        DeliveryServiceFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * Commits rejected so far.
     * @returns {number}
     */
    get rejected() {
        const ret = wasm.deliveryservice_rejected(this.__wbg_ptr);
        return ret;
    }
    /**
     * Forgets the group (the room emptied): the next member creates a new one.
     */
    reset() {
        wasm.deliveryservice_reset(this.__wbg_ptr);
    }
    /**
     * The `state` message a joining member gets.
     * @returns {MlsMessage}
     */
    state() {
        const ret = wasm.deliveryservice_state(this.__wbg_ptr);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
}
if (Symbol.dispose) DeliveryService.prototype[Symbol.dispose] = DeliveryService.prototype.free;

/**
 * An SFrame context (RFC 9605 §4.4) of one suite: keys by KID, send counters, receive replay
 * windows (`telesfu_e2ee::Context`).
 */
export class SframeContext {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        SframeContextFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_sframecontext_free(ptr, 0);
    }
    /**
     * Installs a receive key under `kid` with a fresh replay window.
     * @param {bigint} kid
     * @param {Uint8Array | number[]} base_key
     */
    addRecvKey(kid, base_key) {
        const val2 = BigInt.asIntN(64, kid);
        const ptr0 = passArray8ToWasm0(base_key, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.sframecontext_addRecvKey(this.__wbg_ptr, val2, ptr0, len0);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    /**
     * Installs a send key under `kid` whose next counter is `next_ctr` (0 when omitted).
     * @param {bigint} kid
     * @param {Uint8Array | number[]} base_key
     * @param {bigint | null} [next_ctr]
     */
    addSendKey(kid, base_key, next_ctr) {
        const val2 = BigInt.asIntN(64, kid);
        const val3 = BigInt.asIntN(64, (isLikeNone(next_ctr) ? BigInt(0) : next_ctr));
        const ptr0 = passArray8ToWasm0(base_key, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.sframecontext_addSendKey(this.__wbg_ptr, val2, ptr0, len0, !isLikeNone(next_ctr), val3);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    /**
     * A context for the suite with IANA id `suite` (4 is `AES_128_GCM_SHA256_128`).
     * @param {number} suite
     */
    constructor(suite) {
        const ret = wasm.sframecontext_new(suite);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        this.__wbg_ptr = ret[0];
        SframeContextFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * The counter the next seal under `kid` uses, or `undefined`.
     * @param {bigint} kid
     * @returns {bigint | undefined}
     */
    nextCounter(kid) {
        const ret = wasm.sframecontext_nextCounter(this.__wbg_ptr, kid);
        return ret[0] === 0 ? undefined : BigInt.asUintN(64, ret[1]);
    }
    /**
     * Opens one wire frame: `{kid, ctr, frame}` with the frame as encoded.
     * @param {Codec} codec
     * @param {Uint8Array | number[]} wire
     * @returns {OpenedFrame}
     */
    openFrame(codec, wire) {
        const val2 = +codec;
        const ptr0 = passArray8ToWasm0(wire, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.sframecontext_openFrame(this.__wbg_ptr, val2, ptr0, len0);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    /**
     * Opens an SFrame ciphertext: `{kid, ctr, payload}`. Throws with the codes of the
     * crate docs (`no_key`, `auth_failed`, `replayed`, `malformed`, ...).
     * @param {Uint8Array | number[]} metadata
     * @param {Uint8Array | number[]} ciphertext
     * @returns {OpenedPayload}
     */
    open(metadata, ciphertext) {
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passArray8ToWasm0(metadata, wasm.__wbindgen_malloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passArray8ToWasm0(ciphertext, wasm.__wbindgen_malloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.sframecontext_open(this.__wbg_ptr, ptr0, len0, ptr1, len1);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    /**
     * Removes (and erases) the key under `kid`; whether there was one.
     * @param {bigint} kid
     * @returns {boolean}
     */
    removeKey(kid) {
        const ret = wasm.sframecontext_removeKey(this.__wbg_ptr, kid);
        return ret !== 0;
    }
    /**
     * Seals one encoded frame with its codec's clear prefix (`docs/e2ee-wire-format.md`).
     * @param {Codec} codec
     * @param {bigint} kid
     * @param {Uint8Array | number[]} frame
     * @returns {Uint8Array}
     */
    sealFrame(codec, kid, frame) {
        const val2 = +codec;
        const val3 = BigInt.asIntN(64, kid);
        const ptr0 = passArray8ToWasm0(frame, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.sframecontext_sealFrame(this.__wbg_ptr, val2, val3, ptr0, len0);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v4 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v4;
    }
    /**
     * `header || ciphertext || tag` of `plaintext` under `kid`, AAD `header || metadata`.
     * @param {bigint} kid
     * @param {Uint8Array | number[]} metadata
     * @param {Uint8Array | number[]} plaintext
     * @returns {Uint8Array}
     */
    seal(kid, metadata, plaintext) {
        const val3 = BigInt.asIntN(64, kid);
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passArray8ToWasm0(metadata, wasm.__wbindgen_malloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passArray8ToWasm0(plaintext, wasm.__wbindgen_malloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.sframecontext_seal(this.__wbg_ptr, val3, ptr0, len0, ptr1, len1);
        if (ret[3]) {
            throw takeFromExternrefTable0(ret[2]);
        }
        var v4 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v4;
    }
}
if (Symbol.dispose) SframeContext.prototype[Symbol.dispose] = SframeContext.prototype.free;

/**
 * Opens `ciphertext || tag` with the suite's AEAD alone; throws `auth_failed` when the tag
 * does not verify.
 * @param {number} suite
 * @param {Uint8Array | number[]} key
 * @param {Uint8Array | number[]} nonce
 * @param {Uint8Array | number[]} aad
 * @param {Uint8Array | number[]} ciphertext
 * @returns {Uint8Array}
 */
export function aeadOpen(suite, key, nonce, aad, ciphertext) {
    const val5 = +suite;
    let ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3;
    try {
        ptr0 = passArray8ToWasm0(key, wasm.__wbindgen_malloc);
        len0 = WASM_VECTOR_LEN;
        ptr1 = passArray8ToWasm0(nonce, wasm.__wbindgen_malloc);
        len1 = WASM_VECTOR_LEN;
        ptr2 = passArray8ToWasm0(aad, wasm.__wbindgen_malloc);
        len2 = WASM_VECTOR_LEN;
        ptr3 = passArray8ToWasm0(ciphertext, wasm.__wbindgen_malloc);
        len3 = WASM_VECTOR_LEN;
    } catch (e) {
        if (ptr3) { wasm.__wbindgen_free(ptr3, len3 * 1, 1); }
        if (ptr2) { wasm.__wbindgen_free(ptr2, len2 * 1, 1); }
        if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
        if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
        throw e;
    }
    const ret = wasm.aeadOpen(val5, ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3);
    if (ret[3]) {
        throw takeFromExternrefTable0(ret[2]);
    }
    var v6 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
    return v6;
}

/**
 * The suite's AEAD alone (RFC 9605 §4.5.1 for the CTR suites): `ciphertext || tag` of
 * `plaintext` under the AEAD `key` (`Nk` bytes), `nonce` (12 bytes) and `aad`.
 * @param {number} suite
 * @param {Uint8Array | number[]} key
 * @param {Uint8Array | number[]} nonce
 * @param {Uint8Array | number[]} aad
 * @param {Uint8Array | number[]} plaintext
 * @returns {Uint8Array}
 */
export function aeadSeal(suite, key, nonce, aad, plaintext) {
    const val5 = +suite;
    let ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3;
    try {
        ptr0 = passArray8ToWasm0(key, wasm.__wbindgen_malloc);
        len0 = WASM_VECTOR_LEN;
        ptr1 = passArray8ToWasm0(nonce, wasm.__wbindgen_malloc);
        len1 = WASM_VECTOR_LEN;
        ptr2 = passArray8ToWasm0(aad, wasm.__wbindgen_malloc);
        len2 = WASM_VECTOR_LEN;
        ptr3 = passArray8ToWasm0(plaintext, wasm.__wbindgen_malloc);
        len3 = WASM_VECTOR_LEN;
    } catch (e) {
        if (ptr3) { wasm.__wbindgen_free(ptr3, len3 * 1, 1); }
        if (ptr2) { wasm.__wbindgen_free(ptr2, len2 * 1, 1); }
        if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
        if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
        throw e;
    }
    const ret = wasm.aeadSeal(val5, ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3);
    if (ret[3]) {
        throw takeFromExternrefTable0(ret[2]);
    }
    var v6 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
    return v6;
}

/**
 * The length of the clear prefix of `frame` for `codec` (on a plain or a wire frame).
 * @param {Codec} codec
 * @param {Uint8Array | number[]} frame
 * @returns {number}
 */
export function clearPrefixLen(codec, frame) {
    const val2 = +codec;
    const ptr0 = passArray8ToWasm0(frame, wasm.__wbindgen_malloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.clearPrefixLen(val2, ptr0, len0);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return ret[0] >>> 0;
}

/**
 * The codec for a name or WebRTC MIME type: `"VP8"`, `"video/VP8"`, `"opus"`,
 * `"audio/opus"`, `"H264"`, `"AV1"`, `"plain"` (case-insensitive, parameters after `;`
 * ignored); `undefined` for any other. `codecFromName("video/VP8") === Codec.Vp8`.
 * @param {string} name
 * @returns {Codec | undefined}
 */
export function codecFromName(name) {
    const ptr0 = passStringToWasm0(name, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.codecFromName(ptr0, len0);
    return ret === 5 ? undefined : ret;
}

/**
 * Decodes a certificate (format only, no signature check): `{authorityId, signatureKey,
 * subject, name, role, tenant, room, notBefore, notAfter}`.
 * @param {Uint8Array | number[]} bytes
 * @returns {CertificateInfo}
 */
export function decodeCertificate(bytes) {
    const ptr0 = passArray8ToWasm0(bytes, wasm.__wbindgen_malloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.decodeCertificate(ptr0, len0);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * Decodes the header at the front of `bytes`: `{kid, ctr, len}`. Strict: a truncated or
 * non-minimal header throws `malformed`.
 * @param {Uint8Array | number[]} bytes
 * @returns {DecodedHeader}
 */
export function decodeHeader(bytes) {
    const ptr0 = passArray8ToWasm0(bytes, wasm.__wbindgen_malloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.decodeHeader(ptr0, len0);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * `{key, salt}`: `sframe_key` and `sframe_salt` for `kid` from `base_key` (§4.4.2).
 * @param {number} suite
 * @param {bigint} kid
 * @param {Uint8Array | number[]} base_key
 * @returns {KeyMaterial}
 */
export function deriveKeyMaterial(suite, kid, base_key) {
    const val2 = +suite;
    const val3 = BigInt.asIntN(64, kid);
    const ptr0 = passArray8ToWasm0(base_key, wasm.__wbindgen_malloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.deriveKeyMaterial(val2, val3, ptr0, len0);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * The SFrame header for `kid` and `ctr` (RFC 9605 §4.3).
 * @param {bigint} kid
 * @param {bigint} ctr
 * @returns {Uint8Array}
 */
export function encodeHeader(kid, ctr) {
    const ret = wasm.encodeHeader(kid, ctr);
    var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
    return v1;
}

/**
 * The longest SFrame header (bytes).
 * @returns {number}
 */
export function maxHeaderLen() {
    const ret = wasm.maxHeaderLen();
    return ret >>> 0;
}

/**
 * The 32-byte Ed25519 public key of the member key made from `seed` (32 bytes): what the
 * authority certifies before the worker makes its [`Client`] from the same seed.
 * @param {Uint8Array | number[]} seed
 * @returns {Uint8Array}
 */
export function memberPublicKey(seed) {
    const ptr0 = passArray8ToWasm0(seed, wasm.__wbindgen_malloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.memberPublicKey(ptr0, len0);
    if (ret[3]) {
        throw takeFromExternrefTable0(ret[2]);
    }
    var v2 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
    return v2;
}

/**
 * This crate's version (the package's).
 * @returns {string}
 */
export function version() {
    let deferred1_0;
    let deferred1_1;
    try {
        const ret = wasm.version();
        deferred1_0 = ret[0];
        deferred1_1 = ret[1];
        return getStringFromWasm0(ret[0], ret[1]);
    } finally {
        wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
    }
}
function __wbg_get_imports() {
    const import0 = {
        __proto__: null,
        __wbg___wbindgen_boolean_get_4f1baf9a00be3c74: function(arg0) {
            const v = arg0;
            const ret = typeof(v) === 'boolean' ? v : undefined;
            return isLikeNone(ret) ? 0xFFFFFF : ret ? 1 : 0;
        },
        __wbg___wbindgen_is_bigint_5fa10641e039d3ef: function(arg0) {
            const ret = typeof(arg0) === 'bigint';
            return ret;
        },
        __wbg___wbindgen_is_function_741ff2bb612836f5: function(arg0) {
            const ret = typeof(arg0) === 'function';
            return ret;
        },
        __wbg___wbindgen_is_null_c22311b1cc228e3a: function(arg0) {
            const ret = arg0 === null;
            return ret;
        },
        __wbg___wbindgen_is_object_8b968c3ab8e96595: function(arg0) {
            const val = arg0;
            const ret = typeof(val) === 'object' && val !== null;
            return ret;
        },
        __wbg___wbindgen_is_symbol_f846131a047725ea: function(arg0) {
            const ret = typeof(arg0) === 'symbol';
            return ret;
        },
        __wbg___wbindgen_is_undefined_be5b34249ff1fc15: function(arg0) {
            const ret = arg0 === undefined;
            return ret;
        },
        __wbg___wbindgen_number_get_934b640d0889af78: function(arg0, arg1) {
            const obj = arg1;
            const ret = typeof(obj) === 'number' ? obj : undefined;
            getDataViewMemory0().setFloat64((arg0 >>> 0) + 8 * 1, isLikeNone(ret) ? 0 : ret, true);
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, !isLikeNone(ret), true);
        },
        __wbg___wbindgen_string_get_7ce8eee7fd327545: function(arg0, arg1) {
            const obj = arg1;
            const ret = typeof(obj) === 'string' ? obj : undefined;
            var ptr1 = isLikeNone(ret) ? 0 : passStringToWasm0(ret, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            var len1 = WASM_VECTOR_LEN;
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);
        },
        __wbg___wbindgen_throw_4c88d8bf264fd984: function(arg0, arg1) {
            throw new Error(getStringFromWasm0(arg0, arg1));
        },
        __wbg_from_eac91875c8a5ffa4: function(arg0) {
            const ret = Array.from(arg0);
            return ret;
        },
        __wbg_get_2080c49015e35254: function() { return handleError(function (arg0, arg1) {
            const ret = Reflect.get(arg0, arg1);
            return ret;
        }, arguments); },
        __wbg_get_unchecked_e6325ad374eff861: function(arg0, arg1) {
            const ret = arg0[arg1 >>> 0];
            return ret;
        },
        __wbg_instanceof_Uint8Array_d7aeb0dcb3108fea: function(arg0) {
            let result;
            try {
                result = arg0 instanceof Uint8Array;
            } catch (_) {
                result = false;
            }
            const ret = result;
            return ret;
        },
        __wbg_isArray_bcf1376d0d732d08: function(arg0) {
            const ret = Array.isArray(arg0);
            return ret;
        },
        __wbg_length_186163212ffe79c3: function(arg0) {
            const ret = arg0.length;
            return ret;
        },
        __wbg_length_b03a0fabb109b1e9: function(arg0) {
            const ret = arg0.length;
            return ret;
        },
        __wbg_new_787b9fb330d55d78: function(arg0, arg1) {
            const ret = new Error(getStringFromWasm0(arg0, arg1));
            return ret;
        },
        __wbg_new_cd4348290afae586: function() {
            const ret = new Object();
            return ret;
        },
        __wbg_new_from_slice_b8daf545a41c6aa0: function(arg0, arg1) {
            const ret = new Uint8Array(getArrayU8FromWasm0(arg0, arg1));
            return ret;
        },
        __wbg_new_with_length_a3dc62dea6e2e158: function(arg0) {
            const ret = new Array(arg0 >>> 0);
            return ret;
        },
        __wbg_now_e7c6795a7f81e10f: function(arg0) {
            const ret = arg0.now();
            return ret;
        },
        __wbg_parse_c3f72b5a24f83c01: function() { return handleError(function (arg0, arg1) {
            const ret = JSON.parse(getStringFromWasm0(arg0, arg1));
            return ret;
        }, arguments); },
        __wbg_performance_7e4e4494fdc9d07a: function(arg0) {
            const ret = arg0.performance;
            return ret;
        },
        __wbg_prototypesetcall_13162965d1fe7aa3: function(arg0, arg1, arg2) {
            Uint8Array.prototype.set.call(getArrayU8FromWasm0(arg0, arg1), arg2);
        },
        __wbg_set_2793479888329cb6: function() { return handleError(function (arg0, arg1, arg2) {
            const ret = Reflect.set(arg0, arg1, arg2);
            return ret;
        }, arguments); },
        __wbg_set_d2d33b52458e984a: function(arg0, arg1, arg2) {
            arg0[arg1 >>> 0] = arg2;
        },
        __wbg_set_name_822e3903f3184979: function(arg0, arg1, arg2) {
            arg0.name = getStringFromWasm0(arg1, arg2);
        },
        __wbg_static_accessor_GLOBAL_THIS_003ee833af9699fc: function() {
            const ret = typeof globalThis === 'undefined' ? undefined : globalThis;
            return isLikeNone(ret) ? 0 : addToExternrefTable0(ret);
        },
        __wbg_static_accessor_GLOBAL_e4293fb22cbe77da: function() {
            const ret = typeof global === 'undefined' ? undefined : global;
            return isLikeNone(ret) ? 0 : addToExternrefTable0(ret);
        },
        __wbg_static_accessor_SELF_53bb20457401453d: function() {
            const ret = typeof self === 'undefined' ? undefined : self;
            return isLikeNone(ret) ? 0 : addToExternrefTable0(ret);
        },
        __wbg_static_accessor_WINDOW_b5e0810bfecb7feb: function() {
            const ret = typeof window === 'undefined' ? undefined : window;
            return isLikeNone(ret) ? 0 : addToExternrefTable0(ret);
        },
        __wbindgen_generic_0000000000000001: function(arg0) {
            // Cast intrinsic for `F64 -> Externref`.
            const ret = arg0;
            return ret;
        },
        __wbindgen_generic_0000000000000002: function(arg0, arg1) {
            // Cast intrinsic for `Ref(String) -> Externref`.
            const ret = getStringFromWasm0(arg0, arg1);
            return ret;
        },
        __wbindgen_generic_0000000000000003: function(arg0) {
            // Cast intrinsic for `U64 -> Externref`.
            const ret = BigInt.asUintN(64, arg0);
            return ret;
        },
        __wbindgen_init_externref_table: function() {
            const table = wasm.__wbindgen_externrefs;
            table.set(0, undefined);
            table.set(1024, undefined);
            table.set(1025, null);
            table.set(1026, true);
            table.set(1027, false);
        },
    };
    return {
        __proto__: null,
        "./telesfu_e2ee_wasm_bg.js": import0,
        "./snippets/mls-rs-core-f99cdecbb456b09c/inline0.js": import1,
    };
}

const AuthorityFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_authority_free(ptr, 1));
const ClientFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_client_free(ptr, 1));
const DeliveryServiceFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_deliveryservice_free(ptr, 1));
const SframeContextFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_sframecontext_free(ptr, 1));

function addToExternrefTable0(obj) {
    const idx = wasm.__externref_table_alloc();
    wasm.__wbindgen_externrefs.set(idx, obj);
    return idx;
}

function getArrayU8FromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return getUint8ArrayMemory0().subarray(ptr / 1, ptr / 1 + len);
}

let cachedDataViewMemory0 = null;
function getDataViewMemory0() {
    if (cachedDataViewMemory0 === null || cachedDataViewMemory0.buffer.detached === true || (cachedDataViewMemory0.buffer.detached === undefined && cachedDataViewMemory0.buffer !== wasm.memory.buffer)) {
        cachedDataViewMemory0 = new DataView(wasm.memory.buffer);
    }
    return cachedDataViewMemory0;
}

function getStringFromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return decodeText(getUint8ArrayMemory0().subarray(ptr, ptr + len));
}

let cachedUint8ArrayMemory0 = null;
function getUint8ArrayMemory0() {
    if (cachedUint8ArrayMemory0 === null || cachedUint8ArrayMemory0.byteLength === 0) {
        cachedUint8ArrayMemory0 = new Uint8Array(wasm.memory.buffer);
    }
    return cachedUint8ArrayMemory0;
}

function handleError(f, args) {
    try {
        return f.apply(this, args);
    } catch (e) {
        const idx = addToExternrefTable0(e);
        wasm.__wbindgen_exn_store(idx);
    }
}

function isLikeNone(x) {
    return x === undefined || x === null;
}

function passArray8ToWasm0(arg, malloc) {
    const ptr = malloc(arg.length * 1, 1) >>> 0;
    getUint8ArrayMemory0().set(arg, ptr / 1);
    WASM_VECTOR_LEN = arg.length;
    return ptr;
}

function passStringToWasm0(arg, malloc, realloc) {
    if (realloc === undefined) {
        const buf = cachedTextEncoder.encode(arg);
        const ptr = malloc(buf.length, 1) >>> 0;
        getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
        WASM_VECTOR_LEN = buf.length;
        return ptr;
    }

    let len = arg.length;
    let ptr = malloc(len, 1) >>> 0;

    const mem = getUint8ArrayMemory0();

    let offset = 0;

    for (; offset < len; offset++) {
        const code = arg.charCodeAt(offset);
        if (code > 0x7F) break;
        mem[ptr + offset] = code;
    }
    if (offset !== len) {
        if (offset !== 0) {
            arg = arg.slice(offset);
        }
        ptr = realloc(ptr, len, len = offset + arg.length * 3, 1) >>> 0;
        const view = getUint8ArrayMemory0().subarray(ptr + offset, ptr + len);
        const ret = cachedTextEncoder.encodeInto(arg, view);

        offset += ret.written;
        ptr = realloc(ptr, len, offset, 1) >>> 0;
    }

    WASM_VECTOR_LEN = offset;
    return ptr;
}

function takeFromExternrefTable0(idx) {
    const value = wasm.__wbindgen_externrefs.get(idx);
    wasm.__externref_table_dealloc(idx);
    return value;
}

let cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
cachedTextDecoder.decode();
const MAX_SAFARI_DECODE_BYTES = 2146435072;
let numBytesDecoded = 0;
function decodeText(bytes) {
    numBytesDecoded += bytes.length;
    if (numBytesDecoded >= MAX_SAFARI_DECODE_BYTES) {
        cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
        cachedTextDecoder.decode();
        numBytesDecoded = bytes.length;
    }
    return cachedTextDecoder.decode(bytes);
}

const cachedTextEncoder = new TextEncoder();

if (!('encodeInto' in cachedTextEncoder)) {
    cachedTextEncoder.encodeInto = function (arg, view) {
        const buf = cachedTextEncoder.encode(arg);
        view.set(buf);
        return {
            read: arg.length,
            written: buf.length
        };
    };
}

let WASM_VECTOR_LEN = 0;

let wasmModule, wasmInstance, wasm;
function __wbg_finalize_init(instance, module) {
    wasmInstance = instance;
    wasm = instance.exports;
    wasmModule = module;
    cachedDataViewMemory0 = null;
    cachedUint8ArrayMemory0 = null;
    wasm.__wbindgen_start();
    return wasm;
}

async function __wbg_load(module, imports) {
    if (typeof Response === 'function' && module instanceof Response) {
        if (!module.ok) {
            throw new Error(`failed to fetch Wasm: ${module.status} ${module.statusText} fetching '${module.url}'`);
        }

        if (typeof WebAssembly.instantiateStreaming === 'function') {
            try {
                return await WebAssembly.instantiateStreaming(module, imports);
            } catch (e) {
                const validResponse = expectedResponseType(module.type);

                if (validResponse && module.headers.get('Content-Type') !== 'application/wasm') {
                    console.warn("`WebAssembly.instantiateStreaming` failed because your server does not serve Wasm with `application/wasm` MIME type. Falling back to `WebAssembly.instantiate` which is slower. Original error:\n", e);

                } else { throw e; }
            }
        }

        const bytes = await module.arrayBuffer();
        return await WebAssembly.instantiate(bytes, imports);
    } else {
        const instance = await WebAssembly.instantiate(module, imports);

        if (instance instanceof WebAssembly.Instance) {
            return { instance, module };
        } else {
            return instance;
        }
    }

    function expectedResponseType(type) {
        switch (type) {
            case 'basic': case 'cors': case 'default': return true;
        }
        return false;
    }
}

function initSync(module) {
    if (wasm !== undefined) return wasm;


    if (module !== undefined) {
        if (Object.getPrototypeOf(module) === Object.prototype) {
            ({module} = module)
        } else {
            console.warn('using deprecated parameters for `initSync()`; pass a single object instead')
        }
    }

    const imports = __wbg_get_imports();
    if (!(module instanceof WebAssembly.Module)) {
        module = new WebAssembly.Module(module);
    }
    const instance = new WebAssembly.Instance(module, imports);
    return __wbg_finalize_init(instance, module);
}

let __wbg_init_promise;
async function __wbg_init(module_or_path) {
    if (wasm !== undefined) return wasm;
    if (__wbg_init_promise === undefined) {
        __wbg_init_promise = __wbg_init_once(module_or_path);
        __wbg_init_promise.catch(() => { __wbg_init_promise = undefined; });
    }
    return __wbg_init_promise;
}

async function __wbg_init_once(module_or_path) {

    if (module_or_path !== undefined) {
        if (Object.getPrototypeOf(module_or_path) === Object.prototype) {
            ({module_or_path} = module_or_path)
        } else {
            console.warn('using deprecated parameters for the initialization function; pass a single object instead')
        }
    }

    if (module_or_path === undefined) {
        module_or_path = new URL('telesfu_e2ee_wasm_bg.wasm', import.meta.url);
    }
    const imports = __wbg_get_imports();

    if (typeof module_or_path === 'string' || (typeof Request === 'function' && module_or_path instanceof Request) || (typeof URL === 'function' && module_or_path instanceof URL)) {
        module_or_path = fetch(module_or_path);
    }

    const { instance, module } = await __wbg_load(await module_or_path, imports);

    return __wbg_finalize_init(instance, module);
}

export { initSync, __wbg_init as default };
