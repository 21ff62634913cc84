// The bastion's taps for file transfers: every session channel's first bytes go to a ProtocolRecogniser
// (classify.ts); a channel that speaks SFTP or SCP gets an SftpTracker or ScpTracker on recorded hosts, writing
// what they report into the session's recording: operations and transfers to the channel log
// (`type: 'sftp' | 'scp' | 'file_transfer'`), transfers to the manifest, and a `file_transfer` audit event per
// file. Every such channel, recorded or not, is declared file content by its verdict.
import type { ChannelClassifier, ChannelTap, ChannelTapContext, ChannelTapFactory } from '../channel-tap.js';
import type { SessionRecording } from '../trail/recording.js';
import { ProtocolRecogniser } from './classify.js';
import { ScpTracker, scpCommandHint, unknownScpCommand } from './scp.js';
import { SftpTracker } from './sftp.js';
import { FsCaptureSink, MetadataCaptureSink, type CaptureSink } from './sink.js';
import type { TrackerOptions, TransferTracker } from './tracker.js';
import type { TransferDirection, TransferProtocol } from './types.js';

/** The taps `srec recorder` gives the bastion. One capture sink per session, so `files/<n>` numbers are unique. */
export function transferTaps(): ChannelTapFactory {
  const sinks = new WeakMap<SessionRecording, CaptureSink>();
  const sinkFor = (ctx: ChannelTapContext, rec: SessionRecording): CaptureSink => {
    let sink = sinks.get(rec);
    if (sink === undefined) {
      sink = ctx.host.fileTransfers ? new FsCaptureSink({ dir: rec.dir }) : new MetadataCaptureSink();
      sinks.set(rec, sink);
    }
    return sink;
  };
  return (ctx): ChannelClassifier => {
    const recogniser = new ProtocolRecogniser();
    return {
      feed: (side, chunk) => {
        const r = recogniser.feed(side, chunk);
        if (typeof r === 'string') return r;
        const rec = ctx.recording;
        // Transfers are followed on recorded hosts only; elsewhere the verdict alone keeps content out of the events.
        if (rec === undefined) return { transfer: {} };
        const direction = r.protocol === 'scp' ? r.direction : undefined;
        return { transfer: trackerTap(newTracker(ctx, rec, sinkFor(ctx, rec), r.protocol, direction)) };
      },
    };
  };
}

function newTracker(ctx: ChannelTapContext, rec: SessionRecording, sink: CaptureSink, protocol: TransferProtocol, direction?: TransferDirection): TransferTracker {
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
        ...(t.seen !== undefined ? { seen: t.seen } : {}),
        ...(t.file !== undefined ? { file: t.file } : {}),
        complete: t.complete,
        bytes: t.bytes,
        ...(t.note !== undefined ? { note: t.note } : {}),
      });
      rec.record({ ch: ctx.channel, type: 'file_transfer', ...t });
      ctx.auditTransfer(t);
    },
  };
  if (protocol === 'sftp' || direction === undefined) return new SftpTracker(common);
  const hint = ctx.kind === 'exec' && ctx.command !== undefined ? scpCommandHint(ctx.command, direction) : undefined;
  return new ScpTracker({ ...common, command: hint ?? unknownScpCommand(direction) });
}

/** Adapts a tracker to the relay's tap seam (both sides of stdout/stdin; stderr is not protocol). */
export function trackerTap(tracker: TransferTracker): ChannelTap {
  return {
    fromClient: (data) => tracker.feed('client', data),
    fromServer: (data) => tracker.feed('server', data),
    // Asynchronous even when not behind: the relay pauses its source right after registering the callback.
    onceDrain: (cb) => void tracker.drained().then(cb),
    stopped: () => tracker.stopped !== undefined,
    close: () => tracker.end(),
  };
}
