// The telesfu telehealth demo page: landing, call, signaling client (docs/signaling.md), and
// media with end-to-end encryption through the @telesfu/e2ee package (e2ee/web), loaded from
// /pkg/telesfu-e2ee/ exactly as a vendor would load it from its own origin.
//
// Signaling model: one RTCPeerConnection, the page always offers, the server answers.
// Negotiations run one at a time from a queue; a request made while one is queued joins it.
//
// Encryption: one TelesfuE2ee per participant id. It holds every key in its worker; this page
// relays the `mls` signaling messages both ways, asks the authority for a certificate once, and
// attaches the worker's transforms to every sender and receiver. The demo's authority is the
// server's development authority (GET /api/authority, POST /api/credential): a vendor ships its
// own authority key in its own bundle instead (docs/threat-model.md).
//
// Test hooks: none in this file. With ?test=1 the page imports /debug/test-hooks.js, which the
// server serves only when started with --debug-api (the browser tests do); elsewhere that
// import fails and the page runs without hooks.

import { TelesfuE2ee } from '/pkg/telesfu-e2ee/index.js';

const params = new URLSearchParams(location.search);
const TEST = params.get('test') === '1';
const DEFAULT_SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4 },
  { rid: 'h', scaleResolutionDownBy: 2 },
  { rid: 'f', scaleResolutionDownBy: 1 },
];
const RECONNECT_DELAYS_MS = [300, 1000, 2000, 4000, 8000];
const ANSWER_TIMEOUT_MS = 15000;
const ICE_DISCONNECTED_GRACE_MS = 2000;
// Errors after which the server closes the socket and a plain retry would not help.
const FATAL_CODES = new Set(['unauthorized', 'room_full']);

const $ = (id) => document.getElementById(id);

const S = {
  room: params.get('room') || 'demo',
  role: null,
  name: null,
  token: null,
  ws: null,
  joined: false,
  joinCount: 0,
  resumes: 0,
  participant: null,
  session: null,
  config: null,
  leaving: false,
  fatal: null,
  reconnectAttempt: 0,
  reconnectTimer: null,
  joinWaiters: [],
  pc: null,
  localStream: null,
  screenStream: null,
  sources: new Map(), // transceiver -> 'camera' | 'mic' | 'screen'
  screenTransceiver: null,
  subs: new Map(), // track id -> subscription
  peers: new Map(), // participant -> {participant, name, role}
  authorityKeys: null, // the authority's public keys (the demo's: from /api/authority)
  e2ee: null, // TelesfuE2ee of the current participant id
  e2eeInfo: { epoch: null, code: null, roster: [], refused: [], joinedAt: null },
  chat: [],
  errors: [],
  qualityAlerts: [], // every quality-alert received, with what was shown and when it cleared
  alerts: new Map(), // what is on screen now: key -> alert (see onQualityAlert)
  everSubscribed: new Set(), // every track id this page subscribed to (see readAlert)
  log: [],
  neg: { chain: Promise.resolve(), queued: null, iceRestart: false, pendingAnswer: null, count: 0, failures: 0, needed: false },
  iceTimer: null,
  iceRestarts: 0,
  statsTimer: null,
  pingTimer: null,
  activeSpeaker: null,
};

function log(text) {
  const line = `${new Date().toISOString().slice(11, 23)} ${text}`;
  S.log.push(line);
  if (S.log.length > 300) S.log.shift();
  if (TEST) console.log(`[telesfu] ${text}`);
}

// ----- Banner -----

function showError(text) {
  $('banner-text').textContent = text;
  $('banner').hidden = false;
}

// ----- End-to-end encryption -----

