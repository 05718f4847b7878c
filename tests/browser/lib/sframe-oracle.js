// TEST ORACLE ONLY. A copy of bins/server/web/sframe.js (telesfu's own WebCrypto SFrame, written
// independently of the Rust crate), kept here so the browser tests can check the wasm package
// against a second implementation even after the demo page stops using it. Not shipped.
//
// SFrame (RFC 9605) over WebCrypto, byte-compatible with the Rust crate telesfu-e2ee,
// plus the codec-aware clear prefix of docs/e2ee-wire-format.md.
//
// A plain ES module with no dependencies: it runs in the page and in the
// RTCRtpScriptTransform worker alike.
//
//   wire frame = clear prefix P || SFrame header || AEAD ciphertext || tag
//   metadata   = P (VP8, Opus), canonical P (H.264), empty (AV1, plain)
//   AAD        = header || metadata
//   nonce      = sframe_salt XOR be96(CTR)
//
// KID and CTR are unsigned 64-bit values and are handled as BigInt throughout; the public
// functions accept a Number or a BigInt and return BigInt.
//
// Errors are thrown as SFrameError with a `code`:
//   'invalid_frame'   the frame breaks its codec's prefix rule (never sent in clear, dropped on receive)
//   'bad_header'      a truncated or non-minimal SFrame header
//   'too_short'       no room for the tag after the header
//   'unknown_kid'     no key for the frame's KID (a key that has not arrived yet)
//   'wrong_direction' a send key used to open or a receive key used to seal
//   'auth'            the AEAD tag does not verify (forged, corrupted, wrong key, altered prefix)
//   'replay'          (KID, CTR) already accepted, or older than the replay window
//   'counter_exhausted' the sender's counter reached 2^64 - 1
//   'metadata_too_long', 'unknown_suite', 'bad_key', 'unsupported_codec'

const U64_MAX = (1n << 64n) - 1n;
const NONCE_LEN = 12;
/** The longest metadata (clear prefix, canonical form for H.264) a seal or open accepts. */
export const MAX_METADATA_LEN = 1024;
/** The longest SFrame header: config byte, 8-byte KID, 8-byte CTR. */
export const MAX_HEADER_LEN = 17;

export class SFrameError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = 'SFrameError';
    this.code = code;
  }
}

// ----- Cipher suites (RFC 9605 §4.5) -----

/**
 * Suite parameters. `nk` is the AEAD key length (for the CTR+HMAC suites: Nka + Nh),
 * `nh` the hash length, `nt` the tag length.
 */
export const SUITES = Object.freeze({
  1: Object.freeze({ id: 1, name: 'AES_128_CTR_HMAC_SHA256_80', hash: 'SHA-256', nh: 32, nk: 48, nka: 16, nt: 10, gcm: false }),
  2: Object.freeze({ id: 2, name: 'AES_128_CTR_HMAC_SHA256_64', hash: 'SHA-256', nh: 32, nk: 48, nka: 16, nt: 8, gcm: false }),
  3: Object.freeze({ id: 3, name: 'AES_128_CTR_HMAC_SHA256_32', hash: 'SHA-256', nh: 32, nk: 48, nka: 16, nt: 4, gcm: false }),
  4: Object.freeze({ id: 4, name: 'AES_128_GCM_SHA256_128', hash: 'SHA-256', nh: 32, nk: 16, nka: 0, nt: 16, gcm: true }),
  5: Object.freeze({ id: 5, name: 'AES_256_GCM_SHA512_128', hash: 'SHA-512', nh: 64, nk: 32, nka: 0, nt: 16, gcm: true }),
});
/** The default suite (docs/signaling.md §6). */
export const DEFAULT_SUITE = 4;

export function suiteById(id) {
  const s = SUITES[id];
  if (!s) throw new SFrameError('unknown_suite', `cipher suite ${id} is not supported`);
  return s;
}

// ----- Bytes helpers -----

