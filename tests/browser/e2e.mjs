// End-to-end tests of the demo page against a running telesfu server.
//
//   TELESFU_URL=http://127.0.0.1:8080 node e2e.mjs
//
// Env: TELESFU_URL (required), TELESFU_DEBUG_FRAMES (default ${TELESFU_URL}/debug/frames; the
// server records forwarded frames there when started with its test configuration).
// Each case prints "ok" or "FAIL" with its figures; the last line is "N passed, M failed".
import { launch, sleep } from './lib/harness.mjs';

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

async function openParticipant(role, name) {
  const b = await launch(EXTRA);
  const page = b.ctx.pages()[0] || (await b.ctx.newPage());
  const consoleLines = [];
  page.on('console', (m) => {
    consoleLines.push(`${m.type()}: ${m.text()}`);
    if (consoleLines.length > 200) consoleLines.shift();
  });
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e}`));
  // The dermatology profile publishes 320x180 / 640x360 / 1280x720 (the sizes case 3 expects).
  await page.goto(`${BASE}/?room=${encodeURIComponent(ROOM)}&role=${role}&name=${name}&visit=dermatology&autojoin=1&test=1`);
  return { browser: b, page, role, consoleLines };
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
    const sp = await state(patient.page);
    const sc = await state(clinician.page);
    result('1 call: both decode video and audio',
      dec.ok && audioOk(pa) && audioOk(ca) && sp.safetyNumber === sc.safetyNumber && sp.safetyNumber !== 'pending',
      `clinician decodes patient video ${dec.pv.join('->')}, patient decodes clinician video ${dec.cv.join('->')}; ` +
      `audio samples/packets patient ${JSON.stringify(pa)} clinician ${JSON.stringify(ca)}; safety numbers equal: ${sp.safetyNumber === sc.safetyNumber}`);
  } catch (e) {
    result('1 call: both decode video and audio', false, e.message);
    for (const p of everyone) dump(p, e.last || (await state(p.page).catch(() => null)));
  }

  // (2) E2EE is real: the server forwarded only SFrame ciphertext that differs from the plaintext.
  try {
    const chat = await patient.page.evaluate(() => window.telesfu.sendChat('e2e: how are you feeling today?'));
    const got = await waitFor(clinician.page, (s) => s.chat.some((c) => !c.mine && c.text === chat.text), 5000, 'chat');
    const res = await fetch(DEBUG_FRAMES);
    if (!res.ok) throw new Error(`GET ${DEBUG_FRAMES}: HTTP ${res.status}`);
    const { frames } = await res.json();
    const records = [];
    for (const p of everyone) records.push(...((await p.page.evaluate(() => window.telesfu.e2eeTestRecord())) || []));
    const byKidCtr = new Map(records.map((r) => [`${r.kid}/${r.ctr}`, r]));
    const av = frames.filter((f) => f.kind === 'audio' || f.kind === 'video');
    const notOk = av.filter((f) => !f.sframe_ok);
    let sameAsPlain = 0;
    let matched = 0;
    for (const f of av) {
      const head = String(f.head_hex || '').toLowerCase();
      const r = byKidCtr.get(`${f.kid}/${f.ctr}`);
      if (r) matched++;
      for (const rec of r ? [r, ...records] : records) {
        const n = Math.min(head.length, rec.body_hex.length);
        if (n >= 8 && head.slice(0, n) === rec.body_hex.slice(0, n)) {
          sameAsPlain++;
          break;
        }
      }
    }
    const kinds = new Set(av.map((f) => f.kind));
    const dec = await decodesEachOther(patient, clinician);
    result('2 E2EE: server saw only SFrame ciphertext',
      av.length > 0 && kinds.has('audio') && kinds.has('video') && notOk.length === 0 && sameAsPlain === 0 && records.length > 0 && dec.ok && !!got,
      `${av.length} frames recorded by the server (${[...kinds].join('+')}), ${notOk.length} not SFrame, ` +
      `${sameAsPlain} equal to a plaintext; ${records.length} plaintext records, ${matched} server frames matched by (kid, ctr); ` +
      `chat delivered; still decoding ${dec.pv.join('->')} / ${dec.cv.join('->')}`);
  } catch (e) {
    result('2 E2EE: server saw only SFrame ciphertext', false, e.message);
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

  // (4) Reconnect: the patient's socket drops; it resumes as the same participant.
  try {
    const before = await state(patient.page);
    const t0 = Date.now();
    await patient.page.evaluate(() => window.telesfu.cutWebSocket());
    await sleep(100);
    const after = await waitFor(patient.page,
      (s) => s.joined && s.ws === 'open' && s.joinCount > before.joinCount, 10000, 'patient joined again');
    const took = Date.now() - t0;
    const pv = await twoSamples(clinician.page, (s) => remote(s, 'video', 'camera')?.framesDecoded ?? 0);
    result('4 reconnect: same participant, media keeps flowing',
      after.participant === before.participant && pv[1] > pv[0],
      `rejoined in ${took} ms as ${after.participant} (was ${before.participant}, resumes ${after.resumes}); ` +
      `clinician decodes patient video ${pv.join('->')}`);
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
    const drops = text.split('\n').filter((l) => l.startsWith('telesfu_drops_total{'));
    const nonzero = drops.filter((l) => !l.endsWith(' 0')).map((l) => l.replace(/^telesfu_drops_total/, ''));
    result('7 metrics: counters move, drop counters present',
      rtp > 0 && dtls >= 2 && switches >= 1 && drops.some((l) => l.includes('layer="engine"')) && drops.some((l) => l.includes('layer="transport"')),
      `rtp_packets_received ${rtp}, dtls_handshakes ${dtls}, layer_switches ${switches}; ${drops.length} drop counters ` +
      `(non-zero: ${nonzero.join(' ') || 'none'})`);
  } catch (e) {
    result('7 metrics: counters move, drop counters present', false, e.message);
  }
} finally {
  for (const p of everyone) await p.browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
