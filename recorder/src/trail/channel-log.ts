// The channel log (channels.jsonl.gz): one JSON object a line, `{t, ch, type, ...}`, t in seconds since
// the session started. ChannelTable folds the log into the manifest's channel list; the live recorder and
// crash recovery use the same fold, so a recovered manifest says what a clean one would have.
import { parseJsonLine } from './gzip-lines.js';

/** A channel opened by the person, numbered from 0 in the order they were opened. */
export interface ChannelOpenEntry {
  readonly t: number;
  readonly ch: number;
  readonly type: 'open';
  readonly channel: 'session' | 'direct-tcpip' | string;
  /** direct-tcpip: where the person asked to connect, `host:port`. */
  readonly destination?: string;
  /** direct-tcpip: the originator the client named, `host:port`. */
  readonly origin?: string;
  /** direct-tcpip on a recorded host: the raw streams of its bytes in the session directory. */
  readonly streams?: ChannelStreams;
  /** false when the channel was refused (the host's forwarding policy, or the target). */
  readonly accepted?: boolean;
  readonly reason?: string;
}

/**
 * A channel's bytes as they passed, each direction a gzip file of its own (trail/raw-stream.ts): a forwarded
 * channel's, and a session channel's without a pty (exec, `ssh -T`), whose bytes need not be text.
 */
export interface ChannelStreams {
  /** From the person: `ch-<n>.in.raw.gz`. */
  readonly in: string;
  /** To the person (a session channel's stdout): `ch-<n>.out.raw.gz`. */
  readonly out: string;
  /** A session channel's stderr: `ch-<n>.err.raw.gz`. */
  readonly err?: string;
}

/** A session channel's raw streams, logged when they open (a forwarded channel names them in its open). */
export interface ChannelStreamsEntry {
  readonly t: number;
  readonly ch: number;
  readonly type: 'streams';
  readonly streams: ChannelStreams;
}

/** A channel request (pty-req, env, shell, exec, subsystem, window-change, signal, x11-req, ...). */
export interface ChannelRequestEntry {
  readonly t: number;
  readonly ch: number;
  readonly type: 'request';
  readonly request: string;
  readonly accepted: boolean;
  readonly [detail: string]: unknown;
}

/** Output that arrived on stderr; the cast holds it as ordinary output. */
export interface StderrEntry {
  readonly t: number;
  readonly ch: number;
  readonly type: 'stderr';
  readonly bytes: number;
}

export interface EofEntry {
  readonly t: number;
  readonly ch: number;
  readonly type: 'eof';
  /** client: the person; server: the target. */
  readonly from: 'client' | 'server';
}

export interface ExitEntry {
  readonly t: number;
  readonly ch: number;
  readonly type: 'exit';
  readonly status?: number;
  readonly signal?: string;
  readonly coreDumped?: boolean;
  readonly message?: string;
}

export interface CloseEntry {
  readonly t: number;
  readonly ch: number;
  readonly type: 'close';
  /** Bytes from the person to the target. */
  readonly bytesIn: number;
  /** Bytes from the target to the person (stdout + stderr). */
  readonly bytesOut: number;
}

export interface GlobalRequestEntry {
  readonly t: number;
  readonly type: 'global_request';
  readonly request: string;
  readonly accepted: boolean;
  readonly [detail: string]: unknown;
}

export interface SessionEndEntry {
  readonly t: number;
  readonly type: 'session_end';
  readonly complete: boolean;
  readonly recovered: boolean;
  readonly reason?: string;
}

/** Anything else a later writer adds (file transfers, parser notes); readers skip types they do not know. */
export interface OtherEntry {
  readonly t: number;
  readonly ch?: number;
  readonly type: string;
  readonly [detail: string]: unknown;
}

export type ChannelLogEntry =
  | ChannelOpenEntry
  | ChannelRequestEntry
  | StderrEntry
  | EofEntry
  | ExitEntry
  | CloseEntry
  | ChannelStreamsEntry
  | GlobalRequestEntry
  | SessionEndEntry
  | OtherEntry;

