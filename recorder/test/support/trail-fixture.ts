// Writes sessions in the trail format of docs/internals.md into a temporary data folder: casts as
// gzipped asciicast v2, the channel log, captured files, and a manifest with their real sha256s.
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

export type CastEvent = [number, 'o' | 'i' | 'r' | 'm', string];

export interface FixtureChannel {
  readonly id: number;
  /** @default 'shell' */
  readonly kind?: 'shell' | 'exec' | 'subsystem';
  readonly command?: string;
  readonly events: readonly CastEvent[];
  /** @default 80x24 */
  readonly width?: number;
  readonly height?: number;
}

export interface FixtureSession {
  readonly dataFolder: string;
  /** @default a random UUID */
  readonly id?: string;
  /** @default 'alice' */
  readonly user?: string;
  /** @default 'root' */
  readonly targetUser?: string;
  /** @default 'db-1' */
  readonly host?: string;
  /** @default 2025-03-01T10:00:00Z */
  readonly start?: Date;
  /** @default start + 60 s */
  readonly end?: Date;
  readonly channels?: readonly FixtureChannel[];
  /** Captured transfer content, by name under files/. */
  readonly files?: Readonly<Record<string, string | Buffer>>;
  /** @default true */
  readonly complete?: boolean;
  readonly recovered?: boolean;
}

export interface WrittenSession {
  readonly id: string;
  readonly dir: string;
  readonly manifest: Record<string, unknown>;
}

export function tempDataFolder(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'srec-trail-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function castText(ch: FixtureChannel, startSec: number): string {
  const header = { version: 2, width: ch.width ?? 80, height: ch.height ?? 24, timestamp: startSec, env: { TERM: 'xterm-256color' } };
  return [JSON.stringify(header), ...ch.events.map((e) => JSON.stringify(e))].join('\n') + '\n';
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export function writeSession(s: FixtureSession): WrittenSession {
  const id = s.id ?? randomUUID();
  const start = s.start ?? new Date('2025-03-01T10:00:00Z');
  const end = s.end ?? new Date(start.getTime() + 60_000);
  const day = start.toISOString().slice(0, 10).split('-');
  const dir = path.join(s.dataFolder, day[0]!, day[1]!, day[2]!, id);
  mkdirSync(path.join(dir), { recursive: true, mode: 0o700 });
  const files: Array<{ path: string; size: number; sha256: string }> = [];
  const put = (rel: string, data: Buffer) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dir, rel), data, { mode: 0o600 });
    files.push({ path: rel, size: data.length, sha256: sha256(data) });
  };
  const channels = s.channels ?? [];
  const log: string[] = [];
  for (const ch of channels) {
    put(`ch-${ch.id}.cast.gz`, zlib.gzipSync(castText(ch, Math.floor(start.getTime() / 1000))));
    log.push(JSON.stringify({ t: 0, ch: ch.id, type: 'open', kind: ch.kind ?? 'shell' }));
  }
  put('channels.jsonl.gz', zlib.gzipSync(log.join('\n') + '\n'));
  const transfers: unknown[] = [];
  for (const [name, content] of Object.entries(s.files ?? {})) {
    const data = Buffer.from(content);
    const rel = `files/1-${name}`;
    put(rel, data);
    transfers.push({ channel: 1, protocol: 'sftp', direction: 'upload', path: `/tmp/${name}`, size: data.length, sha256: sha256(data), file: rel });
  }
  const manifest = {
    version: 1,
    sessionId: id,
    connectionId: randomUUID(),
    recorder: 'recorder-0',
    user: s.user ?? 'alice',
    remoteAddress: '10.1.2.3:51234',
    targetUser: s.targetUser ?? 'root',
    host: { name: s.host ?? 'db-1', address: '10.0.0.5', port: 22 },
    start: start.toISOString(),
    end: end.toISOString(),
    complete: s.complete ?? true,
    recovered: s.recovered ?? false,
    channels: channels.map((ch) => ({
      id: ch.id,
      type: 'session',
      kind: ch.kind ?? 'shell',
      ...(ch.command !== undefined ? { command: ch.command } : {}),
      cast: `ch-${ch.id}.cast.gz`,
      bytesIn: 0,
      bytesOut: 0,
      exitStatus: 0,
    })),
    transfers,
    files,
  };
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2), { mode: 0o600 });
  return { id, dir, manifest };
}

/** Keystrokes one event each, `step` seconds apart from `t0`, with bash's echo of each as output. */
export function typed(t0: number, keys: readonly string[], step = 0.2): CastEvent[] {
  const out: CastEvent[] = [];
  keys.forEach((k, i) => {
    const t = Math.round((t0 + i * step) * 1000) / 1000;
    out.push([t, 'i', k]);
    const echo = k === '\x7f' ? '\b\x1b[K' : k === '\r' ? '\r\n' : k;
    out.push([Math.round((t + 0.01) * 1000) / 1000, 'o', echo]);
  });
  return out;
}

