// The demo page on impaired links, against a running telesfu server (issue 10, item 6).
//
//   TELESFU_URL=http://127.0.0.1:8080 node links.mjs [--report results.json] [--only id,id] [--dump dir]
//                                                       [--screenshots dir]
//
// Run it in a loopback-only network namespace (tests/browser/ci.sh does). Each case opens a
// fresh room of its visit type with a patient who publishes (camera + microphone) and a
// clinician who watches; both publish and both receive, as in a real visit. Each page's media
// goes through its own UDP impairment relay (lib/relay.mjs): the page's signaling runs through
// Playwright's routeWebSocket and the server's ICE candidate in every `answer` is rewritten to
// the relay's port, so the page's media (STUN, DTLS, SRTP, RTCP) passes the relay and nothing
// else does. The relay shapes like `tc tbf` (token bucket, byte-limited queue, tail drop) and
// adds seeded loss and delay, per direction, changeable mid-call. Signaling and HTTP are not
// impaired (the server's alerts are signaling; a WebSocket over the same bottleneck would
// measure TCP, not the SFU).
//
// Timeline of a case: both join; the viewer asks for the patient camera at 1280x720 (the top
// layer); limits "from the start" are in place before the first packet, a "step" limit comes
// after the 5 s warm-up; 5 s warm-up from the moment media connects (a step case: from the
// step's end of warm-up); then a 10 s window measured from getStats (sampled in the page every
// 250 ms); then every limit is lifted and the top layer's return is timed (up to 10 s).
//
// Each case prints "ok"/"FAIL" with its figures and the issue's targets it missed; the last
// lines are "targets: X of Y met" and "N passed, M failed". With --strict (or
// LINKS_STRICT=1) a case fails when any figure misses its bound (the bounds are in CASES,
// each with the target of issue 10 it comes from): that is the acceptance check for issue 10,
// which stays open while it fails. Without it (what CI runs, tests/browser/ci.sh) a case fails
// only when the call itself does not work: the page throws, media never connects, or the
// viewer decodes no video or receives no audio in the window. The misses are then printed,
// not gating: on today's engine several targets are missed in some runs and met in others on
// the same machine (2 shared cores, two Chromiums per case), and CI must not flip on that.
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { launch, sleep, CHROMIUM } from './lib/harness.mjs';
import { startRelay, rateLimit, describe, CLEAR } from './lib/relay.mjs';
import { videoFigures, audioFigures, senderFigures, topSentWidth, firstAlert, alertShare, fmt, pct } from './lib/linkstats.mjs';

const BASE = (process.env.TELESFU_URL || '').replace(/\/+$/, '');
if (!BASE) {
  console.log('TELESFU_URL is not set (e.g. http://127.0.0.1:8080)');
  process.exit(2);
}
const args = process.argv.slice(2);
const argOf = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : null;
};
const REPORT = argOf('--report');
const STRICT = args.includes('--strict') || process.env.LINKS_STRICT === '1';
const ONLY = argOf('--only') ? new Set(argOf('--only').split(',')) : null;
const DUMP = argOf('--dump'); // a directory: every sample and signaling message of each case
const SHOTS = argOf('--screenshots'); // a directory: both screens at the end of each window
const EXTRA = ['--autoplay-policy=no-user-gesture-required'];

const WARMUP_MS = 5000;
const WINDOW_MS = 10000;
const RECOVERY_LIMIT_MS = 10000; // how long the return of the top layer is watched after a lift
const SAMPLE_MS = 250;

// ----- Cases -----
//
// Bounds and the targets they come from (issue 10, item 6). Shared readings:
// - "≥ W×H": the picture is live (a frame decoded within the last 1 s) at W×H or larger in at
//   least 90 % of the window's samples. Not 100 %: a sample straddling one layer switch or one
//   short stall should not decide a case that the freeze bound already judges.
// - "≥ F fps": frames decoded over the 10 s window / 10 s.
// - "no freeze over 1 s": Chromium's freezes (inbound-rtp freezeCount / totalFreezesDuration)
//   ended in the window, none longer than 1 s, and no stall over 1 s still open at its end.
// - "top layer back within 5 s": after every limit is lifted, the viewer decodes the widest
//   encoding the sender is sending (and the server says spatial layer 2) within 5 s.
const TOP_BACK_S = 5;
const FREEZE_S = 1;
const SHARE = 0.9;

