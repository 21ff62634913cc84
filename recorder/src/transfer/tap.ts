// The bastion's ChannelTap for file transfers: an SftpTracker on the `sftp` subsystem and an ScpTracker on
// `scp -t` / `scp -f` execs of recorded hosts, writing what they report into the session's recording:
// operations and transfers to the channel log (`type: 'sftp' | 'scp' | 'file_transfer'`), transfers to the manifest.
import type { ChannelTap, ChannelTapContext, ChannelTapFactory } from '../ssh/taps.js';
import type { SessionRecording } from '../trail/recording.js';
import { ScpTracker, parseScpCommand } from './scp.js';
import { SftpTracker } from './sftp.js';
import { FsCaptureSink, MetadataCaptureSink, type CaptureSink } from './sink.js';
import type { TrackerOptions, TransferTracker } from './tracker.js';
import type { TransferProtocol, TransferRecord } from './types.js';

export interface TransferTapOptions {
  /** Each finished transfer, e.g. for the `file_transfer` audit event. Exceptions are swallowed. */
  readonly onTransfer?: (ctx: ChannelTapContext, t: TransferRecord) => void;
  /** @default TrackerOptions.highWaterMark's default */
  readonly highWaterMark?: number;
}

/** A ChannelTapFactory for startBastion's `taps`. One capture sink per session, so `files/<n>-` numbers are unique. */
export function transferTaps(opts: TransferTapOptions = {}): ChannelTapFactory {
  const sinks = new WeakMap<SessionRecording, CaptureSink>();
  return (ctx) => {
    const rec = ctx.recording;
    if (rec === undefined) return undefined;
    const scp = ctx.kind === 'exec' && ctx.command !== undefined ? parseScpCommand(ctx.command) : undefined;
    const protocol: TransferProtocol | undefined = ctx.kind === 'subsystem' && ctx.subsystem === 'sftp' ? 'sftp' : scp ? 'scp' : undefined;
    if (protocol === undefined) return undefined;
    let sink = sinks.get(rec);
    if (sink === undefined) {
      sink = ctx.host.fileTransfers ? new FsCaptureSink({ dir: rec.dir }) : new MetadataCaptureSink();
      sinks.set(rec, sink);
    }
    const common: TrackerOptions = {
      sink,
      ...(opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {}),
      onOp: (op) => {
        rec.record({ ch: ctx.channel, type: protocol, ...op });
      },
      onTransfer: (t) => {
        rec.addTransfer({
          channel: ctx.channel,
          protocol: t.protocol,
          direction: t.direction,
          path: t.path,
          size: t.size,
          ...(t.sha256 !== undefined ? { sha256: t.sha256 } : {}),
          ...(t.file !== undefined ? { file: t.file } : {}),
          complete: t.complete,
          bytes: t.bytes,
          ...(t.note !== undefined ? { note: t.note } : {}),
        });
        rec.record({ ch: ctx.channel, type: 'file_transfer', ...t });
        opts.onTransfer?.(ctx, t);
      },
    };
    const tracker: TransferTracker = scp ? new ScpTracker({ ...common, command: scp }) : new SftpTracker(common);
    return trackerTap(tracker, scp !== undefined);
  };
}

/** Adapts a tracker to the relay's tap seam (both sides of stdout/stdin; stderr is not protocol). */
export function trackerTap(tracker: TransferTracker, suppressCast: boolean): ChannelTap {
  return {
    // An scp exec's stdin/stdout are the files themselves: no cast, or fileTransfers: false would leak content.
    suppressCast,
    fromClient: (data) => tracker.feed('client', data),
    fromServer: (data) => tracker.feed('server', data),
    // Asynchronous even when not behind: the relay pauses its source right after registering the callback.
    onceDrain: (cb) => void tracker.drained().then(cb),
    close: () => tracker.end(),
  };
}
