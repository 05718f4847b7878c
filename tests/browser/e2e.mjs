// End-to-end tests of the demo page against a running telesfu server.
//
//   TELESFU_URL=http://127.0.0.1:8080 node e2e.mjs
//
// Env: TELESFU_URL (required), TELESFU_DEBUG_FRAMES (default ${TELESFU_URL}/debug/frames; the
// server records forwarded frames there when started with its test configuration).
// Each case prints "ok" or "FAIL" with its figures; the last line is "N passed, M failed".
//
// Every page's signaling runs through a man in the middle (Playwright's routeWebSocket): it
// records what the server sends and can inject messages into a page as if the server sent
// them. Cases 9-10 use it to attack the end-to-end encryption the way the server could.
import { launch, sleep } from './lib/harness.mjs';
import { Authority, nodeMember, random, b64u, unb64u } from './lib/e2ee-node.mjs';

const BASE = (process.env.TELESFU_URL || '').replace(/\/+$/, '');
if (!BASE) {
  console.log('TELESFU_URL is not set (e.g. http://127.0.0.1:8080)');
  process.exit(2);
}
const DEBUG_FRAMES = process.env.TELESFU_DEBUG_FRAMES || `${BASE}/debug/frames`;
const ROOM = `e2e-${Date.now().toString(36)}`;
const EXTRA = ['--autoplay-policy=no-user-gesture-required'];

let passed = 0;
let failed = 0;
function result(name, ok, figures) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${figures}`);
  return ok;
}

const state = (page) => page.evaluate(() => window.telesfu.state());

async function waitFor(page, pred, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < end) {
    try {
      last = await state(page);
      if (pred(last)) return last;
    } catch (e) {
      last = { error: String(e) };
    }
    await sleep(250);
  }
  const err = new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  err.last = last;
  throw err;
}

const remote = (st, kind, source) => (st.remoteTracks || []).find((t) => t.kind === kind && (!source || t.source === source));

/**
 * The signaling of one page through a man in the middle: everything passes unchanged, and is
 * recorded; `toPage` injects a message as if the server sent it; `ask` sends a message to the
 * server in the page's name and returns the server's next `mls` answer without passing it on.
 */
async function mitm(page) {
  const m = { fromServer: [], fromPage: [], ws: null, server: null, waiting: null };
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    m.ws = ws;
    m.server = server;
    ws.onMessage((msg) => {
      try {
        m.fromPage.push(JSON.parse(msg));
      } catch {
        m.fromPage.push({ raw: msg });
      }
      server.send(msg);
    });
    server.onMessage((msg) => {
      let parsed = null;
      try {
        parsed = JSON.parse(msg);
      } catch {
        // not JSON: passed on as is
      }
      if (parsed && parsed.type === 'mls' && m.waiting) {
        const w = m.waiting;
        m.waiting = null;
        w(parsed);
        return;
      }
      if (parsed) m.fromServer.push(parsed);
      ws.send(msg);
    });
  });
  m.toPage = (msg) => m.ws.send(JSON.stringify(msg));
  m.ask = (msg) => new Promise((resolve) => {
    m.waiting = resolve;
    m.server.send(JSON.stringify(msg));
  });
  return m;
}

async function openParticipant(role, name, visit = 'dermatology') {
  const b = await launch(EXTRA);
  const page = b.ctx.pages()[0] || (await b.ctx.newPage());
  const consoleLines = [];
  page.on('console', (m) => {
    consoleLines.push(`${m.type()}: ${m.text()}`);
    if (consoleLines.length > 200) consoleLines.shift();
  });
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e}`));
  const wire = await mitm(page);
  // The dermatology profile publishes 320x180 / 640x360 / 1280x720 (the sizes case 3 expects).
  await page.goto(`${BASE}/?room=${encodeURIComponent(ROOM)}&role=${role}&name=${name}&visit=${visit}&autojoin=1&test=1`);
  return { browser: b, page, role, name, consoleLines, wire };
}

/** What a page shows and holds of the encryption: epoch, code, key holders. */
async function keys(p) {
  const s = await state(p.page);
  return {
    epoch: s.e2ee?.epoch,
    code: s.e2ee?.code,
    shownCode: s.shown.code,
    holders: (s.e2ee?.roster || []).map((r) => `${r.name}/${r.role}`).sort(),
    shownHolders: s.shown.keyHolders,
    refused: s.refused,
    member: !!s.e2ee?.isMember,
  };
}

