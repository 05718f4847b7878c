// Runs in the page: the real @telesfu/e2ee package (index.js + worker.js + pkg/) with no
// server. The room's Delivery Service is the wasm DeliveryService run here, certificates come
// from a test Authority (fixed seed), signaling goes through JSON text as on a WebSocket, and
// media flows over loopback RTCPeerConnections through the package's transforms. The "server"
// around the DS (Room) is also the adversary of docs/threat-model.md: it can hold back, drop,
// reorder, replay and inject any message it relays, and race commits at the DS.
//
// Each exported phase returns [{name, ok, figures}]; worker-loopback.mjs prints them.
import init, { Authority, Client, Codec, DeliveryService, memberPublicKey } from '/e2ee/pkg/telesfu_e2ee_wasm.js';

// Record everything the package's workers post to the page: it must carry no key material.
const fromWorkers = [];
class RecordingWorker extends Worker {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (e) => fromWorkers.push(e.data));
  }
}
globalThis.Worker = RecordingWorker;
const { TelesfuE2ee } = await import('/e2ee/index.js');

const ROOM = 'visit-loopback';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const unixNow = () => Math.floor(Date.now() / 1000);

await init();
const authority = new Authority(new Uint8Array(32).fill(42));
const authorityKey = authority.publicKey();

function certify(participant, name, role) {
  return async (publicKey) =>
    authority.issue({ subject: `sub-${participant}`, name, role, tenant: 'clinic-a', room: ROOM, notBefore: unixNow() - 60, notAfter: unixNow() + 3600 }, publicKey);
}

/** Polls `cond` every 50 ms for at most `ms`; true when it held. A bound, not a measurement. */
async function until(cond, ms = 15000) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await cond()) return true;
    await sleep(50);
  }
  return !!(await cond());
}

/** Signaling messages the in-page DS refused as malformed, over every room of the run. */
const badMessages = [];

/**
 * One room: the wasm DS and the "server" around it, which relays each member's `mls` message
 * to the DS and the DS's answer to the members. The server is the adversary, so the tests can
 * make it misbehave: `tap(to, msg)` sees every delivery and drops (holds) it by returning
 * false; `holdCommits()` keeps commits from reaching the DS until several are in, then hands
 * them over back to back (a race it forces); `inject()` sends any message to one member.
 * `log` keeps every message the server sent, for replaying.
 */
class Room {
  constructor({ config } = {}) {
    this.ds = new DeliveryService(ROOM, [authorityKey]);
    this.config = config;
    this.members = new Map();
    this.log = [];
    this.tap = null;
    this.hold = null;
    /** participant -> sends its held-back `rejected` now. */
    this.deferred = new Map();
  }

  /** A member joins: its E2EE starts, the "server" sends it the DS state, as after `joined`. */
  add(participant, name, role = 'clinician', { joinGroup = true } = {}) {
    const events = [];
    const e2ee = new TelesfuE2ee({
      room: ROOM,
      participant,
      authorityKeys: [authorityKey],
      getCertificate: certify(participant, name, role),
      send: (m) => this.fromMember(participant, m),
      onEvent: (ev) => events.push(ev),
      config: this.config,
    });
    const m = { participant, name, e2ee, events };
    this.members.set(participant, m);
    if (joinGroup) {
      const state = this.ds.state();
      this.log.push({ to: [participant], msg: state });
      e2ee.handleMessage(JSON.stringify(state));
    }
    return m;
  }

  fromMember(participant, msg) {
    const text = JSON.stringify(msg); // what a WebSocket carries
    setTimeout(() => {
      // A held-back rejection goes out just before the member's next commit reaches the DS.
      if (msg.op === 'commit') this.deferred.get(participant)?.();
      if (this.hold && msg.op === 'commit') return this.holdCommit(participant, text);
      this.toDs(participant, text);
    }, 0);
  }

  toDs(participant, text, { deferRejectionMs = 0 } = {}) {
    let d;
    try {
      d = this.ds.handle(text, Date.now(), participant);
    } catch (e) {
      badMessages.push(`${participant}: ${e.code} ${e.message}`);
      return;
    }
    const all = [...this.members.keys()].filter((p) => this.members.get(p).inGroup !== false);
    const to = d.to === 'sender' ? [participant] : d.to === 'all' ? all : all.filter((p) => p !== participant);
    this.log.push({ from: participant, to, msg: d.msg });
    const out = JSON.stringify(d.msg);
    for (const p of to) {
      if (this.tap && this.tap(p, d.msg) === false) continue;
      if (d.msg.op === 'rejected' && deferRejectionMs > 0) this.deferRejection(p, out, deferRejectionMs);
      else this.members.get(p)?.e2ee.handleMessage(out);
    }
  }

  /** Holds `out` (a `rejected`) for `p` until p's next commit reaches the server, or `boundMs`. */
  deferRejection(p, out, boundMs) {
    const send = () => {
      clearTimeout(timer);
      this.deferred.delete(p);
      this.members.get(p)?.e2ee.handleMessage(out);
    };
    const timer = setTimeout(send, boundMs);
    this.deferred.set(p, send);
  }

  /**
   * The next commits go to the DS only once `count` of them are in (or after `boundMs`, so a
   * run without a race cannot hang), then all at once, in arrival order or `reversed` (the
   * server picks the winner). With `deferRejectionMs` a loser gets its `rejected` only when
   * its next commit reaches the server, just before that commit goes to the DS (or after
   * `deferRejectionMs` if it sends none). Resolves to who sent the commits, in the order
   * handed over.
   */
  holdCommits(count, { reversed = false, boundMs = 5000, deferRejectionMs = 0 } = {}) {
    return new Promise((resolve) => {
      const held = [];
      const flush = () => {
        clearTimeout(timer);
        this.hold = null;
        if (reversed) held.reverse();
        for (const [p, text] of held) this.toDs(p, text, { deferRejectionMs });
        resolve(held.map(([p]) => p));
      };
      const timer = setTimeout(flush, boundMs);
      this.hold = { held, count, flush };
    });
  }

