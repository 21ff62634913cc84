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

  it('lets local and remote forwarding pass where allowed, and says the other kinds are not relayed yet', () => {
    // GIVEN a host that allows everything
    const host = { name: 'db-2', forwarding: { local: true, remote: true, agent: true, x11: true, unixSockets: true } };
    // WHEN each kind is asked for THEN local passes and the others are refused as not relayed
    expect(forwardingRefusal(host, 'local')).toBeUndefined();
    expect(forwardingRefusal(host, 'remote')).toBeUndefined();
    expect(forwardingRefusal(host, 'agent')).toEqual({ reason: 'not_relayed', message: 'srec: agent forwarding (ssh -A) on db-2 is allowed but not relayed by this recorder version' });
  });
});
