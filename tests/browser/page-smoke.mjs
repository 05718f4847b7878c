// Exercises the demo page (index.html, app.js) in headless Chromium against a MOCK signaling
// server: a node WebSocket endpoint that speaks docs/signaling.md, with the answers produced by
// a second Chromium page (a plain RTCPeerConnection standing in for the SFU), the MLS Delivery
// Service and a test authority run in node through the same wasm the page runs. It checks the
// page's side of the protocol: join, offers with mids and simulcast, subscription on
// track-added, view, the MLS group (create, certificate, code and key holders shown), chat as
// an MLS application message, resume after a socket drop, error banner, that clear media
// arriving on a subscription is dropped by the receiver transform, and that without the
// server's debug API the page has no test hooks. It does not check the real server; e2e.mjs does.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { staticServer, launch, sleep } from './lib/harness.mjs';
import { acceptWebSocket } from './lib/ws-server.mjs';
import { Authority, DeliveryService, random, b64u, unb64u } from './lib/e2ee-node.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const web = path.join(root, 'bins/server/web');

const seen = []; // every client message, parsed (or {raw})
let answererPage = null;
let conn = null;
const send = (m) => conn && conn.send(JSON.stringify(m));
const REMOTE_TRACK = { track: 't9', participant: 'p9', kind: 'video', source: 'camera', codec: 'VP8', layers: 3 };

// The mock's authority (the page trusts it: /api/authority) and Delivery Service.
const authority = new Authority(random(32));
const ds = new DeliveryService('demo', [authority.publicKey()]);
let withHooks = true;
const credential = (method, body) => {
  if (method !== 'POST') return [405, 'text/plain', 'POST only'];
  const { token, signatureKey } = JSON.parse(body);
  if (token !== 'mock.token') return [401, 'text/plain', 'bad token'];
  const now = Math.floor(Date.now() / 1000);
  const cert = authority.issue({ subject: 'sub-pat', room: 'demo', notBefore: now - 60, notAfter: now + 3600, name: 'Pat', role: 'patient', tenant: 'demo' }, unb64u(signatureKey));
  return [200, 'application/json', JSON.stringify({ certificate: b64u(cert) })];
};
const srv = await staticServer(
  { '/t/': path.join(here, 'pages'), '/pkg/telesfu-e2ee/': path.join(root, 'e2ee/web') },
  {
    '/': ['text/html; charset=utf-8', fs.readFileSync(path.join(web, 'index.html'))],
    '/app.js': ['text/javascript', fs.readFileSync(path.join(web, 'app.js'))],
    '/style.css': ['text/css', fs.readFileSync(path.join(web, 'style.css'))],
    '/debug/test-hooks.js': () => (withHooks ? [200, 'text/javascript', fs.readFileSync(path.join(web, 'test-hooks.js'))] : [404, 'text/plain', 'debug API off']),
    '/favicon.ico': ['image/x-icon', ''],
    '/answerer': ['text/html', '<!doctype html><title>answerer</title>'],
    '/api/token': ['application/json', JSON.stringify({ token: 'mock.token' })],
    '/api/authority': ['application/json', JSON.stringify({ keys: [b64u(authority.publicKey())] })],
    '/api/credential': credential,
  },
);
srv.server.on('upgrade', (req, socket) => {
  if (!req.url.startsWith('/ws')) return socket.destroy();
  const c = acceptWebSocket(req, socket);
  conn = c;
  c.onmessage = async (text) => {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      seen.push({ raw: text });
      c.send(JSON.stringify({ type: 'error', code: 'bad_json', message: 'not JSON' }));
      return;
    }
    seen.push(m);
    const joined = (resumed) => ({
      type: 'joined', participant: 'p1', session: 's1', resumed, room: 'demo', role: 'patient', name: 'Pat',
      peers: resumed ? [{ participant: 'p9', name: 'Ghost', role: 'clinician' }] : [], tracks: resumed ? [REMOTE_TRACK] : [],
      config: { publish: { encodings: [{ rid: 'f', scaleResolutionDownBy: 1 }, { rid: 'q', scaleResolutionDownBy: 4 }, { rid: 'h', scaleResolutionDownBy: 2 }] }, e2ee: true },
    });
    if (m.type === 'join' && m.resume === 's1') {
      c.send(JSON.stringify(joined(true)));
      c.send(JSON.stringify(ds.state()));
    } else if (m.type === 'join') {
      c.send(JSON.stringify(joined(false)));
      c.send(JSON.stringify(ds.state()));
      setTimeout(() => {
        send({ type: 'peer-joined', participant: 'p9', name: 'Ghost', role: 'clinician' });
        send({ type: 'track-added', ...REMOTE_TRACK });
      }, 1500);
    } else if (m.type === 'mls') {
      // The only member: every delivery (to all, to the sender) goes back to it.
      const d = ds.handle(m, Date.now(), 'p1');
      if (d.to !== 'others') c.send(JSON.stringify(d.msg));
    } else if (m.type === 'offer') {
      if (/garbage/.test(m.sdp)) {
        c.send(JSON.stringify({ type: 'error', code: 'bad_sdp', message: 'line 1: garbage', ref: 'offer' }));
        return;
      }
      const sdp = await answererPage.evaluate(async (o) => (await import('/t/answerer.mjs')).answer(o), m.sdp);
      c.send(JSON.stringify({ type: 'answer', sdp }));
    }
  };
});