const enc = new TextEncoder();

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function toHex(b) {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(s) {
  const t = s.replace(/\s+/g, '');
  if (t.length % 2 !== 0 || /[^0-9a-fA-F]/.test(t)) throw new TypeError(`not hex: ${s}`);
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function u64(v, what) {
  const b = typeof v === 'bigint' ? v : BigInt(v);
  if (b < 0n || b > U64_MAX) throw new RangeError(`${what} ${v} is not an unsigned 64-bit value`);
  return b;
}

function u64be(v) {
  const out = new Uint8Array(8);
  let x = v;
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

function u16be(v) {
  return new Uint8Array([(v >> 8) & 0xff, v & 0xff]);
}

/** Bytes needed for `v` in extended form (1-8); 0 when it fits in three bits. */
function valueLen(v) {
  if (v < 8n) return 0;
  let n = 0;
  for (let x = v; x > 0n; x >>= 8n) n++;
  return n;
}

// ----- Header (RFC 9605 §4.3) -----

/** Encodes the SFrame header for `kid` and `ctr` (minimal big-endian lengths). */
export function encodeHeader(kid, ctr) {
  const k = u64(kid, 'KID');
  const c = u64(ctr, 'CTR');
  const kl = valueLen(k);
  const cl = valueLen(c);
  const out = new Uint8Array(1 + kl + cl);
  const kbits = kl === 0 ? Number(k) : 0x8 | (kl - 1);
  const cbits = cl === 0 ? Number(c) : 0x8 | (cl - 1);
  out[0] = (kbits << 4) | cbits;
  out.set(u64be(k).subarray(8 - kl), 1);
  out.set(u64be(c).subarray(8 - cl), 1 + kl);
  return out;
}

function readValue(bits, bytes, field) {
  if (bytes.length === 0) return BigInt(bits & 0x7);
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  if (valueLen(v) !== bytes.length) {
    throw new SFrameError('bad_header', `${field} is not minimally encoded`);
  }
  return v;
}

/**
 * Decodes a header from the front of `buf`. Strict: a truncated or non-minimal header throws.
 * Returns `{kid, ctr, len}` (kid and ctr as BigInt, len = bytes used).
 */
export function decodeHeader(buf) {
  if (buf.length === 0) throw new SFrameError('bad_header', 'empty');
  const cfg = buf[0];
  const kbits = cfg >> 4;
  const cbits = cfg & 0xf;
  const kl = kbits & 0x8 ? (kbits & 0x7) + 1 : 0;
  const cl = cbits & 0x8 ? (cbits & 0x7) + 1 : 0;
  const len = 1 + kl + cl;
  if (buf.length < len) {
    throw new SFrameError('bad_header', `truncated: needs ${len} bytes, has ${buf.length}`);
  }
  const kid = readValue(kbits, buf.subarray(1, 1 + kl), 'KID');
  const ctr = readValue(cbits, buf.subarray(1 + kl, len), 'CTR');
  return { kid, ctr, len };
}

// ----- Key derivation (RFC 9605 §4.4.2) -----

const KEY_LABEL = enc.encode('SFrame 1.0 Secret key ');
const SALT_LABEL = enc.encode('SFrame 1.0 Secret salt ');

/** The HKDF info labels for `kid` under `suite`: `{keyLabel, saltLabel}`. */
export function labels(suiteId, kid) {
  const k = u64be(u64(kid, 'KID'));
  const s = u16be(suiteId);
  return { keyLabel: concat(KEY_LABEL, k, s), saltLabel: concat(SALT_LABEL, k, s) };
}

async function hkdf(hash, ikm, info, len) {
  const base = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash, salt: new Uint8Array(0), info },
    base,
    len * 8,
  );
  return new Uint8Array(bits);
}

function checkBaseKey(baseKey) {
  if (!(baseKey instanceof Uint8Array) || baseKey.length === 0 || baseKey.length > 128) {
    throw new SFrameError('bad_key', 'base key must be 1-128 bytes (Uint8Array)');
  }
}

/**
 * `sframe_key` and `sframe_salt` for `kid` from `baseKey`:
 *   secret = HKDF-Extract("", base_key)
 *   key    = HKDF-Expand(secret, "SFrame 1.0 Secret key "  || u64be(KID) || u16be(suite), Nk)
 *   salt   = HKDF-Expand(secret, "SFrame 1.0 Secret salt " || u64be(KID) || u16be(suite), 12)
 */
export async function deriveKeyMaterial(suiteId, kid, baseKey) {
  const s = suiteById(suiteId);
  checkBaseKey(baseKey);
  const { keyLabel, saltLabel } = labels(s.id, kid);
  const key = await hkdf(s.hash, baseKey, keyLabel, s.nk);
  const salt = await hkdf(s.hash, baseKey, saltLabel, NONCE_LEN);
  return { key, salt };
}

/** `HKDF-Extract("", baseKey)` = HMAC(Nh zero bytes, baseKey): for checking intermediate values. */
export async function hkdfExtract(suiteId, baseKey) {
  const s = suiteById(suiteId);
  const k = await crypto.subtle.importKey('raw', new Uint8Array(s.nh), { name: 'HMAC', hash: s.hash }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, baseKey));
}

