// Figures of one measured window from the samples links.mjs takes in the pages (window.telesfu
// .media() every 250 ms): what the viewer saw of a video and heard of an audio track, what the
// sender sent, and what was on screen. Pure functions of the samples; no clock, no browser.

/** A sample's track of `kind` from `participant` (the publisher), or null. */
export function trackOf(sample, kind, participant) {
  return (sample.remoteTracks || []).find((t) => t.kind === kind && (!participant || t.participant === participant)) || null;
}

/** Samples whose time is within [from, to]. */
export const between = (samples, from, to) => samples.filter((s) => s.at >= from && s.at <= to);

/**
 * The video figures over [from, to] from the viewer's samples.
 * - fps: frames decoded over the window / its length; minFps1s: the lowest over any 1 s span.
 * - live: a sample in which frames were decoded within the last `liveMs`.
 * - sizes: share of samples per decoded size while live; `atLeast(w, h)` the share of samples
 *   live at that size or larger (a stalled sample counts against it).
 * - freezes (Chromium's inbound-rtp freezeCount / totalFreezesDuration, counted over the
 *   window): count, total, and the longest, exact when one freeze ended between two samples
 *   (250 ms apart), else bounded by the total of that interval; plus the stall still open at the
 *   window's end (not yet a counted freeze) and the longest gap between decoded frames the
 *   samples saw.
 * - layers: share of samples per spatial layer the server said it forwards.
 */
export function videoFigures(samples, participant, from, to, { liveMs = 1000 } = {}) {
  const all = samples.filter((s) => trackOf(s, 'video', participant));
  const win = between(all, from, to);
  const out = {
    samples: win.length, fps: 0, minFps1s: 0, width: 0, height: 0, sizes: {}, liveShare: 0,
    freezes: 0, freezeSeconds: 0, longestFreeze: 0, openStall: 0, longestGap: 0, layers: {}, kbps: 0,
    framesDecoded: 0, keyFrames: 0, plis: 0, nacks: 0, lost: 0,
  };
  if (win.length < 2) return { ...out, atLeast: () => 0 };
  const v = win.map((s) => ({ at: s.at, ...trackOf(s, 'video', participant) }));
  const first = v[0];
  const last = v[v.length - 1];
  const secs = (last.at - first.at) / 1000;
  out.framesDecoded = last.framesDecoded - first.framesDecoded;
  out.fps = out.framesDecoded / secs;
  out.kbps = ((last.bytesReceived - first.bytesReceived) * 8) / (last.at - first.at);
  out.keyFrames = last.keyFramesDecoded - first.keyFramesDecoded;
  out.plis = last.pliCount - first.pliCount;
  out.nacks = last.nackCount - first.nackCount;
  out.lost = last.packetsLost - first.packetsLost;

  // The last time frames rose, per sample (looking back before the window too).
  const before = all.filter((s) => s.at < from).map((s) => ({ at: s.at, ...trackOf(s, 'video', participant) }));
  const seq = [...before, ...v];
  let lastRise = null;
  let prev = null;
  const liveAt = new Map();
  let longestGap = 0;
  for (const x of seq) {
    if (prev && x.framesDecoded > prev.framesDecoded) {
      if (lastRise !== null && x.at >= from) longestGap = Math.max(longestGap, x.at - lastRise);
      lastRise = x.at;
    }
    if (prev === null && x.framesDecoded > 0) lastRise = x.at;
    liveAt.set(x, lastRise !== null && x.at - lastRise <= liveMs);
    prev = x;
  }
  out.longestGap = longestGap / 1000;
  out.openStall = lastRise === null ? secs : Math.max(0, (last.at - Math.max(lastRise, first.at)) / 1000);

  let live = 0;
  const sizeCount = {};
  const layerCount = {};
  for (const x of v) {
    const k = `${x.frameWidth}x${x.frameHeight}`;
    if (liveAt.get(x)) {
      live++;
      sizeCount[k] = (sizeCount[k] || 0) + 1;
    }
    const l = x.layer === null || x.layer === undefined ? '?' : String(x.layer);
    layerCount[l] = (layerCount[l] || 0) + 1;
  }
  out.liveShare = live / v.length;
  for (const [k, n] of Object.entries(sizeCount)) out.sizes[k] = n / v.length;
  for (const [k, n] of Object.entries(layerCount)) out.layers[k] = n / v.length;
  const widest = Object.entries(sizeCount).sort((a, b) => b[1] - a[1])[0];
  if (widest) [out.width, out.height] = widest[0].split('x').map(Number);

  // 1 s spans: the lowest frame rate in any of them.
  let minFps = Infinity;
  for (let i = 0; i < v.length; i++) {
    const j = v.findIndex((y) => y.at >= v[i].at + 1000);
    if (j < 0) break;
    minFps = Math.min(minFps, (v[j].framesDecoded - v[i].framesDecoded) / ((v[j].at - v[i].at) / 1000));
  }
  out.minFps1s = Number.isFinite(minFps) ? minFps : out.fps;

  // Chromium's freezes, interval by interval.
  out.freezes = last.freezeCount - first.freezeCount;
  out.freezeSeconds = last.totalFreezesDuration - first.totalFreezesDuration;
  for (let i = 1; i < v.length; i++) {
    const n = v[i].freezeCount - v[i - 1].freezeCount;
    const d = v[i].totalFreezesDuration - v[i - 1].totalFreezesDuration;
    if (n >= 1) out.longestFreeze = Math.max(out.longestFreeze, d); // exact for n = 1, an upper bound above
  }

  out.atLeast = (w, h) => v.filter((x) => liveAt.get(x) && x.frameWidth >= w && x.frameHeight >= h).length / v.length;
  return out;
}

