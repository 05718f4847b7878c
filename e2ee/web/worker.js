// @telesfu/e2ee worker: the only place the call's keys live.
//
// One worker per call. It runs telesfu-e2ee (compiled to wasm) as one MLS member: it makes
// the member key, drives the session (signaling in, signaling out, timers, entropy), and seals
// and opens every encoded frame of every RTCRtpScriptTransform bound to it, so one sender key
// and one counter serve all tracks and layers. The page (index.js) only relays signaling and
// the certificate; no key, seed or plaintext frame is ever posted back to it.
//
// A frame that cannot be sealed or opened is dropped and counted by reason (the error code):
// nothing leaves in clear and nothing reaches the decoder that did not authenticate.
//
// Messages from the page: {op: 'init' | 'certificate' | 'certificateFailed' | 'ds' | 'left' |
// 'chat' | 'state' | 'close', ...}; to the page: {op: 'publicKey' | 'ready' | 'failed' | 'send'
// | 'events' | 'reply', ...}. index.js is the only intended peer; the protocol is private to
// this package and may change with it.

import init, { Client, codecFromName, memberPublicKey } from './pkg/telesfu_e2ee_wasm.js';

/** Fresh bytes are mixed into the MLS generator at most this often (on activity). */
const ENTROPY_INTERVAL_MS = 10_000;
/** A receiver asks for a keyframe at most this often after dropping frames. */
const KEYFRAME_REQUEST_INTERVAL_MS = 1_000;

let client = null;
let closed = false;
let params = null;
let seed = null;
let timer = null;
let lastEntropy = 0;
/** Signaling that arrived before the client exists, replayed in order once it does. */
let early = [];
/** trackId -> counters; what `state()` reports. */
const tracks = new Map();
/** Sender-side transformers, asked for a keyframe when the send key changes. */
const senders = new Set();
/** mimeType -> Codec (or null), so the per-frame path passes no string into wasm. */
const mimeCodecs = new Map();

const random = (n) => crypto.getRandomValues(new Uint8Array(n));
const post = (m) => self.postMessage(m);
const errorOf = (e) => ({ code: (e && e.code) || 'internal', message: String((e && e.message) || e) });

function report(e) {
  post({ op: 'events', events: [{ type: 'error', ...errorOf(e) }], snapshot: snapshot() });
}

function snapshot() {
  if (!client) return { epoch: undefined, code: undefined, roster: [], isMember: false };
  return { epoch: client.epoch(), code: client.code(), roster: client.roster(), isMember: client.isMember() };
}

function entropy(now) {
  if (client && now - lastEntropy >= ENTROPY_INTERVAL_MS) {
    client.addEntropy(random(32));
    lastEntropy = now;
  }
}

/** Sends what the session wants sent, reports its events, and sets the next timer. */
function drain() {
  if (!client) return;
  for (let m = client.pollTransmit(); m !== undefined; m = client.pollTransmit()) post({ op: 'send', msg: m });
  const events = [];
  for (let ev = client.pollEvent(); ev !== undefined; ev = client.pollEvent()) {
    events.push(ev);
    if (ev.type === 'sendKeyChanged') requestKeyFrames();
  }
  if (events.length) post({ op: 'events', events, snapshot: snapshot() });
  clearTimeout(timer);
  timer = null;
  const at = client.pollTimeoutMs();
  if (at !== undefined) timer = setTimeout(tick, Math.max(0, at - performance.now()));
}

function tick() {
  timer = null;
  if (!client) return;
  const now = performance.now();
  try {
    entropy(now);
    client.handleTimeout(now);
  } catch (e) {
    report(e);
  }
  drain();
}

/** A new send key: receivers can only start decoding at a keyframe under it (RFC 9605 §6.2). */
function requestKeyFrames() {
  for (const t of senders) {
    if (typeof t.generateKeyFrame === 'function') t.generateKeyFrame().catch(() => {});
  }
}

function feed(m) {
  const now = performance.now();
  try {
    entropy(now);
    if (m.op === 'ds') client.handleDs(now, m.msg);
    else if (m.op === 'left') client.participantLeft(now, m.participant);
  } catch (e) {
    report(e);
  }
  drain();
}

function makeClient(certificate) {
  const now = performance.now();
  client = new Client(params.room, params.participant, params.authorityKeys, seed, certificate, random(32), now, Date.now(), params.config);
  lastEntropy = now;
  seed.fill(0);
  seed = null;
  const queued = early;
  early = [];
  for (const m of queued) feed(m);
  drain();
}

function reply(id, fn) {
  try {
    post({ op: 'reply', id, ok: true, value: fn() });
  } catch (e) {
    post({ op: 'reply', id, ok: false, error: errorOf(e) });
  }
}

function trackStats() {
  return [...tracks.values()].map((t) => ({ ...t, dropped: { ...t.dropped } }));
}

function close() {
  clearTimeout(timer);
  timer = null;
  closed = true;
  if (client) client.free(); // the session's keys are erased on drop
  client = null;
  if (seed) seed.fill(0);
  seed = null;
  early = [];
  senders.clear();
}

