// Runs in the page: two participants ("a" publishes, "b" receives) over a direct loopback
// RTCPeerConnection pair, each with its own worker.js, keys agreed by e2ee.js over an in-page
// relay. Checks what the demo page relies on without needing the server.
import { E2EE, WorkerClient } from '/web/e2ee.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function makeParty(id, kid, relay) {
  const worker = new Worker('/web/worker.js', { type: 'module' });
  const wc = new WorkerClient(worker);
  wc.post({ type: 'config', test: true });
  const chat = [];
  const e2ee = new E2EE({
    workerClient: wc,
    send: (to, data) => relay(id, to, data),
    onChat: (c) => chat.push(c),
  });
  return { id, kid, worker, wc, e2ee, chat };
}

async function inboundVideo(pc) {
  let out = null;
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') out = s;
  });
  return out || {};
}
async function inboundAudio(pc) {
  let out = null;
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out = s;
  });
  return out || {};
}

export async function run({ withKeys }) {
  const parties = {};
  const relayLog = [];
  const relay = (from, to, data) => {
    relayLog.push({ from, to, len: data.length });
    const targets = to ? [to] : Object.keys(parties).filter((p) => p !== from);
    for (const t of targets) setTimeout(() => parties[t].e2ee.onMessage(from, data), 0);
  };
  const a = (parties.a = makeParty('a', 16, relay));
  const b = (parties.b = makeParty('b', 32, relay));
  a.e2ee.addPeer({ participant: 'b', kid: 32, name: 'B' });
  b.e2ee.addPeer({ participant: 'a', kid: 16, name: 'A' });
  await a.e2ee.start({ participant: 'a', kid: 16 });
  await b.e2ee.start({ participant: 'b', kid: 32 });
  if (withKeys) {
    a.e2ee.announce();
    await sleep(500);
  }

  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
  const pa = new RTCPeerConnection();
  const pb = new RTCPeerConnection();
  pa.onicecandidate = (e) => e.candidate && pb.addIceCandidate(e.candidate);
  pb.onicecandidate = (e) => e.candidate && pa.addIceCandidate(e.candidate);
  const vt = pa.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly' });
  const vp8 = RTCRtpSender.getCapabilities('video').codecs.filter((c) => /vp8|rtx/i.test(c.mimeType));
  vt.setCodecPreferences(vp8);
  vt.sender.transform = new RTCRtpScriptTransform(a.worker, { side: 'send', codec: 'VP8', trackId: 'a-cam' });
  const at = pa.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly' });
  at.sender.transform = new RTCRtpScriptTransform(a.worker, { side: 'send', codec: 'opus', trackId: 'a-mic' });
  pb.ontrack = (e) => {
    e.receiver.transform = new RTCRtpScriptTransform(b.worker, { side: 'recv', codec: e.track.kind === 'video' ? 'VP8' : 'opus', trackId: `b-${e.track.kind}` });
  };
  await pa.setLocalDescription();
  await pb.setRemoteDescription(pa.localDescription);
  await pb.setLocalDescription();
  await pa.setRemoteDescription(pb.localDescription);
  await sleep(3000);
  const v1 = await inboundVideo(pb);
  const au1 = await inboundAudio(pb);
  // Chat both ways (only meaningful with keys).
  let chatError = null;
  if (withKeys) {
    try {
      await a.e2ee.sendChat('hello from a');
      await b.e2ee.sendChat('héllo from b ✓');
    } catch (e) {
      chatError = String(e);
    }
  }
  await sleep(2000);
  const v2 = await inboundVideo(pb);
  const au2 = await inboundAudio(pb);
  const sa = (await a.wc.request({ type: 'stats' })).stats;
  const sb = (await b.wc.request({ type: 'stats' })).stats;
  const record = (await a.wc.request({ type: 'testRecord' })).record;

  // Rekey: b "leaves" from a's point of view and comes back: a makes generation 1.
  let rekey = null;
  if (withKeys) {
    a.e2ee.removePeer('b');
    a.e2ee.addPeer({ participant: 'b', kid: 32, name: 'B' });
    b.e2ee.announce();
    await sleep(3500);
    const v3 = await inboundVideo(pb);
    await sleep(1500);
    const v4 = await inboundVideo(pb);
    const sa2 = (await a.wc.request({ type: 'stats' })).stats;
    rekey = { sendKid: sa2.sendKid, framesDecoded: [v3.framesDecoded, v4.framesDecoded], bKids: b.e2ee.describe().peers[0].kids };
  }
  const out = {
    video: [v1.framesDecoded ?? 0, v2.framesDecoded ?? 0],
    frameWidth: v2.frameWidth ?? 0,
    audio: [au1.totalSamplesReceived ?? 0, au2.totalSamplesReceived ?? 0, au2.packetsReceived ?? 0],
    safety: [a.e2ee.safety, b.e2ee.safety],
    chatA: a.chat.map((c) => `${c.mine ? 'me' : c.from}:${c.text}`),
    chatB: b.chat.map((c) => `${c.mine ? 'me' : c.from}:${c.text}`),
    chatError,
    workerA: sa,
    workerB: sb,
    record: record.slice(0, 3),
    recordLen: record.length,
    relayMessages: relayLog.length,
    rekey,
  };
  pa.close();
  pb.close();
  for (const t of stream.getTracks()) t.stop();
  a.worker.terminate();
  b.worker.terminate();
  return out;
}