  holdCommit(participant, text) {
    this.hold.held.push([participant, text]);
    if (this.hold.held.length >= this.hold.count) this.hold.flush();
  }

  /** A message the server makes up or replays, sent to member `p` alone, past the DS. */
  inject(p, msg) {
    this.members.get(p)?.e2ee.handleMessage(JSON.stringify(msg));
  }

  async leave(participant) {
    await this.leaveAll([participant]);
  }

  /**
   * `participants` leave: the server stops relaying to them and tells every remaining member,
   * all in one go (`gapMs` 0) or one by one `gapMs` apart (each still a member until it goes).
   */
  async leaveAll(participants, gapMs = 0) {
    const batches = gapMs > 0 ? participants.map((p) => [p]) : [participants];
    const closing = [];
    for (const [i, batch] of batches.entries()) {
      if (i > 0) await sleep(gapMs);
      for (const p of batch) {
        closing.push(this.members.get(p).e2ee.close());
        this.members.delete(p);
      }
      for (const o of this.members.values()) for (const p of batch) o.e2ee.participantLeft(p);
    }
    await Promise.all(closing);
    if (this.members.size === 0) this.ds.reset();
  }

  group() {
    return [...this.members.values()].filter((m) => m.inGroup !== false);
  }

  /** Every group member: the same epoch and code, rosters equal, of `n` members. */
  agreed(n) {
    const ms = this.group();
    const first = ms[0].e2ee;
    const key = (r) => r.map((x) => `${x.leaf}:${x.participant}:${x.fingerprint}`).sort().join(',');
    return ms.every((m) => m.e2ee.epoch !== undefined && m.e2ee.epoch === first.epoch && m.e2ee.code === first.code && m.e2ee.roster.length === n && key(m.e2ee.roster) === key(first.roster));
  }

  summary() {
    return this.group().map((m) => `${m.participant}: epoch ${m.e2ee.epoch} code ${m.e2ee.code} (${m.e2ee.roster.length})`).join('; ');
  }

  /** Everyone's snapshot: epoch, code and roster (leaf:participant:fingerprint), as one string. */
  view() {
    return this.group().map((m) => `${m.participant}@${m.e2ee.epoch}/${m.e2ee.code}/${m.e2ee.roster.map((r) => `${r.leaf}:${r.participant}:${r.fingerprint}`).sort().join(',')}`).join(' | ');
  }

  async close(links = []) {
    for (const l of links) l.close();
    for (const m of this.members.values()) await m.e2ee.close();
    this.members.clear();
    this.ds.free();
  }
}

let stream = null;
async function camera() {
  stream ??= await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
  return stream;
}

async function inbound(pc, kind) {
  let out = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === kind) out = s;
  });
  return out;
}

/** Media from `from` to `to` through their transforms; `bindAs` is who `to` thinks it comes from. */
async function link(from, to, { bindAs = from.participant, audio = false } = {}) {
  const s = await camera();
  const tag = `${from.participant}>${to.participant}`;
  const pa = new RTCPeerConnection();
  const pb = new RTCPeerConnection();
  pa.onicecandidate = (e) => e.candidate && pb.addIceCandidate(e.candidate);
  pb.onicecandidate = (e) => e.candidate && pa.addIceCandidate(e.candidate);
  const vt = pa.addTransceiver(s.getVideoTracks()[0].clone(), { direction: 'sendonly' });
  vt.setCodecPreferences(RTCRtpSender.getCapabilities('video').codecs.filter((c) => /vp8|rtx/i.test(c.mimeType)));
  vt.sender.transform = from.e2ee.senderTransform({ codec: 'VP8', trackId: `${tag}:video:send` });
  if (audio) {
    const at = pa.addTransceiver(s.getAudioTracks()[0].clone(), { direction: 'sendonly' });
    at.sender.transform = from.e2ee.senderTransform({ codec: 'opus', trackId: `${tag}:audio:send` });
  }
  pb.ontrack = (e) => {
    e.receiver.transform = to.e2ee.receiverTransform({ participant: bindAs, codec: e.track.kind === 'video' ? 'VP8' : 'opus', trackId: `${tag}:${e.track.kind}:recv` });
  };
  await pa.setLocalDescription();
  await pb.setRemoteDescription(pa.localDescription);
  await pb.setLocalDescription();
  await pa.setRemoteDescription(pb.localDescription);
  return {
    tag,
    video: () => inbound(pb, 'video'),
    audio: () => inbound(pb, 'audio'),
    /**
     * From now on `member`'s worker seals this link's video: same RTP stream, same receiver.
     * Chromium sometimes holds back the frames meant for a transform that replaced one of
     * another worker (none reach it until the transform changes again), so this sets a fresh
     * one until the new worker seals about half the frame rate (at most 4 tries). Returns the
     * trackIds used, the one that took last.
     */
    sealWith: async (member, trackId) => {
      const ids = [];
      for (let i = 0; i < 4; i++) {
        ids.push(`${trackId}#${i}`);
        vt.sender.transform = member.e2ee.senderTransform({ codec: 'VP8', trackId: ids.at(-1) });
        if (await until(async () => (await track(member, ids.at(-1))).frames >= 15, 1500)) break;
      }
      return ids;
    },
    close: () => {
      for (const t of pa.getSenders()) t.track?.stop();
      pa.close();
      pb.close();
    },
  };
}

async function track(member, trackId) {
  const st = await member.e2ee.state();
  return st.tracks.find((t) => t.trackId === trackId) || { frames: 0, dropped: {} };
}

/** Frames decoded now and `ms` later (the receiver keeps decoding through the transform). */
async function decoding(l, ms = 2000) {
  const a = (await l.video()).framesDecoded ?? 0;
  await sleep(ms);
  const b = (await l.video()).framesDecoded ?? 0;
  return [a, b];
}

/** Typed arrays anywhere inside `x`, with their paths. */
function byteArrays(x, path = '', out = []) {
  if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer) out.push(`${path} (${x.byteLength} B)`);
  else if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) byteArrays(v, `${path}.${k}`, out);
  return out;
}