const floorSize = (w, h) => (f) => ({ what: `>= ${w}x${h} in >= ${pct(SHARE)} of samples`, ok: f.video.atLeast(w, h) >= SHARE });
const minFps = (n) => (f) => ({ what: `>= ${n} fps`, ok: f.video.fps >= n });
const noFreeze = (f) => ({ what: `no freeze over ${FREEZE_S} s`, ok: f.video.longestFreeze <= FREEZE_S && f.video.openStall <= FREEZE_S && f.video.framesDecoded > 0 });
const topBack = (f) => ({ what: `top layer back within ${TOP_BACK_S} s of the lift`, ok: f.recovery.ms !== null && f.recovery.ms <= TOP_BACK_S * 1000 });
const liveVideo = (f) => ({ what: 'video live (no stall over 2 s)', ok: f.video.framesDecoded > 0 && f.video.longestGap <= 2 && f.video.openStall <= 2 });

const DOWN_500 = { sub: { down: rateLimit(500) } };
const CASES = [
  {
    id: 'down500-general', trace: '500 kbps downlink, general consult', visit: 'general-consult', ...DOWN_500,
    // Target: ">= 320x180 at >= 15 fps, no freeze over 1 s".
    bounds: [floorSize(320, 180), minFps(15), noFreeze, topBack],
  },
  {
    id: 'down500-dermatology', trace: '500 kbps downlink, dermatology', visit: 'dermatology', ...DOWN_500,
    // Target: "patient camera >= 640x360 (fps may drop)": no frame-rate bound, only that the
    // picture is live.
    bounds: [floorSize(640, 360), liveVideo, topBack],
  },
  {
    id: 'down500-behavioural', trace: '500 kbps downlink, behavioural health', visit: 'behavioural-health', ...DOWN_500,
    // Target: ">= 25 fps".
    bounds: [minFps(25), noFreeze, topBack],
  },
  {
    id: 'down500-telestroke', trace: '500 kbps downlink, telestroke', visit: 'telestroke', ...DOWN_500, onset: 'step',
    // Target: "the alert is on screen within 2 s". Timed from the step down to 500 kbps after a
    // clear warm-up: an alert needs an onset to be timed from, and the engine holds clinical
    // alerts for 3 s after a viewer's first feedback (docs/bandwidth.md), so a limit from the
    // start would time the engine's ramp-up, not its answer to a drop.
    bounds: [
      (f) => ({ what: 'viewer alert on screen within 2 s of the step', ok: f.alert.viewer !== null && f.alert.viewer.afterMs <= 2000 }),
      // Item 5: "both sides know": the patient whose video it is sees it too, as quickly.
      (f) => ({ what: 'sender alert on screen within 2 s of the step', ok: f.alert.publisher !== null && f.alert.publisher.afterMs <= 2000 }),
      topBack,
    ],
  },
  {
    id: 'down300', trace: '300 kbps downlink', visit: 'general-consult', sub: { down: rateLimit(300) },
    // Target: "audio uninterrupted, video at the lowest layer or an on-screen alert".
    // Audio: a new packet in every 0.5 s and at most 5 % of played samples concealed (more is
    // heard as drop-outs). Video: in >= 90 % of the samples either the picture is live, or an
    // alert tells the viewer why it is not. General consult, the default visit: its lowest
    // layer (1/3 size, up to 500 kbps) is the one that may not fit.
    bounds: [
      (f) => ({ what: 'audio: no gap over 0.5 s, <= 5 % concealed', ok: f.audio.longestGap <= 0.5 && f.audio.concealedPct <= 5 && f.audio.packets > 0 }),
      (f) => ({ what: `video live or an alert on screen in >= ${pct(SHARE)} of samples`, ok: f.liveOrAlert >= SHARE }),
      topBack,
    ],
  },
  {
    id: 'up500', trace: '500 kbps uplink (publisher)', visit: 'general-consult', pub: { up: rateLimit(500) }, follow: true,
    // Target: "the subscriber still gets a fitting layer": the viewer decodes the widest layer
    // the sender's 500 kbps uplink carries, live and smooth (the general consult bounds), not a
    // layer the sender stopped sending. After the lift the top layer returns when the sender's
    // own estimator (Chromium's send-side GCC, fed by the server's transport-wide CC feedback)
    // has grown enough to send it again, which no SFU decision speeds up; the SFU's part is to
    // follow: the viewer decodes the wider layer within 5 s of the sender sending it (the
    // issue's 5 s for the top layer's return, counted from when the SFU can have it: it must
    // still grow the viewer's estimate, by probing, and wait for a keyframe). That check fails
    // too when the sender sends no wider layer within the 10 s watched.
    bounds: [
      minFps(15),
      noFreeze,
      (f) => ({ what: `decodes the widest layer the sender sends in >= ${pct(SHARE)} of samples`, ok: f.fittingShare >= SHARE }),
      (f) => ({ what: `after the lift, follows a wider layer within ${TOP_BACK_S} s of the sender sending it`, ok: f.follow.senderMs !== null && f.follow.lagMs !== null && f.follow.lagMs <= TOP_BACK_S * 1000 }),
    ],
  },
  {
    id: 'down1000', trace: '1 Mbps downlink', visit: 'general-consult', sub: { down: rateLimit(1000) },
    // Target: lifting the limit brings the top layer back within 5 s. While limited, the
    // general consult bounds of 500 kbps apply a fortiori.
    bounds: [floorSize(320, 180), minFps(15), noFreeze, topBack],
  },
  {
    id: 'loss5-delay50', trace: '5 % loss + 50 ms delay', visit: 'general-consult',
    sub: { down: { loss: 0.05, delayMs: 50 }, up: { loss: 0.05, delayMs: 50 } },
    // Both directions of the viewer's path (the field test's setting; RTCP and NACKs suffer
    // too). No rate limit: the picture should stay smooth (general consult bounds); lifting
    // brings (or keeps) the top layer within 5 s.
    bounds: [floorSize(320, 180), minFps(15), noFreeze, topBack],
  },
];

