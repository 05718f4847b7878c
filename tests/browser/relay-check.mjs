// Checks the instrument links.mjs measures with: the UDP impairment relay (lib/relay.mjs).
// Plain UDP sockets on 127.0.0.1 stand in for the page and the server; the relay sits between.
//
//   node relay-check.mjs
//
// Each case prints "ok"/"FAIL" with its figures; the last line is "N passed, M failed".
// Bounds: a shaper that delivers within 5 % of its rate, a seeded loss within the binomial
// 3.5-sigma band of its probability, a delay within 10 ms of its setting and no reordering,
// a queue that holds what its size allows, and a lifted limit that releases its queue at once.
import dgram from 'node:dgram';
import { startRelay, rateLimit, HEADER_BYTES, describe } from './lib/relay.mjs';
import { sleep } from './lib/harness.mjs';

let passed = 0;
let failed = 0;
function result(name, ok, figures) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${figures}`);
}

/** A "server" socket and a "page" socket around a relay; both record what they receive. */
async function rig(up = {}, down = {}) {
  const server = dgram.createSocket('udp4');
  const page = dgram.createSocket('udp4');
  for (const s of [server, page]) {
    await new Promise((r) => s.bind(0, '127.0.0.1', r));
    s.setRecvBufferSize(8 << 20);
  }
  const relay = await startRelay({ target: { host: '127.0.0.1', port: server.address().port }, up, down, seed: 7 });
  const got = { server: [], page: [] };
  let relayServerSide = null;
  server.on('message', (b, r) => {
    relayServerSide = r;
    got.server.push({ seq: b.readUInt32BE(0), sent: b.readDoubleBE(4), at: performance.now(), len: b.length });
  });
  page.on('message', (b) => got.page.push({ seq: b.readUInt32BE(0), sent: b.readDoubleBE(4), at: performance.now(), len: b.length }));
  const packet = (seq, len) => {
    const b = Buffer.alloc(len);
    b.writeUInt32BE(seq, 0);
    b.writeDoubleBE(performance.now(), 4);
    return b;
  };
  /** Sends `count` packets of `len` bytes at `kbps` (on the wire) from the page (up) or the server (down). */
  const offer = async (dir, kbps, len, ms, seq0 = 0) => {
    const gapMs = ((len + HEADER_BYTES) * 8) / kbps; // kbps = bits per ms
    const t0 = performance.now();
    let seq = seq0;
    while (performance.now() - t0 < ms) {
      const due = t0 + (seq - seq0) * gapMs;
      const now = performance.now();
      if (due > now) await sleep(Math.max(0, due - now));
      // Burst out whatever is due (timers are coarse); the order is kept.
      while (t0 + (seq - seq0) * gapMs <= performance.now() && performance.now() - t0 < ms) {
        const b = packet(seq++, len);
        if (dir === 'up') page.send(b, relay.port, '127.0.0.1');
        else server.send(b, relayServerSide.port, '127.0.0.1');
      }
    }
    return seq;
  };
  const close = () => {
    relay.close();
    server.close();
    page.close();
  };
  return { relay, got, offer, close, learn: async () => {
    page.send(packet(0xffffffff, 64), relay.port, '127.0.0.1');
    for (let i = 0; i < 50 && !relayServerSide; i++) await sleep(10);
    got.server.length = 0;
  } };
}

const kbpsOf = (pkts, from, to) => {
  const bytes = pkts.filter((p) => p.at >= from && p.at < to).reduce((a, p) => a + p.len + HEADER_BYTES, 0);
  return (bytes * 8) / (to - from);
};

// (1) The token bucket: 1 Mbps offered into 500 kbps comes out at 500 kbps; the excess is tail
// dropped once the 25 kB queue is full, so the queueing delay tops out near 25 kB / 500 kbps.
{
  const r = await rig(rateLimit(500), {});
  try {
    await r.learn();
    const t0 = performance.now();
    await r.offer('up', 1000, 1200, 4000);
    await sleep(600);
    const s = r.relay.stats().up;
    const rate = kbpsOf(r.got.server, t0 + 1000, t0 + 4000);
    const queueMsBound = (25000 * 8) / 500 + 50;
    result('token bucket: 1 Mbps into 500 kbps',
      Math.abs(rate - 500) <= 25 && s.tailDropped > 0 && s.maxQueueMs <= queueMsBound && s.maxQueueMs >= 300 && s.lost === 0,
      `delivered ${rate.toFixed(1)} kbps over the last 3 s (bound 500 +- 25); ${s.packetsIn} in, ${s.packetsOut} out, ` +
      `${s.tailDropped} tail-dropped; longest wait in the queue ${s.maxQueueMs.toFixed(0)} ms (bound 300..${queueMsBound}), ` +
      `${describe(r.relay.params('up'))}`);
  } finally {
    r.close();
  }
}

// (2) Loss: 5 % seeded Bernoulli on the downlink; the receiver misses exactly what the relay
// counts as lost, and the rate is inside the binomial 3.5-sigma band.
{
  const r = await rig({}, { loss: 0.05 });
  try {
    await r.learn();
    const n = await r.offer('down', 4000, 400, 3000);
    await sleep(200);
    const s = r.relay.stats().down;
    const missing = n - r.got.page.length;
    const sd = Math.sqrt(n * 0.05 * 0.95);
    const lo = n * 0.05 - 3.5 * sd;
    const hi = n * 0.05 + 3.5 * sd;
    result('loss: 5 % on the downlink', s.lost === missing && missing >= lo && missing <= hi && s.packetsIn === n,
      `${n} sent, ${r.got.page.length} received, ${missing} missing = ${((missing / n) * 100).toFixed(2)} % ` +
      `(band ${lo.toFixed(0)}..${hi.toFixed(0)}), relay counted ${s.lost} lost`);
  } finally {
    r.close();
  }
}

// (3) Delay: +50 ms on the downlink, in order; changed to 0 at run time, still in order.
{
  const r = await rig({}, { delayMs: 50 });
  try {
    await r.learn();
    const n1 = await r.offer('down', 2000, 500, 1500);
    r.relay.set('down', { delayMs: 0 });
    const n2 = await r.offer('down', 2000, 500, 500, n1);
    await sleep(200);
    const first = r.got.page.filter((p) => p.seq < n1).map((p) => p.at - p.sent).sort((a, b) => a - b);
    const med = first[Math.floor(first.length / 2)];
    const later = r.got.page.filter((p) => p.seq >= n1 + 50).map((p) => p.at - p.sent).sort((a, b) => a - b);
    const med2 = later[Math.floor(later.length / 2)];
    const seqs = r.got.page.map((p) => p.seq);
    const inOrder = seqs.every((x, i) => i === 0 || x > seqs[i - 1]);
    result('delay: +50 ms, then lifted, in order',
      med >= 50 && med <= 60 && med2 < 10 && inOrder && r.got.page.length === n2,
      `median one-way ${med.toFixed(1)} ms with 50 ms (bound 50..60), ${med2.toFixed(1)} ms after lifting (bound < 10); ` +
      `${r.got.page.length}/${n2} delivered, in order: ${inOrder}`);
  } finally {
    r.close();
  }
}

// (4) Lifting a rate: the queue drains at once and the link then carries 3 Mbps.
{
  const r = await rig(rateLimit(300), {});
  try {
    await r.learn();
    const n1 = await r.offer('up', 1000, 1200, 1500);
    const queued = r.relay.stats().up.packetsIn - r.relay.stats().up.packetsOut - r.relay.stats().up.tailDropped;
    const tLift = performance.now();
    r.relay.set('up', { rateBps: Infinity });
    await sleep(100);
    const drained = r.got.server.filter((p) => p.seq < n1);
    const lastOld = Math.max(...drained.map((p) => p.at)) - tLift;
    const t1 = performance.now();
    await r.offer('up', 3000, 1200, 2000, n1);
    await sleep(100);
    const rate = kbpsOf(r.got.server, t1 + 200, t1 + 2000);
    const s = r.relay.stats().up;
    result('lifting a 300 kbps limit',
      queued > 0 && lastOld <= 20 && Math.abs(rate - 3000) <= 150 && s.packetsIn - s.tailDropped === s.packetsOut,
      `${queued} packets queued at the lift, the last of them out ${lastOld.toFixed(1)} ms after it (bound 20); ` +
      `then ${rate.toFixed(0)} kbps delivered of 3000 offered (bound +-150); ${describe(r.relay.params('up'))}`);
  } finally {
    r.close();
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
