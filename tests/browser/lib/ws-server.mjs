// A minimal WebSocket server endpoint (RFC 6455, text frames only) for the page smoke test's
// mock signaling server. Not for production: no extensions, no fragmentation of sent frames.
import crypto from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Upgrades `req`/`socket` and returns {send(text), close(), onmessage, onclose}. */
export function acceptWebSocket(req, socket) {
  const key = req.headers['sec-websocket-key'];
  const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const conn = { onmessage: () => {}, onclose: () => {}, open: true };
  let buf = Buffer.alloc(0);
  let parts = [];
  const frame = (op, payload) => {
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | op, n]) : n < 65536
      ? Buffer.from([0x80 | op, 126, n >> 8, n & 0xff])
      : Buffer.concat([Buffer.from([0x80 | op, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
    return Buffer.concat([head, payload]);
  };
  conn.send = (text) => conn.open && socket.write(frame(1, Buffer.from(text)));
  conn.close = (code = 1000) => {
    if (!conn.open) return;
    conn.open = false;
    socket.end(frame(8, Buffer.from([code >> 8, code & 0xff])));
    conn.onclose();
  };
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      const fin = buf[0] & 0x80;
      const op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        at = 10;
      }
      const masked = buf[1] & 0x80;
      const maskAt = at;
      if (masked) at += 4;
      if (buf.length < at + len) return;
      const payload = Buffer.from(buf.subarray(at, at + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[maskAt + (i & 3)];
      buf = buf.subarray(at + len);
      if (op === 8) {
        if (conn.open) {
          conn.open = false;
          socket.end(frame(8, payload.subarray(0, 2)));
          conn.onclose();
        }
        return;
      }
      if (op === 9) {
        socket.write(frame(10, payload));
        continue;
      }
      if (op === 1 || op === 0) {
        parts.push(payload);
        if (fin) {
          const text = Buffer.concat(parts).toString('utf8');
          parts = [];
          conn.onmessage(text);
        }
      }
    }
  });
  socket.on('close', () => {
    if (conn.open) {
      conn.open = false;
      conn.onclose();
    }
  });
  socket.on('error', () => {});
  return conn;
}