let passed = 0;
let failed = 0;
const check = (name, ok, figures) => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${figures}`);
};
const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
const pageErrors = [];
try {
  answererPage = await browser.ctx.newPage();
  await answererPage.goto(`${srv.base}/answerer`);
  const page = browser.ctx.pages()[0];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && !/favicon/.test(m.text()) && pageErrors.push(m.text()));
  await page.goto(`${srv.base}/?room=demo&role=patient&autojoin=1&test=1&name=Pat`);
  const state = () => page.evaluate(() => window.telesfu.state());
  const until = async (pred, ms) => {
    const end = Date.now() + ms;
    let s;
    while (Date.now() < end) {
      s = await state();
      if (pred(s)) return s;
      await sleep(200);
    }
    return s;
  };

  let s = await until((x) => x.joined && x.pc === 'connected' && x.remoteTracks.some((t) => t.ready), 15000);
  const offers = seen.filter((m) => m.type === 'offer');
  const first = offers[0] || { sdp: '', mids: {} };
  const sources = Object.values(first.mids).map((v) => v.source).sort().join(',');
  check('join with token, first offer publishes camera+mic', seen[0]?.type === 'join' && seen[0]?.token === 'mock.token' && sources === 'camera,mic',
    `first message ${JSON.stringify(seen[0])}; first offer mids ${JSON.stringify(first.mids)}`);
  const rids = [...first.sdp.matchAll(/a=rid:(\w+) send/g)].map((x) => x[1]).join(',');
  const sim = (first.sdp.match(/a=simulcast:send (\S+)/) || [])[1];
  check('simulcast from joined.config, lowest first', rids === 'q,h,f' && sim === 'q;h;f', `rids ${rids}, a=simulcast:send ${sim}`);
  const subOffer = offers.find((o) => Object.values(o.mids).some((v) => v.track === 't9'));
  check('track-added -> recvonly section mapped in the next offer', !!subOffer && s.remoteTracks[0]?.ready,
    `${offers.length} offers; mids ${JSON.stringify(subOffer?.mids)}; pc ${s.pc}`);
  const view = seen.find((m) => m.type === 'view' && m.track === 't9');
  check('view sent with the element size', !!view && view.width > 0 && view.height > 0, JSON.stringify(view));
  s = await until((x) => x.e2ee?.isMember && x.shown.code !== 'pending', 10000);
  const create = seen.find((m) => m.type === 'mls' && m.op === 'create');
  check('MLS group created, certified, code and key holder shown',
    !!create && s.e2ee?.epoch === 0 && /^\d{5}( \d{5}){5}$/.test(s.shown.code) && s.shown.code === s.e2ee.code &&
      s.e2ee.roster.length === 1 && s.e2ee.roster[0].name === 'Pat' && s.e2ee.roster[0].role === 'patient' &&
      /^You · patient/.test(s.shown.keyHolders[0] || '') && ds.accepted === 1,
    `create ${create ? `${create.groupInfo.length} chars` : 'none'}; epoch ${s.e2ee?.epoch}; shown code "${s.shown.code}"; key holders ${JSON.stringify(s.shown.keyHolders)}`);

  await sleep(3000);
  s = await state();
  const cam = s.e2ee.tracks.find((t) => t.trackId === 'local-camera');
  const t9 = s.e2ee.tracks.find((t) => t.trackId === 't9');
  const out = s.outbound.filter((o) => o.kind === 'video');
  const camDropped = Object.values(cam?.dropped || {}).reduce((a, b) => a + b, 0);
  check('camera frames are sealed (3 layers)', cam?.frames > 0 && out.length === 3 && out.every((o) => o.packetsSent > 0),
    `sealed ${cam?.frames}, dropped ${camDropped} ${JSON.stringify(cam?.dropped)}; outbound ${out.map((o) => `${o.rid}:${o.frameWidth}x${o.frameHeight}/${o.packetsSent}pkt`).join(' ')}`);
  const t9s = s.remoteTracks.find((t) => t.track === 't9');
  const t9dropped = Object.values(t9?.dropped || {}).reduce((a, b) => a + b, 0);
  check('clear media on a subscription is dropped, never decoded', t9dropped > 0 && t9.frames === 0 && t9s.framesDecoded === 0,
    `receiver transform dropped ${t9dropped} ${JSON.stringify(t9?.dropped)}, passed ${t9?.frames}, framesDecoded ${t9s.framesDecoded}`);

  await page.evaluate(() => window.telesfu.setView('t9', 320, 180));
  await sleep(300);
  const v2 = seen.filter((m) => m.type === 'view' && m.track === 't9').pop();
  check('setView sends the override', v2?.width === 320 && v2?.height === 180, JSON.stringify(v2));

  await page.evaluate(() => window.telesfu.sendChat('hello doctor'));
  await sleep(300);
  const chat = seen.find((m) => m.type === 'mls' && m.op === 'app');
  const plain = chat ? Buffer.from(unb64u(chat.message)).toString('latin1') : '';
  check('chat goes out as an MLS application message, not in clear', !!chat && !plain.includes('hello doctor') && !JSON.stringify(chat).includes('hello doctor'),
    chat ? `message ${chat.message.length} chars base64url` : 'none');

  const joinsBefore = s.joinCount;
  await page.evaluate(() => window.telesfu.cutWebSocket());
  s = await until((x) => x.joined && x.joinCount > joinsBefore, 10000);
  const resume = seen.filter((m) => m.type === 'join').pop();
  check('socket drop -> join with resume, same participant', resume?.resume === 's1' && s.participant === 'p1' && s.joined,
    `last join ${JSON.stringify(resume)}; joined ${s.joined}, participant ${s.participant}, resumes ${s.resumes}, pc ${s.pc}`);

  await page.evaluate(() => window.telesfu.sendRaw('{oops'));
  await page.evaluate(() => window.telesfu.send({ type: 'offer', sdp: 'garbage', mids: {} }));
  await sleep(500);
  s = await state();
  const banner = await page.evaluate(() => !document.getElementById('banner').hidden && document.getElementById('banner-text').textContent);
  const raw = seen.find((m) => m.raw === '{oops');
  check('raw send and server errors shown', !!raw && s.errors.map((e) => e.code).join(',') === 'bad_json,bad_sdp' && /bad_sdp/.test(banner || ''),
    `errors ${JSON.stringify(s.errors.map((e) => [e.code, e.ref]))}; banner "${banner}"`);
  check('no page errors', pageErrors.length === 0, pageErrors.slice(0, 5).join(' | ') || 'none');
  await page.screenshot({ path: path.join(here, 'page-smoke.png') }).catch(() => {});

  // A server without the debug API serves no hooks: the same page with ?test=1 has none.
  withHooks = false;
  const bare = await browser.ctx.newPage();
  await bare.goto(`${srv.base}/?room=demo&test=1`);
  await sleep(1000);
  const hooks = await bare.evaluate(() => typeof window.telesfu);
  check('no test hooks without the debug API', hooks === 'undefined', `typeof window.telesfu = ${hooks}`);
} catch (e) {
  failed++;
  console.log(`FAIL harness: ${e.stack || e}`);
} finally {
  await browser.close();
  await srv.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