/**
 * The audio figures over [from, to]: packets and samples received, the longest span without a
 * new packet, and the share of played samples that were concealed (made up for missing audio).
 */
export function audioFigures(samples, participant, from, to) {
  const win = between(samples, from, to).filter((s) => trackOf(s, 'audio', participant));
  const out = { samples: win.length, packets: 0, samplesReceived: 0, concealedPct: 100, longestGap: (to - from) / 1000, lost: 0 };
  if (win.length < 2) return out;
  const a = win.map((s) => ({ at: s.at, ...trackOf(s, 'audio', participant) }));
  const first = a[0];
  const last = a[a.length - 1];
  out.packets = last.packetsReceived - first.packetsReceived;
  out.samplesReceived = last.totalSamplesReceived - first.totalSamplesReceived;
  out.lost = last.packetsLost - first.packetsLost;
  const concealed = last.concealedSamples - first.concealedSamples;
  out.concealedPct = out.samplesReceived > 0 ? (100 * concealed) / out.samplesReceived : 100;
  let lastRise = first.at;
  let gap = 0;
  for (let i = 1; i < a.length; i++) {
    if (a[i].packetsReceived > a[i - 1].packetsReceived) {
      gap = Math.max(gap, a[i].at - lastRise);
      lastRise = a[i].at;
    }
  }
  gap = Math.max(gap, last.at - lastRise);
  out.longestGap = gap / 1000;
  return out;
}

/**
 * What the sender sent over [from, to], per rid: kbps, frames per second, size, and why the
 * encoder limited itself (Chromium's qualityLimitationReason at the end).
 */
export function senderFigures(samples, from, to) {
  const win = between(samples, from, to);
  const out = {};
  if (win.length < 2) return out;
  const first = win[0];
  const last = win[win.length - 1];
  const secs = (last.at - first.at) / 1000;
  for (const o of last.outbound.filter((x) => x.kind === 'video' && x.rid)) {
    const o0 = first.outbound.find((x) => x.kind === 'video' && x.rid === o.rid && x.mid === o.mid);
    if (!o0) continue;
    out[o.rid] = {
      kbps: ((o.bytesSent - o0.bytesSent) * 8) / 1000 / secs,
      fps: (o.framesEncoded - o0.framesEncoded) / secs,
      width: o.frameWidth,
      height: o.frameHeight,
      limitation: o.qualityLimitationReason,
    };
  }
  return out;
}

/** The sender's widest video encoding that is sending (bytes rising) around time `t`. */
export function topSentWidth(samples, t, spanMs = 1500) {
  const win = samples.filter((s) => s.at >= t - spanMs && s.at <= t);
  if (win.length < 2) return 0;
  const a = win[0];
  const b = win[win.length - 1];
  let top = 0;
  for (const o of b.outbound.filter((x) => x.kind === 'video')) {
    const o0 = a.outbound.find((x) => x.kind === 'video' && x.rid === o.rid && x.mid === o.mid);
    if (o0 && o.bytesSent > o0.bytesSent) top = Math.max(top, o.frameWidth);
  }
  return top;
}

/** The first alert on screen (visible) of `side` in the samples, at or after `from`. */
export function firstAlert(samples, side, from) {
  for (const s of samples) {
    if (s.at < from) continue;
    const a = (s.alertsShown || []).find((x) => x.visible && x.side === side);
    if (a) return { ...a, seenAt: s.at };
  }
  return null;
}

/** Share of samples in [from, to] with an alert of `side` on screen. */
export function alertShare(samples, side, from, to) {
  const win = between(samples, from, to);
  if (!win.length) return 0;
  return win.filter((s) => (s.alertsShown || []).some((x) => x.visible && x.side === side)).length / win.length;
}

/** `n` with `d` decimals, trailing zeros dropped. */
export const fmt = (n, d = 1) => (Number.isFinite(n) ? String(+n.toFixed(d)) : String(n));
export const pct = (x) => `${Math.round(x * 100)} %`;
