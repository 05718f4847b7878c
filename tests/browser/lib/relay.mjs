// A UDP impairment relay for one WebRTC participant: the page talks to the relay as if it were
// the server (its answer's ICE candidate is rewritten to the relay's port), the relay talks to
// the server from a socket of its own, and each direction passes through its own impairment:
//
//   page --up--> [loss] -> [token bucket + byte-limited queue, tail drop] -> [delay] --> server
//   page <-down- [delay] <- [token bucket + byte-limited queue, tail drop] <- [loss] <-- server
//
// The token bucket behaves like Linux `tc qdisc tbf`: tokens (bytes) accrue at `rateBps` up to
// `burstBytes`; a packet leaves when the bucket holds its size; packets wait in a FIFO of at most
// `queueBytes` and one that does not fit is dropped at the tail. Sizes count the IP and UDP
// headers (28 bytes for IPv4) as tbf does. Loss is Bernoulli with a seeded generator, so a run
// replays the same loss pattern for the same packet sequence. Delay is a FIFO delay line (packets
// never overtake each other, also when the delay changes at run time).
//
// Everything is configurable at run time (`set`), so a test can apply or lift a limit mid-call;
// lifting a rate (`rateBps: Infinity`) releases the queue at once. The relay binds 127.0.0.1 only.
import dgram from 'node:dgram';

/** IPv4 + UDP header bytes counted against the rate, as a qdisc sees them. */
export const HEADER_BYTES = 28;

/** No impairment. */
export const CLEAR = Object.freeze({ rateBps: Infinity, burstBytes: 0, queueBytes: 0, loss: 0, delayMs: 0 });

/** Mulberry32: small, seeded, good enough for a loss pattern. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One direction: loss, then a token bucket with a byte-limited tail-drop queue, then a delay
 * line. `deliver(buf)` is called for every packet that makes it through.
 */
export class Link {
  constructor(deliver, params = {}, seed = 1, clock = () => performance.now()) {
    this.deliver = deliver;
    this.now = clock;
    this.random = rng(seed);
    this.p = { ...CLEAR };
    this.tokens = 0;
    this.tokensAt = this.now();
    this.queue = []; // {buf, bytes, at}
    this.queued = 0;
    this.shapeTimer = null;
    this.delayLine = []; // {buf, due}
    this.delayTimer = null;
    this.lastDue = 0;
    this.closed = false;
    this.stats = { packetsIn: 0, bytesIn: 0, lost: 0, tailDropped: 0, bytesDropped: 0, packetsOut: 0, bytesOut: 0, maxQueueMs: 0, maxQueueBytes: 0 };
    this.set(params);
  }

  /** Changes the impairment now. Omitted fields keep their value. */
  set(params) {
    this.refill();
    const p = { ...this.p, ...params };
    if (!(p.rateBps > 0)) throw new RangeError(`rateBps must be > 0 (Infinity for none), got ${p.rateBps}`);
    if (p.loss < 0 || p.loss >= 1) throw new RangeError(`loss must be in [0, 1), got ${p.loss}`);
    if (p.delayMs < 0) throw new RangeError(`delayMs must be >= 0, got ${p.delayMs}`);
    if (Number.isFinite(p.rateBps) && p.burstBytes < 1500 + HEADER_BYTES) {
      throw new RangeError(`burstBytes must hold one full packet (>= ${1500 + HEADER_BYTES}), got ${p.burstBytes}`);
    }
    // A bucket that starts limiting starts full, as tbf does.
    const starting = !Number.isFinite(this.p.rateBps) && Number.isFinite(p.rateBps);
    this.p = p;
    this.tokens = starting ? p.burstBytes : Math.min(this.tokens, p.burstBytes || 0);
    this.pump();
  }

  get params() {
    return { ...this.p };
  }

  refill() {
    const t = this.now();
    if (Number.isFinite(this.p.rateBps)) {
      this.tokens = Math.min(this.p.burstBytes, this.tokens + ((t - this.tokensAt) / 1000) * (this.p.rateBps / 8));
    }
    this.tokensAt = t;
  }

  push(buf) {
    if (this.closed) return;
    const bytes = buf.length + HEADER_BYTES;
    this.stats.packetsIn++;
    this.stats.bytesIn += bytes;
    if (this.p.loss > 0 && this.random() < this.p.loss) {
      this.stats.lost++;
      return;
    }
    if (!Number.isFinite(this.p.rateBps)) {
      // A queue left from a limit just lifted goes first (pump emptied it in set()).
      this.toDelay(buf, bytes);
      return;
    }
    if (this.queued + bytes > this.p.queueBytes && this.queue.length > 0) {
      this.stats.tailDropped++;
      this.stats.bytesDropped += bytes;
      return;
    }
    this.queue.push({ buf, bytes, at: this.now() });
    this.queued += bytes;
    this.stats.maxQueueBytes = Math.max(this.stats.maxQueueBytes, this.queued);
    this.pump();
  }