/** A channel as the manifest lists it. */
export interface ManifestChannel {
  readonly id: number;
  readonly type: string;
  readonly kind?: 'shell' | 'exec' | 'subsystem';
  readonly command?: string;
  readonly subsystem?: string;
  readonly destination?: string;
  /** direct-tcpip: the originator the client named, `host:port`. */
  readonly origin?: string;
  readonly cast?: string;
  /** direct-tcpip: the files holding its bytes, one per direction. */
  readonly streams?: ChannelStreams;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly exitStatus?: number;
  readonly exitSignal?: string;
  /** false when the log has no close for it (the recorder stopped first). The recorder always writes it; docs/internals.md does not list it. */
  readonly closed?: boolean;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class ChannelTable {
  private readonly byId = new Map<number, Mutable<ManifestChannel>>();

  apply(entry: ChannelLogEntry): void {
    const e = entry as OtherEntry;
    if (typeof e.ch !== 'number') return;
    if (e.type === 'open') {
      const o = entry as ChannelOpenEntry;
      if (o.accepted === false) return;
      this.byId.set(o.ch, {
        id: o.ch,
        type: o.channel,
        ...(o.destination !== undefined ? { destination: o.destination } : {}),
        ...(o.origin !== undefined ? { origin: o.origin } : {}),
        ...(o.streams !== undefined ? { streams: copyStreams(o.streams) } : {}),
        bytesIn: 0,
        bytesOut: 0,
        closed: false,
      });
      return;
    }
    const c = this.byId.get(e.ch);
    if (c === undefined) return;
    switch (e.type) {
      case 'request': {
        const r = entry as ChannelRequestEntry;
        if (!r.accepted) return;
        if (r.request === 'shell') c.kind = 'shell';
        else if (r.request === 'exec') {
          c.kind = 'exec';
          if (typeof r.command === 'string') c.command = r.command;
        } else if (r.request === 'subsystem') {
          c.kind = 'subsystem';
          if (typeof r.name === 'string') c.subsystem = r.name;
        }
        return;
      }
      case 'exit': {
        const x = entry as ExitEntry;
        if (typeof x.status === 'number') c.exitStatus = x.status;
        if (typeof x.signal === 'string') c.exitSignal = x.signal;
        return;
      }
      case 'streams': {
        const x = entry as ChannelStreamsEntry;
        if (typeof x.streams?.in === 'string' && typeof x.streams.out === 'string') c.streams = copyStreams(x.streams);
        return;
      }
      case 'close': {
        const x = entry as CloseEntry;
        c.bytesIn = x.bytesIn;
        c.bytesOut = x.bytesOut;
        c.closed = true;
        return;
      }
      default:
        return;
    }
  }

  /** Fill in byte counts for a channel the log never saw closed (crash recovery). */
  estimateBytes(ch: number, bytesIn: number, bytesOut: number): void {
    const c = this.byId.get(ch);
    if (c !== undefined && !c.closed) {
      c.bytesIn = bytesIn;
      c.bytesOut = bytesOut;
    }
  }

  setCast(ch: number, file: string): void {
    const c = this.byId.get(ch);
    if (c !== undefined) c.cast = file;
  }

  channels(): ManifestChannel[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id).map((c) => ({ ...c }));
  }
}

function copyStreams(s: ChannelStreams): ChannelStreams {
  return { in: s.in, out: s.out, ...(typeof s.err === 'string' ? { err: s.err } : {}) };
}

export function encodeLogEntry(e: ChannelLogEntry): string {
  return JSON.stringify({ ...e, t: Math.max(0, Math.round(e.t * 1e6) / 1e6) }) + '\n';
}

/** A line of the log, or undefined when it is not a JSON object. Types a reader does not know are passed on. */
export function decodeLogEntry(line: string): ChannelLogEntry | undefined {
  const e = parseJsonLine(line);
  return typeof e === 'object' && e !== null && !Array.isArray(e) ? (e as ChannelLogEntry) : undefined;
}
