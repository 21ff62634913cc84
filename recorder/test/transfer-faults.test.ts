// Streams no real OpenSSH client or server produces: garbage, lies about lengths, truncation, out-of-order
// replies, a capture that cannot keep up. The trackers must never throw into the relay and must say what happened.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ScpTracker, parseScpCommand, type ScpCommand } from '../src/transfer/scp.js';
import { SftpTracker } from '../src/transfer/sftp.js';
import { FsCaptureSink, MetadataCaptureSink, type CaptureHandle, type CaptureSink } from '../src/transfer/sink.js';
import type { TrackerOptions, TransferTracker } from '../src/transfer/tracker.js';
import type { TransferOp, TransferRecord } from '../src/transfer/types.js';
import { withTempDir } from './support/transfer-harness.js';
import { ATTRS_NONE, FXP, fields, init, packet, status, version } from './support/transfer-packets.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function collect(sink: CaptureSink = new MetadataCaptureSink()): TrackerOptions & { ops: TransferOp[]; transfers: TransferRecord[] } {
  const ops: TransferOp[] = [];
  const transfers: TransferRecord[] = [];
  return { sink, ops, transfers, onOp: (o) => ops.push(o), onTransfer: (t) => transfers.push(t) };
}

/** Feeds every chunk, one byte at a time when asked, and checks feed() never throws. */
function feedAll(t: TransferTracker, chunks: Array<['client' | 'server', Buffer]>, byteByByte = false): void {
  for (const [side, chunk] of chunks) {
    if (!byteByByte) {
      expect(() => t.feed(side, chunk)).not.toThrow();
      continue;
    }
    for (let i = 0; i < chunk.length; i++) expect(() => t.feed(side, chunk.subarray(i, i + 1))).not.toThrow();
  }
}

const stops = (ops: readonly TransferOp[]) => ops.filter((o) => o.op === 'parse_stopped');

/** An upload of `data` as an SFTP session: open, handle, writes of `chunk` bytes, close. */
function sftpUpload(path: string, data: Buffer, chunk = 32768): Array<['client' | 'server', Buffer]> {
  const handle = Buffer.from([0, 0, 0, 1]);
  const out: Array<['client' | 'server', Buffer]> = [
    ['client', init()],
    ['server', version()],
    ['client', packet(FXP.OPEN, 1, path, 0x2 | 0x8 | 0x10, ATTRS_NONE)],
    ['server', packet(FXP.HANDLE, 1, handle)],
  ];
  let id = 2;
  for (let off = 0; off < data.length; off += chunk) {
    out.push(['client', packet(FXP.WRITE, id, handle, BigInt(off), data.subarray(off, off + chunk))]);
    out.push(['server', status(id++, 0)]);
  }
  out.push(['client', packet(FXP.CLOSE, id, handle)], ['server', status(id, 0)]);
  return out;
}

