// Views of recordings as audit events: every playback and every download of a transferred file is an
// SSH-PRIVX-AUDIT event (recording_viewed, file_downloaded) through the recorder's own emitter, and is
// remembered for the session page's "viewed by" list. The SIEM holds the lasting record; the list is this
// process's memory (bounded), so it starts empty when the console restarts.
import type { AuditSink } from '../../recorder/src/audit/emitter.js';
import { makeEvent, type Details } from '../../recorder/src/audit/event.js';
import type { StoredSession } from '../../recorder/src/trail/sessions.js';
import type { Identity } from './auth.js';

export interface View {
  readonly viewer: string;
  readonly at: string;
  readonly what: 'recording_viewed' | 'file_downloaded';
  /** The channel played, or the file downloaded. */
  readonly detail: string;
}

const MAX_VIEWS_PER_SESSION = 200;
const MAX_SESSIONS = 10_000;

export class ViewLog {
  private readonly views = new Map<string, View[]>();

  constructor(
    private readonly sink: AuditSink,
    private readonly now: () => Date = () => new Date(),
  ) {}

  viewed(who: Identity, s: StoredSession, channel: number): void {
    this.record(who, s, 'recording_viewed', `channel ${channel}`, { channel });
  }

  downloaded(who: Identity, s: StoredSession, transfer: number, file: string, sha256: string | undefined): void {
    this.record(who, s, 'file_downloaded', file, { transfer, path: file, ...(sha256 !== undefined ? { sha256 } : {}) });
  }

  /** The exact bytes of one direction of a channel (srec play --raw's), handed out. */
  rawDownloaded(who: Identity, s: StoredSession, channel: number, stream: 'in' | 'out' | 'err'): void {
    this.record(who, s, 'file_downloaded', `channel ${channel} raw ${stream}`, { channel, stream });
  }

  /** Newest first. */
  of(sessionId: string): readonly View[] {
    return [...(this.views.get(sessionId) ?? [])].reverse();
  }

  private record(who: Identity, s: StoredSession, what: View['what'], detail: string, details: Details): void {
    const m = s.manifest;
    const at = this.now();
    const identity = {
      sessionID: s.id,
      connectionID: m.connectionId,
      username: m.user,
      targetUsername: m.targetUser,
      hostID: m.host.name,
      hostAddress: m.host.port === 22 ? m.host.address : `${m.host.address}:${m.host.port}`,
      remoteAddress: m.remoteAddress,
    };
    this.sink.emit(makeEvent(identity, what, at, { viewer: who.name, viewerVia: who.via, ...details }));
    let list = this.views.get(s.id);
    if (list === undefined) {
      if (this.views.size >= MAX_SESSIONS) this.views.delete(this.views.keys().next().value!);
      list = [];
      this.views.set(s.id, list);
    }
    list.push({ viewer: who.name, at: at.toISOString(), what, detail });
    if (list.length > MAX_VIEWS_PER_SESSION) list.shift();
  }
}
