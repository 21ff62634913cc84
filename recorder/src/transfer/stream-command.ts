// Bulk transfers that run as an exec command and speak their own protocol over stdin/stdout: rsync, git and
// tar over ssh. Their files cannot be told apart from the byte stream as SFTP's and SCP's can, so each is
// recorded as one transfer of its stream (the command, the direction, the bytes, the raw stream and its sha256).
// Recognised by the command the client runs, which is what rsync and git send and what a tar pipe names.
import type { TransferDirection } from './types.js';

export type StreamProtocol = 'rsync' | 'git' | 'tar';

export interface StreamTransfer {
  readonly protocol: StreamProtocol;
  /** upload: the stream from the person carries the data; download: the stream to the person does. */
  readonly direction: TransferDirection;
}

// A program at the start of the command or after a shell separator (`cd x && tar ...`), with or without its path.
const RSYNC = /(?:^|[;&|(]\s*)(?:\S*\/)?rsync\s/;
const GIT = /(?:^|[;&|(]\s*)(?:\S*\/)?git[- ](upload-pack|receive-pack|upload-archive)(?=\s|$)/;
const TAR = /(?:^|[;&|(]\s*)(?:\S*\/)?tar\s+(\S+)/;

export function streamTransferOf(commandLine: string): StreamTransfer | undefined {
  const command = commandLine.trimStart();
  if (RSYNC.test(command) && /\s--server(?=\s|$)/.test(command)) {
    // The remote rsync is the sender for a pull (`rsync host:src dst`), the receiver for a push.
    return { protocol: 'rsync', direction: /\s--sender(?=\s|$)/.test(command) ? 'download' : 'upload' };
  }
  const git = GIT.exec(command);
  if (git) return { protocol: 'git', direction: git[1] === 'receive-pack' ? 'upload' : 'download' };
  const tar = TAR.exec(command);
  if (tar) {
    const flags = tar[1]!;
    const opts = command.slice(tar.index);
    const create = /(?:^|\s)--create(?=\s|$)/.test(opts) || (/^-?[A-Za-z]+$/.test(flags) && !flags.startsWith('--') && flags.includes('c'));
    const extract = /(?:^|\s)--(?:extract|get)(?=\s|$)/.test(opts) || (/^-?[A-Za-z]+$/.test(flags) && !flags.startsWith('--') && flags.includes('x'));
    if (create !== extract) return { protocol: 'tar', direction: create ? 'download' : 'upload' };
  }
  return undefined;
}
