// The page's one encoded-transform worker: every RTCRtpScriptTransform of the page (all
// senders, all receivers) runs here, so the sender key's single counter is shared by every
// track and simulcast layer and no (KID, CTR) pair is ever sealed twice.
//
// Transform options (new RTCRtpScriptTransform(worker, options)):
//   {side: 'send'|'recv', codec: 'VP8'|'opus'|..., trackId: '<label for counters>'}
// The codec of each frame is taken from frame.getMetadata().mimeType when the browser gives it,
// else from options.codec.
//
// Messages from the page (all may carry an `id`; requests marked * are answered with
// {type: 'reply', id, ok, ...}):
//   {type: 'config', test: bool}                       test mode: keep a record of sealed plaintext
//   {type: 'setSendKey', kid, key: Uint8Array}         install the sender key and seal with it from now on
//   {type: 'addRecvKey', kid, key: Uint8Array}         install a peer's key (media and chat)
//   {type: 'removeKey', kid}
//   * {type: 'sealChat', bytes: Uint8Array}            -> {wire}          (codec plain, empty metadata)
//   * {type: 'openChat', bytes: Uint8Array}            -> {kid, payload}
//   * {type: 'stats'}                                  -> {stats}
//   * {type: 'testRecord'}                             -> {record}
//
// A received frame that does not open (no key yet, authentication failure, replay, malformed) is
// dropped and counted; it never reaches the decoder. A frame to send without a key is dropped:
// nothing leaves in clear.

import { SFrameContext, sealFrame, openFrame, codecFromMime, clearPrefixLen, decodeHeader, toHex, DEFAULT_SUITE } from './sframe.js';

const sendCtx = new SFrameContext(DEFAULT_SUITE);
const mediaRx = new SFrameContext(DEFAULT_SUITE);
// Chat has its own replay windows: a chat message sealed long before the media frames around it
// would otherwise fall behind the media window.
const chatRx = new SFrameContext(DEFAULT_SUITE);
let sendKid = null;
let testMode = false;
const record = [];
const RECORD_MAX = 200;
const counters = new Map(); // trackId -> {...}
const totals = { sealed: 0, opened: 0, dropped: 0, sendDropped: 0, chatSealed: 0, chatOpened: 0, chatDropped: 0 };

function countersFor(trackId, side) {
  let c = counters.get(trackId);
  if (!c) {
    c = { trackId, side, codec: null, sealed: 0, opened: 0, dropped: 0, drops: {}, lastKid: null };
    counters.set(trackId, c);
  }
  return c;
}

function frameCodec(frame, fallback) {
  try {
    const m = frame.getMetadata();
    const c = m && m.mimeType ? codecFromMime(m.mimeType) : null;
    if (c) return c;
  } catch {
    // no metadata: use the option
  }
  return fallback;
}

function drop(c, reason, send) {
  c.dropped++;
  c.drops[reason] = (c.drops[reason] || 0) + 1;
  if (send) totals.sendDropped++;
  else totals.dropped++;
}

async function sendTransform(frame, controller, opts, c) {
  const codec = frameCodec(frame, opts.codec);
  c.codec = codec;
  const kid = sendKid;
  if (kid === null) return drop(c, 'no_key', true);
  const plain = new Uint8Array(frame.data);
  let wire;
  try {
    wire = await sealFrame(sendCtx, codec, kid, plain);
  } catch (e) {
    return drop(c, e.code || 'error', true);
  }
  if (testMode && record.length < RECORD_MAX) recordSealed(opts, codec, plain, wire);
  frame.data = wire.buffer;
  c.sealed++;
  c.lastKid = Number(kid);
  totals.sealed++;
  controller.enqueue(frame);
}

function recordSealed(opts, codec, plain, wire) {
  // The frame sealed, so its prefix rule held: the wire frame is P || SFrame header || ...
  const p = clearPrefixLen(codec, plain);
  let kid = null;
  let ctr = null;
  try {
    const h = decodeHeader(wire.subarray(p));
    kid = Number(h.kid);
    ctr = Number(h.ctr);
  } catch {
    // not for a record
  }
  record.push({
    track: opts.trackId,
    codec,
    kid,
    ctr,
    len: plain.length,
    prefix_len: p,
    head_hex: toHex(plain.subarray(0, 32)),
    body_hex: toHex(plain.subarray(p, p + 32)),
    wire_hex: toHex(wire.subarray(p, p + 32)),
  });
}