function b64uToBytes(s) {
  if (typeof s !== 'string' || /[^A-Za-z0-9_-]/.test(s)) throw new TypeError('not base64url');
  const t = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(t + '='.repeat((4 - (t.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function bytesToB64u(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The demo's trust anchors: the development authority's key, fetched from the server. */
async function fetchAuthorityKeys() {
  const r = await fetch('/api/authority');
  if (!r.ok) throw new Error(`authority keys: HTTP ${r.status} ${await r.text()}`);
  const { keys } = await r.json();
  if (!Array.isArray(keys) || !keys.length) throw new Error('the server runs no development authority (e2ee.dev_authority is off)');
  return keys.map(b64uToBytes);
}

/** Asks the authority to certify the worker's member key for this call. */
async function getCertificate(publicKey) {
  const r = await fetch('/api/credential', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: S.token, signatureKey: bytesToB64u(publicKey) }),
  });
  if (!r.ok) throw new Error(`certificate: HTTP ${r.status} ${await r.text()}`);
  const { certificate } = await r.json();
  return b64uToBytes(certificate);
}

function startE2ee(participant) {
  if (S.e2ee) S.e2ee.close();
  S.e2eeInfo = { epoch: null, code: null, roster: [], refused: [], joinedAt: null };
  S.e2ee = new TelesfuE2ee({
    room: S.room,
    participant,
    authorityKeys: S.authorityKeys,
    getCertificate,
    send: (m) => sendMsg(m),
    onEvent: onE2eeEvent,
  });
  S.e2ee.ready.catch((e) => showError(`end-to-end encryption could not start: ${e.message || e}`));
}

function onE2eeEvent(ev) {
  const info = S.e2eeInfo;
  switch (ev.type) {
    case 'joined':
      info.joinedAt = Date.now();
      log(`e2ee: ${ev.created ? 'created the group' : 'joined the group'} at epoch ${ev.epoch}`);
      break;
    case 'epoch':
      info.epoch = ev.epoch;
      info.code = ev.code;
      info.roster = S.e2ee ? S.e2ee.roster : [];
      log(`e2ee: epoch ${ev.epoch}${ev.added.length ? `, +${ev.added.map((r) => r.name).join(', ')}` : ''}${ev.removed.length ? `, -${ev.removed.map((r) => r.name).join(', ')}` : ''}`);
      renderStatus();
      break;
    case 'chat': {
      const entry = {
        mine: false,
        name: ev.from.name,
        role: ev.from.role,
        participant: ev.from.participant,
        text: ev.text,
        ts: ev.sentAtMs,
        seq: ev.seq,
        order: ev.order,
        missing: ev.missing,
      };
      S.chat.push(entry);
      renderChatEntry(entry);
      break;
    }
    case 'refused':
      info.refused.push({ kind: ev.kind, reason: ev.reason, at: Date.now() });
      if (info.refused.length > 50) info.refused.shift();
      log(`e2ee: refused ${ev.kind}: ${ev.reason}`);
      if (ev.kind === 'commit' && /authority|certificate/.test(ev.reason)) {
        showError('A key holder the authority did not certify was refused: the call\'s keys did not reach it.');
      }
      renderStatus();
      break;
    case 'removed':
      log(`e2ee: removed from the group at epoch ${ev.epoch}; joining again`);
      break;
    case 'duplicateParticipant':
      log(`e2ee: two key holders claim ${ev.participant}`);
      break;
    case 'error':
      showError(`encryption: ${ev.message}`);
      break;
    default:
      break;
  }
}

// ----- WebSocket -----

function sendMsg(msg) {
  const ws = S.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  return true;
}

function wsState() {
  if (!S.ws) return 'none';
  return ['connecting', 'open', 'closing', 'closed'][S.ws.readyState];
}

function connect() {
  clearTimeout(S.reconnectTimer);
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
  const ws = new WebSocket(url);
  S.ws = ws;
  ws.onopen = () => {
    log(S.session ? 'socket open, resuming' : 'socket open, joining');
    if (S.session) sendMsg({ type: 'join', resume: S.session });
    else sendMsg({ type: 'join', token: S.token });
  };
  ws.onmessage = (e) => {
    if (S.ws === ws) onSignal(e.data);
  };
  ws.onclose = (e) => {
    if (S.ws !== ws) return;
    S.joined = false;
    log(`socket closed (${e.code}${e.reason ? ` ${e.reason}` : ''})`);
    if (S.neg.pendingAnswer) S.neg.pendingAnswer.reject(new Error('socket closed'));
    renderStatus();
    if (S.leaving || S.fatal) return;
    const delay = RECONNECT_DELAYS_MS[Math.min(S.reconnectAttempt, RECONNECT_DELAYS_MS.length - 1)];
    S.reconnectAttempt++;
    S.reconnectTimer = setTimeout(connect, delay);
  };
}

function whenJoined() {
  if (S.joined) return Promise.resolve();
  return new Promise((resolve) => S.joinWaiters.push(resolve));
}

function onSignal(text) {
  let m;
  try {
    m = JSON.parse(text);
  } catch {
    log('server sent a frame that is not JSON');
    return;
  }
  switch (m.type) {
    case 'joined':
      onJoined(m).catch((e) => showError(`join failed: ${e.message || e}`));
      break;
    case 'answer':
      if (S.neg.pendingAnswer) S.neg.pendingAnswer.resolve(m.sdp);
      break;
    case 'peer-joined':
      addPeer(m);
      break;
    case 'peer-left':
      removePeer(m.participant);
      break;
    case 'track-added':
      if (m.participant !== S.participant) subscribe(m);
      break;
    case 'track-removed':
      unsubscribe(m.track);
      break;
    case 'layer-switched': {
      const sub = S.subs.get(m.track);
      if (sub) {
        sub.layer = m.spatial;
        sub.layerSwitches++;
        renderCaption(sub);
      }
      break;
    }
    case 'quality-alert':
      onQualityAlert(m);
      break;
    case 'quality-restored':
      onQualityRestored(m);
      break;
    case 'active-speaker':
      S.activeSpeaker = m.participant;
      for (const sub of S.subs.values()) sub.tile?.classList.toggle('speaking', sub.desc.participant === m.participant);
      break;
    case 'mls':
      if (S.e2ee) S.e2ee.handleMessage(m);
      break;
    case 'pong':
      break;
    case 'error':
      onServerError(m);
      break;
    default:
      log(`unknown message type ${m.type}`);
  }
}

function onServerError(m) {
  S.errors.push({ code: m.code, message: m.message, ref: m.ref ?? null, at: Date.now() });
  if (S.errors.length > 100) S.errors.shift();
  log(`server error ${m.code}${m.ref ? ` (${m.ref})` : ''}: ${m.message}`);
  showError(`${m.code}: ${m.message || 'error'}`);
  if (m.ref === 'offer' && S.neg.pendingAnswer) {
    S.neg.pendingAnswer.reject(Object.assign(new Error(m.message), { code: m.code }));
  }
  if (FATAL_CODES.has(m.code) && !S.joined) S.fatal = m.code;
  if (m.code === 'session_expired') {
    S.session = null;
    restartFresh().catch((e) => showError(`could not join again: ${e.message || e}`));
  }
}

// ----- Quality alerts (docs/signaling.md §2: quality-alert, quality-restored) -----
//
// When a network cannot carry a video at the quality the visit's clinical profile needs (its
// floor), or cannot carry it at all (the server pauses it), the server tells the viewer of the
// video and the person who sends it. Both see it on screen in plain words: the viewer on the
// video tile itself (the picture under it is what the warning is about), the sender next to its
// own preview. The words say what happens, that the call goes on, and that it mends itself; a
// clinician also gets the numbers and what not to rely on. quality-restored takes it away.

/** What a visit needs the picture for, in words (profile names as in docs/signaling.md §3.1). */
const VISIT_WORDS = {
  dermatology: { visit: 'a skin examination', rely: 'fine skin detail (the edge, colour and texture of a mark)', you: 'details of your skin' },
  telestroke: { visit: 'a stroke assessment', rely: 'the stroke examination (face, arm and eye movements)', you: 'your face and movements' },
  'behavioural-health': { visit: 'this visit', rely: 'facial expression and movement', you: 'your face and expressions' },
};
const GENERAL_WORDS = { visit: 'this visit', rely: 'examining what you see', you: 'you' };

function visitWords() {
  const p = S.config && (S.config.profile || S.config.visitType);
  return VISIT_WORDS[p] || GENERAL_WORDS;
}

const fpsWords = (fps) => `${fps} frame${fps === 1 ? '' : 's'} a second`;

/** The floor of a quality-alert in words: "640×360 at 30 frames a second". */
function floorWords(m) {
  const size = m.minWidth && m.minHeight ? `${m.minWidth}×${m.minHeight}` : '';
  const fps = m.minFps ? fpsWords(m.minFps) : '';
  return size && fps ? `${size} at ${fps}` : size || fps || 'its usual quality';
}

/**
 * Reads a quality-alert: whose video, seen by whom, and whether it is paused or below the floor.
 * A viewer gets alerts about a track it receives; the sender gets alerts about one of its own
 * tracks (the page never subscribes to those, so a track it never subscribed to is its own),
 * naming the viewer when the message does (`subscriber`/`viewer`), or the only other person
 * when there is one. An alert about a track this page received once but no longer does is late
 * news about a video that is gone: it is dropped (null).
 */
function readAlert(m) {
  const sub = S.subs.get(m.track);
  const explicit = m.side || m.to || m.for;
  const side = explicit === 'publisher' || explicit === 'sender' ? 'publisher'
    : explicit === 'subscriber' || explicit === 'viewer' ? 'viewer'
      : sub ? 'viewer' : S.everSubscribed.has(m.track) ? null : 'publisher';
  if (!side || (side === 'viewer' && !sub)) return null;
  // Paused: said so, or nothing delivered (`delivered: null`).
  const paused = m.paused === true || (m.paused !== false && !Array.isArray(m.delivered));
  let viewer = m.subscriber || m.viewer || null;
  if (side === 'publisher' && !viewer && S.peers.size === 1) viewer = [...S.peers.keys()][0];
  const delivered = Array.isArray(m.delivered) ? m.delivered : null;
  return { side, paused, sub, viewer, delivered, publisher: sub ? sub.desc.participant : m.publisher || null };
}

/** The words shown for an alert (title and text), by side, paused or not, and the reader's role. */
function alertWords(m, a) {
  const w = visitWords();
  const clinician = S.role === 'clinician';
  if (a.side === 'viewer') {
    const who = a.publisher ? peerName(a.publisher) : 'the other person';
    if (a.paused) {
      return {
        title: `${who}'s video is paused`,
        text: `Your internet connection is too slow to show ${who}'s video right now, so it is paused. ` +
          'You can still hear each other. The video comes back by itself when your connection improves.' +
          (clinician ? ' The picture on screen is not live: do not use it for the examination.' : ''),
      };
    }
    if (clinician) {
      const got = a.delivered ? `${a.delivered[0]}×${a.delivered[1]} at ${fpsWords(a.delivered[2])}` : 'less';
      return {
        title: `${who}'s video is below what ${w.visit} needs`,
        text: `Your internet connection is too slow to show ${who}'s video at the quality ${w.visit} needs ` +
          `(${floorWords(m)}; you are receiving ${got}). Do not rely on it for ${w.rely}. ` +
          'It improves by itself when the connection allows.',
      };
    }
    return {
      title: `${who}'s video is not clear`,
      text: `Your internet connection is too slow to show ${who}'s video clearly, so it may look blurry or jerky. ` +
        'You can keep talking. It gets clearer by itself when your connection improves.',
    };
  }
  const viewer = a.viewer ? peerName(a.viewer) : 'The other person';
  const they = a.viewer ? peerName(a.viewer) : 'the other person';
  if (a.paused) {
    return {
      title: `${viewer} cannot see you right now`,
      text: `${viewer}'s connection is too slow to receive your video, so it is paused for them. ` +
        `They can still hear you. Your video comes back for ${they} by itself when their connection improves.`,
    };
  }
  return {
    title: `${viewer} sees your video at reduced quality`,
    text: `${viewer}'s connection cannot receive your video at the quality this visit needs, ` +
      `so they may not see ${clinician ? 'you' : w.you} clearly. They can still hear you.` +
      (clinician ? ` (Needed: ${floorWords(m)}.)` : ' You do not need to do anything.'),
  };
}

function alertKey(side, track, viewer) {
  return `${side}:${track}:${viewer || ''}`;
}

function onQualityAlert(m) {
  const a = readAlert(m);
  if (!a) {
    log(`quality alert for ${m.track}, a track no longer received: ignored`);
    return;
  }
  const words = alertWords(m, a);
  const key = alertKey(a.side, m.track, a.side === 'publisher' ? a.viewer : null);
  const now = Date.now();
  let entry = S.alerts.get(key);
  if (!entry) {
    entry = { key, side: a.side, track: m.track, viewer: a.viewer, shownAt: now, el: null, history: null };
    S.alerts.set(key, entry);
  }
  entry.state = a.paused ? 'paused' : 'reduced';
  entry.title = words.title;
  entry.text = words.text;
  entry.updatedAt = now;
  entry.message = m;
  const h = { side: a.side, track: m.track, viewer: a.viewer, state: entry.state, at: now, title: words.title, text: words.text, clearedAt: null, message: m };
  S.qualityAlerts.push(h);
  if (S.qualityAlerts.length > 100) S.qualityAlerts.shift();
  if (entry.history) entry.history.supersededAt = now;
  entry.history = h;
  renderAlert(entry);
  log(`quality alert (${a.side}, ${m.track}, ${entry.state}): ${words.title}`);
}

function onQualityRestored(m) {
  const viewer = m.subscriber || m.viewer || null;
  for (const entry of [...S.alerts.values()]) {
    if (entry.track !== m.track) continue;
    if (viewer && entry.side === 'publisher' && entry.viewer && entry.viewer !== viewer) continue;
    clearAlert(entry);
  }
  log(`quality restored for ${m.track}`);
}

function clearAlert(entry) {
  S.alerts.delete(entry.key);
  if (entry.history) entry.history.clearedAt = Date.now();
  entry.el?.remove();
  entry.el = null;
}

/** Alerts about a track that went away, or a viewer that left, go with it. */
function clearAlertsFor({ track, viewer }) {
  for (const entry of [...S.alerts.values()]) {
    if ((track && entry.track === track) || (viewer && entry.viewer === viewer)) clearAlert(entry);
  }
}

function renderAlert(entry) {
  let host;
  if (entry.side === 'viewer') {
    const sub = S.subs.get(entry.track);
    host = sub && sub.tile && sub.desc.kind === 'video' ? sub.tile : $('alerts');
  } else {
    host = $('self-alerts');
  }
  if (!entry.el || entry.el.parentNode !== host) {
    entry.el?.remove();
    const el = document.createElement('div');
    el.setAttribute('role', 'status');
    el.dataset.track = entry.track;
    const title = document.createElement('strong');
    const text = document.createElement('span');
    el.append(title, text);
    host.append(el);
    entry.el = el;
  }
  entry.el.className = `quality-alert ${entry.side === 'viewer' ? 'tile-alert' : 'self-alert'} ${entry.state}`;
  entry.el.children[0].textContent = entry.title;
  entry.el.children[1].textContent = entry.text;
}

/** The quality alerts on screen now (an element in the page, not hidden, with a size). */
function shownAlerts() {
  return [...S.alerts.values()].map((e) => ({
    side: e.side,
    track: e.track,
    viewer: e.viewer,
    state: e.state,
    title: e.title,
    text: e.text,
    shownAt: e.shownAt,
    updatedAt: e.updatedAt,
    visible: !!e.el && e.el.isConnected && e.el.getClientRects().length > 0 && !e.el.closest('[hidden]'),
  }));
}

// ----- Join, resume, leave -----

async function fetchToken() {
  const q = new URLSearchParams({ room: S.room, role: S.role, name: S.name });
  // The visit type picks the room's clinical profile (dermatology, telestroke, ...) when this
  // join creates the room; the server's default applies otherwise.
  if (params.get('visit')) q.set('visit', params.get('visit'));
  const r = await fetch(`/api/token?${q}`);
  if (!r.ok) throw new Error(`token request failed: HTTP ${r.status} ${await r.text()}`);
  const { token } = await r.json();
  if (typeof token !== 'string') throw new Error('token response without a token');
  return token;
}

async function joinCall(role) {
  if (typeof RTCRtpScriptTransform !== 'function') {
    showError('This browser cannot encrypt media end to end (no RTCRtpScriptTransform). Use a current Chrome, Edge or Safari.');
    return;
  }
  S.role = role;
  S.room = $('room').value.trim() || S.room;
  S.name = $('name').value.trim() || params.get('name') || (role === 'clinician' ? 'Clinician' : 'Patient');
  S.leaving = false;
  S.fatal = null;
  $('landing').hidden = true;
  $('call').hidden = false;
  $('me-role').textContent = `${S.name}, ${role}`;
  $('st-room').textContent = S.room;
  try {
    if (!S.localStream) {
      S.localStream = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
      });
    }
    $('local').srcObject = S.localStream;
    S.token = await fetchToken();
    if (!S.authorityKeys) S.authorityKeys = await fetchAuthorityKeys();
  } catch (e) {
    showError(`could not start: ${e.message || e}`);
    return;
  }
  connect();
}

async function onJoined(m) {
  S.joined = true;
  S.joinCount++;
  S.reconnectAttempt = 0;
  S.session = m.session;
  S.config = m.config || null;
  if (S.config && S.config.profile) {
    $('st-profile').textContent = `${S.config.profile}${S.config.visitType ? ` (${S.config.visitType})` : ''}`;
  }
  const fresh = !S.participant || S.participant !== m.participant;
  S.participant = m.participant;
  log(`joined as ${m.participant}${m.resumed ? ' (resumed)' : ''}`);
  if (m.resumed) S.resumes++;
  // The member (its worker) exists before anything else: the `mls` state that follows this
  // message goes to it, and the transforms below are its.
  if (fresh || !S.e2ee) startE2ee(m.participant);

  // Media first (synchronously, so a track-added that arrives while the keys are being made
  // finds the connection); frames are dropped by the worker until the sender key is installed.
  if (!S.pc) createPeerConnection();
  if (!S.sources.size) publishCamera();
  // Tracks: subscribe to the new, drop the gone.
  const tracks = (m.tracks || []).filter((t) => t.participant !== S.participant);
  const ids = new Set(tracks.map((t) => t.track));
  let changed = false;
  for (const id of [...S.subs.keys()]) {
    if (!ids.has(id)) {
      unsubscribe(id, false);
      changed = true;
    }
  }
  for (const t of tracks) {
    if (!S.subs.has(t.track)) {
      subscribe(t, false);
      changed = true;
    }
  }

  // Peers: add the new, drop the ones that left while we were away.
  const present = new Set();
  for (const p of m.peers || []) {
    present.add(p.participant);
    addPeer(p, false);
  }
  for (const id of [...S.peers.keys()]) if (!present.has(id)) removePeer(id);

  const waiters = S.joinWaiters.splice(0);
  for (const w of waiters) w();
  startTimers();
  renderStatus();

  const ice = S.pc.iceConnectionState;
  const iceBad = ice === 'failed' || ice === 'disconnected';
  if (!m.resumed || changed || S.neg.needed || iceBad || !S.pc.remoteDescription) {
    negotiate({ iceRestart: m.resumed && iceBad });
  } else {
    for (const sub of S.subs.values()) sendView(sub, true);
  }
}

/** The server forgot our session: start over with a new token, keeping camera and microphone. */
async function restartFresh() {
  teardownMedia();
  S.participant = null;
  if (S.e2ee) S.e2ee.close();
  S.e2ee = null;
  for (const id of [...S.peers.keys()]) S.peers.delete(id);
  S.token = await fetchToken();
  if (S.ws) S.ws.close();
  connect();
}

function teardownMedia() {
  for (const id of [...S.subs.keys()]) unsubscribe(id, false);
  for (const entry of [...S.alerts.values()]) clearAlert(entry);
  if (S.pc) S.pc.close();
  S.pc = null;
  S.sources.clear();
  S.screenTransceiver = null;
  if (S.screenStream) for (const t of S.screenStream.getTracks()) t.stop();
  S.screenStream = null;
  S.neg = { chain: Promise.resolve(), queued: null, iceRestart: false, pendingAnswer: null, count: 0, failures: 0, needed: false };
}

function leave() {
  S.leaving = true;
  sendMsg({ type: 'leave' });
  teardownMedia();
  if (S.ws) S.ws.close();
  S.ws = null;
  S.joined = false;
  clearInterval(S.statsTimer);
  clearInterval(S.pingTimer);
  S.statsTimer = S.pingTimer = null;
  if (S.localStream) for (const t of S.localStream.getTracks()) t.stop();
  S.localStream = null;
  S.participant = S.session = null;
  if (S.e2ee) S.e2ee.close();
  S.e2ee = null;
  S.peers.clear();
  $('call').hidden = true;
  $('landing').hidden = false;
  $('chat-log').replaceChildren();
  S.chat = [];
}

// ----- Peers -----

function addPeer(p, announce = true) {
  if (!p.participant || p.participant === S.participant) return;
  S.peers.set(p.participant, { participant: p.participant, name: p.name, role: p.role });
  if (announce) log(`${p.name || p.participant} joined`);
  renderStatus();
}

function removePeer(id) {
  const p = S.peers.get(id);
  S.peers.delete(id);
  // Every remaining member commits the leaver's removal (staggered): new keys it never sees.
  if (S.e2ee) S.e2ee.participantLeft(id);
  clearAlertsFor({ viewer: id });
  for (const sub of [...S.subs.values()]) if (sub.desc.participant === id) unsubscribe(sub.desc.track);
  if (p) log(`${p.name || id} left`);
  renderStatus();
}

// ----- Media -----

function createPeerConnection() {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  S.pc = pc;
  pc.ontrack = (ev) => {
    const sub = [...S.subs.values()].find((s) => s.transceiver === ev.transceiver);
    if (!sub) return;
    sub.stream = new MediaStream([ev.track]);
    if (sub.el) sub.el.srcObject = sub.stream;
  };
  pc.oniceconnectionstatechange = () => {
    const st = pc.iceConnectionState;
    log(`ICE ${st}`);
    clearTimeout(S.iceTimer);
    if (st === 'failed') {
      restartIce('failed');
    } else if (st === 'disconnected') {
      S.iceTimer = setTimeout(() => {
        const now = pc.iceConnectionState;
        if (S.pc === pc && (now === 'disconnected' || now === 'failed')) restartIce(`${now} for over 2 s`);
      }, ICE_DISCONNECTED_GRACE_MS);
    }
    renderStatus();
  };
  pc.onconnectionstatechange = () => renderStatus();
}

function restartIce(why) {
  if (S.neg.iceRestart) return; // one is already queued
  S.iceRestarts++;
  log(`ICE restart: ${why}`);
  negotiate({ iceRestart: true });
}

/** Puts codecs of `mime` (and their retransmission) first, dropping the others. */
function preferCodec(transceiver, kind, mime, send) {
  try {
    const caps = (send ? RTCRtpSender : RTCRtpReceiver).getCapabilities(kind);
    if (!caps) return;
    const want = caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime.toLowerCase());
    const rtx = caps.codecs.filter((c) => c.mimeType.toLowerCase() === `${kind}/rtx`);
    if (want.length) transceiver.setCodecPreferences([...want, ...rtx]);
  } catch (e) {
    log(`codec preference not applied: ${e.message || e}`);
  }
}

