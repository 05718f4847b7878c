//! The media loop: one UDP socket, batched system calls, and the [`Hub`] it drives.
//!
//! Receive uses `quinn-udp`, which reads up to [`quinn_udp::BATCH_SIZE`] datagrams per
//! `recvmmsg` call and coalesced GRO segments where the kernel offers them. Send groups
//! consecutive datagrams to one destination with one size (a video frame packetized by
//! libwebrtc is split into equal-sized packets) into one GSO `sendmsg` where the kernel
//! supports UDP segmentation offload, and falls back to one call per datagram elsewhere.
//! `/metrics` shows the effect as datagrams per receive and send call.

use std::io::{self, IoSliceMut};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::hub::{Command, Hub};
use crate::metrics::{Metrics, TransportDrop};

/// Bytes per receive buffer: a whole GRO batch of MTU-sized datagrams.
const RECV_BUF: usize = 64 * 1024;
/// Largest GSO batch in bytes.
const MAX_GSO_BYTES: usize = 60 * 1024;

/// The wall clock now, as Unix seconds.
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The wall clock now, in NTP format (seconds since 1900 in the high 32 bits).
#[allow(clippy::disallowed_methods)]
pub fn ntp_now() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() + 2_208_988_800;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// Runs the hub until `commands` closes and the hub is idle, or `stop` fires.
pub async fn run(
    socket: UdpSocket,
    mut hub: Hub,
    mut commands: mpsc::Receiver<Command>,
    metrics: Arc<Metrics>,
) -> io::Result<()> {
    let state = UdpSocketState::new((&socket).into())?;
    let gso = state.max_gso_segments().max(1);
    let batch = quinn_udp::BATCH_SIZE.max(1);
    let mut bufs: Vec<Vec<u8>> = (0..batch).map(|_| vec![0u8; RECV_BUF]).collect();
    let mut meta = vec![RecvMeta::default(); batch];
    let mut commands_open = true;
    loop {
        let deadline = hub.poll_timeout();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = socket.readable() => {
                r?;
                loop {
                    let res = socket.try_io(Interest::READABLE, || {
                        let mut slices: Vec<IoSliceMut<'_>> =
                            bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                        state.recv((&socket).into(), &mut slices, &mut meta)
                    });
                    let n = match res {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            // ICMP errors (a peer went away) surface here; they are not fatal.
                            tracing::debug!(error = %e, "UDP receive error");
                            break;
                        }
                    };
                    metrics.udp_recv_calls.fetch_add(1, Relaxed);
                    let t = now();
                    for (m, buf) in meta.iter().zip(bufs.iter_mut()).take(n) {
                        let stride = m.stride.max(1);
                        let mut off = 0;
                        while off < m.len {
                            let end = (off + stride).min(m.len);
                            metrics.udp_datagrams_in.fetch_add(1, Relaxed);
                            metrics.udp_bytes_in.fetch_add((end - off) as u64, Relaxed);
                            hub.handle_datagram(t, m.addr, &mut buf[off..end]);
                            off = end;
                        }
                    }
                }
            }
            cmd = commands.recv(), if commands_open => {
                match cmd {
                    Some(cmd) => hub.handle_command(now(), unix_now(), cmd),
                    None => commands_open = false,
                }
            }
            () = sleep => hub.handle_timeout(now()),
        }
        hub.flush(now());
        let (meta, buf) = hub.transmit_parts();
        send_all(&socket, &state, meta, buf, gso, &metrics).await;
        hub.clear_transmits();
        if !commands_open && hub.is_idle() {
            return Ok(());
        }
    }
}

async fn send_all(
    socket: &UdpSocket,
    state: &UdpSocketState,
    meta: &[(std::net::SocketAddr, usize, usize)],
    buf: &[u8],
    gso: usize,
    metrics: &Metrics,
) {
    let mut i = 0;
    while i < meta.len() {
        let (dest, start, size) = meta[i];
        // Group equal-sized datagrams to one destination (the last of a group may be shorter).
        // The hub packs datagrams back to back, so a group is one contiguous range.
        let mut j = i + 1;
        let mut total = size;
        while gso > 1 && j < meta.len() && j - i < gso {
            let (d, s, l) = meta[j];
            if d != dest || l > size || s != start + total || total + l > MAX_GSO_BYTES {
                break;
            }
            total += l;
            j += 1;
            if l < size {
                break;
            }
        }
        let transmit = Transmit {
            destination: dest,
            ecn: None,
            contents: &buf[start..start + total],
            segment_size: (j - i > 1).then_some(size),
            src_ip: None,
        };
        let r = socket
            .async_io(Interest::WRITABLE, || {
                state.try_send(socket.into(), &transmit)
            })
            .await;
        match r {
            Ok(()) => {
                metrics.udp_send_calls.fetch_add(1, Relaxed);
                metrics.udp_datagrams_out.fetch_add((j - i) as u64, Relaxed);
                metrics.udp_bytes_out.fetch_add(total as u64, Relaxed);
            }
            Err(e) => {
                tracing::debug!(%dest, error = %e, "UDP send failed");
                metrics.drop_transport(TransportDrop::SendFailed);
            }
        }
        i = j;
    }
}
