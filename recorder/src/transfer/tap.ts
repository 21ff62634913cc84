// The bastion's ChannelTap for file transfers: an SftpTracker on the `sftp` subsystem and an ScpTracker on
// `scp -t` / `scp -f` execs of recorded hosts, writing what they report into the session's recording:
// operations and transfers to the channel log (`type: 'sftp' | 'scp' | 'file_transfer'`), transfers to the manifest,
// and a `file_transfer` audit event per file. Every such channel, recorded or not, is declared file content.
import type { ChannelTap, ChannelTapFactory } from '../channel-tap.js';
import type { SessionRecording } from '../trail/recording.js';
import { ScpTracker, parseScpCommand } from './scp.js';
import { SftpTracker } from './sftp.js';
import { FsCaptureSink, MetadataCaptureSink, type CaptureSink } from './sink.js';
import type { TrackerOptions, TransferTracker } from './tracker.js';
import type { TransferProtocol } from './types.js';

/** The taps `srec recorder` gives the bastion. One capture sink per session, so `files/<n>-` numbers are unique. */
export function transferTaps(): ChannelTapFactory {
  const sinks = new WeakMap<SessionRecording, CaptureSink>();
  return (ctx) => {
    const scp = ctx.kind === 'exec' && ctx.command !== undefined ? parseScpCommand(ctx.command) : undefined;
    const protocol: TransferProtocol | undefined = ctx.kind === 'subsystem' && ctx.subsystem === 'sftp' ? 'sftp' : scp ? 'scp' : undefined;
    if (protocol === undefined) return undefined;
    const rec = ctx.recording;
    // Transfers are followed on recorded hosts only; elsewhere the bytes are still files, not a terminal.
    if (rec === undefined) return { suppressCast: scp !== undefined, suppressDataEvents: true };
    let sink = sinks.get(rec);
    if (sink === undefined) {
      sink = ctx.host.fileTransfers ? new FsCaptureSink({ dir: rec.dir }) : new MetadataCaptureSink();
      sinks.set(rec, sink);
    }
    const common: TrackerOptions = {
      sink,
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
        ctx.auditTransfer(t);
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
    suppressDataEvents: true,
    fromClient: (data) => tracker.feed('client', data),
    fromServer: (data) => tracker.feed('server', data),
    // Asynchronous even when not behind: the relay pauses its source right after registering the callback.
    onceDrain: (cb) => void tracker.drained().then(cb),
    close: () => tracker.end(),
  };
}
