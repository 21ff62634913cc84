// `listen: "[::]:2222"`: one socket for IPv6 and IPv4 peers, each shown in its own notation.
import { jest } from '@jest/globals';
import { formatPeer } from '../../common/host-port.js';
import { sshArgs } from '../../testing/openssh.js';
import { runSsh, startLab, type Lab } from './support/index.js';

jest.setTimeout(60000);

let lab: Lab;

beforeAll(async () => {
  lab = await startLab({ recorder: { listenHost: '[::]' } });
});

afterAll(async () => {
  await lab?.stop();
});

describe('a recorder listening on [::]', () => {
  it.each([
    ['IPv6', '::1', /^\[::1\]:\d+$/],
    ['IPv4', '127.0.0.1', /^127\.0\.0\.1:\d+$/],
  ])('records a session from an %s peer and names it by its own address', async (_family, address, shown) => {
    // GIVEN the recorder on [::] WHEN alice connects over this family's loopback
    const r = await runSsh([...sshArgs({ port: lab.recorder.port, identity: lab.alice.privatePath, destination: `root@db-1@${address}` }), 'echo via-' + address]);
    // THEN the session runs, and its audit events carry the peer as `[v6]:port` or plain `v4:port` (not ::ffff:)
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`via-${address}\n`);
    const start = lab.recorder.audit.filter((e) => e.event === 'session_start').map((e) => e.remoteAddress);
    expect(start.some((a) => shown.test(a))).toBe(true);
  });
});

describe('formatPeer', () => {
  it('brackets IPv6, unmaps IPv4-mapped addresses, and keeps IPv4 as it is', () => {
    expect(formatPeer('fd00::5', 22)).toBe('[fd00::5]:22');
    expect(formatPeer('::ffff:10.0.0.5', 51234)).toBe('10.0.0.5:51234');
    expect(formatPeer('10.0.0.5', 51234)).toBe('10.0.0.5:51234');
    expect(formatPeer(undefined, undefined)).toBe('unknown:0');
  });
});
