// The forwarding policy's decisions and the one line each refusal gives the person.
import { FORWARDING_KINDS } from '../src/config.js';
import { forwardingRefusal } from '../src/ssh/forwarding.js';

const off = { local: false, remote: false, agent: false, x11: false, unixSockets: false };

describe('forwardingRefusal', () => {
  it('refuses every kind on a host with the default policy, naming the setting', () => {
    // GIVEN a host with every kind off WHEN each kind is asked for THEN each is refused with its setting's path
    const host = { name: 'db-1', forwarding: off };
    expect(FORWARDING_KINDS.map((k) => forwardingRefusal(host, k))).toEqual([
      { reason: 'forwarding_off', message: 'srec: local forwarding (ssh -L/-D/-W/-J) to db-1 is off (spec.recorder.hosts[db-1].forwarding.local)' },
      { reason: 'forwarding_off', message: 'srec: remote forwarding (ssh -R) on db-1 is off (spec.recorder.hosts[db-1].forwarding.remote)' },
      { reason: 'forwarding_off', message: 'srec: agent forwarding (ssh -A) on db-1 is off (spec.recorder.hosts[db-1].forwarding.agent)' },
      { reason: 'forwarding_off', message: 'srec: X11 forwarding (ssh -X/-Y) on db-1 is off (spec.recorder.hosts[db-1].forwarding.x11)' },
      { reason: 'forwarding_off', message: 'srec: Unix socket forwarding (streamlocal) on db-1 is off (spec.recorder.hosts[db-1].forwarding.unixSockets)' },
    ]);
  });

  it('lets every kind pass on a host that allows it', () => {
    // GIVEN a host that allows everything WHEN each kind is asked for THEN none is refused
    const host = { name: 'db-2', forwarding: { local: true, remote: true, agent: true, x11: true, unixSockets: true } };
    expect(FORWARDING_KINDS.map((k) => forwardingRefusal(host, k))).toEqual(FORWARDING_KINDS.map(() => undefined));
  });

  it('refuses only the kinds a host leaves off', () => {
    // GIVEN a host that allows agent forwarding only WHEN x11 and agent are asked for THEN x11 is refused, agent passes
    const host = { name: 'db-3', forwarding: { ...off, agent: true } };
    expect(forwardingRefusal(host, 'agent')).toBeUndefined();
    expect(forwardingRefusal(host, 'x11')?.message).toBe('srec: X11 forwarding (ssh -X/-Y) on db-3 is off (spec.recorder.hosts[db-3].forwarding.x11)');
  });
});