function simulcastEncodings() {
  const enc = S.config && S.config.publish && S.config.publish.encodings;
  const list = Array.isArray(enc) && enc.length ? enc : DEFAULT_SIMULCAST;
  return list
    .map((e) => {
      const enc = { rid: String(e.rid), scaleResolutionDownBy: Number(e.scaleResolutionDownBy) || 1 };
      if (e.maxBitrate) enc.maxBitrate = Number(e.maxBitrate);
      if (e.maxFramerate) enc.maxFramerate = Number(e.maxFramerate);
      if (e.scalabilityMode) enc.scalabilityMode = String(e.scalabilityMode);
      return enc;
    })
    .sort((a, b) => b.scaleResolutionDownBy - a.scaleResolutionDownBy); // lowest first
}

function sendTransform(codec, trackId) {
  return S.e2ee.senderTransform({ codec, trackId });
}

function publishCamera() {
  const pc = S.pc;
  const [video] = S.localStream.getVideoTracks();
  const [audio] = S.localStream.getAudioTracks();
  if (video) {
    const t = pc.addTransceiver(video, { direction: 'sendonly', streams: [S.localStream], sendEncodings: simulcastEncodings() });
    preferCodec(t, 'video', 'video/VP8', true);
    t.sender.transform = sendTransform('VP8', 'local-camera'); // before negotiation
    S.sources.set(t, 'camera');
  }
  if (audio) {
    const t = pc.addTransceiver(audio, { direction: 'sendonly', streams: [S.localStream] });
    preferCodec(t, 'audio', 'audio/opus', true);
    t.sender.transform = sendTransform('opus', 'local-mic');
    S.sources.set(t, 'mic');
  }
}