const room = new Room();
const links = {};
const results = [];
const check = (name, ok, figures) => results.push({ name, ok: !!ok, figures: String(figures) });

export async function phase(name) {
  results.length = 0;
  try {
    await PHASES[name]();
  } catch (e) {
    check(`${name}: no exception`, false, `${e && e.code ? e.code + ' ' : ''}${e && e.stack ? e.stack : e}`);
  }
  return [...results];
}

const PHASES = {
  // The wasm Client directly (no worker): error codes, and memory that stays flat per frame.
  async api() {
    const ds = new DeliveryService(ROOM, [authorityKey]);
    const mk = (p) => {
      const seed = crypto.getRandomValues(new Uint8Array(32));
      const cert = authority.issue({ subject: `sub-${p}`, name: p, room: ROOM, notBefore: unixNow() - 60, notAfter: unixNow() + 3600 }, memberPublicKey(seed));
      return new Client(ROOM, p, [authorityKey], seed, cert, crypto.getRandomValues(new Uint8Array(32)), performance.now(), Date.now());
    };
    const clients = { x: mk('x'), y: mk('y') };
    const pump = () => {
      for (let moved = true; moved; ) {
        moved = false;
        for (const [p, c] of Object.entries(clients)) {
          for (let m = c.pollTransmit(); m; m = c.pollTransmit()) {
            moved = true;
            const d = ds.handle(m, Date.now(), p);
            const to = d.to === 'sender' ? [p] : Object.keys(clients).filter((q) => d.to === 'all' || q !== p);
            for (const q of to) clients[q].handleDs(performance.now(), d.msg);
          }
          while (c.pollEvent()) {}
        }
      }
    };
    clients.x.handleDs(performance.now(), ds.state());
    pump();
    clients.y.handleDs(performance.now(), ds.state());
    pump();
    // x seals under epoch 0 for the switch delay: run its timer.
    await until(() => {
      clients.x.handleTimeout(performance.now());
      pump();
      return clients.x.stats().sendKid % 16 === 1; // KID = leaf << 4 | epoch mod 16
    }, 5000);
    check('api: two clients agree', clients.x.code() === clients.y.code() && clients.x.epoch() === 1, `epoch ${clients.x.epoch()}/${clients.y.epoch()}, codes ${clients.x.code()} | ${clients.y.code()}`);
    const frame = new Uint8Array(1200);
    frame.set([0x30, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
    const codeOf = (fn) => {
      try {
        fn();
        return 'ok';
      } catch (e) {
        return e.code;
      }
    };
    const wire = clients.x.seal(Codec.Vp8, frame);
    const opened = clients.y.open('x', Codec.Vp8, wire);
    check('api: seal then open gives the frame back', opened.length === frame.length && opened.every((b, i) => b === frame[i]) && wire.length > frame.length, `${frame.length} -> ${wire.length} -> ${opened.length} bytes`);
    const codes = {
      replayed: codeOf(() => clients.y.open('x', Codec.Vp8, wire)),
      unknown_sender: codeOf(() => clients.y.open('nobody', Codec.Vp8, wire)),
      malformed: codeOf(() => clients.x.seal(Codec.Vp8, new Uint8Array([0x30, 0x02]))),
      invalid_argument: codeOf(() => clients.x.seal(Codec.Vp8, [1, 2, 3])),
      bad_message: codeOf(() => clients.x.handleDs(performance.now(), { type: 'mls', op: 'commit', commit: 'AA==' })),
      certificate: codeOf(() => new Client(ROOM, 'z', [authorityKey], new Uint8Array(32), new Uint8Array(10), new Uint8Array(32), 0, Date.now())),
    };
    check('api: stable error codes', Object.entries(codes).every(([k, v]) => k === v), JSON.stringify(codes));
    // Memory: after warm-up, thousands of seal/open pairs must not grow the wasm heap.
    const wasm = await init();
    const frames = [300, 1200, 5000, 900].map((n) => {
      const f = new Uint8Array(n);
      f.set([0x31, 0x02, 0x00]);
      return f;
    });
    const round = (n) => {
      for (let i = 0; i < n; i++) {
        const f = frames[i % frames.length];
        const out = clients.y.open('x', Codec.Vp8, clients.x.seal(Codec.Vp8, f));
        if (out.length !== f.length) throw new Error('round trip changed the frame');
      }
    };
    round(2000);
    const before = wasm.memory.buffer.byteLength;
    round(20000);
    const after = wasm.memory.buffer.byteLength;
    check('api: 20000 frames leave the wasm memory as it was', after === before, `${before} -> ${after} bytes after 20000 seal+open`);
    for (const c of Object.values(clients)) c.free();
    ds.free();
  },

  async two() {
    // One after the other, as people arrive (simultaneous creates are telesfu-e2ee's own
    // test, tests/mls_session.rs).
    const a = room.add('a', 'Ana', 'clinician');
    await a.e2ee.ready;
    await until(() => a.e2ee.isMember, 5000);
    const b = room.add('b', 'Ben', 'patient');
    await b.e2ee.ready;
    const ok = await until(() => room.agreed(2));
    check('two members agree on epoch, code and roster', ok && /^(\d{5} ){5}\d{5}$/.test(a.e2ee.code), room.summary());
    const names = a.e2ee.roster.map((r) => `${r.participant}=${r.name}/${r.role}${r.isSelf ? '*' : ''}`).sort().join(' ');
    check('roster carries the certified names and roles', names === 'a=Ana/clinician* b=Ben/patient', names);
    links.ab = await link(a, b, { audio: true });
    links.ba = await link(b, a);
    await sleep(3000);
    const [v0, v1] = await decoding(links.ab);
    const [w0, w1] = await decoding(links.ba, 0);
    check('video decodes through seal/open (a -> b)', v0 > 0 && v1 > v0, `framesDecoded ${v0} -> ${v1}, ${(await links.ab.video()).frameWidth}x${(await links.ab.video()).frameHeight}`);
    check('video decodes through seal/open (b -> a)', w1 > 0, `framesDecoded ${w1}`);
    const au = await links.ab.audio();
    const sv = await track(a, 'a>b:video:send');
    const sa = await track(a, 'a>b:audio:send');
    const rv = await track(b, 'a>b:video:recv');
    const ra = await track(b, 'a>b:audio:recv');
    // Nobody plays the audio in a headless page, so count Opus frames opened, not samples.
    check('audio flows through seal/open', sa.frames > 0 && ra.frames > 0 && (au.packetsReceived ?? 0) > 0,
      `a sealed ${sa.frames} Opus frames, b opened ${ra.frames} (dropped ${JSON.stringify(ra.dropped)}), ${au.packetsReceived} RTP packets`);
    check('worker counters add up', sv.frames > 0 && rv.frames > 0 && rv.frames <= sv.frames, `a sealed ${sv.frames} video (dropped ${JSON.stringify(sv.dropped)}), b opened ${rv.frames} (dropped ${JSON.stringify(rv.dropped)})`);
    const st = await a.e2ee.state();
    check('one send key and counter for all tracks', st.stats.sealed >= sv.frames + sa.frames && st.stats.sendKid !== null, `client sealed ${st.stats.sealed} >= ${sv.frames} video + ${sa.frames} audio, KID ${st.stats.sendKid}`);
    // Chat: two from a, one from b.
    const s1 = await a.e2ee.sendChat('hello from Ana');
    const s2 = await a.e2ee.sendChat('second');
    const s3 = await b.e2ee.sendChat('héllo from Ben ✓');
    const got = await until(() => b.events.filter((e) => e.type === 'chat').length >= 2 && a.events.some((e) => e.type === 'chat'), 5000);
    const bChats = b.events.filter((e) => e.type === 'chat');
    const aChats = a.events.filter((e) => e.type === 'chat');
    check('chat round-trips with seq and order', got && s1.seq === 1 && s2.seq === 2 && s3.seq === 1 &&
      bChats.map((c) => `${c.seq}:${c.order}:${c.from.name}:${c.text}`).join('|') === '1:inOrder:Ana:hello from Ana|2:inOrder:Ana:second' &&
      aChats.map((c) => `${c.seq}:${c.from.participant}:${c.text}`).join('|') === '1:b:héllo from Ben ✓',
      `b sees ${JSON.stringify(bChats.map((c) => [c.seq, c.order, c.from.name, c.text]))}, a sees ${JSON.stringify(aChats.map((c) => [c.seq, c.text]))}`);
  },

  async join() {
    const [a, b] = [room.members.get('a'), room.members.get('b')];
    const before = a.e2ee.epoch;
    const c = room.add('c', 'Cy', 'interpreter');
    await c.e2ee.ready;
    const ok = await until(() => room.agreed(3) && a.e2ee.epoch === before + 1);
    check('a join changes the epoch everywhere', ok, `before ${before}; ${room.summary()}`);
    const added = a.events.filter((e) => e.type === 'epoch').at(-1);
    check('the epoch event names who came', added && added.added.map((r) => r.name).join() === 'Cy' && added.code === a.e2ee.code, JSON.stringify(added && { epoch: added.epoch, added: added.added.map((r) => r.name), removed: added.removed.length }));
    await sleep(1500); // the send key switches 1 s after the commit
    const [v0, v1] = await decoding(links.ab);
    const st = await a.e2ee.state();
    check('video still decodes after the join (new key in use)', v1 > v0 && st.stats.sendKid % 16 === a.e2ee.epoch % 16, `framesDecoded ${v0} -> ${v1}; a seals with KID ${st.stats.sendKid} at epoch ${a.e2ee.epoch}`);
    void b;
  },

  async four() {
    const [a, b] = [room.members.get('a'), room.members.get('b')];
    const d = room.add('d', 'Dee', 'observer');
    await d.e2ee.ready;
    const ok = await until(() => room.agreed(4));
    check('four members agree on epoch, code and roster', ok, room.summary());
    await d.e2ee.sendChat('four of us');
    const all = await until(() => ['a', 'b', 'c'].every((p) => room.members.get(p).events.some((e) => e.type === 'chat' && e.text === 'four of us' && e.seq === 1 && e.from.name === 'Dee')), 5000);
    check('chat reaches all three others', all, ['a', 'b', 'c'].map((p) => `${p}: ${room.members.get(p).events.filter((e) => e.type === 'chat').length} chats`).join(', '));
    // Negative control, and the insider KID spoof as the SFU would stage it: d's receiver bound
    // to b (frames must open under b's leaf) gets a's video. Meanwhile b's own video reaches d
    // on another receiver.
    await sleep(1500);
    links.bd = await link(b, d);
    links.wrong = await link(a, d, { bindAs: 'b' });
    await sleep(3000);
    const bd0 = (await links.bd.video()).framesDecoded ?? 0;
    const v = await links.wrong.video();
    const t = await track(d, 'a>d:video:recv');
    // framesReceived counts what the receive transform passed on: 0 when every frame is dropped.
    check('wrong participant binding: nothing decodes, frames dropped', (v.framesReceived ?? 0) === 0 && (v.framesDecoded ?? 0) === 0 && t.frames === 0 && (t.dropped.not_of_sender ?? 0) > 0,
      `framesReceived ${v.framesReceived ?? 0}, framesDecoded ${v.framesDecoded ?? 0}; d opened ${t.frames}, dropped ${JSON.stringify(t.dropped)}`);
    // Now b's worker seals that same RTP stream: the receiver bound to b must open b's real
    // frames after refusing a's (nothing a sent moved b's replay window), and b's other track
    // kept decoding all along.
    const wrongDecoded = v.framesDecoded ?? 0;
    const swaps = await links.wrong.sealWith(b, 'a>d:video:send-now-by-b');
    await sleep(3000);
    const bd1 = (await links.bd.video()).framesDecoded ?? 0;
    const v2 = await links.wrong.video();
    const t2 = await track(d, 'a>d:video:recv');
    const sb = { frames: 0 };
    for (const id of swaps) sb.frames += (await track(b, id)).frames;
    const refusedLater = (t2.dropped.not_of_sender ?? 0) - (t.dropped.not_of_sender ?? 0);
    const windowCodes = ['replayed', 'too_old', 'auth_failed'].map((c) => t2.dropped[c] ?? 0).reduce((x, y) => x + y, 0);
    check('insider KID spoof: after refusing a\'s frames, the receiver bound to b opens b\'s real ones; b\'s other track decoded throughout',
      sb.frames > 0 && t2.frames > 0 && (v2.framesDecoded ?? 0) > wrongDecoded && windowCodes === 0 && bd1 > bd0 && bd0 > 0,
      `same receiver: opened ${t.frames} -> ${t2.frames} of ${sb.frames} b sealed (b's transform set ${swaps.length}x), framesDecoded ${wrongDecoded} -> ${v2.framesDecoded ?? 0}, dropped ${JSON.stringify(t2.dropped)}, ${refusedLater} of them not_of_sender after the switch; b>d framesDecoded ${bd0} -> ${bd1}`);
    links.wrong.close();
    links.bd.close();
    delete links.wrong;
    delete links.bd;
  },

  async leave() {
    const a = room.members.get('a');
    let before = a.e2ee.epoch;
    await room.leave('c');
    let ok = await until(() => room.agreed(3) && a.e2ee.epoch === before + 1);
    check('a leave changes the epoch everywhere (4 -> 3)', ok, `before ${before}; ${room.summary()}`);
    const removed = a.events.filter((e) => e.type === 'epoch').at(-1);
    check('the epoch event names who went', removed && removed.removed.map((r) => r.name).join() === 'Cy', JSON.stringify(removed && { epoch: removed.epoch, removed: removed.removed.map((r) => r.name) }));
    before = a.e2ee.epoch;
    await room.leave('d');
    ok = await until(() => room.agreed(2) && a.e2ee.epoch === before + 1);
    check('another leave changes it again (3 -> 2)', ok, `before ${before}; ${room.summary()}`);
    await sleep(1500);
    const [v0, v1] = await decoding(links.ab);
    check('video still decodes after the leaves', v1 > v0, `framesDecoded ${v0} -> ${v1}`);
  },

  // The server drops, reorders and replays chat. It holds back a's chat to b, then hands it
  // over as three, one, four (two never) and one again; a fifth goes through as usual.
  async chat() {
    const [a, b] = [room.members.get('a'), room.members.get('b')];
    const held = [];
    room.tap = (to, msg) => {
      if (msg.op !== 'app' || msg.from !== 'a' || to !== 'b') return true;
      held.push(msg);
      return false;
    };
    const texts = ['one', 'two', 'three', 'four'];
    const seqs = [];
    for (const text of texts) seqs.push((await a.e2ee.sendChat(text)).seq);
    const gotAll = await until(() => held.length === texts.length, 5000);
    room.tap = null;
    const mark = b.events.length;
    const heldBack = b.events.filter((e) => e.type === 'chat' && texts.includes(e.text)).length;
    for (const i of [2, 0, 3, 0]) room.inject('b', held[i]);
    // b handles its messages in order: once it shows the fifth, it has handled all four.
    const s5 = (await a.e2ee.sendChat('five')).seq;
    const done = await until(() => b.events.slice(mark).some((e) => e.type === 'chat' && e.text === 'five'), 5000);
    const evs = b.events.slice(mark);
    const chats = evs.filter((e) => e.type === 'chat');
    const shown = chats.map((c) => `${c.seq}:${c.text}:${c.order}${c.order === 'afterGap' ? `(missing ${c.missing})` : ''}`);
    const [s1, , s3, s4] = seqs;
    const want = [`${s3}:three:afterGap(missing 2)`, `${s1}:one:late`, `${s4}:four:inOrder`, `${s5}:five:inOrder`];
    check('chat reordered and dropped by the server: b shows the gap and the late one, in its sender\'s sequence',
      gotAll && done && heldBack === 0 && seqs.every((q, i) => i === 0 || q === seqs[i - 1] + 1) && s5 === s4 + 1 && shown.join(' | ') === want.join(' | ') && chats.every((c) => c.from.participant === 'a'),
      `a sent seq ${[...seqs, s5].join(',')}; server held ${held.length} (b showed ${heldBack} meanwhile), delivered three, one, four, one again; b shows ${shown.join(' | ') || 'nothing'}`);
    const refused = evs.filter((e) => e.type === 'refused');
    const counts = Object.fromEntries([...texts, 'five'].map((t) => [t, chats.filter((c) => c.text === t).length]));
    check('a replayed chat message is refused, none is shown twice',
      done && refused.length === 1 && refused[0].kind === 'application' && Object.values(counts).every((n) => n <= 1) && counts.two === 0,
      `refused ${JSON.stringify(refused.map((e) => [e.kind, e.reason]))}; times shown ${JSON.stringify(counts)}`);
  },

  // Grinding and injection: the server makes up joins from ghosts its own authority certified
  // (each from the DS's current GroupInfo, as a real join would be), announces their
  // GroupInfos as the group's newer state, replays every commit and state it ever sent and
  // says the room has no group. Every member refuses each, and nothing moves.
  async inject() {
    const members = [room.members.get('a'), room.members.get('b')];
    const before = room.view();
    const dsBefore = `DS epoch ${room.ds.epoch}, accepted ${room.ds.accepted}, rejected ${room.ds.rejected}`;
    const rogue = new Authority(new Uint8Array(32).fill(0x66));
    const ghosts = [];
    for (let i = 0; i < 30; i++) {
      const seed = crypto.getRandomValues(new Uint8Array(32));
      const cert = rogue.issue({ subject: `sub-ghost-${i}`, name: `Ghost ${i}`, role: 'clinician', tenant: 'clinic-a', room: ROOM, notBefore: unixNow() - 60, notAfter: unixNow() + 3600 }, memberPublicKey(seed));
      const g = new Client(ROOM, `ghost-${i}`, [authorityKey, rogue.publicKey()], seed, cert, crypto.getRandomValues(new Uint8Array(32)), performance.now(), Date.now());
      g.handleDs(performance.now(), room.ds.state());
      const m = g.pollTransmit();
      g.free();
      if (m && m.op === 'commit' && m.groupInfo) ghosts.push(m);
    }
    const oldCommits = room.log.filter((e) => e.msg.op === 'commit').map((e) => e.msg);
    const oldStates = room.log.filter((e) => e.msg.op === 'state').map((e) => e.msg);
    const marks = members.map((m) => m.events.length);
    const logMark = room.log.length;
    for (const m of members) {
      for (const g of ghosts) {
        room.inject(m.participant, { type: 'mls', op: 'commit', commit: g.commit });
        room.inject(m.participant, { type: 'mls', op: 'state', groupInfo: g.groupInfo });
      }
      for (const c of oldCommits) room.inject(m.participant, c);
      for (const st of oldStates) room.inject(m.participant, st);
      room.inject(m.participant, { type: 'mls', op: 'state', groupInfo: null });
    }
    // What each member must refuse: every ghost commit and every replayed commit; every ghost
    // GroupInfo and every "no group" state. A replayed GroupInfo of an older epoch is not news
    // and changes nothing (no event).
    const noGroup = oldStates.filter((st) => st.groupInfo === null).length + 1;
    const want = { commit: ghosts.length + oldCommits.length, groupInfo: ghosts.length + noGroup };
    const refusedOf = (m, i) => m.events.slice(marks[i]).filter((e) => e.type === 'refused');
    const tally = (m, i) => {
      const r = refusedOf(m, i);
      return { commit: r.filter((e) => e.kind === 'commit').length, groupInfo: r.filter((e) => e.kind === 'groupInfo').length, other: r.filter((e) => e.kind !== 'commit' && e.kind !== 'groupInfo').length };
    };
    const allIn = await until(() => members.every((m, i) => { const t = tally(m, i); return t.commit + t.groupInfo >= want.commit + want.groupInfo; }), 20000);
    // Anything the members sent because of it (a sync, a commit) reaches the DS first: let it.
    await sleep(500);
    const after = room.view();
    const dsAfter = `DS epoch ${room.ds.epoch}, accepted ${room.ds.accepted}, rejected ${room.ds.rejected}`;
    const tallies = members.map((m, i) => tally(m, i));
    const moved = members.map((m, i) => m.events.slice(marks[i]).filter((e) => e.type === 'epoch' || e.type === 'joined' || e.type === 'removed').length);
    const reasons = [...new Set(members.flatMap((m, i) => refusedOf(m, i).map((e) => `${e.kind}: ${e.reason.replace(/\d+/g, 'N').slice(0, 90)}`)))];
    check(`injection and grinding: ${ghosts.length} ghost joins, ${ghosts.length} ghost states, ${oldCommits.length} old commits, ${oldStates.length + 1} stale states: every member refuses each`,
      ghosts.length === 30 && allIn && tallies.every((t) => t.commit === want.commit && t.groupInfo === want.groupInfo && t.other === 0),
      `${members.map((m, i) => `${m.participant} refused ${tallies[i].commit} commits, ${tallies[i].groupInfo} GroupInfos, ${tallies[i].other} other`).join('; ')} (want ${want.commit}, ${want.groupInfo}); reasons: ${reasons.join(' / ')}`);
    check('injection and grinding: epoch, code and roster did not move at all',
      after === before && moved.every((n) => n === 0) && dsAfter === dsBefore,
      `before ${before}; after ${after}; epoch/joined/removed events since: ${moved.join(', ')}; ${dsBefore} -> ${dsAfter}, ${room.log.length - logMark} DS answers since`);
    const [v0, v1] = await decoding(links.ab, 1500);
    check('video still decodes after the injections', v1 > v0, `framesDecoded ${v0} -> ${v1}`);
  },

  async nokeys() {
    const a = room.members.get('a');
    // z has a certificate but the server never gives it the group: it holds no key.
    const z = room.add('z', 'Zed', 'observer', { joinGroup: false });
    z.inGroup = false;
    await z.e2ee.ready;
    const az = await link(a, z);
    const za = await link(z, a);
    await sleep(3000);
    const v = await az.video();
    const rz = await track(z, 'a>z:video:recv');
    check('no keys at the receiver: nothing decodes, frames dropped', (v.framesReceived ?? 0) === 0 && (v.framesDecoded ?? 0) === 0 && rz.frames === 0 && Object.values(rz.dropped).reduce((x, y) => x + y, 0) > 0,
      `framesReceived ${v.framesReceived ?? 0}, framesDecoded ${v.framesDecoded ?? 0}; z opened ${rz.frames}, dropped ${JSON.stringify(rz.dropped)}`);
    const w = await za.video();
    const sz = await track(z, 'z>a:video:send');
    const ra = await track(a, 'z>a:video:recv');
    const arrived = ra.frames + Object.values(ra.dropped).reduce((x, y) => x + y, 0);
    check('no keys at the sender: nothing is sent, in clear or otherwise', sz.frames === 0 && (sz.dropped.no_key ?? 0) > 0 && arrived === 0 && (w.framesDecoded ?? 0) === 0,
      `z sealed ${sz.frames}, dropped ${JSON.stringify(sz.dropped)}; frames reaching a's transform ${arrived}, a decoded ${w.framesDecoded ?? 0}`);
    az.close();
    za.close();
    await z.e2ee.close();
    room.members.delete('z');
  },

  // The rekey race: in a four-member call two participants leave at the same moment, and the
  // server makes the remaining members' removal commits race: it holds each commit back until
  // a second one is in, then hands both to the DS back to back (the second time in reverse
  // order, so the later commit wins). It sends the loser its `rejected` only when the loser's
  // next commit comes in, just before passing that commit on (it may delay anything; with no
  // delay at all the loser's worker often runs its removal timer between the winning commit
  // and the rejection, which gives the same order). A second run has the leaves 300 ms apart,
  // so the winning commit does not remove everyone the loser wanted gone and the loser commits
  // again.
  async race() {
    const r = new Room();
    const m = {};
    const join = async (p, name) => {
      m[p] = r.add(p, name);
      await m[p].e2ee.ready;
      return until(() => r.agreed(r.members.size));
    };
    for (const [p, name] of [['p', 'Pia'], ['q', 'Quin'], ['r', 'Rae'], ['s', 'Sol']]) await join(p, name);
    const qs = await link(m.q, m.s);
    const sq = await link(m.s, m.q);
    const runs = [
      { label: 'two leave together', leavers: ['p', 'r'], gapMs: 0, reversed: false },
      { label: 'two leave 300 ms apart', leavers: ['t', 'u'], gapMs: 300, reversed: true },
    ];
    for (const run of runs) {
      if (run.leavers[0] === 't') {
        await join('t', 'Tam');
        await join('u', 'Uma');
      }
      const four = r.agreed(4);
      const before = m.q.e2ee.epoch;
      const ds0 = [r.ds.accepted, r.ds.rejected];
      const marks = { q: m.q.events.length, s: m.s.events.length };
      const raced = r.holdCommits(2, { reversed: run.reversed, deferRejectionMs: 1000 });
      await r.leaveAll(run.leavers, run.gapMs);
      const order = await raced;
      const ok = await until(() => r.agreed(2) && ['q', 's'].every((p) => m[p].e2ee.roster.every((e) => !run.leavers.includes(e.participant))), 10000);
      const at = m.q.e2ee.epoch;
      await sleep(1500); // the send keys switch 1 s after the last commit
      const still = r.agreed(2) && m.q.e2ee.epoch === at;
      const holders = ['q', 's'].map((p) => m[p].e2ee.roster.map((e) => `${e.participant}${e.isSelf ? '*' : ''}`).sort().join(','));
      // One view of the keys all along: an epoch both went through has one code for both.
      const codes = (p) => new Map(m[p].events.slice(marks[p]).filter((e) => e.type === 'epoch').map((e) => [e.epoch, e.code]));
      const [cq, cs] = [codes('q'), codes('s')];
      const both = [...cq.keys()].filter((e) => cs.has(e));
      const forks = both.filter((e) => cq.get(e) !== cs.get(e));
      const refused = ['q', 's'].flatMap((p) => m[p].events.slice(marks[p]).filter((e) => e.type === 'refused').map((e) => `${p} refused ${e.kind}: ${e.reason}`));
      const stats = await Promise.all(['q', 's'].map((p) => m[p].e2ee.state()));
      const d0 = [(await qs.video()).framesDecoded ?? 0, (await sq.video()).framesDecoded ?? 0];
      await sleep(2000);
      const d1 = [(await qs.video()).framesDecoded ?? 0, (await sq.video()).framesDecoded ?? 0];
      const rejected = r.ds.rejected - ds0[1];
      check(`rekey race, ${run.label}: the remaining two converge on one epoch and code and hold only each other`,
        four && ok && still && holders.join(' ') === 'q*,s q,s*' && forks.length === 0 && both.length > 0 && order.length === 2 && rejected >= 1,
        `epoch ${before} -> ${m.q.e2ee.epoch}; ${r.summary()}; key holders ${holders.join(' / ')}; epochs seen by both ${both.join(',') || 'none'}, forked ${forks.length}; commits raced ${order.join(',')}: DS accepted ${r.ds.accepted - ds0[0]}, rejected ${rejected}; commitsRejected q ${stats[0].stats.commitsRejected}, s ${stats[1].stats.commitsRejected}; ${refused.join('; ') || 'nothing refused'}`);
      check(`rekey race, ${run.label}: video keeps decoding through the transforms`, d1[0] > d0[0] && d1[1] > d0[1],
        `q>s framesDecoded ${d0[0]} -> ${d1[0]}, s>q ${d0[1]} -> ${d1[1]}`);
    }
    await r.close([qs, sq]);
  },

  // KID exhaustion: two members refresh their leaves every 700 ms, so the call goes through
  // more than 2^E = 16 epochs and every KID's epoch bits wrap. At every step both hold the
  // same code, video keeps decoding, and each seals under KID = leaf << 4 | epoch mod 16.
  async kids() {
    const k = new Room({ config: { updateIntervalMs: 700, switchDelayMs: 100, gracePeriodMs: 1000 } });
    const m = {};
    for (const [p, name] of [['x', 'Xan'], ['y', 'Yui']]) {
      m[p] = k.add(p, name);
      await m[p].e2ee.ready;
      await until(() => k.agreed(k.members.size));
    }
    const xy = await link(m.x, m.y);
    const yx = await link(m.y, m.x);
    await sleep(2000);
    const start = Math.max(m.x.e2ee.epoch, m.y.e2ee.epoch);
    const marks = { x: m.x.events.length, y: m.y.events.length };
    const samples = [];
    const windows = [];
    let last = [(await xy.video()).framesDecoded ?? 0, (await yx.video()).framesDecoded ?? 0];
    let lastWindow = performance.now();
    const end = performance.now() + 45000; // a bound, not a measurement
    while (Math.min(m.x.e2ee.epoch, m.y.e2ee.epoch) < start + 20 && performance.now() < end) {
      for (const p of ['x', 'y']) {
        const st = await m[p].e2ee.state();
        const key = m[p].events.filter((e) => e.type === 'sendKeyChanged').at(-1);
        const self = st.roster.find((e) => e.isSelf);
        samples.push({ p, epoch: st.stats.epoch, kid: st.stats.sendKid, leaf: self?.leaf, keyEpoch: key?.epoch, keyKid: key?.kid });
      }
      if (performance.now() - lastWindow >= 1000) {
        const now = [(await xy.video()).framesDecoded ?? 0, (await yx.video()).framesDecoded ?? 0];
        windows.push([now[0] - last[0], now[1] - last[1]]);
        last = now;
        lastWindow = performance.now();
      }
      await sleep(150);
    }
    const stop = Math.min(m.x.e2ee.epoch, m.y.e2ee.epoch);
    // Codes at every step: each member went through every epoch once, with the same code.
    const steps = (p) => m[p].events.slice(marks[p]).filter((e) => e.type === 'epoch' && e.epoch <= stop);
    const [sx, sy] = [steps('x'), steps('y')];
    const range = [];
    for (let e = start + 1; e <= stop; e++) range.push(e);
    const codeAt = (list, e) => list.filter((x) => x.epoch === e).map((x) => x.code);
    const bad = range.filter((e) => { const [a, b] = [codeAt(sx, e), codeAt(sy, e)]; return a.length !== 1 || b.length !== 1 || a[0] !== b[0]; });
    const membership = [...sx, ...sy].filter((e) => e.added.length || e.removed.length).length;
    const refused = ['x', 'y'].flatMap((p) => m[p].events.slice(marks[p]).filter((e) => e.type === 'refused').map((e) => `${p}: ${e.kind} ${e.reason}`));
    check(`KID exhaustion: ${stop - start} epochs (${start} -> ${stop}), both members hold the same code at every one`,
      stop - start > 16 && bad.length === 0 && membership === 0 && refused.length === 0,
      `epochs with a missing or differing code: ${bad.length ? bad.join(',') : 'none'}; x saw ${sx.length}, y saw ${sy.length} epoch changes; membership changes ${membership}; refused ${refused.length}${refused.length ? ` (${[...new Set(refused)].slice(0, 3).join(' / ')})` : ''}`);
    // The KID in use, whenever asked: own leaf in the high bits, and the low 4 bits the epoch of
    // the key in use, which is the current epoch unless its 100 ms switch is still pending.
    const wrong = samples.filter((x) => x.kid !== ((x.leaf << 4) | (x.keyEpoch % 16)) || x.keyKid !== x.kid || x.keyEpoch > x.epoch || x.epoch - x.keyEpoch >= 16);
    const current = samples.filter((x) => x.keyEpoch === x.epoch);
    const wrapped = new Set(current.filter((x) => x.epoch >= start + 16).map((x) => x.p));
    const keyEvents = ['x', 'y'].flatMap((p) => m[p].events.slice(marks[p]).filter((e) => e.type === 'sendKeyChanged').map((e) => ({ p, ...e })));
    // KIDs used again for a later epoch (16 apart): the wrap the old design could not survive.
    const reused = Object.fromEntries(['x', 'y'].map((p) => {
      const byKid = new Map();
      for (const e of keyEvents.filter((x) => x.p === p)) byKid.set(e.kid, [...(byKid.get(e.kid) ?? []), e.epoch]);
      return [p, [...byKid.entries()].filter(([, es]) => es.length > 1).map(([kid, es]) => `${kid}@${es.join('/')}`)];
    }));
    const badEvents = keyEvents.filter((e) => e.kid !== ((m[e.p].e2ee.roster.find((r) => r.isSelf).leaf << 4) | (e.epoch % 16)));
    check('KID exhaustion: stats().sendKid is always leaf << 4 | epoch mod 16 (past the wrap too)',
      samples.length > 0 && wrong.length === 0 && badEvents.length === 0 && wrapped.size === 2 && reused.x.length > 0 && reused.y.length > 0,
      `${samples.length} samples (${current.length} with the current epoch's key, the rest with an earlier one whose successor's 100 ms switch was pending), ${wrong.length} wrong${wrong.length ? ` e.g. ${JSON.stringify(wrong.slice(0, 3))}` : ''}; ${keyEvents.length} sendKeyChanged events, ${badEvents.length} wrong; KIDs used again 16 epochs on (kid@epochs): x ${reused.x.join(' ') || 'none'}, y ${reused.y.join(' ') || 'none'}; leaves x ${m.x.e2ee.roster.find((r) => r.isSelf).leaf}, y ${m.y.e2ee.roster.find((r) => r.isSelf).leaf}; last x ${JSON.stringify(samples.filter((s) => s.p === 'x').at(-1))}`);
    const rx = await track(m.y, 'x>y:video:recv');
    const ry = await track(m.x, 'y>x:video:recv');
    const collisions = (rx.dropped.auth_failed ?? 0) + (ry.dropped.auth_failed ?? 0);
    check('KID exhaustion: video keeps decoding every second, no frame fails authentication (no two keys under one KID)',
      windows.length >= 3 && windows.every(([a, b]) => a > 0 && b > 0) && collisions === 0,
      `framesDecoded per ~1 s window x>y ${windows.map((w) => w[0]).join(',')}; y>x ${windows.map((w) => w[1]).join(',')}; y opened ${rx.frames} dropped ${JSON.stringify(rx.dropped)}, x opened ${ry.frames} dropped ${JSON.stringify(ry.dropped)}`);
    await k.close([xy, yx]);
  },

  async boundary() {
    const ops = new Set(fromWorkers.map((m) => m.op));
    const arrays = fromWorkers.flatMap((m) => byteArrays(m, m.op));
    const onlyKeys = arrays.every((p) => /^publicKey\.publicKey \(32 B\)$/.test(p));
    check('the page gets no key material from the workers', onlyKeys && arrays.length >= 4, `${fromWorkers.length} messages (${[...ops].sort().join(', ')}); byte arrays: ${[...new Set(arrays)].join(', ')}`);
    check('no signaling message was refused as malformed', badMessages.length === 0, badMessages.join('; ') || 'none');
    const a = room.members.get('a');
    await a.e2ee.close();
    let closedCode = null;
    try {
      await a.e2ee.sendChat('after close');
    } catch (e) {
      closedCode = e.code;
    }
    check('close: the worker is gone and calls fail with closed', closedCode === 'closed', `sendChat after close: ${closedCode}`);
    for (const l of Object.values(links)) l.close();
    for (const m of room.members.values()) await m.e2ee.close();
    for (const t of stream?.getTracks() ?? []) t.stop();
  },
};
