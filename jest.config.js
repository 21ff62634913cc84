// Jest runs the TypeScript sources as ESM (ts-jest, node --experimental-vm-modules).
// Two projects: `unit` needs no Kubernetes (but does start real OpenSSH sshd/ssh and rsyslogd
// processes: scripts/ensure-deps.sh installs them); `e2e` also gets one real control plane per run
// (e2e/support/global-setup.ts).
import { existsSync } from 'node:fs';

const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json' }],
  },
};

/** @type {import('jest').Config} */
export default {
  // Global only (jest ignores it inside a project): real processes and a real control plane are slow to start.
  testTimeout: 180000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{common,console,operator,recorder,syslog,bench,scripts}/**/*.test.ts', '<rootDir>/cli.test.ts'],
      testPathIgnorePatterns: ['\\.e2e\\.test\\.ts$', '/node_modules/', '/dist/'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/**/*.e2e.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/dist/'],
      ...(existsSync('e2e/support/global-setup.ts') ? { globalSetup: '<rootDir>/e2e/support/global-setup.ts' } : {}),
      ...(existsSync('e2e/support/global-teardown.ts') ? { globalTeardown: '<rootDir>/e2e/support/global-teardown.ts' } : {}),
    },
  ],
};
