// How a session ends, as the audit trail tells it, with real OpenSSH: each command's exit (status or signal)
// as channel_exit, session_end with who ended it and the last exit, one numbering per connection, and a
// refused `ssh -N` told why instead of waiting in silence.
import { jest } from '@jest/globals';
import { startLab, waitFor, type Lab } from './support/index.js';
import type { AuditedEvent } from './support/recorder.js';

jest.setTimeout(60000);

let lab: Lab;

beforeAll(async () => {
  lab = await startLab();
});

afterAll(async () => {
  await lab?.stop();
});

/** The audit events of the connection whose session_start came after `after` events. */
async function connectionEvents(after: number, until: (events: AuditedEvent[]) => boolean): Promise<AuditedEvent[]> {
  return waitFor(() => {
    const start = lab.recorder.audit.slice(after).find((e) => e.event === 'session_start' || e.event === 'connection_refused');
    if (!start) return undefined;
    const mine = lab.recorder.audit.filter((e) => e.connectionId === start.connectionId);
    return until(mine) ? mine : undefined;
  }, 'the connection\'s audit events');
}

const ended = (events: AuditedEvent[]) => events.some((e) => e.event === 'session_end');

describe('the end of a session in the audit trail', () => {
  it('reports the exit status of the command, and session_end says the person closed it and how the command ended', async () => {
    // GIVEN alice WHEN she runs a command that exits 3
    const mark = lab.recorder.audit.length;
    const r = await lab.ssh('exit 3');
    expect(r.code).toBe(3);
    // THEN channel_exit carries the status, and session_end the reason and the same status
    const events = await connectionEvents(mark, ended);
    expect(events.find((e) => e.event === 'channel_exit')).toMatchObject({ channel: 0, exitStatus: 3 });
    expect(events.find((e) => e.event === 'session_end')).toMatchObject({ reason: 'client_closed', exitStatus: 3 });
  });

  it('reports a command killed by a signal by the signal', async () => {
    // GIVEN alice WHEN her command is killed with SIGKILL on the target
    const mark = lab.recorder.audit.length;
    const r = await lab.ssh('kill -KILL $$');
    expect(r.code).toBe(255);
    // THEN channel_exit names the signal, not a status
    const events = await connectionEvents(mark, ended);
    const exit = events.find((e) => e.event === 'channel_exit');
    expect(exit).toMatchObject({ channel: 0, exitSignal: expect.stringMatching(/^(SIG)?KILL$/) });
    expect(exit).not.toHaveProperty('exitStatus');
  });

  it('says the target ended the session when the target connection goes away', async () => {
    // GIVEN alice in a session WHEN the target's sshd process serving it is killed
    const mark = lab.recorder.audit.length;
    await lab.ssh('kill -KILL $PPID');
    // THEN session_end says target_closed
    const events = await connectionEvents(mark, ended);
    expect(events.find((e) => e.event === 'session_end')).toMatchObject({ reason: 'target_closed' });
  });

  it('numbers the events of one connection without repeating a seq', async () => {
    const mark = lab.recorder.audit.length;
    await lab.ssh('true');
    const events = await connectionEvents(mark, ended);
    const seqs = events.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => Number(a) - Number(b)));
  });
});

describe('a refused connection that opens no channel (ssh -N)', () => {
  it('is disconnected with the refusal as the reason, not left waiting in silence', async () => {
    // GIVEN a host that does not exist WHEN alice connects with -N (no session channel to write a reason to)
    const r = await lab.ssh(undefined, { host: 'no-such-host', extra: ['-N', '-o', 'LogLevel=INFO'], timeoutMs: 20000 });
    // THEN ssh ends by itself (not killed by the timeout) and prints the reason the recorder gave
    expect(r.signal).toBeNull();
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Received disconnect from .*:11: srec: "no-such-host" is not a host you can connect to through this recorder/);
  });
});
