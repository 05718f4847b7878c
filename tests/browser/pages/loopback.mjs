// Runs in the page: the real @telesfu/e2ee package (index.js + worker.js + pkg/) with no
// server. The room's Delivery Service is the wasm DeliveryService run here, certificates come
// from a test Authority (fixed seed), signaling goes through JSON text as on a WebSocket, and
// media flows over loopback RTCPeerConnections through the package's transforms.
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

class Room {
  constructor() {
    this.ds = new DeliveryService(ROOM, [authorityKey]);
    this.members = new Map();
    this.badMessages = [];
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
    });
    const m = { participant, name, e2ee, events };
    this.members.set(participant, m);
    if (joinGroup) e2ee.handleMessage(JSON.stringify(this.ds.state()));
    return m;
  }

  fromMember(participant, msg) {
    const text = JSON.stringify(msg); // what a WebSocket carries
    setTimeout(() => {
      let d;
      try {
        d = this.ds.handle(text, Date.now(), participant);
      } catch (e) {
        this.badMessages.push(`${participant}: ${e.code} ${e.message}`);
        return;
      }
      const all = [...this.members.keys()].filter((p) => this.members.get(p).inGroup !== false);
      const to = d.to === 'sender' ? [participant] : d.to === 'all' ? all : all.filter((p) => p !== participant);
      const out = JSON.stringify(d.msg);
      for (const p of to) this.members.get(p)?.e2ee.handleMessage(out);
    }, 0);
  }

  async leave(participant) {
    const m = this.members.get(participant);
    this.members.delete(participant);
    await m.e2ee.close();
    for (const o of this.members.values()) o.e2ee.participantLeft(participant);
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
    close: () => {
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
    // Negative control: d receives a's video but is told it comes from b.
    await sleep(1500);
    links.wrong = await link(a, d, { bindAs: 'b' });
    await sleep(3000);
    const v = await links.wrong.video();
    const t = await track(d, 'a>d:video:recv');
    // framesReceived counts what the receive transform passed on: 0 when every frame is dropped.
    check('wrong participant binding: nothing decodes, frames dropped', (v.framesReceived ?? 0) === 0 && (v.framesDecoded ?? 0) === 0 && t.frames === 0 && (t.dropped.not_of_sender ?? 0) > 0,
      `framesReceived ${v.framesReceived ?? 0}, framesDecoded ${v.framesDecoded ?? 0}; d opened ${t.frames}, dropped ${JSON.stringify(t.dropped)}`);
    links.wrong.close();
    void b;
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

  async boundary() {
    const ops = new Set(fromWorkers.map((m) => m.op));
    const arrays = fromWorkers.flatMap((m) => byteArrays(m, m.op));
    const onlyKeys = arrays.every((p) => /^publicKey\.publicKey \(32 B\)$/.test(p));
    check('the page gets no key material from the workers', onlyKeys && arrays.length >= 4, `${fromWorkers.length} messages (${[...ops].sort().join(', ')}); byte arrays: ${[...new Set(arrays)].join(', ')}`);
    check('no signaling message was refused as malformed', room.badMessages.length === 0, room.badMessages.join('; ') || 'none');
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