// ----- Pages -----

/**
 * Opens a page of `role` in `room` whose media goes through a new relay with `limits`
 * ({up, down}; applied now unless `later`). Records every server message with its time.
 */
async function openParticipant({ room, role, name, visit, limits = {}, later = false, seed }) {
  const relay = await startRelay({ seed, up: later ? {} : limits.up || {}, down: later ? {} : limits.down || {} });
  const browser = await launch(EXTRA);
  const page = browser.ctx.pages()[0] || (await browser.ctx.newPage());
  const consoleLines = [];
  page.on('console', (m) => {
    consoleLines.push(`${m.type()}: ${m.text()}`);
    if (consoleLines.length > 100) consoleLines.shift();
  });
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e}`));
  const fromServer = [];
  let rewritten = 0;
  let toPage = null;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    toPage = (m) => ws.send(JSON.stringify(m));
    ws.onMessage((msg) => server.send(msg));
    server.onMessage((msg) => {
      let m = null;
      try {
        m = JSON.parse(msg);
      } catch {
        ws.send(msg);
        return;
      }
      if (m.type === 'answer' && typeof m.sdp === 'string') {
        m.sdp = viaRelay(m.sdp, relay);
        rewritten++;
        msg = JSON.stringify(m);
      }
      if (m.type !== 'mls') fromServer.push({ at: Date.now(), m });
      ws.send(msg);
    });
  });
  await page.goto(`${BASE}/?room=${encodeURIComponent(room)}&role=${role}&name=${encodeURIComponent(name)}&visit=${visit}&autojoin=1&test=1`);
  const p = { role, name, page, browser, relay, fromServer, consoleLines, samples: [], rewritten: () => rewritten, toPage: (m) => toPage(m) };
  p.close = async () => {
    await browser.close();
    relay.close();
  };
  return p;
}

/**
 * The answer with every UDP host candidate pointing at the relay (the first one's address
 * becomes the relay's target) and every other candidate removed, so media cannot go around it.
 */
function viaRelay(sdp, relay) {
  let n = 0;
  const lines = sdp.split(/\r\n/).filter((line) => {
    const c = line.match(/^a=candidate:(\S+) (\d+) (\S+) (\d+) (\S+) (\d+) typ (\S+)(.*)$/);
    if (!c) return true;
    return c[3].toLowerCase() === 'udp' && c[7] === 'host';
  }).map((line) => {
    const c = line.match(/^a=candidate:(\S+) (\d+) (\S+) (\d+) (\S+) (\d+) typ (\S+)(.*)$/);
    if (!c) return line;
    relay.setTarget(c[5], Number(c[6]));
    n++;
    return `a=candidate:${c[1]} ${c[2]} ${c[3]} ${c[4]} 127.0.0.1 ${relay.port} typ ${c[7]}${c[8]}`;
  });
  if (!n) throw new Error('the answer has no UDP host candidate to relay');
  return lines.join('\r\n');
}

/** Starts sampling window.telesfu.media() in the page every SAMPLE_MS. */
function startSampler(page) {
  return page.evaluate((ms) => {
    const L = (window.__links = { samples: [], busy: false, error: null });
    L.timer = setInterval(async () => {
      if (L.busy) return;
      L.busy = true;
      try {
        L.samples.push(await window.telesfu.media());
        if (L.samples.length > 4000) L.samples.shift();
      } catch (e) {
        L.error = String(e);
      } finally {
        L.busy = false;
      }
    }, ms);
  }, SAMPLE_MS);
}

/** Moves the page's new samples into p.samples. */
async function collect(p) {
  const got = await p.page.evaluate(() => (window.__links ? window.__links.samples.splice(0) : []));
  p.samples.push(...got);
  return got;
}

async function until(p, pred, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < end) {
    try {
      last = await p.page.evaluate(() => (window.telesfu ? window.telesfu.media() : null));
      if (last && pred(last)) return last;
    } catch (e) {
      last = { error: String(e) };
    }
    await sleep(250);
  }
  const err = new Error(`${p.role}: timed out after ${timeoutMs} ms waiting for ${what}`);
  err.last = last;
  throw err;
}

// ----- The page's alerts, on their own -----

/**
 * Item 5's page part, independent of what the engine sends today: quality-alert and
 * quality-restored messages injected into both pages as the server would send them (through
 * the signaling man in the middle) must put words on the right screen, in the right place,
 * change with the alert, and go away on quality-restored. The patient's words carry no numbers
 * or network terms; the error banner stays for errors.
 */
async function runAlertWords() {
  const room = `links-alerts-${Date.now().toString(36)}`;
  const pub = await openParticipant({ room, role: 'patient', name: 'Pat', visit: 'dermatology', seed: 1 });
  const sub = await openParticipant({ room, role: 'clinician', name: 'Dr Lee', visit: 'dermatology', seed: 2 });
  const everyone = [pub, sub];
  const checks = [];
  const figures = [];
  const check = (what, ok, fig) => {
    checks.push({ what, ok });
    figures.push(`${what}: ${ok ? 'yes' : 'NO'}${fig ? ` (${fig})` : ''}`);
  };
  try {
    const ready = (s) => s.pc === 'connected' && s.remoteTracks.some((x) => x.kind === 'video' && x.ready);
    await Promise.all(everyone.map((p) => until(p, ready, 40000, 'media connected')));
    const cam = (await sub.page.evaluate(() => window.telesfu.media())).remoteTracks.find((x) => x.kind === 'video' && x.source === 'camera');
    const shown = async (p) => p.page.evaluate(() => ({
      dom: [...document.querySelectorAll('.quality-alert')].map((el) => ({
        text: [...el.children].map((x) => x.textContent).join(': '),
        inTile: el.closest('.tile')?.dataset.track ?? null,
        nearSelf: !!el.closest('.self'),
        role: el.getAttribute('role'),
        visible: el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden',
      })),
      banner: !document.getElementById('banner').hidden,
    }));
    const settle = () => sleep(400);
    const floor = { type: 'quality-alert', track: cam.track, minWidth: 640, minHeight: 360, minFps: 0, delivered: [320, 180, 15], estimateBps: 310000 };
    const t0 = Date.now();
    sub.toPage(floor);
    pub.toPage(floor);
    await settle();
    let v = await shown(sub);
    let s = await sub.page.evaluate(() => window.telesfu.media());
    const va = v.dom[0];
    check('viewer: below-floor alert on the patient camera tile', v.dom.length === 1 && va.visible && va.inTile === cam.track && va.role === 'status' &&
      /Pat's video/.test(va.text) && /skin examination/.test(va.text) && /640×360/.test(va.text) && /320×180/.test(va.text) && !v.banner,
      `"${va?.text}"`);
    const sa = s.alertsShown.find((x) => x.side === 'viewer');
    check('viewer: state() says what is shown and since when', !!sa && sa.visible && sa.state === 'reduced' && sa.shownAt >= t0 && sa.shownAt <= Date.now(),
      sa && `${sa.state}, shown ${sa.shownAt - t0} ms after the message was sent`);
    let pv = await shown(pub);
    const pa = pv.dom[0];
    check('sender: alert beside its own preview, naming the viewer, in plain words', pv.dom.length === 1 && pa.visible && pa.nearSelf &&
      /Dr Lee/.test(pa.text) && /hear you/.test(pa.text) && !/kbps|layer|floor|estimate|\d+×\d+|frames a second/.test(pa.text) && !pv.banner, `"${pa?.text}"`);

    // Paused: the words change, the alert stays (same place, same start time).
    const paused = { ...floor, delivered: null };
    sub.toPage(paused);
    pub.toPage(paused);
    await settle();
    v = await shown(sub);
    s = await sub.page.evaluate(() => window.telesfu.media());
    pv = await shown(pub);
    const sp = s.alertsShown.find((x) => x.side === 'viewer');
    check('paused: both screens say it is paused', v.dom.length === 1 && /paused/.test(v.dom[0].text) && /not live/.test(v.dom[0].text) &&
      sp?.state === 'paused' && sp.shownAt === sa?.shownAt && pv.dom.length === 1 && /cannot see you/.test(pv.dom[0].text),
      `viewer "${v.dom[0]?.text}"; sender "${pv.dom[0]?.text}"`);

    // Restored: gone from both screens.
    sub.toPage({ type: 'quality-restored', track: cam.track });
    pub.toPage({ type: 'quality-restored', track: cam.track });
    await settle();
    v = await shown(sub);
    pv = await shown(pub);
    s = await sub.page.evaluate(() => window.telesfu.media());
    check('quality-restored clears both screens', v.dom.length === 0 && pv.dom.length === 0 && s.alertsShown.length === 0,
      `${v.dom.length} + ${pv.dom.length} alerts left`);

    // A patient viewing (the clinician's camera below a floor): plain words, no numbers.
    const clinCam = (await pub.page.evaluate(() => window.telesfu.media())).remoteTracks.find((x) => x.kind === 'video');
    pub.toPage({ ...floor, track: clinCam.track });
    await settle();
    pv = await shown(pub);
    const pt = pv.dom.find((x) => x.inTile === clinCam.track);
    check('patient as viewer: plain words on the tile', !!pt && pt.visible && /Dr Lee's video/.test(pt.text) && /keep talking/.test(pt.text) &&
      !/kbps|layer|floor|estimate|\d+×\d+|frames a second/.test(pt.text), `"${pt?.text}"`);
  } catch (e) {
    check('harness', false, e.message);
  } finally {
    for (const p of everyone) await p.close().catch(() => {});
  }
  return { ok: checks.every((x) => x.ok), text: figures.join('; ') };
}

// ----- One case -----

async function runCase(c, index) {
  const room = `links-${c.id}-${Date.now().toString(36)}`;
  const step = c.onset === 'step';
  const t = { start: Date.now() };
  const load0 = os.loadavg()[0];
  // The patient first: the first token's visit type makes the room's profile.
  const pub = await openParticipant({ room, role: 'patient', name: 'Pat', visit: c.visit, limits: c.pub, later: step, seed: 100 + index });
  const sub = await openParticipant({ room, role: 'clinician', name: 'Dr Lee', visit: c.visit, limits: c.sub, later: step, seed: 200 + index });
  const everyone = [pub, sub];
  try {
    const ready = (s) => s.pc === 'connected' && s.remoteTracks.some((x) => x.kind === 'video' && x.ready) && s.remoteTracks.some((x) => x.kind === 'audio' && x.ready);
    await Promise.all(everyone.map((p) => until(p, ready, 40000, 'media connected and both tracks negotiated')));
    t.connected = Date.now();
    const first = await sub.page.evaluate(() => window.telesfu.media());
    const cam = first.remoteTracks.find((x) => x.kind === 'video' && x.source === 'camera');
    const publisher = cam.participant;
    // The viewer wants the top layer (its main tile is as wide anyway; explicit keeps the
    // case independent of the page's layout).
    await sub.page.evaluate((id) => window.telesfu.setView(id, 1280, 720), cam.track);
    await Promise.all(everyone.map((p) => startSampler(p.page)));

    // With --dump, the server's view every 500 ms (estimate, allocation, measured layers).
    const serverView = [];
    const viewTimer = DUMP
      ? setInterval(() => {
          fetch(`${BASE}/debug/bandwidth`).then((r) => r.json()).then((j) => serverView.push({ at: Date.now(), ...j })).catch(() => {});
        }, 500)
      : null;
    viewTimer?.unref();
    await sleep(WARMUP_MS);
    if (step) {
      t.onset = Date.now();
      for (const [p, l] of [[pub, c.pub], [sub, c.sub]]) for (const dir of ['up', 'down']) if (l && l[dir]) p.relay.set(dir, l[dir]);
    } else {
      t.onset = t.connected; // limits were in place before the first packet: time from connecting
    }
    t.from = Date.now();
    const relay0 = { pub: pub.relay.stats(), sub: sub.relay.stats() };
    await sleep(WINDOW_MS);
    t.to = Date.now();
    const relay1 = { pub: pub.relay.stats(), sub: sub.relay.stats() };
    if (SHOTS) {
      fs.mkdirSync(SHOTS, { recursive: true });
      for (const p of everyone) await p.page.screenshot({ path: `${SHOTS}/${c.id}-${p.role}.png` }).catch(() => {});
    }
    await Promise.all(everyone.map(collect));

    // Lift every limit; watch for the top layer.
    t.lift = Date.now();
    for (const p of everyone) for (const dir of ['up', 'down']) p.relay.set(dir, CLEAR);
    let recoveredAt = null;
    let topWidth = 0;
    // A case that follows its sender watches 5 s longer: a wider layer the sender starts late
    // in the 10 s still gets the 5 s it is allowed to reach the viewer.
    const watchMs = RECOVERY_LIMIT_MS + (c.follow ? TOP_BACK_S * 1000 : 0);
    while (Date.now() - t.lift < watchMs && recoveredAt === null) {
      await sleep(500);
      await Promise.all(everyone.map(collect));
      for (const s of sub.samples.filter((x) => x.at >= t.lift)) {
        const v = s.remoteTracks.find((x) => x.track === cam.track);
        const top = topSentWidth(pub.samples, s.at);
        if (top > 0) topWidth = top;
        if (v && top > 0 && v.frameWidth >= top && (v.layer === 2 || v.layer === null) && recoveredAt === null) {
          // Decoding at that width: frames rose since the previous sample.
          const prev = sub.samples[sub.samples.indexOf(s) - 1]?.remoteTracks.find((x) => x.track === cam.track);
          if (prev && v.framesDecoded > prev.framesDecoded) recoveredAt = s.at;
        }
      }
    }
    t.end = Date.now();
    // The sender's side of the recovery: when it sends a layer wider than before the lift,
    // and when the viewer first decodes that width.
    const widthBefore = topSentWidth(pub.samples, t.lift);
    const wider = pub.samples.find((s) => s.at > t.lift && s.at <= t.lift + RECOVERY_LIMIT_MS && topSentWidth(pub.samples, s.at) > widthBefore);
    const follow = { widthBefore, width: null, senderMs: null, lagMs: null };
    if (wider) {
      follow.width = topSentWidth(pub.samples, wider.at);
      follow.senderMs = wider.at - t.lift;
      const seen = sub.samples.find((s) => s.at > t.lift && (s.remoteTracks.find((x) => x.track === cam.track)?.frameWidth ?? 0) >= follow.width);
      if (seen) follow.lagMs = Math.max(0, seen.at - wider.at);
    }

    // ----- Figures -----
    const video = videoFigures(sub.samples, publisher, t.from, t.to);
    const audio = audioFigures(sub.samples, publisher, t.from, t.to);
    const sent = senderFigures(pub.samples, t.from, t.to);
    const kbps = (a, b, who, dir) => ((b[who][dir].bytesOut - a[who][dir].bytesOut) * 8) / (t.to - t.from);
    const link = {
      subDownKbps: kbps(relay0, relay1, 'sub', 'down'),
      pubUpKbps: kbps(relay0, relay1, 'pub', 'up'),
      subDown: relay1.sub.down,
      pubUp: relay1.pub.up,
    };
    // Alerts: on screen (the pages' samples) and on the wire (what the server sent).
    const alertAfter = (p, side) => {
      const a = firstAlert(p.samples, side, t.onset);
      return a ? { afterMs: a.shownAt - t.onset, seenAfterMs: a.seenAt - t.onset, title: a.title, text: a.text, state: a.state } : null;
    };
    const wire = (p, type) => p.fromServer.filter((x) => x.m.type === type && x.at >= t.onset);
    const alert = {
      viewer: alertAfter(sub, 'viewer'),
      publisher: alertAfter(pub, 'publisher'),
      viewerShare: alertShare(sub.samples, 'viewer', t.from, t.to),
      wireToViewer: wire(sub, 'quality-alert').map((x) => ({ afterMs: x.at - t.onset, ...x.m })),
      wireToPublisher: wire(pub, 'quality-alert').map((x) => ({ afterMs: x.at - t.onset, ...x.m })),
      restored: wire(sub, 'quality-restored').length + wire(pub, 'quality-restored').length,
    };
    // Per sample: the picture is live, or an alert explains why not (300 kbps case).
    const winSamples = sub.samples.filter((s) => s.at >= t.from && s.at <= t.to);
    let prevDecoded = null;
    let lastRise = null;
    let liveOrAlert = 0;
    let fitting = 0;
    for (const s of sub.samples.filter((x) => x.at <= t.to)) {
      const v = s.remoteTracks.find((x) => x.track === cam.track);
      if (v && prevDecoded !== null && v.framesDecoded > prevDecoded) lastRise = s.at;
      prevDecoded = v ? v.framesDecoded : prevDecoded;
      if (s.at < t.from) continue;
      const live = lastRise !== null && s.at - lastRise <= 1000;
      if (live || (s.alertsShown || []).some((a) => a.visible && a.side === 'viewer')) liveOrAlert++;
      const top = topSentWidth(pub.samples, s.at);
      if (live && v && top > 0 && v.frameWidth >= top) fitting++;
    }
    const f = {
      video,
      audio,
      sent,
      link,
      alert,
      liveOrAlert: winSamples.length ? liveOrAlert / winSamples.length : 0,
      fittingShare: winSamples.length ? fitting / winSamples.length : 0,
      recovery: { ms: recoveredAt === null ? null : recoveredAt - t.lift, topWidth },
      follow,
      layerSwitches: wire(sub, 'layer-switched').filter((x) => x.at <= t.to).length,
      load: [load0, os.loadavg()[0]],
      seconds: (t.end - t.start) / 1000,
    };
    const checks = c.bounds.map((b) => b(f));
    // The call works at all: the gate without --strict.
    const works = [
      { what: 'video decoded in the window', ok: f.video.framesDecoded > 0 },
      { what: 'audio received in the window', ok: f.audio.packets > 0 },
    ];
    if (viewTimer) clearInterval(viewTimer);
    if (DUMP) {
      // Everything measured, for reading a case afterwards (not part of the report).
      fs.mkdirSync(DUMP, { recursive: true });
      fs.writeFileSync(`${DUMP}/${c.id}.json`, JSON.stringify({ t, track: cam.track, publisher, viewer: { samples: sub.samples, wire: sub.fromServer }, sender: { samples: pub.samples, wire: pub.fromServer }, serverView }));
    }
    const met = checks.every((x) => x.ok);
    return { c, f, checks, works, met, ok: works.every((x) => x.ok) && (met || !STRICT), t };
  } catch (e) {
    for (const p of everyone) {
      console.log(`  --- ${p.role}: ${p.rewritten()} answer(s) relayed; relay ${JSON.stringify(p.relay.stats())}`);
      if (e.last) console.log(`  last: ${JSON.stringify(e.last).slice(0, 1500)}`);
      for (const l of p.consoleLines.slice(-15)) console.log(`  console ${l}`);
    }
    return { c, error: e.message, ok: false, checks: [], t };
  } finally {
    for (const p of everyone) await p.close().catch(() => {});
  }
}

// ----- Printing and the report -----

function line(r) {
  if (r.error) return `${r.c.trace}: ${r.error}`;
  const { video: v, audio: a, sent, link, alert, recovery } = r.f;
  const sizes = Object.entries(v.sizes).sort((x, y) => y[1] - x[1]).map(([k, s]) => `${k} ${pct(s)}`).join(', ') || 'none';
  const layers = Object.entries(v.layers).sort().map(([k, s]) => `L${k} ${pct(s)}`).join(' ');
  const sentText = Object.entries(sent).map(([rid, s]) => `${rid} ${s.width}x${s.height} ${fmt(s.kbps, 0)} kbps ${fmt(s.fps, 0)} fps${s.limitation && s.limitation !== 'none' ? ` (${s.limitation})` : ''}`).join(', ');
  const al = (x) => (x ? `"${x.title}" on screen at +${fmt(x.afterMs / 1000, 2)} s (${x.state})` : 'none');
  const wireA = alert.wireToViewer.length ? `${alert.wireToViewer.length} (first +${fmt(alert.wireToViewer[0].afterMs / 1000, 2)} s, ${alert.wireToViewer[0].delivered ? `delivered ${alert.wireToViewer[0].delivered.join('x')}` : 'paused'}, estimate ${fmt(alert.wireToViewer[0].estimateBps / 1000, 0)} kbps)` : '0';
  const failedChecks = [...r.works, ...r.checks].filter((x) => !x.ok).map((x) => x.what);
  return `${r.c.trace}: ` +
    `picture ${sizes} (live ${pct(v.liveShare)}); ${fmt(v.fps)} fps (lowest 1 s ${fmt(v.minFps1s)}); ` +
    `freezes ${v.freezes} (${fmt(v.freezeSeconds, 2)} s, longest ${fmt(v.longestFreeze, 2)} s, open stall ${fmt(v.openStall, 2)} s, longest gap ${fmt(v.longestGap, 2)} s); ` +
    `layers ${layers}, ${r.f.layerSwitches} switches; video ${fmt(v.kbps, 0)} kbps, keyframes ${v.keyFrames}, PLIs ${v.plis}, NACKs ${v.nacks}, lost ${v.lost}; ` +
    `audio ${a.packets} packets, longest gap ${fmt(a.longestGap, 2)} s, concealed ${fmt(a.concealedPct, 2)} %; ` +
    `viewer downlink ${fmt(link.subDownKbps, 0)} kbps (tail drops ${link.subDown.tailDropped}, lost ${link.subDown.lost}, longest queue ${fmt(link.subDown.maxQueueMs, 0)} ms), sender uplink ${fmt(link.pubUpKbps, 0)} kbps (tail drops ${link.pubUp.tailDropped}, lost ${link.pubUp.lost}, longest queue ${fmt(link.pubUp.maxQueueMs, 0)} ms); ` +
    `sent ${sentText}; ` +
    `alert to viewer: ${al(alert.viewer)}, on screen ${pct(alert.viewerShare)} of the window, quality-alerts on the wire ${wireA}; to sender: ${al(alert.publisher)} (${alert.wireToPublisher.length} on the wire); ` +
    `top layer (${recovery.topWidth} wide) back ${recovery.ms === null ? `not within ${RECOVERY_LIMIT_MS / 1000} s` : `after ${fmt(recovery.ms / 1000, 2)} s`} of the lift` +
    (r.c.follow ? ` (sender: ${r.f.follow.senderMs === null ? `nothing wider than ${r.f.follow.widthBefore} within ${RECOVERY_LIMIT_MS / 1000} s` : `${r.f.follow.width} wide after ${fmt(r.f.follow.senderMs / 1000, 2)} s, viewer ${r.f.follow.lagMs === null ? 'never' : `${fmt(r.f.follow.lagMs / 1000, 2)} s later`}`})` : '') + '; ' +
    `load ${fmt(r.f.load[0], 2)}->${fmt(r.f.load[1], 2)}, ${fmt(r.f.seconds, 0)} s` +
    (failedChecks.length ? ` [missed: ${failedChecks.join('; ')}]` : '');
}

function reportEntry(r) {
  const impair = (l) => Object.fromEntries(Object.entries(l || {}).map(([dir, p]) => [dir, describe({ ...CLEAR, ...p })]));
  const base = { id: r.c.id, trace: r.c.trace, visit: r.c.visit, onset: r.c.onset || "start", viewer: impair(r.c.sub), sender: impair(r.c.pub), ok: r.ok, met: r.met ?? false, checks: r.checks, works: r.works || [] };
  if (r.error) return { ...base, error: r.error };
  const { atLeast, ...video } = r.f.video;
  return {
    ...base,
    video,
    audio: r.f.audio,
    sent: r.f.sent,
    link: { viewerDownKbps: r.f.link.subDownKbps, senderUpKbps: r.f.link.pubUpKbps, viewerDown: r.f.link.subDown, senderUp: r.f.link.pubUp },
    alert: r.f.alert,
    liveOrAlert: r.f.liveOrAlert,
    fittingShare: r.f.fittingShare,
    recovery: r.f.recovery,
    follow: r.f.follow,
    layerSwitches: r.f.layerSwitches,
    load: r.f.load,
    seconds: r.f.seconds,
  };
}

let passed = 0;
let failed = 0;
const results = [];
const t0 = Date.now();
const cases = CASES.filter((c) => !ONLY || ONLY.has(c.id));
if (!cases.length && !(ONLY && ONLY.has('alert-words'))) {
  console.log(`no case matches --only ${[...ONLY].join(',')}; cases: ${CASES.map((c) => c.id).join(', ')}`);
  process.exit(2);
}
if (!ONLY || ONLY.has('alert-words')) {
  const r = await runAlertWords();
  if (r.ok) passed++;
  else failed++;
  console.log(`${r.ok ? 'ok  ' : 'FAIL'} page alerts (injected quality-alert, paused, quality-restored): ${r.text}`);
}
for (const [i, c] of cases.entries()) {
  const r = await runCase(c, i);
  results.push(r);
  if (r.ok) passed++;
  else failed++;
  console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${line(r)}`);
}
if (REPORT) {
  const report = {
    generated: new Date().toISOString(),
    server: BASE,
    chromium: (() => {
      try {
        return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      } catch {
        return null;
      }
    })(),
    cpus: os.cpus().length,
    setup: { warmupMs: WARMUP_MS, windowMs: WINDOW_MS, recoveryLimitMs: RECOVERY_LIMIT_MS, sampleMs: SAMPLE_MS },
    seconds: (Date.now() - t0) / 1000,
    cases: results.map(reportEntry),
  };
  fs.writeFileSync(REPORT, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`report: ${REPORT}`);
}
const judged = results.filter((r) => r.checks);
const bounds = judged.flatMap((r) => r.checks);
console.log(`targets: ${bounds.filter((b) => b.ok).length} of ${bounds.length} met; cases meeting all: ${judged.filter((r) => r.met).length} of ${judged.length}` +
  (STRICT ? ' (strict: a miss fails its case)' : ' (not gating; --strict makes a miss fail its case)'));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
