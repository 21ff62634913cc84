// File-transfer capture for the bastion: SFTP and SCP parsers fed on the side of an untouched relay.
//
// Wiring: pass `taps: transferTaps({ onTransfer })` to startBastion. For each session channel of a recorded host
// it returns a tap on the `sftp` subsystem (SftpTracker) or on an exec whose command parseScpCommand accepts
// (ScpTracker, with suppressCast). The relay forwards each chunk untouched, then calls fromClient/fromServer in
// the same tick (SCP needs both sides in relay order); a false return means the capture is behind: pause that
// source until onceDrain() fires. close() when the channel closes reports what is left, then resolves.
// Only stdin/stdout are protocol; stderr is not fed.
export { SftpTracker, type SftpTrackerOptions } from './sftp.js';
export { ScpTracker, parseScpCommand, type ScpCommand, type ScpTrackerOptions } from './scp.js';
export { TransferTracker, type TrackerOptions } from './tracker.js';
export {
  FsCaptureSink,
  MetadataCaptureSink,
  type CaptureHandle,
  type CaptureMeta,
  type CaptureResult,
  type CaptureSink,
  type FsCaptureSinkOptions,
  type MetadataCaptureSinkOptions,
} from './sink.js';
export type { FileAttrs, Side, TransferDirection, TransferOp, TransferProtocol, TransferRecord } from './types.js';
export { transferTaps, trackerTap, type TransferTapOptions } from './tap.js';