/** nonce = salt XOR be96(ctr). */
export function nonceFor(salt, ctr) {
  const n = new Uint8Array(salt);
  const c = u64be(u64(ctr, 'CTR'));
  for (let i = 0; i < 8; i++) n[NONCE_LEN - 8 + i] ^= c[i];
  return n;
}

// ----- AEAD (GCM, and the CTR+HMAC compound of §4.5.1) -----

/** An AEAD key for one suite, ready for seal and open (raw key bytes are not kept). */
export async function importAead(suiteId, key) {
  const s = suiteById(suiteId);
  if (key.length !== s.nk) throw new SFrameError('bad_key', `suite ${s.id} needs a ${s.nk}-byte key`);
  if (s.gcm) {
    const k = await crypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
    return { suite: s, gcm: k };
  }
  const ctrKey = await crypto.subtle.importKey('raw', key.subarray(0, s.nka), 'AES-CTR', false, ['encrypt', 'decrypt']);
  const macKey = await crypto.subtle.importKey('raw', key.subarray(s.nka), { name: 'HMAC', hash: s.hash }, false, ['sign']);
  return { suite: s, ctrKey, macKey };
}

async function ctrHmacTag(a, nonce, aad, ct) {
  const lens = concat(u64be(BigInt(aad.length)), u64be(BigInt(ct.length)), u64be(BigInt(a.suite.nt)));
  const mac = await crypto.subtle.sign('HMAC', a.macKey, concat(lens, nonce, aad, ct));
  return new Uint8Array(mac, 0, a.suite.nt);
}

function ctrParams(nonce) {
  return { name: 'AES-CTR', counter: concat(nonce, new Uint8Array(4)), length: 32 };
}

/** AEAD.Encrypt: ciphertext || tag. */
export async function aeadSeal(a, nonce, aad, pt) {
  if (a.gcm) {
    const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, a.gcm, pt);
    return new Uint8Array(ct);
  }
  const ct = new Uint8Array(await crypto.subtle.encrypt(ctrParams(nonce), a.ctrKey, pt));
  return concat(ct, await ctrHmacTag(a, nonce, aad, ct));
}

/** AEAD.Decrypt of ciphertext || tag; throws SFrameError('auth') when the tag does not verify. */
export async function aeadOpen(a, nonce, aad, ctAndTag) {
  const nt = a.suite.nt;
  if (ctAndTag.length < nt) throw new SFrameError('too_short', 'shorter than the tag');
  if (a.gcm) {
    try {
      const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, a.gcm, ctAndTag);
      return new Uint8Array(pt);
    } catch {
      throw new SFrameError('auth', 'authentication failed');
    }
  }
  const ct = ctAndTag.subarray(0, ctAndTag.length - nt);
  const tag = ctAndTag.subarray(ctAndTag.length - nt);
  const want = await ctrHmacTag(a, nonce, aad, ct);
  let diff = 0;
  for (let i = 0; i < nt; i++) diff |= want[i] ^ tag[i];
  if (diff !== 0) throw new SFrameError('auth', 'authentication failed');
  return new Uint8Array(await crypto.subtle.decrypt(ctrParams(nonce), a.ctrKey, ct));
}

// ----- Replay window (RFC 9605 §7.4, RFC 3711 §3.3.2 style) -----

/**
 * Which counters under one key were accepted. `check` only reads; `record` is called after the
 * frame authenticated, so a forged frame moves nothing.
 */
