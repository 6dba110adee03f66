#!/usr/bin/env node
// The hmmlab command. Driver modules are TypeScript, so the CLI runs under tsx, with the
// "@hmmlab/source" export condition so that hmmlab's own packages load from source too.
// SIGINT and SIGTERM are passed on to the command, which prints what it found so far and exits 130.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// `hmmlab --version` needs neither TypeScript nor the model: answer it here, without starting tsx.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
  process.exit(0);
}

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');
const child = spawn(process.execPath, ['--conditions=@hmmlab/source', '--import', tsx, main, ...args], {
  stdio: 'inherit',
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('error', (e) => {
  console.error(`hmmlab: could not start node: ${e.message}`);
  process.exit(2);
});
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 130 : 3));
});