async function toggleScreenShare() {
  if (S.screenStream) {
    stopScreenShare();
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  } catch (e) {
    showError(`screen share not started: ${e.message || e}`);
    return;
  }
  const [track] = stream.getVideoTracks();
  S.screenStream = stream;
  track.onended = () => stopScreenShare();
  if (S.screenTransceiver) {
    await S.screenTransceiver.sender.replaceTrack(track);
    S.screenTransceiver.direction = 'sendonly';
  } else {
    const t = S.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], sendEncodings: simulcastEncodings() });
    preferCodec(t, 'video', 'video/VP8', true);
    t.sender.transform = sendTransform('VP8', 'local-screen');
    S.screenTransceiver = t;
  }
  S.sources.set(S.screenTransceiver, 'screen');
  $('local-screen').srcObject = stream;
  $('local-screen').hidden = false;
  $('share').textContent = 'Stop sharing';
  $('share').classList.add('active');
  negotiate();
}

function stopScreenShare() {
  if (!S.screenStream) return;
  for (const t of S.screenStream.getTracks()) t.stop();
  S.screenStream = null;
  if (S.screenTransceiver) {
    S.screenTransceiver.sender.replaceTrack(null);
    S.screenTransceiver.direction = 'inactive';
    S.sources.delete(S.screenTransceiver);
  }
  $('local-screen').hidden = true;
  $('local-screen').srcObject = null;
  $('share').textContent = 'Share screen';
  $('share').classList.remove('active');
  negotiate();
}

