#!/usr/bin/env node
// The hmmlab command. Driver modules are TypeScript, so the CLI runs under tsx, with the
// "@hmmlab/source" export condition so that hmmlab's own packages load from source too.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');
const r = spawnSync(process.execPath, ['--conditions=@hmmlab/source', '--import', tsx, main, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
if (r.error) {
  console.error(`hmmlab: could not start node: ${r.error.message}`);
  process.exit(2);
}
process.exit(r.status ?? (r.signal ? 1 : 0));