export class ReplayWindow {
  constructor(size = 1024) {
    if (!(size >= 1 && size <= 65536)) throw new RangeError('replay window must be 1-65536 counters');
    this.size = BigInt(size);
    let words = 1;
    while (words * 32 < size) words *= 2;
    this.bits = new Uint32Array(words);
    this.mask = BigInt(words * 32 - 1);
    this.newest = null;
  }

  slot(ctr) {
    const i = Number(ctr & this.mask);
    return [i >> 5, 1 << (i & 31)];
  }

  /** null when `ctr` would be accepted, else 'duplicate' or 'too_old'. */
  check(ctr) {
    if (this.newest === null || ctr > this.newest) return null;
    if (this.newest - ctr >= this.size) return 'too_old';
    const [w, b] = this.slot(ctr);
    return this.bits[w] & b ? 'duplicate' : null;
  }

  record(ctr) {
    if (this.newest === null) {
      this.newest = ctr;
    } else if (ctr > this.newest) {
      const ring = this.mask + 1n;
      if (ctr - this.newest >= ring) {
        this.bits.fill(0);
      } else {
        for (let c = this.newest + 1n; c <= ctr; c++) {
          const [w, b] = this.slot(c);
          this.bits[w] &= ~b;
        }
      }
      this.newest = ctr;
    }
    const [w, b] = this.slot(ctr);
    this.bits[w] |= b;
  }
}

// ----- Context: keys by KID, counters, replay windows -----

/**
 * An SFrame context (RFC 9605 App. A shape). A KID holds either a send key (with the next
 * counter) or a receive key (with a replay window), never both.
 *
 * Counters: a send key has ONE counter, shared by every caller of `seal` with that KID (every
 * track and simulcast layer of a page goes through the same context in the one worker). The
 * counter is taken synchronously before the first await, so concurrent seals never share one.
 * A seal refused before the AEAD (bad frame, unknown KID, metadata too long) takes no counter.
 */
export class SFrameContext {
  constructor(suiteId = DEFAULT_SUITE, { replayWindow = 1024 } = {}) {
    this.suite = suiteById(suiteId);
    this.replayWindow = replayWindow;
    this.keys = new Map(); // BigInt kid -> {dir, aead, salt, next | window}
  }