function subscribe(desc, renegotiate = true) {
  if (!S.pc || S.subs.has(desc.track) || (desc.kind !== 'video' && desc.kind !== 'audio')) return;
  const t = S.pc.addTransceiver(desc.kind, { direction: 'recvonly' });
  const codec = desc.kind === 'audio' ? 'opus' : desc.codec || 'VP8';
  if (desc.kind === 'video') preferCodec(t, 'video', `video/${codec}`, false);
  // Frames of this track open only under the keys of the member that claims its participant.
  t.receiver.transform = S.e2ee.receiverTransform({ participant: desc.participant, codec, trackId: desc.track });
  const sub = {
    desc,
    transceiver: t,
    ready: false,
    layer: null,
    layerSwitches: 0,
    override: null,
    lastView: null,
    viewTimer: null,
    stream: null,
    el: null,
    tile: null,
    caption: null,
    rate: { bytes: 0, at: 0, kbps: 0, width: 0, height: 0, fps: 0 },
  };
  S.subs.set(desc.track, sub);
  S.everSubscribed.add(desc.track);
  createTile(sub);
  log(`subscribing to ${desc.kind} ${desc.track} (${desc.source}) of ${desc.participant}`);
  if (renegotiate) negotiate();
}

function unsubscribe(trackId, renegotiate = true) {
  const sub = S.subs.get(trackId);
  if (!sub) return;
  S.subs.delete(trackId);
  clearAlertsFor({ track: trackId });
  clearTimeout(sub.viewTimer);
  if (sub.el) resizeObserver.unobserve(sub.el);
  sub.tile?.remove();
  if (sub.transceiver.direction !== 'stopped' && S.pc && S.pc.signalingState !== 'closed') {
    sub.transceiver.direction = 'inactive';
  }
  layoutTiles();
  if (renegotiate && S.pc) negotiate();
}