async function recvTransform(frame, controller, opts, c) {
  const codec = frameCodec(frame, opts.codec);
  c.codec = codec;
  let r;
  try {
    r = await openFrame(mediaRx, codec, new Uint8Array(frame.data));
  } catch (e) {
    return drop(c, e.code || 'error', false);
  }
  frame.data = r.frame.buffer;
  c.opened++;
  c.lastKid = Number(r.kid);
  totals.opened++;
  controller.enqueue(frame);
}

function attach(transformer) {
  const opts = transformer.options || {};
  const side = opts.side === 'send' ? 'send' : 'recv';
  const c = countersFor(opts.trackId || `${side}-${counters.size}`, side);
  const fn = side === 'send' ? sendTransform : recvTransform;
  transformer.readable
    .pipeThrough(new TransformStream({ transform: (frame, controller) => fn(frame, controller, opts, c) }))
    .pipeTo(transformer.writable)
    .catch((e) => {
      c.pipeError = String(e);
    });
}

self.onrtctransform = (event) => attach(event.transformer);

function reply(id, body) {
  self.postMessage({ type: 'reply', id, ok: true, ...body });
}

function fail(id, e) {
  self.postMessage({ type: 'reply', id, ok: false, error: e && e.code ? e.code : String(e) });
}

function snapshot() {
  return {
    sendKid: sendKid === null ? null : Number(sendKid),
    nextCtr: sendKid === null ? null : Number(sendCtx.nextCounter(sendKid)),
    recvKids: [...mediaRx.keys.keys()].map(Number),
    totals: { ...totals },
    tracks: [...counters.values()].map((c) => ({ ...c, drops: { ...c.drops } })),
  };
}

// Messages are handled one at a time, in order, so a key installed before a seal request is in
// place when the seal runs.
let queue = Promise.resolve();
self.onmessage = (event) => {
  const m = event.data || {};
  queue = queue.then(() => handle(m)).catch((e) => fail(m.id, e));
};

async function handle(m) {
  switch (m.type) {
    case 'config':
      testMode = !!m.test;
      return;
    case 'setSendKey': {
      const kid = BigInt(m.kid);
      const old = sendKid;
      await sendCtx.addSendKey(kid, new Uint8Array(m.key));
      sendKid = kid;
      if (old !== null && old !== kid) sendCtx.removeKey(old);
      if (m.id !== undefined) reply(m.id, {});
      return;
    }
    case 'addRecvKey': {
      const kid = BigInt(m.kid);
      const key = new Uint8Array(m.key);
      await mediaRx.addRecvKey(kid, key);
      await chatRx.addRecvKey(kid, key);
      if (m.id !== undefined) reply(m.id, {});
      return;
    }
    case 'removeKey':
      mediaRx.removeKey(BigInt(m.kid));
      chatRx.removeKey(BigInt(m.kid));
      return;
    case 'sealChat': {
      if (sendKid === null) return fail(m.id, 'no_key');
      try {
        const wire = await sealFrame(sendCtx, 'plain', sendKid, new Uint8Array(m.bytes));
        totals.chatSealed++;
        return reply(m.id, { wire, kid: Number(sendKid) });
      } catch (e) {
        return fail(m.id, e);
      }
    }
    case 'openChat': {
      try {
        const r = await openFrame(chatRx, 'plain', new Uint8Array(m.bytes));
        totals.chatOpened++;
        return reply(m.id, { kid: Number(r.kid), payload: r.frame });
      } catch (e) {
        totals.chatDropped++;
        return fail(m.id, e);
      }
    }
    case 'stats':
      return reply(m.id, { stats: snapshot() });
    case 'testRecord':
      return reply(m.id, { record: testMode ? record.slice() : null });
    default:
      return fail(m.id, `unknown message ${m.type}`);
  }
}
