// Key agreement, safety number and encrypted chat of the telesfu demo page, carried in the
// signaling protocol's `e2ee` relay messages (docs/signaling.md §6). The server relays `data`
// unchanged and never reads it.
//
// # Messages (format version 1)
//
// `data` of every `e2ee` message is a JSON object (UTF-8 text). Byte strings are base64url
// without padding. Integers are JSON numbers. Unknown fields are ignored; a message with another
// `v`, an unknown `t`, a `from` that differs from the relay's `from`, or a field of the wrong
// type is dropped.
//
//   hello (to everyone, or `to` one participant as a reply)
//     {"v":1, "t":"hello", "from":"<participant id>", "kid":<current KID>, "gen":<key generation>,
//      "pub":"<X25519 public key, 32 bytes>", "reply":<bool>}
//     Announces the sender's X25519 public key for this call. A participant that receives a hello
//     with reply=false answers with its own hello (reply=true) to that participant; either way it
//     then delivers its current sender key to the announcer.
//
//   key (`to` one participant)
//     {"v":1, "t":"key", "from":"<sender>", "to":"<recipient>", "kid":<KID>, "gen":<generation>,
//      "iv":"<12 random bytes>", "wrapped":"<AES-256-GCM(sender key, 16 bytes) || tag, 32 bytes>"}
//     The sender's media/chat key for KID = (sender's joined.kid) + gen, wrapped under the
//     pairwise key of sender and recipient, with
//       AAD = UTF-8 "telesfu-web-e2ee v1 key|" from "|" to "|" kid "|" gen
//     so a delivery cannot be replayed to another recipient or relabelled with another KID.
//
//   chat (to everyone)
//     {"v":1, "t":"chat", "from":"<sender>", "sframe":"<SFrame ciphertext>"}
//     An SFrame (RFC 9605, AES_128_GCM_SHA256_128) ciphertext under the sender's current KID,
//     codec "plain" (no clear prefix, empty metadata), sealed in the media worker so it shares
//     the sender key's one counter with the media frames. The plaintext is UTF-8 JSON
//     {"text": "<message>", "ts": <milliseconds since the epoch>}. The receiver opens it with the
//     sender's key and accepts it only when the KID in the SFrame header is one of that sender's.
//
// # Keys
//
//   pairwise key = HKDF-SHA256(IKM = X25519(my private, peer public),
//                              salt = SHA-256("telesfu-web-e2ee v1"),
//                              info = "telesfu-web-e2ee v1 pairwise" || pub_low || pub_high,
//                              32 bytes) used as an AES-256-GCM key;
//                  pub_low/pub_high are the two public keys in bytewise order, so both sides
//                  derive the same key.
//   sender key   = 16 random bytes per generation: the SFrame base key for KID joined.kid + gen
//                  (the worker derives sframe_key and sframe_salt from it, RFC 9605 §4.4.2).
//
// A new sender key (generation + 1) is made when a participant leaves; it is delivered to the
// remaining participants and used for sealing 1.5 s later, so they hold it before the first frame
// under it arrives. A joiner receives the current key. Keys of a participant who left, and a
// peer's previous generations, are removed a few seconds later.
//
// # Safety number
//
//   digest = SHA-256(sorted(public keys of every participant in the call, this one included)
//                    concatenated), keys sorted bytewise
//   the number = 12 groups of 5 digits: group i (0-11) is the big-endian 20-bit integer at bits
//                20i .. 20i+19 of the digest, modulo 100000, zero-padded.
// Everybody in the call sees the same number exactly when everybody received the same public
// keys. It is shown as "pending" until the public key of every known participant has arrived.

const te = new TextEncoder();
const td = new TextDecoder();
const VERSION = 1;
const SWITCH_DELAY_MS = 1500;
const OLD_KEY_GRACE_MS = 5000;

