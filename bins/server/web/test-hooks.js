// Test hooks of the demo page for the browser tests (tests/browser/e2e.mjs). The server serves
// this file only when started with --debug-api; the page imports it only with ?test=1. A
// production server never serves it, so a production page has no window.telesfu.
//
// Nothing here touches keys: those live in the @telesfu/e2ee worker, which has no hooks at all.

export function install({ S, state, media, sendMsg, sendView, sendChat, leave }) {
  window.telesfu = {
    state,
    /** Media stats and the quality alerts on screen, cheap enough to sample several times a second. */
    media,
    /** Sends a raw signaling message: an object is JSON-encoded, a string goes out as is. */
    send: (msg) => sendMsg(msg),
    sendRaw: (text) => sendMsg(String(text)),
    cutWebSocket: () => {
      if (S.ws) S.ws.close(4000, 'cut by test');
    },
    setView: (trackId, width, height) => {
      const sub = S.subs.get(trackId);
      if (!sub) return false;
      sub.override = { width: Math.round(width), height: Math.round(height) };
      sendView(sub, true);
      return true;
    },
    clearView: (trackId) => {
      const sub = S.subs.get(trackId);
      if (!sub) return false;
      sub.override = null;
      sendView(sub, true);
      return true;
    },
    sendChat,
    leave,
  };
}