/** Every page in `ps`: same epoch and code, shown as held, and `n` key holders. */
async function agree(ps, n) {
  const ks = await Promise.all(ps.map(keys));
  const ok = ks.every((k) => k.member && k.epoch === ks[0].epoch && k.code === ks[0].code && k.shownCode === k.code &&
    k.holders.length === n && JSON.stringify(k.holders) === JSON.stringify(ks[0].holders) && k.shownHolders.length >= n);
  return { ok, ks };
}

function dump(p, st) {
  console.log(`  --- ${p.role} ---`);
  if (st) {
    const { log, ...rest } = st;
    console.log(`  state: ${JSON.stringify({ ...rest, worker: rest.worker && { ...rest.worker, tracks: undefined } }).slice(0, 2000)}`);
    for (const l of log || []) console.log(`  log: ${l}`);
  }
  for (const l of p.consoleLines.slice(-20)) console.log(`  console ${l}`);
}

/** Two samples `gapMs` apart of what `pick` reads from the state. */
async function twoSamples(page, pick, gapMs = 2000) {
  const a = pick(await state(page));
  await sleep(gapMs);
  const b = pick(await state(page));
  return [a, b];
}

async function decodesEachOther(patient, clinician) {
  const pv = await twoSamples(clinician.page, (s) => remote(s, 'video', 'camera')?.framesDecoded ?? 0);
  const cv = await twoSamples(patient.page, (s) => remote(s, 'video', 'camera')?.framesDecoded ?? 0);
  return { pv, cv, ok: pv[1] > pv[0] && cv[1] > cv[0] };
}

const patient = await openParticipant('patient', 'Pat');
const clinician = await openParticipant('clinician', 'Dr.Cli');
const everyone = [patient, clinician];
// Cases 9-10 add participants; cases 1-8 use these two.