// ----- Negotiation (one at a time) -----

function negotiate({ iceRestart = false } = {}) {
  if (iceRestart) S.neg.iceRestart = true;
  if (S.neg.queued) return S.neg.queued;
  const neg = S.neg;
  const run = neg.chain.then(async () => {
    neg.queued = null;
    await doNegotiate(neg);
  });
  neg.queued = run;
  neg.chain = run.catch((e) => log(`negotiation failed: ${e.message || e}`));
  return neg.chain;
}

function buildMids(pc) {
  const mids = {};
  for (const t of pc.getTransceivers()) {
    if (!t.mid || t.direction === 'stopped' || t.direction === 'inactive') continue;
    const source = S.sources.get(t);
    if (source && t.direction === 'sendonly') {
      mids[t.mid] = { source };
      continue;
    }
    for (const sub of S.subs.values()) {
      if (sub.transceiver === t) mids[t.mid] = { track: sub.desc.track };
    }
  }
  return mids;
}

async function doNegotiate(neg) {
  await whenJoined();
  const pc = S.pc;
  if (!pc || S.neg !== neg || pc.signalingState === 'closed') return;
  const restart = neg.iceRestart;
  neg.iceRestart = false;
  neg.needed = false;
  if (restart) pc.restartIce();
  const offer = await pc.createOffer(restart ? { iceRestart: true } : {});
  await pc.setLocalDescription(offer);
  const mids = buildMids(pc);
  const answer = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer within 15 s')), ANSWER_TIMEOUT_MS);
    neg.pendingAnswer = {
      resolve: (sdp) => (clearTimeout(timer), resolve(sdp)),
      reject: (e) => (clearTimeout(timer), reject(e)),
    };
  });
  neg.count++;
  if (!sendMsg({ type: 'offer', sdp: pc.localDescription.sdp, mids })) {
    neg.pendingAnswer.reject(new Error('socket not open'));
  }
  try {
    const sdp = await answer;
    await pc.setRemoteDescription({ type: 'answer', sdp });
    log(`negotiated (${Object.keys(mids).length} sections${restart ? ', ICE restart' : ''})`);
    for (const sub of S.subs.values()) {
      if (!sub.ready && sub.transceiver.mid && mids[sub.transceiver.mid]) {
        sub.ready = true;
        sendView(sub, true);
      }
    }
  } catch (e) {
    neg.failures++;
    neg.needed = true;
    if (restart) neg.iceRestart = true;
    if (pc.signalingState === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
    log(`offer not answered: ${e.message || e}`);
    // A refused offer (bad_sdp) stays refused; other failures are retried after the next join.
    if (e.code && e.code !== 'internal') neg.needed = false;
  } finally {
    neg.pendingAnswer = null;
  }
}

// ----- Views (layer selection by element size) -----

const resizeObserver = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const sub = [...S.subs.values()].find((s) => s.el === entry.target);
    if (!sub) continue;
    clearTimeout(sub.viewTimer);
    sub.viewTimer = setTimeout(() => sendView(sub, false), 150);
  }
});

function sendView(sub, force) {
  if (sub.desc.kind !== 'video' || !sub.ready) return;
  const size = sub.override || { width: Math.round(sub.el?.clientWidth || 0), height: Math.round(sub.el?.clientHeight || 0) };
  const key = `${size.width}x${size.height}`;
  if (!force && sub.lastView === key) return;
  if (sendMsg({ type: 'view', track: sub.desc.track, width: size.width, height: size.height })) sub.lastView = key;
}

// ----- Rendering -----

function createTile(sub) {
  if (sub.desc.kind === 'audio') {
    const a = document.createElement('audio');
    a.autoplay = true;
    a.dataset.track = sub.desc.track;
    document.body.append(a);
    sub.el = a;
    sub.tile = a;
    if (sub.stream) a.srcObject = sub.stream;
    return;
  }
  const tile = document.createElement('div');
  tile.className = 'tile';
  tile.dataset.track = sub.desc.track;
  const v = document.createElement('video');
  v.autoplay = true;
  v.playsInline = true;
  v.muted = true; // sound comes from the audio element
  const cap = document.createElement('div');
  cap.className = 'caption';
  tile.append(v, cap);
  $('remotes').append(tile);
  sub.el = v;
  sub.tile = tile;
  sub.caption = cap;
  if (sub.stream) v.srcObject = sub.stream;
  resizeObserver.observe(v);
  layoutTiles();
  renderCaption(sub);
}

