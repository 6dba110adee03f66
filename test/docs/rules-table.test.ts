/**
 * The flush contract's page (docs/guide/flush-contract.md) has one row per oracle rule, with its
 * family, and a section the row links to: a rule added to `RULES` without its documentation fails here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RULE_IDS, RULES } from '@hmmlab/assertions';
import { describe, expect, it } from 'vitest';

const page = readFileSync(fileURLToPath(new URL('../../docs/guide/flush-contract.md', import.meta.url)), 'utf8');
const rows = new Map<string, { family: string; anchor: string }>();
for (const m of page.matchAll(/^\| \[`([a-z-]+)`\]\(#([a-z-]+)\) \| ([a-z]+) \|/gm)) {
  rows.set(m[1] as string, { anchor: m[2] as string, family: m[3] as string });
}
const headings = new Set(
  [...page.matchAll(/^## (.+)$/gm)].map((m) =>
    (m[1] as string)
      .toLowerCase()
      .replace(/[^a-z0-9 -]/g, '')
      .replace(/ /g, '-'),
  ),
);

describe('the flush contract page', () => {
  it.each(RULE_IDS)('should have a row for %s with its family and a section it links to', (id) => {
    const row = rows.get(id);
    expect(row?.family).toBe(RULES[id].family);
    expect(headings.has(row?.anchor ?? '')).toBe(true);
  });

  it('should list no rule the oracle does not have', () => {
    expect([...rows.keys()].filter((id) => !RULE_IDS.includes(id as never))).toEqual([]);
  });
});
