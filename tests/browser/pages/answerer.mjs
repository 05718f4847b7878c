// Runs in a helper page of the page smoke test: answers the demo page's offers like an SFU
// would (a=simulcast recv added to the answer), and sends a canvas track on every recvonly
// section of the offer (clear VP8: the page's receiver transform must drop it).
let pc = null;
let canvasTrack = null;

function canvas() {
  const c = document.createElement('canvas');
  c.width = 320;
  c.height = 180;
  const g = c.getContext('2d');
  let n = 0;
  setInterval(() => {
    g.fillStyle = `hsl(${(n += 7) % 360} 60% 50%)`;
    g.fillRect(0, 0, 320, 180);
  }, 50);
  return c.captureStream(20).getVideoTracks()[0];
}

function sections(sdp) {
  return sdp.split(/\r\n(?=m=)/).slice(1).map((s) => ({
    mid: (s.match(/a=mid:(\S+)/) || [])[1],
    recvonly: /a=recvonly/.test(s),
    simulcast: (s.match(/a=simulcast:send (\S+)/) || [])[1] || null,
  }));
}

export async function answer(offer) {
  if (!pc) {
    pc = new RTCPeerConnection();
    canvasTrack = canvas();
  }
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  const secs = sections(offer);
  for (const t of pc.getTransceivers()) {
    const s = secs.find((x) => x.mid === t.mid);
    if (s && s.recvonly && t.receiver.track.kind === 'video') {
      t.direction = 'sendonly';
      await t.sender.replaceTrack(canvasTrack);
    }
  }
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const t = setTimeout(resolve, 3000);
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && (clearTimeout(t), resolve()));
  });
  // Add the simulcast receive lines a real SFU writes (Chromium as answerer leaves them out).
  return pc.localDescription.sdp.split(/\r\n(?=m=)/).map((s) => {
    const mid = (s.match(/a=mid:(\S+)/) || [])[1];
    const o = secs.find((x) => x.mid === mid);
    if (!o || !o.simulcast || /a=simulcast/.test(s)) return s;
    const rids = o.simulcast.split(';');
    const extra = rids.map((r) => `a=rid:${r} recv`).concat(`a=simulcast:recv ${o.simulcast}`).join('\r\n');
    return s.replace(/(a=mid:\S+)/, `$1\r\n${extra}`);
  }).join('\r\n');
}

export function connectionState() {
  return pc ? pc.connectionState : 'none';
}