try {
  // (1) Both join one room and decode each other's video and audio.
  try {
    const ready = (s) => s.joined && s.pc === 'connected' && (remote(s, 'video', 'camera')?.framesDecoded ?? 0) > 0 && remote(s, 'audio');
    await Promise.all(everyone.map((p) => waitFor(p.page, ready, 30000, `${p.role} joined and decoding`)));
    const dec = await decodesEachOther(patient, clinician);
    const audio = async (p) => twoSamples(p.page, (s) => {
      const a = remote(s, 'audio');
      return [a?.totalSamplesReceived ?? 0, a?.packetsReceived ?? 0];
    });
    const [pa, ca] = await Promise.all([audio(patient), audio(clinician)]);
    const audioOk = (x) => x[1][0] > x[0][0] || x[1][1] > x[0][1];
    const ag = await agree(everyone, 2);
    result('1 call: both decode video and audio; same verified key holders and code on both screens',
      dec.ok && audioOk(pa) && audioOk(ca) && ag.ok && ag.ks[0].holders.join() === 'Dr.Cli/clinician,Pat/patient',
      `clinician decodes patient video ${dec.pv.join('->')}, patient decodes clinician video ${dec.cv.join('->')}; ` +
      `audio samples/packets patient ${JSON.stringify(pa)} clinician ${JSON.stringify(ca)}; ` +
      `epoch ${ag.ks[0].epoch}, code "${ag.ks[0].shownCode}" on both: ${ag.ok}; key holders ${JSON.stringify(ag.ks[0].holders)}`);
  } catch (e) {
    result('1 call: both decode video and audio', false, e.message);
    for (const p of everyone) dump(p, e.last || (await state(p.page).catch(() => null)));
  }

  // (2) E2EE is real: the server forwarded only SFrame frames under the MLS keys of the member
  // that sent them (KID = leaf << 4 | epoch mod 16), and chat only as MLS application data.
  try {
    const text = 'e2e: how are you feeling today?';
    await patient.page.evaluate((t) => window.telesfu.sendChat(t), text);
    const got = await waitFor(clinician.page, (s) => s.chat.some((c) => !c.mine && c.text === text), 5000, 'chat');
    const gotChat = got.chat.find((c) => !c.mine && c.text === text);
    const apps = patient.wire.fromPage.filter((m) => m.type === 'mls' && m.op === 'app');
    const chatInClear = apps.some((m) => Buffer.from(unb64u(m.message)).toString('latin1').includes('feeling'));
    const res = await fetch(DEBUG_FRAMES);
    if (!res.ok) throw new Error(`GET ${DEBUG_FRAMES}: HTTP ${res.status}`);
    const { frames } = await res.json();
    const sc = await state(clinician.page);
    const sp = await state(patient.page);
    const leafOf = new Map(sc.e2ee.roster.map((r) => [r.participant, r.leaf]));
    const ownerOf = new Map();
    for (const st of [sc, sp]) for (const t of st.remoteTracks) ownerOf.set(t.track, t.participant);
    const epoch = sc.e2ee.epoch;
    const av = frames.filter((f) => f.kind === 'audio' || f.kind === 'video');
    const notOk = av.filter((f) => !f.sframe_ok);
    const wrongKid = av.filter((f) => {
      const leaf = leafOf.get(ownerOf.get(f.track));
      return leaf === undefined || Math.floor(f.kid / 16) !== leaf || (epoch < 16 && f.kid % 16 > epoch);
    });
    const kinds = new Set(av.map((f) => f.kind));
    const dec = await decodesEachOther(patient, clinician);
    result('2 E2EE: the server saw only SFrame under the sender\'s MLS keys, chat only as MLS ciphertext',
      av.length > 0 && kinds.has('audio') && kinds.has('video') && notOk.length === 0 && wrongKid.length === 0 &&
        apps.length > 0 && !chatInClear && gotChat?.name === 'Pat' && gotChat?.role === 'patient' && gotChat?.order === 'inOrder' && dec.ok,
      `${av.length} frames recorded by the server (${[...kinds].join('+')}), ${notOk.length} not SFrame, ${wrongKid.length} under a KID ` +
      `not of their sender's leaf; KIDs seen ${JSON.stringify([...new Set(av.map((f) => f.kid))].sort((a, b) => a - b))}; ` +
      `chat: ${apps.length} MLS app message(s), text in clear: ${chatInClear}, shown as from ${gotChat?.name} (${gotChat?.role}) seq ${gotChat?.seq}; ` +
      `still decoding ${dec.pv.join('->')} / ${dec.cv.join('->')}`);
  } catch (e) {
    result('2 E2EE: the server saw only SFrame under the sender\'s MLS keys, chat only as MLS ciphertext', false, e.message);
  }

  // (3) Simulcast: the clinician's view of the patient's camera picks the layer.
  try {
    const sc = await state(clinician.page);
    const track = remote(sc, 'video', 'camera')?.track;
    if (!track) throw new Error('clinician has no patient camera track');
    const switchTo = async (w, h, wantWidth, limitMs) => {
      await clinician.page.evaluate(([t, ww, hh]) => window.telesfu.setView(t, ww, hh), [track, w, h]);
      const start = Date.now();
      let lastDecoded = -1;
      let lastRise = Date.now();
      let maxStall = 0;
      let reachedAt = null;
      let width = 0;
      let layer = null;
      // Sample every 200 ms until the width is reached (plus 2 s to watch for stalls after the switch).
      while (Date.now() - start < limitMs) {
        const s = await state(clinician.page);
        const t = (s.remoteTracks || []).find((x) => x.track === track) || {};
        width = t.frameWidth;
        layer = t.layer;
        if (t.framesDecoded > lastDecoded) {
          lastDecoded = t.framesDecoded;
          lastRise = Date.now();
        }
        maxStall = Math.max(maxStall, Date.now() - lastRise);
        if (reachedAt === null && width === wantWidth) reachedAt = Date.now() - start;
        if (reachedAt !== null && Date.now() - start > reachedAt + 2000) break;
        await sleep(200);
      }
      return { reachedAt, width, layer, maxStall };
    };
    const low = await switchTo(320, 180, 320, 10000);
    const high = await switchTo(1280, 720, 1280, 15000);
    await clinician.page.evaluate((t) => window.telesfu.clearView(t), track);
    result('3 simulcast: view picks the layer without stalls',
      low.reachedAt !== null && high.reachedAt !== null && low.maxStall <= 1000 && high.maxStall <= 1000,
      `320x180 -> width ${low.width} after ${low.reachedAt ?? 'never'} ms (layer ${low.layer}, longest stall ${low.maxStall} ms); ` +
      `1280x720 -> width ${high.width} after ${high.reachedAt ?? 'never'} ms (layer ${high.layer}, longest stall ${high.maxStall} ms)`);
  } catch (e) {
    result('3 simulcast: view picks the layer without stalls', false, e.message);
  }

  // (8) Bandwidth: the server estimates each subscriber's downlink and forwards the layers that
  // fit. A cap on the clinician's estimate (test hook POST /debug/estimate-cap) makes the server
  // deliver the patient's low layer although the view asks for the high one; lifting it brings
  // the high layer back.
  try {
    const sc = await state(clinician.page);
    const track = remote(sc, 'video', 'camera')?.track;
    if (!track) throw new Error('clinician has no patient camera track');
    const cap = async (bps) => {
      const q = new URLSearchParams({ participant: sc.participant });
      if (bps) q.set('bps', String(bps));
      const r = await fetch(`${BASE}/debug/estimate-cap?${q}`, { method: 'POST' });
      if (r.status !== 204) throw new Error(`estimate-cap: HTTP ${r.status} ${await r.text()}`);
    };
    const widthOf = async () => {
      const s = await state(clinician.page);
      const t = (s.remoteTracks || []).find((x) => x.track === track) || {};
      return { width: t.frameWidth, decoded: t.framesDecoded };
    };
    const waitWidth = async (want, limitMs) => {
      const start = Date.now();
      let w = {};
      while (Date.now() - start < limitMs) {
        w = await widthOf();
        if (w.width === want) return { after: Date.now() - start, ...w };
        await sleep(250);
      }
      return { after: null, ...w };
    };
    await clinician.page.evaluate((t) => window.telesfu.setView(t, 1280, 720), track);
    const top = await waitWidth(1280, 15000);
    await cap(250000);
    const low = await waitWidth(320, 15000);
    const [d0, d1] = await twoSamples(clinician.page, (s) => ((s.remoteTracks || []).find((x) => x.track === track) || {}).framesDecoded || 0);
    await cap(null);
    const back = await waitWidth(1280, 20000);
    await clinician.page.evaluate((t) => window.telesfu.clearView(t), track);
    result('8 bandwidth: a capped estimate gets the low layer',
      top.after !== null && low.after !== null && d1 > d0 && back.after !== null,
      `view 1280x720: width ${top.width} after ${top.after ?? 'never'} ms; estimate capped at 250 kbps: width ${low.width} after ${low.after ?? 'never'} ms, decoding ${d0}->${d1}; cap lifted: width ${back.width} after ${back.after ?? 'never'} ms`);
  } catch (e) {
    result('8 bandwidth: a capped estimate gets the low layer', false, e.message);
  }

  // (4) Reconnect: the patient's socket drops; it resumes as the same participant, in the same
  // MLS epoch (the server sends the group state again; nothing to redo).
  try {
    const before = await state(patient.page);
    const keysBefore = await keys(patient);
    const t0 = Date.now();
    await patient.page.evaluate(() => window.telesfu.cutWebSocket());
    await sleep(100);
    const after = await waitFor(patient.page,
      (s) => s.joined && s.ws === 'open' && s.joinCount > before.joinCount, 10000, 'patient joined again');
    const took = Date.now() - t0;
    const pv = await twoSamples(clinician.page, (s) => remote(s, 'video', 'camera')?.framesDecoded ?? 0);
    const keysAfter = await keys(patient);
    result('4 reconnect: same participant, same keys, media keeps flowing',
      after.participant === before.participant && pv[1] > pv[0] && keysAfter.epoch === keysBefore.epoch && keysAfter.code === keysBefore.code,
      `rejoined in ${took} ms as ${after.participant} (was ${before.participant}, resumes ${after.resumes}); ` +
      `epoch ${keysBefore.epoch} -> ${keysAfter.epoch}; clinician decodes patient video ${pv.join('->')}`);
  } catch (e) {
    result('4 reconnect: same participant, media keeps flowing', false, e.message);
    dump(patient, e.last);
  }

  // (5) Bad input gets the documented errors; the call is unaffected.
  try {
    const errorsAfter = async (page, n) => (await state(page)).errors.slice(n);
    const n0 = (await state(patient.page)).errors.length;
    await patient.page.evaluate(() => window.telesfu.sendRaw('{"type": "join", oops'));
    await patient.page.evaluate(() => window.telesfu.send({ type: 'offer', sdp: 'v=0\r\nthis is not an SDP offer\r\n', mids: {} }));
    await sleep(1500);
    const errs = await errorsAfter(patient.page, n0);
    const codes = errs.map((e) => e.code);

    const third = await launch(EXTRA);
    let probe;
    try {
      const page = third.ctx.pages()[0] || (await third.ctx.newPage());
      await page.goto(`${BASE}/?room=${encodeURIComponent(ROOM)}`);
      probe = await page.evaluate(async (room) => {
        const wsUrl = `${location.origin.replace(/^http/, 'ws')}/ws`;
        const session = (send) => new Promise((resolve) => {
          const ws = new WebSocket(wsUrl);
          const got = [];
          const done = () => resolve({ got, closed: ws.readyState === WebSocket.CLOSED });
          const timer = setTimeout(() => {
            try { ws.close(); } catch { /* already closed */ }
            done();
          }, 5000);
          ws.onopen = () => ws.send(JSON.stringify(send));
          ws.onmessage = (e) => {
            try { got.push(JSON.parse(e.data)); } catch { got.push({ type: 'unparsable' }); }
          };
          ws.onclose = () => {
            clearTimeout(timer);
            done();
          };
        });
        const badToken = await session({ type: 'join', token: 'eyJyb29tIjoieCJ9.bm90LWEtc2lnbmF0dXJl' });
        // 30 joins in a burst, in a room of their own so the call is not affected.
        const burstRoom = `${room}-burst`;
        const tok = async () => (await (await fetch(`/api/token?room=${burstRoom}&role=observer&name=b`)).json()).token;
        const tokens = await Promise.all(Array.from({ length: 30 }, tok));
        const burst = await Promise.all(tokens.map((t) => session({ type: 'join', token: t })));
        return { badToken, burst: burst.map((b) => b.got.map((m) => (m.type === 'error' ? m.code : m.type))) };
      }, ROOM);
    } finally {
      await third.close();
    }
    const badTokenCodes = probe.badToken.got.filter((m) => m.type === 'error').map((m) => m.code);
    const burstCounts = {};
    for (const b of probe.burst) for (const c of b.length ? b : ['nothing']) burstCounts[c] = (burstCounts[c] || 0) + 1;
    const dec = await decodesEachOther(patient, clinician);
    result('5 bad input: documented errors, call unaffected',
      codes.includes('bad_json') && codes.includes('bad_sdp') && badTokenCodes.includes('unauthorized') &&
      (burstCounts.rate_limited || 0) > 0 && dec.ok,
      `patient got ${JSON.stringify(errs.map((e) => [e.code, e.ref]))}; wrong token -> ${JSON.stringify(badTokenCodes)} ` +
      `(closed: ${probe.badToken.closed}); 30 joins -> ${JSON.stringify(burstCounts)}; still decoding ${dec.pv.join('->')} / ${dec.cv.join('->')}`);
  } catch (e) {
    result('5 bad input: documented errors, call unaffected', false, e.message);
  }

  // (6) WHIP/WHEP: a plain RTCPeerConnection publishes its fake camera by WHIP (no E2EE) into a
  // room of its own; a fourth page plays it by WHEP and decodes the video. DELETE ends the WHIP
  // session (200); an unknown id is 404.
  const whipRoom = `${ROOM}-whip`;
  const pub = await launch(EXTRA);
  const sub = await launch(EXTRA);
  try {
    const token = async (role, name) => {
      const r = await fetch(`${BASE}/api/token?room=${encodeURIComponent(whipRoom)}&role=${role}&name=${name}`);
      if (!r.ok) throw new Error(`GET /api/token: HTTP ${r.status}`);
      return (await r.json()).token;
    };
    // Runs in the page: offer, POST it, apply the answer, wait for `connected`.
    const negotiate = async ({ url, token, publish }) => {
      const pc = new RTCPeerConnection();
      window.pc = pc;
      if (publish) {
        const s = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
        pc.addTransceiver(s.getVideoTracks()[0], { direction: 'sendonly' });
        pc.addTransceiver(s.getAudioTracks()[0], { direction: 'sendonly' });
      } else {
        pc.addTransceiver('video', { direction: 'recvonly' });
        pc.addTransceiver('audio', { direction: 'recvonly' });
        pc.ontrack = (e) => {
          if (e.track.kind !== 'video') return;
          const v = document.createElement('video');
          v.muted = true;
          v.autoplay = true;
          v.playsInline = true;
          v.srcObject = new MediaStream([e.track]);
          document.body.appendChild(v);
        };
      }
      await pc.setLocalDescription();
      // Host candidates in the offer (the server is ICE-lite and would find us anyway).
      await new Promise((r) => {
        if (pc.iceGatheringState === 'complete') return r();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
        setTimeout(r, 2000);
      });
      const offer = pc.localDescription.sdp;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp', authorization: `Bearer ${token}` },
        body: offer,
      });
      const body = await res.text();
      const out = {
        status: res.status,
        location: res.headers.get('location'),
        contentType: res.headers.get('content-type'),
        offerSsrcLines: (offer.match(/^a=ssrc:/gm) || []).length,
        answerMedia: (body.match(/^m=\w+/gm) || []).join(','),
        body: res.status === 201 ? '' : body.slice(0, 300),
      };
      if (res.status !== 201) return out;
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      const t0 = Date.now();
      while (pc.connectionState !== 'connected' && Date.now() - t0 < 15000) await new Promise((r) => setTimeout(r, 100));
      out.state = pc.connectionState;
      out.connectMs = Date.now() - t0;
      return out;
    };
    const inbound = (page) => page.evaluate(async () => {
      let v = null;
      let a = null;
      (await window.pc.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') v = r;
        if (r.type === 'inbound-rtp' && r.kind === 'audio') a = r;
      });
      return { framesDecoded: v?.framesDecoded ?? 0, width: v?.frameWidth ?? 0, audioPackets: a?.packetsReceived ?? 0 };
    });

    const pubPage = pub.ctx.pages()[0] || (await pub.ctx.newPage());
    await pubPage.goto(`${BASE}/healthz`);
    const w = await pubPage.evaluate(negotiate, { url: `/whip/${encodeURIComponent(whipRoom)}`, token: await token('patient', 'whip'), publish: true });
    if (w.status !== 201) throw new Error(`WHIP POST: HTTP ${w.status}: ${w.body}`);
    if (!w.location) throw new Error('WHIP POST: 201 without Location');

    const subPage = sub.ctx.pages()[0] || (await sub.ctx.newPage());
    await subPage.goto(`${BASE}/healthz`);
    const e = await subPage.evaluate(negotiate, { url: `/whep/${encodeURIComponent(whipRoom)}`, token: await token('observer', 'whep'), publish: false });
    if (e.status !== 201) throw new Error(`WHEP POST: HTTP ${e.status}: ${e.body}`);
    // Decoding: wait up to 15 s for the first frame, then two samples.
    const t0 = Date.now();
    while ((await inbound(subPage)).framesDecoded === 0 && Date.now() - t0 < 15000) await sleep(250);
    const firstFrameMs = Date.now() - t0;
    const s1 = await inbound(subPage);
    await sleep(2000);
    const s2 = await inbound(subPage);

    const del = await fetch(new URL(w.location, BASE), { method: 'DELETE' });
    const delAgain = await fetch(new URL(w.location, BASE), { method: 'DELETE' });
    const unknown = await fetch(`${BASE}/whip/${encodeURIComponent(whipRoom)}/no-such-session`, { method: 'DELETE' });
    if (e.location) await fetch(new URL(e.location, BASE), { method: 'DELETE' }).catch(() => {});
    result('6 WHIP/WHEP: plain publisher, WHEP player decodes, DELETE',
      w.state === 'connected' && e.state === 'connected' && !!e.location && w.contentType === 'application/sdp' &&
      s2.framesDecoded > s1.framesDecoded && s1.framesDecoded > 0 && del.status === 200 && unknown.status === 404,
      `WHIP 201 (Location ${w.location}, answer ${w.answerMedia}, offer had ${w.offerSsrcLines} a=ssrc lines) connected in ${w.connectMs} ms; ` +
      `WHEP 201 (Location ${e.location}, ${e.answerMedia}) connected in ${e.connectMs} ms, first frame after ${firstFrameMs} ms, ` +
      `framesDecoded ${s1.framesDecoded}->${s2.framesDecoded} at width ${s2.width}, audio packets ${s1.audioPackets}->${s2.audioPackets}; ` +
      `DELETE -> ${del.status}, again -> ${delAgain.status}, unknown id -> ${unknown.status}`);
  } catch (e) {
    result('6 WHIP/WHEP: plain publisher, WHEP player decodes, DELETE', false, e.message);
  } finally {
    await pub.close();
    await sub.close();
  }

  // (7) Metrics: media, DTLS and layer switches are counted; the drop counters are exported.
  try {
    const res = await fetch(`${BASE}/metrics`);
    if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
    const text = await res.text();
    const value = (name) => {
      const m = text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
      return m ? Number(m[1]) : null;
    };
    const rtp = value('telesfu_rtp_packets_received_total');
    const dtls = value('telesfu_dtls_handshakes_total');
    const switches = value('telesfu_layer_switches_total');
    const commits = text.match(/^telesfu_mls_commits_total\{result="accepted"\} (\d+)$/m);
    const drops = text.split('\n').filter((l) => l.startsWith('telesfu_drops_total{'));
    const nonzero = drops.filter((l) => !l.endsWith(' 0')).map((l) => l.replace(/^telesfu_drops_total/, ''));
    result('7 metrics: counters move, drop counters present',
      rtp > 0 && dtls >= 2 && switches >= 1 && drops.some((l) => l.includes('layer="engine"')) && drops.some((l) => l.includes('layer="transport"')) &&
        Number(commits?.[1] ?? 0) >= 2,
      `rtp_packets_received ${rtp}, dtls_handshakes ${dtls}, layer_switches ${switches}, MLS commits accepted ${commits?.[1]}; ${drops.length} drop counters ` +
      `(non-zero: ${nonzero.join(' ') || 'none'})`);
  } catch (e) {
    result('7 metrics: counters move, drop counters present', false, e.message);
  }

  // (9) Four participants: two more join mid-call, then one leaves. Every join and every leave
  // is an MLS commit: the epoch moves on every screen, every screen shows the same code and the
  // same verified key holders, and everyone decodes everyone.
  try {
    const startKeys = await keys(clinician);
    const third = await openParticipant('patient', 'Ivy');
    const fourth = await openParticipant('clinician', 'Dr.Bo');
    everyone.push(third, fourth);
    const decodingAll = (n) => (s) => s.joined && (s.remoteTracks || []).filter((t) => t.kind === 'video' && t.framesDecoded > 0).length >= n;
    await Promise.all(everyone.map((p) => waitFor(p.page, decodingAll(3), 45000, `${p.name} decodes three videos`)));
    const four = await agree(everyone, 4);
    // Every video on every screen keeps decoding: each counter rises within 10 s (four
    // Chromiums encode and decode on two cores here; a fixed 2 s window is too tight).
    const keepsDecoding = async (p, n) => {
      const vids = (s) => s.remoteTracks.filter((t) => t.kind === 'video').map((t) => t.framesDecoded);
      const a = vids(await state(p.page));
      const end = Date.now() + 10000;
      let b = a;
      while (Date.now() < end) {
        await sleep(500);
        b = vids(await state(p.page));
        if (a.length === n && b.length === n && b.every((x, i) => x > a[i])) break;
      }
      return [a, b];
    };
    const rising = await Promise.all(everyone.map((p) => keepsDecoding(p, 3)));
    const allRise = rising.every(([a, b]) => a.length === 3 && b.every((x, i) => x > a[i]));
    // Ivy leaves: the others remove her leaf (one commit) and go on.
    await third.page.evaluate(() => window.telesfu.leave());
    const remaining = everyone.filter((p) => p !== third);
    await Promise.all(remaining.map((p) => waitFor(p.page, (s) => (s.e2ee?.roster || []).length === 3, 20000, `${p.name} sees three key holders`)));
    const three = await agree(remaining, 3);
    const after = await Promise.all(remaining.map((p) => keepsDecoding(p, 2)));
    const stillRise = after.every(([a, b]) => a.length === 2 && b.every((x, i) => x > a[i]));
    await third.browser.close();
    everyone.splice(everyone.indexOf(third), 1);
    result('9 four participants: joins and a leave change the epoch for all; one roster and code everywhere; all decode all',
      four.ok && three.ok && allRise && stillRise && four.ks[0].epoch === startKeys.epoch + 2 && three.ks[0].epoch === four.ks[0].epoch + 1 &&
        four.ks[0].code !== startKeys.code && three.ks[0].code !== four.ks[0].code && !three.ks[0].holders.includes('Ivy/patient'),
      `epochs ${startKeys.epoch} -> ${four.ks[0].epoch} (2 joins) -> ${three.ks[0].epoch} (1 leave); ` +
      `4 screens agree: ${four.ok} (${JSON.stringify(four.ks[0].holders)}), code "${four.ks[0].code}"; ` +
      `after the leave 3 agree: ${three.ok} (${JSON.stringify(three.ks[0].holders)}), code "${three.ks[0].code}"; ` +
      `frames decoded rising on every screen: ${allRise} ${JSON.stringify(rising)} / after the leave: ${stillRise} ${JSON.stringify(after)}`);
  } catch (e) {
    result('9 four participants: joins and a leave change the epoch for all; one roster and code everywhere; all decode all', false, e.message);
    for (const p of everyone) dump(p, e.last || (await state(p.page).catch(() => null)));
  }

  // (10) The server attacks the encryption. It certifies a ghost with an authority of its own,
  // builds the ghost's external commit on the room's current group state (which it asks the
  // real Delivery Service for), and delivers it to every page as the room's next commit; then
  // it replays an old commit. Every page refuses both: same epoch, code and key holders, a
  // warning on screen, and the call goes on.
  try {
    const before = await Promise.all(everyone.map(keys));
    const anchors = (await (await fetch(`${BASE}/api/authority`)).json()).keys.map(unb64u);
    const sfuAuthority = new Authority(random(32));
    const ghost = nodeMember({ authority: sfuAuthority, anchors: [...anchors, sfuAuthority.publicKey()], room: ROOM, participant: 'p-ghost', name: 'Ghost', role: 'clinician' });
    const stateMsg = await everyone[0].wire.ask({ type: 'mls', op: 'sync' });
    ghost.handleDs(performance.now(), stateMsg);
    const join = ghost.pollTransmit();
    if (!join || join.op !== 'commit') throw new Error(`the ghost built no commit: ${JSON.stringify(join)} ${JSON.stringify(ghost.pollEvent())}`);
    for (const p of everyone) p.wire.toPage({ type: 'mls', op: 'commit', commit: join.commit });
    const oldCommit = everyone[0].wire.fromServer.find((m) => m.type === 'mls' && m.op === 'commit');
    for (const p of everyone) p.wire.toPage(oldCommit);
    await sleep(1500);
    const after = await Promise.all(everyone.map(keys));
    const banner = await Promise.all(everyone.map((p) => p.page.evaluate(() => document.getElementById('banner-text').textContent)));
    const unchanged = after.every((k, i) => k.epoch === before[i].epoch && k.code === before[i].code && JSON.stringify(k.holders) === JSON.stringify(before[i].holders));
    const refusedGhost = after.every((k, i) => k.refused.slice(before[i].refused.length).some((r) => r.kind === 'commit' && /authority|certificate/.test(r.reason)));
    const refusedReplay = after.every((k, i) => k.refused.slice(before[i].refused.length).some((r) => r.kind === 'commit' && /epoch/.test(r.reason)));
    const dec = await Promise.all(everyone.map((p) => twoSamples(p.page, (s) => remote(s, 'video', 'camera')?.framesDecoded ?? 0)));
    result('10 server-injected member and replayed commit: refused on every screen, nothing changes',
      unchanged && refusedGhost && refusedReplay && banner.every((b) => /did not certify/.test(b)) && dec.every(([a, b]) => b > a) && !after.some((k) => k.holders.includes('Ghost/clinician')),
      `${everyone.length} screens: epoch/code/key holders unchanged: ${unchanged}; refused the ghost (certificate): ${refusedGhost}; ` +
      `refused the replay (epoch): ${refusedReplay}; reasons on the first screen ${JSON.stringify(after[0].refused.slice(before[0].refused.length).map((r) => r.reason.slice(0, 80)))}; ` +
      `banner "${banner[0]}"; still decoding ${dec.map((d) => d.join('->')).join(', ')}`);
  } catch (e) {
    result('10 server-injected member and replayed commit: refused on every screen, nothing changes', false, e.message);
  }
} finally {
  for (const p of everyone) await p.browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