describe('SftpTracker on malformed streams', () => {
  it('stops once on random garbage, never throws, and ignores everything after', async () => {
    // GIVEN a tracker fed 64 KiB of random bytes from both sides, then a valid session
    const o = collect();
    const t = new SftpTracker(o);
    feedAll(t, [['client', randomBytes(65536)], ['server', randomBytes(65536)], ...sftpUpload('/x', Buffer.from('hi'))]);
    await t.end();
    // THEN parsing stopped exactly once, with a reason, and nothing after was reported
    expect(stops(o.ops)).toHaveLength(1);
    expect(t.stopped).toMatch(/over the limit|did not start with SSH_FXP_INIT|length 0/);
    expect(o.ops).toEqual([{ op: 'parse_stopped', reason: t.stopped }]);
    expect(o.transfers).toEqual([]);
  });

  it('stops on a packet length over the limit without buffering it', async () => {
    // GIVEN a healthy start, then a packet that claims 2 GiB
    const o = collect();
    const t = new SftpTracker(o);
    const lie = Buffer.alloc(4);
    lie.writeUInt32BE(0x7fffffff);
    feedAll(t, [['client', init()], ['server', version()], ['client', lie]]);
    // THEN it stopped at once on the 4 length bytes, and the relay is told to keep going
    expect(t.stopped).toBe(`a packet length of ${0x7fffffff} is over the limit of ${256 * 1024 + 1024}`);
    expect(t.feed('client', randomBytes(1_000_000))).toBe(true);
    expect(t.queuedBytes).toBe(0);
    await t.end();
    expect(stops(o.ops)).toHaveLength(1);
  });

  it('stops on a packet shorter than its fields, closing the open upload as incomplete with what it had', async () => {
    await withTempDir(async (dir) => {
      // GIVEN an upload in progress whose next WRITE packet is cut short inside its data field
      const o = collect(new FsCaptureSink({ dir }));
      const t = new SftpTracker(o);
      const data = randomBytes(40000);
      const session = sftpUpload('/srv/f.bin', data).slice(0, 6); // init, version, open, handle, write 0..32767, status
      const body = Buffer.concat([Buffer.from([FXP.WRITE]), fields(9, Buffer.from([0, 0, 0, 1]), BigInt(32768), 100)]);
      const short = Buffer.concat([fields(body.length).subarray(0, 4), body]); // claims 100 data bytes, has none
      feedAll(t, [...session, ['client', short]]);
      await t.end();
      // THEN parsing stopped with the reason, and the upload is reported incomplete with the bytes seen
      expect(o.ops.at(-1)).toEqual({ op: 'parse_stopped', reason: 'a packet is shorter than its fields' });
      expect(o.transfers).toEqual([
        {
          protocol: 'sftp', direction: 'upload', path: '/srv/f.bin', size: 32768, bytes: 32768,
          sha256: sha256(data.subarray(0, 32768)), file: 'files/1', complete: false,
          note: 'parsing stopped: a packet is shorter than its fields',
        },
      ]);
      expect(await readFile(join(dir, 'files/1'))).toEqual(data.subarray(0, 32768));
    });
  });

  it('stops when the channel ends inside a packet', async () => {
    const o = collect();
    const t = new SftpTracker(o);
    const full = sftpUpload('/a', randomBytes(1000));
    feedAll(t, [...full.slice(0, 4), ['client', (full[4]?.[1] as Buffer).subarray(0, 500)]]);
    await t.end();
    expect(t.stopped).toBe('the channel ended inside a packet');
    expect(o.transfers).toEqual([]); // the write never completed, so nothing was captured for it
  });

  it('stops when the stream does not start like SFTP, or the server speaks another version', async () => {
    const a = collect();
    const notSftp = new SftpTracker(a);
    feedAll(notSftp, [['client', Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')]]);
    expect(notSftp.stopped).toMatch(/over the limit|did not start with SSH_FXP_INIT/);

    const b = collect();
    const v6 = new SftpTracker(b);
    feedAll(v6, [['client', packet(FXP.INIT, 6)], ['server', version(6)]]);
    expect(b.ops).toEqual([
      { op: 'init', version: 6 },
      { op: 'version', version: 6, extensions: [] },
      { op: 'parse_stopped', reason: 'SFTP version 6 is not followed (only version 3 is)' },
    ]);
  });

  it('reassembles packets fed one byte at a time and ignores a reply to a request it never saw', async () => {
    const o = collect();
    const t = new SftpTracker(o);
    const data = randomBytes(5000);
    const chunks = sftpUpload('/b', data, 2000);
    chunks.splice(2, 0, ['server', status(999, 4, 'stray')]);
    feedAll(t, chunks, true);
    await t.end();
    expect(t.stopped).toBeUndefined();
    expect(o.ops.map((op) => op.op)).toEqual(['init', 'version', 'open', 'close']);
    expect(o.transfers).toEqual([{ protocol: 'sftp', direction: 'upload', path: '/b', size: 5000, bytes: 5000, sha256: sha256(data), complete: true }]);
  });

  it('captures DATA replies that arrive out of order and a short read re-requested later', async () => {
    await withTempDir(async (dir) => {
      // GIVEN a download with three READs answered in reverse order, the first one short and re-requested
      const o = collect(new FsCaptureSink({ dir }));
      const t = new SftpTracker(o);
      const data = randomBytes(3 * 1000);
      const h = Buffer.from('H1');
      const chunks: Array<['client' | 'server', Buffer]> = [
        ['client', init()], ['server', version()],
        ['client', packet(FXP.OPEN, 1, '/etc/data', 0x1, ATTRS_NONE)], ['server', packet(FXP.HANDLE, 1, h)],
        ['client', Buffer.concat([2, 3, 4].map((id, i) => packet(FXP.READ, id, h, BigInt(i * 1000), 1000)))],
        ['server', packet(FXP.DATA, 4, data.subarray(2000, 3000))],
        ['server', packet(FXP.DATA, 3, data.subarray(1000, 2000))],
        ['server', packet(FXP.DATA, 2, data.subarray(0, 400))],
        ['client', packet(FXP.READ, 5, h, BigInt(400), 600)],
        ['server', packet(FXP.DATA, 5, data.subarray(400, 1000))],
        ['client', packet(FXP.READ, 6, h, BigInt(3000), 1000)], ['server', status(6, 1, 'EOF')],
        ['client', packet(FXP.CLOSE, 7, h)], ['server', status(7, 0)],
      ];
      feedAll(t, chunks);
      await t.end();
      // THEN the capture is the file exactly
      expect(o.transfers).toEqual([
        { protocol: 'sftp', direction: 'download', path: '/etc/data', size: 3000, bytes: 3000, sha256: sha256(data), file: 'files/1', complete: true },
      ]);
      expect(await readFile(join(dir, 'files/1'))).toEqual(data);
    });
  });

  it('reports a file still open when the channel ends as incomplete, and unanswered requests as no_reply', async () => {
    const o = collect();
    const t = new SftpTracker(o);
    const data = Buffer.from('partial');
    feedAll(t, [...sftpUpload('/c', data).slice(0, 5), ['client', packet(FXP.REMOVE, 50, '/gone')]]);
    await t.end();
    expect(o.ops.at(-1)).toEqual({ op: 'remove', path: '/gone', status: 'no_reply' });
    expect(o.transfers).toEqual([
      { protocol: 'sftp', direction: 'upload', path: '/c', size: 7, bytes: 7, sha256: sha256(data), complete: false, note: 'the channel ended before the file was closed' },
    ]);
  });

  it('stops when a request id is reused while outstanding, or too many requests are outstanding', async () => {
    const a = collect();
    const reuse = new SftpTracker(a);
    feedAll(reuse, [['client', init()], ['server', version()], ['client', packet(FXP.REMOVE, 7, '/a')], ['client', packet(FXP.REMOVE, 7, '/b')]]);
    expect(reuse.stopped).toBe('request id 7 was reused while still outstanding');

    const b = collect();
    const flood = new SftpTracker({ ...b, maxOutstanding: 100 });
    feedAll(flood, [['client', init()], ['server', version()], ['client', Buffer.concat(Array.from({ length: 101 }, (_, id) => packet(FXP.REMOVE, id, '/x')))]]);
    expect(flood.stopped).toBe('more than 100 requests outstanding');
    await Promise.all([reuse.end(), flood.end()]);
    expect(b.ops.filter((o) => o.status === 'no_reply')).toEqual([]); // state is dropped once parsing stopped
  });

  it('survives listeners that throw', async () => {
    const t = new SftpTracker({
      sink: new MetadataCaptureSink(),
      onOp: () => {
        throw new Error('listener bug');
      },
      onTransfer: () => {
        throw new Error('listener bug');
      },
    });
    feedAll(t, sftpUpload('/d', Buffer.from('x')));
    await expect(t.end()).resolves.toBeUndefined();
    expect(t.stopped).toBeUndefined();
  });
});

const upload = (paths: string[], flags: Partial<ScpCommand> = {}): ScpCommand => ({
  direction: 'upload', recursive: false, preserveTimes: false, targetIsDirectory: false, paths, ...flags,
});

describe('ScpTracker on malformed streams', () => {
  it('stops on a record that is not T, C, D, E or an error line', async () => {
    const o = collect();
    const t = new ScpTracker({ ...o, command: upload(['/tmp/x']) });
    feedAll(t, [['server', Buffer.from([0])], ['client', Buffer.from('X0644 3 a\n')], ['client', Buffer.from('C0644 1 b\n')]]);
    await t.end();
    expect(o.ops).toEqual([{ op: 'parse_stopped', reason: 'unexpected SCP record starting with byte 0x58' }]);
  });

  it('stops on a control line longer than the limit without holding more than the limit', async () => {
    const o = collect();
    const t = new ScpTracker({ ...o, command: upload(['/tmp/x']), maxLine: 1024 });
    feedAll(t, [['server', Buffer.from([0])], ['client', Buffer.concat([Buffer.from('C0644 1 '), Buffer.alloc(5000, 0x61)])]]);
    expect(t.stopped).toBe('a control line is longer than 1024 bytes');
    await t.end();
  });

  it('stops on a size beyond 2^53 and on data sent before the acknowledgement', async () => {
    const a = collect();
    const big = new ScpTracker({ ...a, command: upload(['/tmp/x']) });
    feedAll(big, [['server', Buffer.from([0])], ['client', Buffer.from('C0644 99999999999999999999 a\n')]]);
    expect(big.stopped).toBe('a file size is beyond 2^53');

    const b = collect();
    const eager = new ScpTracker({ ...b, command: upload(['/tmp/x']), maxLine: 100 });
    feedAll(eager, [['server', Buffer.from([0])], ['client', Buffer.from('C0644 1000 a\n')], ['client', randomBytes(1000)]]);
    expect(eager.stopped).toBe('the source sent data before the acknowledgement');
  });

  it('reports a transfer cut by the end of the channel as incomplete, keeping what arrived', async () => {
    await withTempDir(async (dir) => {
      const o = collect(new FsCaptureSink({ dir }));
      const t = new ScpTracker({ ...o, command: upload(['/tmp/'], { targetIsDirectory: true }) });
      const data = randomBytes(5000);
      feedAll(t, [['server', Buffer.from([0])], ['client', Buffer.from('C0600 10000 cut.bin\n')], ['server', Buffer.from([0])], ['client', data]]);
      await t.end();
      expect(t.stopped).toBeUndefined();
      expect(o.transfers).toEqual([
        {
          protocol: 'scp', direction: 'upload', path: '/tmp/cut.bin', name: 'cut.bin', size: 5000, bytes: 5000, sha256: sha256(data),
          file: 'files/1', complete: false, note: 'the channel ended during the transfer',
        },
      ]);
    });
  });
});

describe('backpressure', () => {
  /** A sink whose writes complete only when the test says so. */
  function heldSink(): { sink: CaptureSink; release: () => void; held: () => number } {
    let waiting: Array<() => void> = [];
    const handle: CaptureHandle = {
      write: () => new Promise<void>((resolve) => waiting.push(resolve)),
      truncate: async () => undefined,
      close: async () => ({ size: 0, bytes: 0 }),
    };
    return {
      sink: { open: () => handle },
      release: () => {
        const w = waiting;
        waiting = [];
        w.forEach((r) => r());
      },
      held: () => waiting.length,
    };
  }

  it('feed() returns false past the high-water mark, and drained() resolves once the capture caught up', async () => {
    // GIVEN an scp upload into a capture that does not complete writes, with a 64 KiB high-water mark
    const s = heldSink();
    const t = new ScpTracker({ sink: s.sink, highWaterMark: 65536, command: upload(['/tmp/f']) });
    t.feed('server', Buffer.from([0]));
    t.feed('client', Buffer.from('C0644 1048576 f\n'));
    t.feed('server', Buffer.from([0]));
    // WHEN 16 KiB chunks arrive
    const results: boolean[] = [];
    for (let i = 0; i < 5; i++) results.push(t.feed('client', randomBytes(16384)));
    // THEN the fifth chunk (80 KiB queued) is refused, and drained() waits
    expect(results).toEqual([true, true, true, true, false]);
    expect(t.behind).toBe(true);
    let drained = false;
    const d = t.drained().then(() => (drained = true));
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
    // WHEN the capture stores what it had
    s.release();
    await d;
    // THEN the relay may go on
    expect(drained).toBe(true);
    expect(t.queuedBytes).toBe(0);
    expect(t.feed('client', randomBytes(10))).toBe(true);
  });
});

describe('parseScpCommand', () => {
  it.each([
    ['scp -t /tmp/x', { direction: 'upload', recursive: false, preserveTimes: false, targetIsDirectory: false, paths: ['/tmp/x'] }],
    ['scp -r -p -d -t -- -odd', { direction: 'upload', recursive: true, preserveTimes: true, targetIsDirectory: true, paths: ['-odd'] }],
    ['/usr/bin/scp -v -pt dir/', { direction: 'upload', recursive: false, preserveTimes: true, targetIsDirectory: false, paths: ['dir/'] }],
    ["scp -f '/tmp/a b' c", { direction: 'download', recursive: false, preserveTimes: false, targetIsDirectory: false, paths: ['/tmp/a b', 'c'] }],
    ['scp -l 100 -f "q\\"uote" *.txt', { direction: 'download', recursive: false, preserveTimes: false, targetIsDirectory: false, paths: ['q"uote', '*.txt'] }],
  ])('%s is an scp transfer', (cmd, want) => {
    expect(parseScpCommand(cmd)).toEqual(want);
  });

  it.each([
    ['ls -la', 'not scp'],
    ['scp a b', 'neither -t nor -f'],
    ['scp -t -f x', 'both -t and -f'],
    ['scp -t a b', 'two targets'],
    ['scp -t /tmp; rm -rf /', 'a shell operator'],
    ['scp -f $(id)', 'an expansion'],
    ["scp -f 'open", 'bad quoting'],
  ])('%s is not (%s)', (cmd) => {
    expect(parseScpCommand(cmd)).toBeUndefined();
  });
});
