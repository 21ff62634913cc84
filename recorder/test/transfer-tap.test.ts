// transferTaps, the bastion's seam, into a real SessionRecording: real sftp and scp -O through the tee, then the
// session's manifest and channel log as `srec verify`, search and play will read them.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileTransfer } from '../src/audit/connection.js';
import type { ChannelTapContext } from '../src/channel-tap.js';
import type { ResolvedHost } from '../src/config.js';
import { transferTaps } from '../src/transfer/tap.js';
import { readChannelLog } from '../src/trail/reader.js';
import { SessionRecording } from '../src/trail/recording.js';
import { TEE, TeeServer, run, withTempDir, type TeeHeader } from './support/transfer-harness.js';

const SLOW = 120_000;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function recordedSession(dir: string, fileTransfers: boolean) {
  const local = join(dir, 'local');
  const remote = join(dir, 'remote');
  await Promise.all([mkdir(local), mkdir(remote)]);
  const content = randomBytes(300_000);
  await writeFile(join(local, 'doc.bin'), content);
  const recording = await SessionRecording.create({
    tempFolder: join(dir, 'spool'),
    identity: {
      sessionId: '6f1c2a9e-4d3b-4f8a-9c1e-2b7d5e8f0a11', connectionId: 'c-1', recorder: 'test', user: 'alice',
      remoteAddress: '127.0.0.1:50000', targetUser: 'root', host: { name: 'db-1', address: '127.0.0.1', port: 22 },
      start: new Date().toISOString(),
    },
  });
  const host = { name: 'db-1', address: '127.0.0.1', port: 22, hostKeys: [], recording: true, fileTransfers } as unknown as ResolvedHost;
  const reported: Array<[number, FileTransfer]> = [];
  const factory = transferTaps();
  const contexts: ChannelTapContext[] = [];
  const tapFor = (h: TeeHeader) => {
    const channel = contexts.length;
    const ctx: ChannelTapContext = {
      channel, host, recording,
      ...(h.kind === 'subsystem' ? { kind: 'subsystem', subsystem: h.command } : { kind: 'exec', command: h.command }),
      // as the bastion's: the channel's file_transfer audit event
      auditTransfer: (t) => reported.push([channel, t]),
    };
    contexts.push(ctx);
    return factory(ctx);
  };
  const tee = await TeeServer.start(dir, { tapFor });
  // channel 0: sftp put; channel 1: scp -O get of what was put
  const put = await run('sftp', ['-b', '-', '-D', TEE], { cwd: local, env: tee.env(), input: `put doc.bin ${remote}/doc.bin\nrename ${remote}/doc.bin ${remote}/kept.bin\n` });
  const get = await run('scp', ['-O', '-S', TEE, `x:${remote}/kept.bin`, 'back.bin'], { cwd: local, env: tee.env() });
  expect([put.code, get.code]).toEqual([0, 0]);
  await tee.sessions(2);
  await tee.close();
  const manifest = await recording.close({ complete: true });
  const log = await readChannelLog(recording.dir);
  return { recording, manifest, log, content, remote, reported };
}