self.onmessage = async ({ data: m }) => {
  switch (m.op) {
    case 'init':
      try {
        await init(m.wasmUrl ? { module_or_path: m.wasmUrl } : undefined);
        params = m;
        seed = random(32);
        post({ op: 'publicKey', publicKey: memberPublicKey(seed) });
      } catch (e) {
        post({ op: 'failed', error: errorOf(e) });
      }
      break;
    case 'certificate':
      if (closed || !seed) break;
      try {
        makeClient(m.certificate);
        post({ op: 'ready', snapshot: snapshot() });
      } catch (e) {
        close();
        post({ op: 'failed', error: errorOf(e) });
      }
      break;
    case 'certificateFailed':
      close();
      break;
    case 'ds':
    case 'left':
      if (closed) break;
      if (client) feed(m);
      else early.push(m);
      break;
    case 'chat':
      reply(m.id, () => {
        if (!client) throw Object.assign(new Error('not a member of the group yet'), { code: 'not_in_group' });
        const seq = client.sendChat(performance.now(), Date.now(), m.text);
        drain();
        return { seq };
      });
      break;
    case 'state':
      reply(m.id, () => ({ ...snapshot(), stats: client ? client.stats() : null, tracks: trackStats() }));
      break;
    case 'close':
      close();
      post({ op: 'reply', id: m.id, ok: true, value: null });
      break;
    default:
      report(Object.assign(new Error(`unknown message ${JSON.stringify(m.op)} from the page`), { code: 'invalid_argument' }));
  }
};

// ----- frames -----

/**
 * The frame's codec: its own mimeType when the browser gives it, else the transform's option.
 * Only called once the client exists, so the wasm module is initialised (codecFromName is wasm).
 */
function codecOf(frame, fallback) {
  let mime;
  try {
    mime = frame.getMetadata().mimeType;
  } catch {
    mime = undefined;
  }
  if (!mime) mime = fallback;
  if (!mime) return undefined;
  let c = mimeCodecs.get(mime);
  if (c === undefined) {
    c = codecFromName(mime) ?? null;
    mimeCodecs.set(mime, c);
  }
  return c ?? undefined;
}

function statsFor(o) {
  const id = String(o.trackId ?? `${o.side}-${tracks.size}`);
  let t = tracks.get(id);
  if (!t) {
    t = { trackId: id, side: o.side, codec: o.codec ?? null, participant: o.participant ?? null, frames: 0, dropped: {} };
    tracks.set(id, t);
  }
  return t;
}

function drop(t, code) {
  t.dropped[code] = (t.dropped[code] || 0) + 1;
}

function sealer(t, fallback) {
  return (frame, controller) => {
    if (!client) return drop(t, closed ? 'closed' : 'no_key');
    const codec = codecOf(frame, fallback);
    if (codec === undefined) return drop(t, 'unknown_codec');
    try {
      const out = client.seal(codec, new Uint8Array(frame.data));
      frame.data = out.buffer;
    } catch (e) {
      return drop(t, e.code || 'internal');
    }
    t.frames++;
    controller.enqueue(frame);
  };
}

function opener(t, fallback, participant, transformer) {
  let missed = false;
  let lastRequest = -Infinity;
  return (frame, controller) => {
    if (!client) return drop(t, closed ? 'closed' : 'no_key');
    const codec = codecOf(frame, fallback);
    if (codec === undefined) return drop(t, 'unknown_codec');
    if (!participant) return drop(t, 'unknown_sender');
    try {
      const out = client.open(participant, codec, new Uint8Array(frame.data));
      frame.data = out.buffer;
    } catch (e) {
      missed = true;
      return drop(t, e.code || 'internal');
    }
    t.frames++;
    // The decoder missed frames: ask the sender for a keyframe to start from.
    const now = performance.now();
    if (missed && now - lastRequest >= KEYFRAME_REQUEST_INTERVAL_MS && typeof transformer.sendKeyFrameRequest === 'function') {
      lastRequest = now;
      missed = false;
      transformer.sendKeyFrameRequest().catch(() => {});
    }
    controller.enqueue(frame);
  };
}

self.onrtctransform = ({ transformer }) => {
  const o = transformer.options || {};
  const t = statsFor(o);
  // A name, not a wasm Codec: this event can come before the wasm module is initialised (the
  // page may attach transforms as soon as it creates the TelesfuE2ee), and calling into wasm
  // here would throw and leave the transform's stream unconnected.
  const fallback = typeof o.codec === 'string' ? o.codec : undefined;
  let transform;
  if (o.side === 'send') {
    senders.add(transformer);
    transform = sealer(t, fallback);
  } else if (o.side === 'receive') {
    transform = opener(t, fallback, typeof o.participant === 'string' ? o.participant : '', transformer);
  } else {
    // Not ours to guess: no frame passes.
    transform = () => drop(t, 'invalid_argument');
  }
  transformer.readable
    .pipeThrough(new TransformStream({ transform }))
    .pipeTo(transformer.writable)
    .catch(() => {})
    .finally(() => senders.delete(transformer));
};