  async #material(kid, baseKey) {
    const { key, salt } = await deriveKeyMaterial(this.suite.id, kid, baseKey);
    const aead = await importAead(this.suite.id, key);
    key.fill(0);
    return { aead, salt };
  }

  /** Installs a send key under `kid`; its counter starts at `firstCtr` (default 0). */
  async addSendKey(kid, baseKey, firstCtr = 0n) {
    const k = u64(kid, 'KID');
    const m = await this.#material(k, baseKey);
    this.keys.set(k, { dir: 'send', ...m, next: u64(firstCtr, 'CTR') });
  }

  /** Installs a receive key under `kid`, with a fresh replay window. */
  async addRecvKey(kid, baseKey) {
    const k = u64(kid, 'KID');
    const m = await this.#material(k, baseKey);
    this.keys.set(k, { dir: 'recv', ...m, window: new ReplayWindow(this.replayWindow) });
  }

  hasKey(kid) {
    return this.keys.has(u64(kid, 'KID'));
  }

  removeKey(kid) {
    return this.keys.delete(u64(kid, 'KID'));
  }

  /** The next counter of a send key (for tests and diagnostics). */
  nextCounter(kid) {
    const k = this.keys.get(u64(kid, 'KID'));
    return k && k.dir === 'send' ? k.next : null;
  }

  /** SFrame ciphertext = header || AEAD(payload) || tag, with AAD = header || metadata. */
  async seal(kid, metadata, payload) {
    const k = u64(kid, 'KID');
    if (metadata.length > MAX_METADATA_LEN) {
      throw new SFrameError('metadata_too_long', `${metadata.length} > ${MAX_METADATA_LEN} bytes`);
    }
    const key = this.keys.get(k);
    if (!key) throw new SFrameError('unknown_kid', `no send key for KID ${k}`);
    if (key.dir !== 'send') throw new SFrameError('wrong_direction', `KID ${k} is a receive key`);
    if (key.next > U64_MAX) throw new SFrameError('counter_exhausted', `KID ${k} used every counter`);
    const ctr = key.next;
    key.next = ctr + 1n; // taken before any await: never reused
    const header = encodeHeader(k, ctr);
    const aad = metadata.length ? concat(header, metadata) : header;
    const body = await aeadSeal(key.aead, nonceFor(key.salt, ctr), aad, payload);
    return concat(header, body);
  }

  /**
   * Opens an SFrame ciphertext. Returns `{kid, ctr, payload}`. Screens the header and replay
   * window first, records the counter only after the frame authenticated.
   */
  async open(metadata, ciphertext) {
    if (metadata.length > MAX_METADATA_LEN) {
      throw new SFrameError('metadata_too_long', `${metadata.length} > ${MAX_METADATA_LEN} bytes`);
    }
    const h = decodeHeader(ciphertext);
    const key = this.keys.get(h.kid);
    if (!key) throw new SFrameError('unknown_kid', `no receive key for KID ${h.kid}`);
    if (key.dir !== 'recv') throw new SFrameError('wrong_direction', `KID ${h.kid} is a send key`);
    if (ciphertext.length - h.len < this.suite.nt) throw new SFrameError('too_short', 'no room for the tag');
    const verdict = key.window.check(h.ctr);
    if (verdict) throw new SFrameError('replay', `KID ${h.kid} CTR ${h.ctr}: ${verdict}`);
    const header = ciphertext.subarray(0, h.len);
    const aad = metadata.length ? concat(header, metadata) : header;
    const payload = await aeadOpen(key.aead, nonceFor(key.salt, h.ctr), aad, ciphertext.subarray(h.len));
    // Another open of the same counter may have finished while this one awaited.
    const again = key.window.check(h.ctr);
    if (again) throw new SFrameError('replay', `KID ${h.kid} CTR ${h.ctr}: ${again}`);
    key.window.record(h.ctr);
    return { kid: h.kid, ctr: h.ctr, payload };
  }
}

// ----- Media framing: the codec-aware clear prefix (docs/e2ee-wire-format.md §3-5) -----

/** Codec names used here: 'VP8', 'opus', 'H264', 'AV1', 'plain'. */
export function codecFromMime(mime) {
  const essence = String(mime || '').split(';')[0].trim().toLowerCase();
  switch (essence) {
    case 'video/vp8': return 'VP8';
    case 'audio/opus': return 'opus';
    case 'video/h264': return 'H264';
    case 'video/av1': return 'AV1';
    default: return null;
  }
}

function normCodec(codec) {
  const c = String(codec).toLowerCase();
  if (c === 'vp8') return 'VP8';
  if (c === 'opus') return 'opus';
  if (c === 'h264' || c === 'h.264') return 'H264';
  if (c === 'av1') return 'AV1';
  if (c === 'plain') return 'plain';
  throw new SFrameError('unsupported_codec', `no clear-prefix rule for codec ${codec}`);
}

function invalid(codec, reason) {
  return new SFrameError('invalid_frame', `${codec}: ${reason}`);
}

function vp8PrefixLen(f) {
  if (f.length === 0) throw invalid('VP8', 'empty frame');
  if (f.length < 3) throw invalid('VP8', 'shorter than the 3-byte frame tag');
  if (f[0] & 0x01) return 3;
  if (f.length < 10) throw invalid('VP8', 'keyframe shorter than 10 bytes (frame tag, start code, dimensions)');
  if (f[3] !== 0x9d || f[4] !== 0x01 || f[5] !== 0x2a) throw invalid('VP8', 'keyframe without the start code 9d 01 2a');
  return 10;
}

function findStartCode(f, from) {
  for (let i = from; i + 2 < f.length; i++) {
    if (f[i] === 0 && f[i + 1] === 0 && f[i + 2] === 1) return i;
  }
  return -1;
}