  pump() {
    if (this.closed) return;
    clearTimeout(this.shapeTimer);
    this.shapeTimer = null;
    this.refill();
    const unlimited = !Number.isFinite(this.p.rateBps);
    while (this.queue.length) {
      const head = this.queue[0];
      if (!unlimited && this.tokens < head.bytes) break;
      if (!unlimited) this.tokens -= head.bytes;
      this.queue.shift();
      this.queued -= head.bytes;
      this.stats.maxQueueMs = Math.max(this.stats.maxQueueMs, this.now() - head.at);
      this.toDelay(head.buf, head.bytes);
    }
    if (this.queue.length) {
      const waitMs = ((this.queue[0].bytes - this.tokens) / (this.p.rateBps / 8)) * 1000;
      this.shapeTimer = setTimeout(() => this.pump(), Math.max(1, Math.ceil(waitMs)));
    }
  }

  toDelay(buf, bytes) {
    this.stats.packetsOut++;
    this.stats.bytesOut += bytes;
    if (this.p.delayMs <= 0 && this.delayLine.length === 0) {
      this.deliver(buf);
      return;
    }
    // FIFO: never earlier than the packet ahead of it.
    const due = Math.max(this.now() + this.p.delayMs, this.lastDue);
    this.lastDue = due;
    this.delayLine.push({ buf, due });
    if (this.delayLine.length === 1) this.armDelay();
  }

  armDelay() {
    clearTimeout(this.delayTimer);
    if (!this.delayLine.length || this.closed) return;
    const wait = this.delayLine[0].due - this.now();
    this.delayTimer = setTimeout(() => {
      const t = this.now();
      while (this.delayLine.length && this.delayLine[0].due <= t + 0.5) this.deliver(this.delayLine.shift().buf);
      this.armDelay();
    }, Math.max(0, Math.round(wait)));
  }

  close() {
    this.closed = true;
    clearTimeout(this.shapeTimer);
    clearTimeout(this.delayTimer);
    this.queue = [];
    this.delayLine = [];
  }
}

/**
 * Starts a relay to the server's media address `target` ({host, port}, or later with
 * setTarget). Returns { port, setTarget(host, port), set(dir, params), params(dir), stats(),
 * close() } where dir is 'up' (page -> server)
 * or 'down' (server -> page). The page's address is learned from what it sends (the last
 * source seen), like a NAT learns it.
 */
export async function startRelay({ target = null, up = {}, down = {}, seed = 1 }) {
  const pageSide = dgram.createSocket('udp4');
  const serverSide = dgram.createSocket('udp4');
  let pageAddr = null;
  const links = {
    up: new Link((buf) => target && serverSide.send(buf, target.port, target.host), up, seed * 2 + 1),
    down: new Link((buf) => pageAddr && pageSide.send(buf, pageAddr.port, pageAddr.address), down, seed * 2 + 2),
  };
  pageSide.on('message', (buf, rinfo) => {
    pageAddr = rinfo;
    links.up.push(buf);
  });
  serverSide.on('message', (buf, rinfo) => {
    if (!target || rinfo.port !== target.port || rinfo.address !== target.host) return; // not from the server
    links.down.push(buf);
  });
  // Socket errors (e.g. ICMP port unreachable after the page closed) must not kill the harness.
  pageSide.on('error', () => {});
  serverSide.on('error', () => {});
  const bind = (s) => new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve(s.address().port));
  });
  const port = await bind(pageSide);
  await bind(serverSide);
  const dirOf = (dir) => {
    if (!links[dir]) throw new RangeError(`direction must be 'up' or 'down', got ${dir}`);
    return links[dir];
  };
  return {
    port,
    /** The server's media address, when it is known only later (from the first answer). */
    setTarget: (host, port) => {
      if (target && (target.host !== host || target.port !== port)) {
        throw new Error(`the relay already forwards to ${target.host}:${target.port}, not ${host}:${port}`);
      }
      target = { host, port };
    },
    target: () => target,
    set: (dir, params) => dirOf(dir).set(params),
    params: (dir) => dirOf(dir).params,
    stats: () => ({ up: { ...links.up.stats }, down: { ...links.down.stats } }),
    close: () => {
      links.up.close();
      links.down.close();
      pageSide.close();
      serverSide.close();
    },
  };
}

/** A tbf-like limit: `kbps` with a burst of `burstBytes` and a queue of `queueBytes`. */
export function rateLimit(kbps, { burstBytes = 5000, queueBytes = 25000 } = {}) {
  return { rateBps: kbps * 1000, burstBytes, queueBytes };
}

/** Short text of a direction's impairment, for printing. */
export function describe(p) {
  const parts = [];
  if (Number.isFinite(p.rateBps)) parts.push(`${p.rateBps / 1000} kbps (burst ${p.burstBytes} B, queue ${p.queueBytes} B)`);
  if (p.loss > 0) parts.push(`${+(p.loss * 100).toFixed(2)} % loss`);
  if (p.delayMs > 0) parts.push(`+${p.delayMs} ms`);
  return parts.length ? parts.join(', ') : 'clear';
}
