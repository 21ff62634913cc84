// The console hands out a channel's exact bytes (its raw streams) where the playback can only show text: a
// real OpenSSH session through the recorder whose command read and printed binary data; the session page
// links each direction, the download is byte-identical and audited, and it needs the files permission.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../../common/log.js';
import type { AuditSink } from '../../recorder/src/audit/emitter.js';
import type { AuditEvent } from '../../recorder/src/audit/event.js';
import { scanSessions, type StoredSession } from '../../recorder/src/trail/sessions.js';
import { startLab, waitFor, type Lab } from '../../recorder/test/support/index.js';
import { TokenFileAuth, type Identity, type Permission } from '../src/auth.js';
import { startConsole, type StartedConsole } from '../src/cmd.js';

const AUDITOR = 'tok-auditor-0123456789abcdef';
const VIEWER = 'tok-viewer-0123456789abcdef';

describe('raw streams in the console', () => {
  let lab: Lab;
  let c: StartedConsole;
  let s: StoredSession;
  const events: AuditEvent[] = [];
  /** Every byte value and random bytes: no cast can hold them. */
  const printed = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(100 * 1024)]);
  const sent = randomBytes(50 * 1024);
  const get = (p: string, token = AUDITOR) => fetch(`${c.url}${p}`, { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    lab = await startLab();
    const file = path.join(lab.dir, 'printed.bin');
    await fsp.writeFile(file, printed);
    // GIVEN alice piped binary data into a command that printed binary data (no pty)
    const child = spawn('ssh', [...lab.args(), `cat > /dev/null; cat ${file}`], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdout.resume();
    child.stdin.end(sent);
    expect(await new Promise((r) => child.once('close', r))).toBe(0);
    s = await waitFor(() => scanSessions(lab.recorder.dataFolder).sessions[0], 'the recording on the share');
    // AND a console where the viewer may see recordings but not download files
    const tokens = new TokenFileAuth([
      { token: AUDITOR, name: 'auditor' },
      { token: VIEWER, name: 'viewer' },
    ]);
    const authorizer = { allowed: async (who: Identity, what: Permission) => who.name === 'auditor' || what !== 'files' };
    const sink: AuditSink = { emit: (e) => void events.push(e), close: async () => undefined };
    c = await startConsole({ dataFolder: lab.recorder.dataFolder, listen: '127.0.0.1:0', tokens, authorizer, audit: sink, log: createLogger({ component: 'console', silent: true }) });
  });
  afterAll(async () => {
    await c?.close();
    await lab?.stop();
  });

  it('links stdin, stdout and stderr of the channel on the session page', async () => {
    const page = await (await get(`/sessions/${s.id}`)).text();
    for (const lane of ['in', 'out', 'err']) expect(page).toContain(`href="/api/sessions/${s.id}/raw/0/${lane}"`);
  });

  it('hands out each direction byte for byte, and audits the download', async () => {
    events.length = 0;
    const out = await get(`/api/sessions/${s.id}/raw/0/out`);
    expect(out.status).toBe(200);
    expect(out.headers.get('content-disposition')).toContain(`${s.id.slice(0, 8)}-ch0.stdout`);
    expect(Buffer.from(await out.arrayBuffer()).equals(printed)).toBe(true);
    const inn = await get(`/api/sessions/${s.id}/raw/0/in`);
    expect(Buffer.from(await inn.arrayBuffer()).equals(sent)).toBe(true);
    expect(events.map((e) => [e.event, e.details.viewer, e.details.channel, e.details.stream, e.sessionID])).toEqual([
      ['file_downloaded', 'auditor', 0, 'out', s.id],
      ['file_downloaded', 'auditor', 0, 'in', s.id],
    ]);
  });

  it('needs the files permission: a viewer is refused, naming it, and sees the names without links', async () => {
    const r = await get(`/api/sessions/${s.id}/raw/0/out`, VIEWER);
    expect(r.status).toBe(403);
    expect(await r.text()).toContain('viewer may not download transferred files (needs get on sessionrecordings/files)');
    const page = await (await get(`/sessions/${s.id}`, VIEWER)).text();
    expect(page).not.toContain(`/api/sessions/${s.id}/raw/0/out`);
    expect(page).toContain('(no permission to download)');
  });

  it('a channel or direction it does not have is a 404 naming what there is', async () => {
    const r = await get(`/api/sessions/${s.id}/raw/3/out`);
    expect(r.status).toBe(404);
    expect(await r.text()).toContain(`session ${s.id} has no raw stream out for channel 3 (raw streams: 0/in, 0/out, 0/err)`);
  });
});