/** Remote screen (if any) large with the remote camera in picture-in-picture; else the first camera large. */
function layoutTiles() {
  const videos = [...S.subs.values()].filter((s) => s.desc.kind === 'video' && s.tile);
  const screen = videos.find((s) => s.desc.source === 'screen');
  const main = screen || videos[0];
  for (const s of videos) {
    const role = s === main ? 'main' : screen && s.desc.participant === screen.desc.participant ? 'pip' : 'side';
    s.tile.classList.remove('main', 'pip', 'side');
    s.tile.classList.add(role);
  }
  $('waiting').hidden = videos.length > 0;
}

function peerName(id) {
  return S.peers.get(id)?.name || id;
}

function renderCaption(sub) {
  if (!sub.caption) return;
  const r = sub.rate;
  const layer = sub.layer === null ? '?' : sub.layer;
  sub.caption.textContent = `${peerName(sub.desc.participant)} · ${sub.desc.source} · layer ${layer} · ` +
    `${r.width}×${r.height} · ${r.kbps} kbps · ${r.fps} fps`;
}

function renderStatus() {
  if (!S.pc && !S.ws) return;
  const conn = S.pc ? S.pc.connectionState : 'new';
  $('st-conn').textContent = `${S.joined ? 'joined' : wsState()} · media ${conn}`;
  const names = [...S.peers.values()].map((p) => `${p.name || p.participant} (${p.role || '?'})`);
  $('st-peers').textContent = names.length ? names.join(', ') : 'only you';
  renderKeys();
}

/**
 * The key holders (the MLS roster: names and roles the authority certified, not what the server
 * says) and the verification code. Participants the server lists who hold no keys yet are shown
 * as such; a key holder the server does not list would be shown too.
 */
function renderKeys() {
  const info = S.e2eeInfo;
  $('code').textContent = info.code || 'pending';
  const list = $('key-holders');
  const items = [];
  const held = new Set();
  for (const r of info.roster) {
    if (r.participant) held.add(r.participant);
    const li = document.createElement('li');
    li.className = 'verified';
    const name = document.createElement('span');
    name.className = 'who';
    name.textContent = `${r.isSelf ? 'You' : r.name} · ${r.role}${r.tenant ? ` · ${r.tenant}` : ''} `;
    const fp = document.createElement('span');
    fp.className = 'fingerprint';
    fp.textContent = r.fingerprint;
    fp.title = 'Fingerprint of this key holder\'s signing key';
    li.append(name, fp);
    items.push(li);
  }
  for (const p of S.peers.values()) {
    if (held.has(p.participant)) continue;
    const li = document.createElement('li');
    li.className = 'pending';
    li.textContent = `${p.name || p.participant}: no keys yet (joining the encryption)`;
    items.push(li);
  }
  list.replaceChildren(...items);
  const refusedKeys = info.refused.filter((r) => r.kind !== 'application').length;
  $('e2ee-note').textContent = info.code
    ? `${info.roster.length} key holder${info.roster.length === 1 ? '' : 's'}, key epoch ${info.epoch}` +
      (refusedKeys ? `; ${refusedKeys} key change${refusedKeys === 1 ? '' : 's'} refused` : '')
    : 'Joining the encryption…';
}

function renderChatEntry(e) {
  const li = document.createElement('li');
  if (e.mine) li.className = 'mine';
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = `${e.mine ? 'You' : `${e.name} (${e.role})`} ${new Date(e.ts).toTimeString().slice(0, 5)}`;
  const text = document.createElement('span');
  text.textContent = e.text;
  li.append(who, text);
  // The sender's sequence shows what the server dropped or reordered.
  if (e.order === 'afterGap' || e.order === 'late') {
    const note = document.createElement('span');
    note.className = 'order';
    note.textContent = e.order === 'late' ? 'arrived late, out of order' : `${e.missing} earlier message${e.missing === 1 ? '' : 's'} from ${e.name} did not arrive`;
    li.append(note);
  }
  $('chat-log').append(li);
  li.scrollIntoView({ block: 'end' });
}

// ----- Stats -----

async function collectStats() {
  const pc = S.pc;
  if (!pc) return { inbound: new Map(), outbound: [], transport: null };
  const report = await pc.getStats();
  const inbound = new Map();
  const outbound = [];
  let transport = null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp') {
      if (s.mid !== undefined) inbound.set(s.mid, s);
      if (s.trackIdentifier) inbound.set(`track:${s.trackIdentifier}`, s);
    }
    if (s.type === 'outbound-rtp') {
      outbound.push({
        kind: s.kind, rid: s.rid ?? null, mid: s.mid, frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0,
        framesEncoded: s.framesEncoded ?? 0, bytesSent: s.bytesSent ?? 0, packetsSent: s.packetsSent ?? 0,
        qualityLimitationReason: s.qualityLimitationReason ?? null,
        framesPerSecond: s.framesPerSecond ?? 0, targetBitrate: s.targetBitrate ?? 0, active: s.active ?? null, scalabilityMode: s.scalabilityMode ?? null,
      });
    }
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
      transport = {
        rtt: s.currentRoundTripTime ?? null,
        availableOutgoingBitrate: s.availableOutgoingBitrate ?? null,
        availableIncomingBitrate: s.availableIncomingBitrate ?? null,
        bytesSent: s.bytesSent ?? 0,
        bytesReceived: s.bytesReceived ?? 0,
      };
    }
  });
  return { inbound, outbound, transport };
}

function inboundFor(inbound, sub) {
  return inbound.get(sub.transceiver.mid) || inbound.get(`track:${sub.transceiver.receiver.track.id}`);
}

async function statsTick() {
  const { inbound } = await collectStats();
  const now = performance.now();
  for (const sub of S.subs.values()) {
    const s = inboundFor(inbound, sub);
    if (!s || sub.desc.kind !== 'video') continue;
    const r = sub.rate;
    if (r.at) r.kbps = Math.max(0, Math.round(((s.bytesReceived - r.bytes) * 8) / (now - r.at)));
    r.bytes = s.bytesReceived;
    r.at = now;
    r.width = s.frameWidth ?? 0;
    r.height = s.frameHeight ?? 0;
    r.fps = Math.round(s.framesPerSecond ?? 0);
    renderCaption(sub);
  }
}

