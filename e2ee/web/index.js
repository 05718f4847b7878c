// @telesfu/e2ee: end-to-end encryption for a telesfu call, for the page (main thread).
//
// The page holds no key. A TelesfuE2ee owns one module worker (worker.js) that makes the
// member key, runs the MLS member and seals/opens every frame; the page relays the `mls`
// signaling messages both ways, hands the worker's public key to the vendor's authority once
// (getCertificate), and attaches the RTCRtpScriptTransforms this object makes. See README.md.

const KEY_LEN = 32;

function fail(message) {
  throw new TypeError(`@telesfu/e2ee: ${message}`);
}

function telesfuError(e) {
  const err = new Error(e && e.message ? e.message : String(e));
  err.name = 'TelesfuError';
  err.code = (e && e.code) || 'internal';
  return err;
}

function checkOptions(o) {
  if (!o || typeof o !== 'object') fail('options must be an object');
  for (const k of ['room', 'participant']) {
    if (typeof o[k] !== 'string' || o[k] === '') fail(`${k} must be a non-empty string`);
  }
  if (!Array.isArray(o.authorityKeys) || o.authorityKeys.length === 0) {
    fail('authorityKeys must be a non-empty array of 32-byte Uint8Array (from your own bundle, never from the SFU)');
  }
  o.authorityKeys.forEach((k, i) => {
    if (!(k instanceof Uint8Array) || k.length !== KEY_LEN) fail(`authorityKeys[${i}] must be a 32-byte Uint8Array`);
  });
  for (const k of ['getCertificate', 'send']) {
    if (typeof o[k] !== 'function') fail(`${k} must be a function`);
  }
  if (o.onEvent !== undefined && typeof o.onEvent !== 'function') fail('onEvent must be a function');
}

/** End-to-end encryption for one participant in one call. */
export class TelesfuE2ee {
  #worker;
  #send;
  #onEvent;
  #replies = new Map();
  #nextId = 1;
  #closed = false;
  #snapshot = { epoch: undefined, code: undefined, roster: [], isMember: false };
  #settle;