export function b64u(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function unb64u(s) {
  if (typeof s !== 'string' || /[^A-Za-z0-9_-]/.test(s)) throw new TypeError('not base64url');
  const t = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(t + '='.repeat((4 - (t.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function cmpBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The safety number of a set of 32-byte public keys: 12 groups of 5 digits. */
export async function safetyNumber(publicKeys) {
  const sorted = [...publicKeys].sort(cmpBytes);
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...sorted)));
  const groups = [];
  for (let i = 0; i < 12; i++) {
    let v = 0;
    for (let bit = 20 * i; bit < 20 * i + 20; bit++) {
      v = v * 2 + ((d[bit >> 3] >> (7 - (bit & 7))) & 1);
    }
    groups.push(String(v % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

/** Request/reply with the media worker (see worker.js). */
export class WorkerClient {
  constructor(worker) {
    this.worker = worker;
    this.nextId = 1;
    this.pending = new Map();
    worker.addEventListener('message', (e) => {
      const m = e.data;
      if (!m || m.type !== 'reply') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m);
      else p.reject(Object.assign(new Error(m.error), { code: m.error }));
    });
  }

  post(msg) {
    this.worker.postMessage(msg);
  }

  request(msg, timeoutMs = 5000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`worker did not answer ${msg.type}`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(t), resolve(v)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      this.worker.postMessage({ ...msg, id });
    });
  }
}

/**
 * The E2EE state of one participant.
 *
 * `send(to, data)` puts an `e2ee` signaling message on the wire (`to` null = everyone).
 * Callbacks: `onChat({from, text, ts, kid, mine})`, `onChange()` (peers, keys or safety number
 * changed), `log(text)`.
 */
export class E2EE {
  constructor({ workerClient, send, onChat = () => {}, onChange = () => {}, log = () => {} }) {
    this.w = workerClient;
    this.sendSignal = send;
    this.onChat = onChat;
    this.onChange = onChange;
    this.log = log;
    this.me = null;
    this.baseKid = 0;
    this.gen = 0;
    this.senderKey = null;
    this.keyPair = null;
    this.pub = null;
    this.peers = new Map(); // participant -> {participant, name, baseKid, pub, pairKey, kids: Set, pending: []}
    this.safety = 'pending';
    this.rekeyTimer = null;
    // Messages that arrive while start() runs wait for it.
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
  }

  /** Starts for `participant` with KID base `kid` (joined.kid): key pair, first sender key. */
  async start({ participant, kid }) {
    this.me = participant;
    this.baseKid = Number(kid);
    this.keyPair = await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
    this.pub = new Uint8Array(await crypto.subtle.exportKey('raw', this.keyPair.publicKey));
    this.senderKey = crypto.getRandomValues(new Uint8Array(16));
    await this.w.request({ type: 'setSendKey', kid: this.currentKid(), key: this.senderKey });
    await this.updateSafety();
    this.markReady();
  }

  currentKid() {
    return this.baseKid + this.gen;
  }

  /** Broadcasts the public key (after join, and again after a resume). */
  announce() {
    this.sendHello(null, false);
  }

  sendHello(to, reply) {
    this.sendSignal(to, JSON.stringify({
      v: VERSION, t: 'hello', from: this.me, kid: this.currentKid(), gen: this.gen, pub: b64u(this.pub), reply,
    }));
  }

  /** A participant in the call (from joined.peers or peer-joined). */
  addPeer({ participant, name, kid }) {
    let p = this.peers.get(participant);
    if (!p) {
      p = { participant, name: name || participant, baseKid: null, pub: null, pairKey: null, kids: new Set(), pending: [] };
      this.peers.set(participant, p);
    }
    if (typeof kid === 'number') p.baseKid = kid;
    if (name) p.name = name;
    this.updateSafety();
    return p;
  }

  /** A participant left: forget it and move to a new sender key the leaver never saw. */
  removePeer(participant) {
    const p = this.peers.get(participant);
    if (!p) return;
    this.peers.delete(participant);
    setTimeout(() => {
      for (const k of p.kids) this.w.post({ type: 'removeKey', kid: k });
    }, OLD_KEY_GRACE_MS);
    this.updateSafety();
    this.scheduleRekey();
  }

  scheduleRekey() {
    if (this.rekeyTimer) return; // several leaves at once: one new key
    this.rekeyTimer = setTimeout(() => {
      this.rekeyTimer = null;
      this.rekey().catch((e) => this.log(`rekey failed: ${e}`));
    }, 200);
  }

  async rekey() {
    await this.ready;
    const key = crypto.getRandomValues(new Uint8Array(16));
    const gen = this.gen + 1;
    const kid = this.baseKid + gen;
    for (const p of this.peers.values()) {
      if (p.pairKey) await this.deliver(p, key, kid, gen);
    }
    this.log(`new sender key: KID ${kid} (generation ${gen}), in use in ${SWITCH_DELAY_MS} ms`);
    await new Promise((r) => setTimeout(r, SWITCH_DELAY_MS));
    // Peers that arrived during the delay got the old key; they get the new one below.
    this.gen = gen;
    this.senderKey = key;
    await this.w.request({ type: 'setSendKey', kid, key });
    for (const p of this.peers.values()) {
      if (p.pairKey && p.deliveredGen !== gen) await this.deliver(p, key, kid, gen);
    }
    this.onChange();
  }

  async deliver(p, key, kid, gen) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const aad = te.encode(`telesfu-web-e2ee v1 key|${this.me}|${p.participant}|${kid}|${gen}`);
    const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, p.pairKey, key));
    p.deliveredGen = gen;
    this.sendSignal(p.participant, JSON.stringify({
      v: VERSION, t: 'key', from: this.me, to: p.participant, kid, gen, iv: b64u(iv), wrapped: b64u(wrapped),
    }));
  }

  async pairwiseKey(peerPub) {
    const peerKey = await crypto.subtle.importKey('raw', peerPub, { name: 'X25519' }, false, []);
    const shared = await crypto.subtle.deriveBits({ name: 'X25519', public: peerKey }, this.keyPair.privateKey, 256);
    const ikm = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
    const [lo, hi] = [this.pub, peerPub].sort(cmpBytes);
    const salt = new Uint8Array(await crypto.subtle.digest('SHA-256', te.encode('telesfu-web-e2ee v1')));
    return crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt, info: concat(te.encode('telesfu-web-e2ee v1 pairwise'), lo, hi) },
      ikm,
      { name: 'AES-GCM', length: 256 },
      false,
      ['encrypt', 'decrypt'],
    );
  }

  /** An `e2ee` message from the relay. Returns a short description of what it did (for logs). */
  async onMessage(from, data) {
    await this.ready;
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return 'dropped: not JSON';
    }
    if (!m || m.v !== VERSION || m.from !== from || typeof m.t !== 'string') return 'dropped: bad envelope';
    try {
      switch (m.t) {
        case 'hello':
          return await this.onHello(from, m);
        case 'key':
          return await this.onKey(from, m);
        case 'chat':
          return await this.onChatMessage(from, m);
        default:
          return `dropped: unknown t ${m.t}`;
      }
    } catch (e) {
      return `dropped: ${e.code || e.message || e}`;
    }
  }

  async onHello(from, m) {
    const pub = unb64u(m.pub);
    if (pub.length !== 32 || typeof m.kid !== 'number' || typeof m.gen !== 'number') return 'dropped: bad hello';
    const p = this.addPeer({ participant: from });
    if (p.baseKid === null) p.baseKid = m.kid - m.gen;
    if (p.baseKid + m.gen !== m.kid) return 'dropped: hello KID does not match the peer';
    if (!p.pub || cmpBytes(p.pub, pub) !== 0) {
      p.pub = pub;
      p.pairKey = await this.pairwiseKey(pub);
      await this.updateSafety();
    }
    if (!m.reply) this.sendHello(from, true);
    await this.deliver(p, this.senderKey, this.currentKid(), this.gen);
    const pending = p.pending.splice(0);
    for (const k of pending) await this.onKey(from, k);
    return 'hello';
  }

  async onKey(from, m) {
    if (m.to !== this.me) return 'dropped: key for someone else';
    const p = this.peers.get(from) || this.addPeer({ participant: from });
    if (!p.pairKey) {
      if (p.pending.length < 8) p.pending.push(m);
      return 'key held until the hello';
    }
    if (typeof m.kid !== 'number' || typeof m.gen !== 'number' || p.baseKid + m.gen !== m.kid) {
      return 'dropped: KID is not the sender\'s';
    }
    if (p.kids.has(m.kid)) return 'key already installed';
    const aad = te.encode(`telesfu-web-e2ee v1 key|${from}|${this.me}|${m.kid}|${m.gen}`);
    const key = new Uint8Array(await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: unb64u(m.iv), additionalData: aad }, p.pairKey, unb64u(m.wrapped),
    ));
    if (key.length !== 16) return 'dropped: key length';
    await this.w.request({ type: 'addRecvKey', kid: m.kid, key });
    const older = [...p.kids].filter((k) => k < m.kid);
    p.kids.add(m.kid);
    p.gen = Math.max(p.gen || 0, m.gen);
    if (older.length) {
      setTimeout(() => {
        for (const k of older) {
          p.kids.delete(k);
          this.w.post({ type: 'removeKey', kid: k });
        }
      }, OLD_KEY_GRACE_MS);
    }
    this.log(`key of ${p.name}: KID ${m.kid} (generation ${m.gen})`);
    this.onChange();
    return 'key';
  }

  async onChatMessage(from, m) {
    const p = this.peers.get(from);
    if (!p) return 'dropped: chat from an unknown participant';
    const r = await this.w.request({ type: 'openChat', bytes: unb64u(m.sframe) });
    if (!p.kids.has(r.kid)) return 'dropped: chat KID is not the sender\'s';
    const body = JSON.parse(td.decode(r.payload));
    if (typeof body.text !== 'string') return 'dropped: chat without text';
    this.onChat({ from, name: p.name, text: body.text, ts: Number(body.ts) || Date.now(), kid: r.kid, mine: false });
    return 'chat';
  }

  /** Seals and sends a chat message to everyone; returns the log entry. */
  async sendChat(text) {
    const t = String(text).slice(0, 4000);
    const ts = Date.now();
    const r = await this.w.request({ type: 'sealChat', bytes: te.encode(JSON.stringify({ text: t, ts })) });
    this.sendSignal(null, JSON.stringify({ v: VERSION, t: 'chat', from: this.me, sframe: b64u(r.wire) }));
    const entry = { from: this.me, name: 'me', text: t, ts, kid: r.kid, mine: true };
    this.onChat(entry);
    return entry;
  }

  async updateSafety() {
    if (!this.pub) return;
    const peers = [...this.peers.values()];
    const before = this.safety;
    if (peers.some((p) => !p.pub)) {
      this.safety = 'pending';
    } else {
      this.safety = await safetyNumber([this.pub, ...peers.map((p) => p.pub)]);
    }
    if (before !== this.safety) this.onChange();
  }

  /** For the page's state(): peers and their key status. */
  describe() {
    return {
      participant: this.me,
      kid: this.currentKid(),
      generation: this.gen,
      safetyNumber: this.safety,
      peers: [...this.peers.values()].map((p) => ({
        participant: p.participant, name: p.name, baseKid: p.baseKid, hasPub: !!p.pub, kids: [...p.kids],
      })),
    };
  }
}
