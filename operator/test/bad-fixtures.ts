// The bad SessionRecordings under fixtures/bad: each opens with `# expect: <field path>`, the field
// both `srec validate` and the API server must name.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const BAD_DIR = 'operator/test/fixtures/bad';

export interface BadFixture {
  readonly name: string;
  readonly file: string;
  readonly expectedPath: string;
}

export function badFixtures(): BadFixture[] {
  return readdirSync(BAD_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((name) => {
      const file = join(BAD_DIR, name);
      const m = /^# expect: (\S+)$/m.exec(readFileSync(file, 'utf8'));
      if (!m?.[1]) throw new Error(`${file} has no "# expect: <path>" line`);
      return { name, file, expectedPath: m[1] };
    });
}
