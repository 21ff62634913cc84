// File-transfer capture for the bastion: SFTP and SCP parsers fed on the side of an untouched relay.
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
