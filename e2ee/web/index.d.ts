// Types of @telesfu/e2ee's main-thread API (index.js). The wasm layer's own types are in
// pkg/telesfu_e2ee_wasm.d.ts (import "@telesfu/e2ee/wasm").

import type { MlsMessage, RosterEntry, TelesfuEvent, SessionOptions, ClientStats } from './pkg/telesfu_e2ee_wasm.js';

export type { MlsMessage, RosterEntry, TelesfuEvent, SessionOptions, ClientStats };

/** An error from the E2EE layer: `code` is stable (see README.md), `message` is for people. */
export interface TelesfuError extends Error {
  name: 'TelesfuError';
  code: string;
}

/** Reported through `onEvent` when something fails outside a call the page awaits. */
export interface ErrorEvent {
  type: 'error';
  code: string;
  message: string;
}

export interface TelesfuE2eeOptions {
  /** The room (visit) id: certificates must name it. */
  room: string;
  /** This participant's id on the SFU (how signaling and media name it). */
  participant: string;
  /** The authority's 32-byte Ed25519 public key(s), from your own bundle: never from the SFU. */
  authorityKeys: Uint8Array[];
  /**
   * Asks your backend (the authority) to certify this member's key: resolves to the
   * certificate. Called once, with the 32-byte public key the worker made.
   */
  getCertificate: (publicKey: Uint8Array) => Promise<Uint8Array>;
  /** Sends one `{type: "mls"}` message to the server (e.g. `ws.send(JSON.stringify(m))`). */
  send: (message: MlsMessage) => void;
  /** Events of the call's encryption: roster and code changes, chat, refusals, errors. */
  onEvent?: (event: TelesfuEvent | ErrorEvent) => void;
  /** The worker script; default `new URL('./worker.js', import.meta.url)`. */
  workerUrl?: string | URL;
  /** The .wasm file, when a bundler moves it; default next to pkg/telesfu_e2ee_wasm.js. */
  wasmUrl?: string | URL;
  /** Session timings and limits (tests shorten them); defaults otherwise. */
  config?: SessionOptions;
}

export interface SenderTransformOptions {
  /** `"VP8"`, `"opus"`, `"H264"`, `"AV1"`, `"plain"` or a MIME type; the frame's own mimeType wins when the browser gives it. */
  codec?: string;
  /** A label for the per-track counters of `state()`. */
  trackId?: string;
}

export interface ReceiverTransformOptions extends SenderTransformOptions {
  /** The participant whose track this is: frames open only under that member's keys. */
  participant: string;
}

/** Counters of one transform. `dropped` counts frames by error code; none of them passed. */
export interface TrackStats {
  trackId: string;
  side: 'send' | 'receive';
  codec: string | null;
  participant: string | null;
  /** Frames sealed (send) or opened (receive) and passed on. */
  frames: number;
  dropped: Record<string, number>;
}

export interface E2eeState {
  epoch: number | undefined;
  code: string | undefined;
  roster: RosterEntry[];
  isMember: boolean;
  /** `null` until the member exists. */
  stats: ClientStats | null;
  tracks: TrackStats[];
}

/** End-to-end encryption for one participant in one call. All keys live in its worker. */
export declare class TelesfuE2ee {
  /** Starts at once; `ready` settles when the member exists (after `getCertificate`). */
  constructor(options: TelesfuE2eeOptions);
  /** A ready TelesfuE2ee; rejects (and cleans up) if the worker, wasm or certificate fail. */
  static create(options: TelesfuE2eeOptions): Promise<TelesfuE2ee>;
  readonly room: string;
  readonly participant: string;
  readonly ready: Promise<void>;
  /** One `{type: "mls"}` message from the server, object or JSON text, in arrival order. */
  handleMessage(message: MlsMessage | string): void;
  /** Signaling says `participant` left: the remaining members commit its removal. */
  participantLeft(participant: string): void;
  /** Sends an end-to-end encrypted chat message. */
  sendChat(text: string): Promise<{ seq: number }>;
  /** For `RTCRtpSender.transform`. */
  senderTransform(options?: SenderTransformOptions): RTCRtpScriptTransform;
  /** For `RTCRtpReceiver.transform`. */
  receiverTransform(options: ReceiverTransformOptions): RTCRtpScriptTransform;
  /** The current epoch (undefined before joining). */
  readonly epoch: number | undefined;
  /** The current verification code: six groups of five digits; equal on two screens, same keys. */
  readonly code: string | undefined;
  /** The verified members of the current epoch. */
  readonly roster: RosterEntry[];
  readonly isMember: boolean;
  /** A fresh look at everything, counters included. */
  state(): Promise<E2eeState>;
  /** Erases the keys and stops the worker. */
  close(): Promise<void>;
}

export default TelesfuE2ee;