  /**
   * Starts the worker at once; `ready` settles when the member exists (after
   * `getCertificate`). Signaling passed in before that is kept and fed in order.
   */
  constructor(options) {
    checkOptions(options);
    this.room = options.room;
    this.participant = options.participant;
    this.#send = options.send;
    this.#onEvent = options.onEvent || (() => {});
    this.ready = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // Unhandled if the caller never awaits it; create() does.
    this.ready.catch(() => {});
    const url = options.workerUrl ?? new URL('./worker.js', import.meta.url);
    this.#worker = new Worker(url, { type: 'module', name: 'telesfu-e2ee' });
    this.#worker.onmessage = (e) => this.#fromWorker(e.data, options.getCertificate);
    this.#worker.onerror = (e) => {
      e.preventDefault?.();
      const err = telesfuError({ code: 'worker', message: `the E2EE worker failed to load or crashed: ${e.message || 'no detail (check the worker URL and the CSP: worker-src, script-src \'wasm-unsafe-eval\')'}` });
      this.#fail(err);
    };
    this.#worker.postMessage({
      op: 'init',
      room: options.room,
      participant: options.participant,
      authorityKeys: options.authorityKeys.map((k) => new Uint8Array(k)),
      config: options.config,
      wasmUrl: options.wasmUrl === undefined ? undefined : String(options.wasmUrl),
    });
  }

  /** A TelesfuE2ee that is ready (its member exists); rejects, and cleans up, if it cannot be. */
  static async create(options) {
    const e = new TelesfuE2ee(options);
    try {
      await e.ready;
    } catch (err) {
      e.close();
      throw err;
    }
    return e;
  }

  #fail(err) {
    this.#settle.reject(err);
    this.#onEvent({ type: 'error', code: err.code, message: err.message });
    for (const [, r] of this.#replies) r.reject(err);
    this.#replies.clear();
  }

  async #fromWorker(m, getCertificate) {
    switch (m.op) {
      case 'publicKey': {
        let certificate;
        try {
          certificate = await getCertificate(m.publicKey);
          if (!(certificate instanceof Uint8Array)) fail('getCertificate must resolve to a Uint8Array');
        } catch (e) {
          this.#worker.postMessage({ op: 'certificateFailed' });
          this.#fail(telesfuError({ code: 'certificate', message: `getCertificate failed: ${e && e.message ? e.message : e}` }));
          return;
        }
        if (!this.#closed) this.#worker.postMessage({ op: 'certificate', certificate });
        break;
      }
      case 'ready':
        this.#snapshot = m.snapshot;
        this.#settle.resolve();
        break;
      case 'failed':
        this.#fail(telesfuError(m.error));
        break;
      case 'send':
        if (!this.#closed) this.#send(m.msg);
        break;
      case 'events':
        this.#snapshot = m.snapshot;
        for (const ev of m.events) this.#onEvent(ev);
        break;
      case 'reply': {
        const r = this.#replies.get(m.id);
        if (!r) break;
        this.#replies.delete(m.id);
        if (m.ok) r.resolve(m.value);
        else r.reject(telesfuError(m.error));
        break;
      }
      default:
        break;
    }
  }

  #request(msg) {
    if (this.#closed) return Promise.reject(telesfuError({ code: 'closed', message: 'this TelesfuE2ee is closed' }));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#replies.set(id, { resolve, reject });
      this.#worker.postMessage({ ...msg, id });
    });
  }

  /** One `{type: 'mls', ...}` message from the server (object or JSON text), in arrival order. */
  handleMessage(message) {
    if (this.#closed) return;
    if (typeof message !== 'string' && (!message || typeof message !== 'object')) {
      fail('handleMessage takes an mls message object or its JSON text');
    }
    this.#worker.postMessage({ op: 'ds', msg: message });
  }

  /** Signaling says `participant` left the call: the remaining members commit its removal. */
  participantLeft(participant) {
    if (this.#closed) return;
    if (typeof participant !== 'string' || participant === '') fail('participantLeft takes a participant id');
    this.#worker.postMessage({ op: 'left', participant });
  }

  /** Sends an end-to-end encrypted chat message; resolves to `{seq}` (1 for the first). */
  sendChat(text) {
    if (typeof text !== 'string') return Promise.reject(new TypeError('@telesfu/e2ee: sendChat takes a string'));
    return this.#request({ op: 'chat', text });
  }

  /** For `RTCRtpSender.transform`: seals every frame of this sender. */
  senderTransform({ codec, trackId } = {}) {
    return this.#transform({ side: 'send', codec, trackId });
  }

  /** For `RTCRtpReceiver.transform`: opens frames that must come from `participant`'s leaf. */
  receiverTransform({ participant, codec, trackId } = {}) {
    if (typeof participant !== 'string' || participant === '') fail('receiverTransform needs the participant the track comes from');
    return this.#transform({ side: 'receive', participant, codec, trackId });
  }

  #transform(options) {
    if (this.#closed) fail('this TelesfuE2ee is closed');
    if (typeof RTCRtpScriptTransform !== 'function') {
      fail('this browser has no RTCRtpScriptTransform (encoded transforms in a worker); E2EE cannot run here');
    }
    if (options.codec !== undefined && typeof options.codec !== 'string') fail('codec must be a string such as "VP8" or "video/VP8"');
    return new RTCRtpScriptTransform(this.#worker, options);
  }

  /** The current epoch (undefined before joining). */
  get epoch() {
    return this.#snapshot.epoch;
  }

  /** The verification code of the current epoch: compare it aloud; equal codes, same keys. */
  get code() {
    return this.#snapshot.code;
  }

  /** The verified members of the current epoch. */
  get roster() {
    return this.#snapshot.roster;
  }

  /** True once in the group. */
  get isMember() {
    return this.#snapshot.isMember;
  }

  /** A fresh look at everything: epoch, code, roster, session counters, per-track frame counts. */
  state() {
    return this.#request({ op: 'state' });
  }

  /** Erases the keys and stops the worker. Idempotent. */
  async close() {
    if (this.#closed) return;
    const done = this.#request({ op: 'close' }).catch(() => {});
    this.#closed = true;
    // The worker erases its keys on 'close'; wait for that briefly, then stop it either way.
    await Promise.race([done, new Promise((r) => setTimeout(r, 1000))]);
    this.#worker.terminate();
    const err = telesfuError({ code: 'closed', message: 'this TelesfuE2ee is closed' });
    for (const [, r] of this.#replies) r.reject(err);
    this.#replies.clear();
    this.#settle.reject(err);
  }
}

export default TelesfuE2ee;