function startTimers() {
  if (!S.statsTimer) S.statsTimer = setInterval(() => statsTick().catch(() => {}), 1000);
  if (!S.pingTimer) S.pingTimer = setInterval(() => sendMsg({ type: 'ping', id: String(Date.now()) }), 15000);
}

// ----- What the test hooks read (no hooks here; see the top of this file) -----

/** One received track as the tests read it: what the page knows of it and its inbound-rtp. */
function trackStats(sub, s) {
  return {
    track: sub.desc.track,
    participant: sub.desc.participant,
    kind: sub.desc.kind,
    source: sub.desc.source,
    mid: sub.transceiver.mid,
    ready: sub.ready,
    layer: sub.layer,
    layerSwitches: sub.layerSwitches,
    framesDecoded: s.framesDecoded ?? 0,
    framesReceived: s.framesReceived ?? 0,
    framesDropped: s.framesDropped ?? 0,
    framesPerSecond: s.framesPerSecond ?? 0,
    frameWidth: s.frameWidth ?? 0,
    frameHeight: s.frameHeight ?? 0,
    keyFramesDecoded: s.keyFramesDecoded ?? 0,
    freezeCount: s.freezeCount ?? 0,
    totalFreezesDuration: s.totalFreezesDuration ?? 0,
    pauseCount: s.pauseCount ?? 0,
    totalPausesDuration: s.totalPausesDuration ?? 0,
    packetsReceived: s.packetsReceived ?? 0,
    packetsLost: s.packetsLost ?? 0,
    nackCount: s.nackCount ?? 0,
    bytesReceived: s.bytesReceived ?? 0,
    totalSamplesReceived: s.totalSamplesReceived ?? 0,
    concealedSamples: s.concealedSamples ?? 0,
    silentConcealedSamples: s.silentConcealedSamples ?? 0,
    concealmentEvents: s.concealmentEvents ?? 0,
    jitterBufferDelay: s.jitterBufferDelay ?? 0,
    jitterBufferEmittedCount: s.jitterBufferEmittedCount ?? 0,
    pliCount: s.pliCount ?? 0,
    kbps: sub.rate.kbps,
  };
}

/** What the media tests sample several times a second: stats and what is shown, no keys. */
async function media() {
  const { inbound, outbound, transport } = await collectStats();
  return {
    at: Date.now(),
    pc: S.pc ? S.pc.connectionState : null,
    remoteTracks: [...S.subs.values()].map((sub) => trackStats(sub, inboundFor(inbound, sub) || {})),
    outbound,
    transport,
    alertsShown: shownAlerts(),
  };
}

async function state() {
  const { inbound, outbound, transport } = await collectStats();
  let e2ee = null;
  try {
    e2ee = S.e2ee ? await S.e2ee.state() : null;
  } catch (e) {
    e2ee = { error: String(e) };
  }
  const remoteTracks = [...S.subs.values()].map((sub) => trackStats(sub, inboundFor(inbound, sub) || {}));
  return {
    joined: S.joined,
    joinCount: S.joinCount,
    resumes: S.resumes,
    participant: S.participant,
    session: S.session,
    room: S.room,
    role: S.role,
    ws: wsState(),
    pc: S.pc ? S.pc.connectionState : null,
    ice: S.pc ? S.pc.iceConnectionState : null,
    signaling: S.pc ? S.pc.signalingState : null,
    negotiations: S.neg.count,
    negotiationFailures: S.neg.failures,
    iceRestarts: S.iceRestarts,
    e2ee,
    refused: S.e2eeInfo.refused.slice(),
    shown: { code: $('code').textContent, keyHolders: [...$('key-holders').children].map((li) => li.textContent) },
    peers: [...S.peers.values()],
    remoteTracks,
    outbound,
    chat: S.chat.map((c) => ({ ...c })),
    errors: S.errors.slice(),
    qualityAlerts: S.qualityAlerts.map((h) => ({ ...h })),
    alertsShown: shownAlerts(),
    transport,
    profile: S.config ? S.config.profile : null,
    log: S.log.slice(-50),
  };
}

async function sendChat(text) {
  if (!S.e2ee) throw new Error('not in a call');
  const { seq } = await S.e2ee.sendChat(text);
  const entry = { mine: true, name: S.name, role: S.role, participant: S.participant, text, ts: Date.now(), seq, order: 'inOrder', missing: 0 };
  S.chat.push(entry);
  renderChatEntry(entry);
  return entry;
}

if (TEST) {
  import('/debug/test-hooks.js')
    .then((m) => m.install({ S, state, media, sendMsg, sendView, sendChat, leave }))
    .catch(() => log('test hooks are not served here (the server runs without --debug-api)'));
}

// ----- Wiring -----

function init() {
  $('room').value = S.room;
  $('name').value = params.get('name') || '';
  $('join-clinician').onclick = () => joinCall('clinician');
  $('join-patient').onclick = () => joinCall('patient');
  $('banner-close').onclick = () => ($('banner').hidden = true);
  $('leave').onclick = leave;
  $('share').onclick = () => toggleScreenShare();
  $('popout').onclick = async () => {
    const v = [...S.subs.values()].find((s) => s.desc.kind === 'video' && s.desc.source === 'camera');
    if (!v || !document.pictureInPictureEnabled) return showError('picture in picture is not available');
    try {
      await v.el.requestPictureInPicture();
    } catch (e) {
      showError(`picture in picture: ${e.message || e}`);
    }
  };
  $('chat-form').onsubmit = (e) => {
    e.preventDefault();
    const input = $('chat-input');
    const text = input.value.trim();
    if (!text || !S.e2ee) return;
    input.value = '';
    sendChat(text).catch((err) => showError(`chat not sent: ${err.message || err}`));
  };
  const role = params.get('role');
  if (params.get('autojoin') === '1' && (role === 'clinician' || role === 'patient' || role === 'observer')) {
    joinCall(role);
  }
}

init();
