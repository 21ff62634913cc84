// Tells from a session channel's first bytes whether it carries SFTP or SCP, whatever program the command line
// names (`cd /tmp && exec scp -t x`, `/usr/lib/openssh/sftp-server` as an exec): the protocols' own greetings.
//   SFTP: the client sends SSH_FXP_INIT (uint32 length, byte 1, uint32 version) and waits; the server answers
//         SSH_FXP_VERSION (byte 2).
//   SCP, server is the sink (`scp -t`): the server sends one `\0` (ready) and waits; the client sends a `C`, `D`
//         or `T` record line.
//   SCP, server is the source (`scp -f`): the client sends one `\0` and waits; the server sends a record line (or
//         an `\1scp: ...` error line).
// Each greeting is a whole message the other side waits for, so it is `handshake` (forwarded undecided) and the
// answer decides. Anything else, or an answer that does not fit, is a terminal: the recording errs towards a cast.
import type { TransferDirection } from './types.js';

export type Recognised =
  | 'hold'
  | 'handshake'
  | 'terminal'
  | { readonly protocol: 'sftp' }
  | { readonly protocol: 'scp'; readonly direction: TransferDirection };

/** Longest record line awaited (a file name is at most a few KiB; OpenSSH's own limit is smaller). */
const MAX_LINE = 8192;
/** Largest SFTP INIT / VERSION packet awaited (they carry only a version and extension names). */
const MAX_GREETING = 64 * 1024;

const SCP_RECORD = /^(?:C[0-7]{4} \d+ [^/\n]+|D[0-7]{4} \d+ [^/\n]+|T\d+ \d+ \d+ \d+)$/;
const SCP_ERROR = /^[\x01\x02]scp: [^\n]*$/;

type Phase = 'start' | 'scpSinkReady' | 'scpSourceReady' | 'sftpInit';

/** One per channel. Feed it every chunk of stdin and stdout, in relay order, until it gives a final answer. */
export class ProtocolRecogniser {
  private phase: Phase = 'start';
  /** Bytes of each side since the last handshake, not yet forwarded. */
  private client = Buffer.alloc(0);
  private server = Buffer.alloc(0);

  feed(side: 'client' | 'server', chunk: Buffer): Recognised {
    if (chunk.length === 0) return 'hold';
    if (side === 'client') this.client = Buffer.concat([this.client, chunk]);
    else this.server = Buffer.concat([this.server, chunk]);
    switch (this.phase) {
      case 'start':
        return this.atStart(side);
      case 'scpSinkReady':
        // The client answers the server's ready byte with a record; the server says nothing meanwhile.
        if (side === 'server') return 'terminal';
        return this.recordLine(this.client, SCP_RECORD, 'upload');
      case 'scpSourceReady':
        if (side === 'client') return 'terminal';
        return this.recordLine(this.server, this.server[0] === 1 || this.server[0] === 2 ? SCP_ERROR : SCP_RECORD, 'download');
      case 'sftpInit': {
        if (side === 'client') return 'terminal';
        const v = packet(this.server, 2);
        return v === 'bad' ? 'terminal' : v === 'short' ? 'hold' : { protocol: 'sftp' };
      }
    }
  }

  private atStart(side: 'client' | 'server'): Recognised {
    if (side === 'server') {
      // Held client bytes are an unfinished INIT; a server that speaks meanwhile is no SFTP server.
      if (this.client.length > 0) return 'terminal';
      return this.greeting('scpSinkReady', this.server);
    }
    if (this.server.length > 0) return 'terminal';
    if (this.client.length === 1 && this.client[0] === 0) return this.greeting('scpSourceReady', this.client);
    const init = packet(this.client, 1);
    if (init === 'bad') return 'terminal';
    if (init === 'short') return 'hold';
    // The client waits for VERSION before it sends more: bytes behind the INIT mean this is something else.
    if (init !== this.client.length) return 'terminal';
    this.phase = 'sftpInit';
    this.client = Buffer.alloc(0);
    return 'handshake';
  }

  /** A lone `\0` is SCP's ready byte; the other side's answer decides. */
  private greeting(next: Phase, buf: Buffer): Recognised {
    if (buf.length !== 1 || buf[0] !== 0) return 'terminal';
    this.phase = next;
    this.client = Buffer.alloc(0);
    this.server = Buffer.alloc(0);
    return 'handshake';
  }

  private recordLine(buf: Buffer, pattern: RegExp, direction: TransferDirection): Recognised {
    const first = buf[0] as number;
    if (!(first === 0x43 || first === 0x44 || first === 0x54 || (direction === 'download' && (first === 1 || first === 2)))) return 'terminal';
    const nl = buf.indexOf(0x0a);
    if (nl < 0) return buf.length > MAX_LINE ? 'terminal' : 'hold';
    return pattern.test(buf.subarray(0, nl).toString('latin1')) ? { protocol: 'scp', direction } : 'terminal';
  }
}

/**
 * An SFTP packet of `type` at the start of `buf`: its whole length once it is all there, 'short' while it may
 * still be, 'bad' when it is not one (wrong type, a length no greeting has).
 */
function packet(buf: Buffer, type: number): number | 'short' | 'bad' {
  if (buf.length >= 4) {
    const len = buf.readUInt32BE(0);
    // type + uint32 version at least
    if (len < 5 || len > MAX_GREETING) return 'bad';
    if (buf.length >= 5 && buf[4] !== type) return 'bad';
    return buf.length >= 4 + len ? 4 + len : 'short';
  }
  // The first bytes of a length no greeting exceeds are zeros.
  return buf[0] === 0 && (buf.length < 2 || buf[1] === 0) ? 'short' : 'bad';
}