/** H.264 Annex B: the prefix length and the canonical metadata (§5.2, §5.3). */
function h264Scan(f) {
  let zeros = 0;
  while (zeros < f.length && f[zeros] === 0) zeros++;
  if (zeros < 2 || f[zeros] !== 1) throw invalid('H264', 'does not start with an Annex B start code');
  let pos = zeros + 1;
  const parts = [];
  let canonLen = 0;
  for (;;) {
    const sc = findStartCode(f, pos);
    let end = sc < 0 ? f.length : sc;
    while (end > pos && f[end - 1] === 0) end--;
    if (end > pos) {
      const t = f[pos] & 0x1f;
      if (t >= 1 && t <= 5) {
        parts.push(f.subarray(pos, pos + 1));
        canonLen += 5;
        if (canonLen > MAX_METADATA_LEN) throw new SFrameError('metadata_too_long', 'H.264 canonical prefix over 1024 bytes');
        const meta = new Uint8Array(canonLen);
        let at = 0;
        for (const p of parts) {
          meta.set([0, 0, 0, 1], at);
          meta.set(p, at + 4);
          at += 4 + p.length;
        }
        return { prefixLen: pos + 1, metadata: meta };
      }
    }
    parts.push(f.subarray(pos, end));
    canonLen += 4 + (end - pos);
    if (canonLen > MAX_METADATA_LEN) throw new SFrameError('metadata_too_long', 'H.264 canonical prefix over 1024 bytes');
    if (sc < 0) throw invalid('H264', 'no slice NAL unit');
    pos = sc + 3;
  }
}

/** H.264 emulation prevention over the sealed part (§5.4). */
export function h264Escape(s) {
  const out = new Uint8Array(s.length + (s.length >> 1) + 1);
  let n = 0;
  let zeros = 0;
  for (const b of s) {
    if (zeros >= 2 && b <= 0x03) {
      out[n++] = 0x03;
      zeros = 0;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  if (zeros >= 2) out[n++] = 0x03;
  return out.slice(0, n);
}

export function h264Unescape(e) {
  const out = new Uint8Array(e.length);
  let n = 0;
  let zeros = 0;
  for (const b of e) {
    if (zeros >= 2 && b === 0x03) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.slice(0, n);
}

/**
 * The prefix length and metadata of `frame` for `codec`: `{prefixLen, metadata}`. The same on the
 * unencrypted frame and on the wire frame it becomes.
 */
export function parsePrefix(codec, frame) {
  switch (normCodec(codec)) {
    case 'VP8': {
      const n = vp8PrefixLen(frame);
      return { prefixLen: n, metadata: frame.subarray(0, n) };
    }
    case 'opus':
      if (frame.length === 0) throw invalid('opus', 'empty frame (no TOC byte)');
      return { prefixLen: 1, metadata: frame.subarray(0, 1) };
    case 'H264':
      return h264Scan(frame);
    default:
      return { prefixLen: 0, metadata: new Uint8Array(0) };
  }
}

/** Length of the clear prefix of `frame`: VP8 3 or 10, Opus 1, H.264 up to the first slice header byte, AV1/plain 0. */
export function clearPrefixLen(codec, frame) {
  return parsePrefix(codec, frame).prefixLen;
}

function asBytes(x) {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError('expected bytes');
}

/**
 * Seals one encoded frame: wire = P || header || ciphertext || tag (H.264: P || escape(...)).
 * A frame that breaks the codec's rule throws before any counter is taken.
 */
export async function sealFrame(ctx, codec, kid, frameBytes) {
  const frame = asBytes(frameBytes);
  const c = normCodec(codec);
  const { prefixLen, metadata } = parsePrefix(c, frame);
  const s = await ctx.seal(kid, metadata, frame.subarray(prefixLen));
  return concat(frame.subarray(0, prefixLen), c === 'H264' ? h264Escape(s) : s);
}

/**
 * Opens one wire frame. Returns `{kid, ctr, frame, prefixLen}` where `frame` = P || payload,
 * the bytes the encoder produced.
 */
export async function openFrame(ctx, codec, wireBytes) {
  const wire = asBytes(wireBytes);
  const c = normCodec(codec);
  const { prefixLen, metadata } = parsePrefix(c, wire);
  let s = wire.subarray(prefixLen);
  if (c === 'H264') s = h264Unescape(s);
  const { kid, ctr, payload } = await ctx.open(metadata, s);
  return { kid, ctr, frame: concat(wire.subarray(0, prefixLen), payload), prefixLen };
}
