// The shapes the SFTP and SCP trackers report to the bastion: channel-log entries and transfer records.

/** Which side sent the bytes: `client` = the person's ssh client -> target, `server` = target -> client. */
export type Side = 'client' | 'server';

export type TransferProtocol = 'sftp' | 'scp';
export type TransferDirection = 'upload' | 'download';

/** File attributes as SFTP v3 carries them (only the fields that were present). */
export interface FileAttrs {
  readonly size?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Permission bits as an octal string, e.g. `0644` (file type bits dropped). */
  readonly mode?: string;
  readonly atime?: number;
  readonly mtime?: number;
}

/**
 * One operation for the channel log (`channels.jsonl.gz`, the bastion adds `t` and `ch`).
 * SFTP: one entry per request, emitted when its reply arrives (or with status `no_reply` at end()).
 * READ/WRITE/READDIR are not logged one by one: their totals are on the handle's `close` entry.
 */
export interface TransferOp {
  /** `init`, `version`, `open`, `close`, `opendir`, `remove`, `mkdir`, `rmdir`, `rename`, `setstat`, `fsetstat`,
   *  `lsetstat`, `stat`, `lstat`, `fstat`, `realpath`, `readlink`, `symlink`, `hardlink`, `statvfs`, `fstatvfs`,
   *  `fsync`, `copy-data`, `limits`, `expand-path`, `home-directory`, `extended`, `unknown`;
   *  SCP: `scp_file`, `scp_dir`, `scp_error`; both: `parse_stopped`. */
  readonly op: string;
  readonly path?: string;
  /** The second path: rename/hardlink/copy-data destination, symlink/readlink/realpath target. */
  readonly target?: string;
  /** SFTP open flags by name, e.g. `['write', 'creat', 'trunc']`. */
  readonly flags?: readonly string[];
  readonly attrs?: FileAttrs;
  /** `ok`, `eof`, `no_such_file`, `permission_denied`, `failure`, `bad_message`, `op_unsupported`, `status_<n>`,
   *  `no_reply` (channel ended first), SCP: `error` / `fatal`. */
  readonly status?: string;
  /** The peer's own error text (SFTP status message, SCP `\1`/`\2` line). */
  readonly message?: string;
  /** The SFTP extended request name (`posix-rename@openssh.com`, ...). */
  readonly extension?: string;
  /** init/version: protocol version; version: extension names the server offers. */
  readonly version?: number;
  readonly extensions?: readonly string[];
  /** close of a file handle: payload bytes read / written through it; of a dir handle: names listed. */
  readonly bytesRead?: number;
  readonly bytesWritten?: number;
  readonly entries?: number;
  /** SCP file record: declared size and the name the source sent. */
  readonly size?: number;
  readonly name?: string;
  /** parse_stopped: why. */
  readonly reason?: string;
  /** unknown: the SFTP packet type (not `type`, which the channel log uses for the entry kind). */
  readonly packetType?: number;
}

/** One file that crossed the channel, reported once its capture is closed. */
export interface TransferRecord {
  readonly protocol: TransferProtocol;
  readonly direction: TransferDirection;
  /** The remote path (SFTP: as the client named it in OPEN; SCP: see scp.ts on how it is derived). */
  readonly path: string;
  /** SCP only: the file name the source sent in its `C` record. */
  readonly name?: string;
  /** Length of the captured content: the highest offset written. */
  readonly size: number;
  /** Payload bytes seen; less than `size` when ranges were skipped (resumed transfer), more when rewritten. */
  readonly bytes: number;
  /** sha256 (hex) of the captured content; absent when it cannot be known exactly (`note` says why). */
  readonly sha256?: string;
  /** Present when not every byte of the file was seen (resumed, partial): the `[start, end)` ranges that were. */
  readonly seen?: readonly (readonly [number, number])[];
  /** Relative to the session directory, e.g. `files/3` (numbered; the remote name is `path`); absent in metadata-only mode. */
  readonly file?: string;
  /** The transfer ended the normal way (SFTP close ok, SCP final ack ok). */
  readonly complete: boolean;
  /** What went wrong or what is missing, for a human. */
  readonly note?: string;
}