describe('transferTaps into a real SessionRecording', () => {
  it('puts transfers in the manifest with files that verify, and operations in the channel log', async () => {
    await withTempDir(async (dir) => {
      // GIVEN a recorded host with fileTransfers: true
      // WHEN a file goes up with sftp, is renamed, and comes back with scp -O
      const { recording, manifest, log, content, remote, reported } = await recordedSession(dir, true);

      // THEN the manifest lists both transfers, with their channels and captures
      const digest = sha256(content);
      expect(manifest.transfers).toEqual([
        { channel: 0, protocol: 'sftp', direction: 'upload', path: `${remote}/doc.bin`, size: content.length, sha256: digest, file: 'files/1', complete: true, bytes: content.length },
        { channel: 1, protocol: 'scp', direction: 'download', path: `${remote}/kept.bin`, size: content.length, sha256: digest, file: 'files/2', complete: true, bytes: content.length },
      ]);
      // AND each capture is in the manifest's files with the same sha256, as `srec verify` will check
      for (const t of manifest.transfers) {
        expect(manifest.files).toContainEqual({ path: t.file, size: content.length, sha256: digest });
        expect(sha256(await readFile(join(recording.dir, t.file as string)))).toBe(digest);
      }
      // AND the channel log has the SFTP operations and both transfers, tagged with their channel
      const entries = log.entries as unknown as Array<Record<string, unknown>>;
      expect(entries).toContainEqual(expect.objectContaining({ ch: 0, type: 'sftp', op: 'rename', path: `${remote}/doc.bin`, target: `${remote}/kept.bin`, status: 'ok' }));
      expect(entries).toContainEqual(expect.objectContaining({ ch: 1, type: 'scp', op: 'scp_file', path: `${remote}/kept.bin`, status: 'ok' }));
      expect(entries.filter((e) => e.type === 'file_transfer').map((e) => [e.ch, e.direction, e.sha256])).toEqual([
        [0, 'upload', digest],
        [1, 'download', digest],
      ]);
      // AND the bastion's own hook saw them (for the file_transfer audit event)
      expect(reported.map(([ch, t]) => [ch, t.protocol, t.direction])).toEqual([[0, 'sftp', 'upload'], [1, 'scp', 'download']]);
    });
  }, SLOW);

  it('keeps only metadata with fileTransfers: false', async () => {
    await withTempDir(async (dir) => {
      const { recording, manifest, content } = await recordedSession(dir, false);
      expect(manifest.transfers.map((t) => [t.protocol, t.size, t.sha256, t.file])).toEqual([
        ['sftp', content.length, sha256(content), undefined],
        ['scp', content.length, sha256(content), undefined],
      ]);
      expect(existsSync(join(recording.dir, 'files'))).toBe(false);
      expect(manifest.files.map((f) => f.path)).not.toContainEqual(expect.stringMatching(/^files\//));
    });
  }, SLOW);
});

describe('transferTaps on a host that is not recorded', () => {
  it('follows nothing, but gives a transfer verdict by the greetings, whatever the command line says', () => {
    // GIVEN the taps and a host with recording: false
    const host = { name: 'db-2', address: '127.0.0.1', port: 22, hostKeys: [], recording: false, fileTransfers: false } as unknown as ResolvedHost;
    const reported: FileTransfer[] = [];
    const classifier = (ctx: Pick<ChannelTapContext, 'kind' | 'command' | 'subsystem'>) =>
      transferTaps()({ channel: 0, host, auditTransfer: (t) => reported.push(t), ...ctx })!;
    const INIT = Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3]);
    const VERSION = Buffer.from([0, 0, 0, 5, 2, 0, 0, 0, 3]);
    // WHEN an exec named nothing like sftp greets with SFTP INIT and gets VERSION
    const sftp = classifier({ kind: 'exec', command: 'cd / && exec /usr/lib/openssh/sftp-server' });
    // THEN the INIT is a handshake and the VERSION makes it a transfer (a tap with nothing to follow)
    expect([sftp.feed('client', INIT), sftp.feed('server', VERSION)]).toEqual(['handshake', { transfer: {} }]);
    // WHEN a shell's exec sends the SCP ready byte and gets a C record
    const scp = classifier({ kind: 'exec', command: 'sh -c "exec scp -t /tmp"' });
    expect([scp.feed('server', Buffer.from([0])), scp.feed('client', Buffer.from('C0644 5 a.txt\n'))]).toEqual(['handshake', { transfer: {} }]);
    // WHEN a command called scp -t prints text, THEN it is a terminal
    expect(classifier({ kind: 'exec', command: 'scp -t /tmp' }).feed('server', Buffer.from('hello\n'))).toBe('terminal');
    expect(classifier({ kind: 'shell' }).feed('client', Buffer.from('ls\r'))).toBe('terminal');
    expect(reported).toEqual([]);
  });
});
