/**
 * Runs every `DIR/*.hmm` script of the dmirror differential language on the model and writes
 * `OUTDIR/<name>.out`, the files kernel-oracle's `run.sh --diff` writes for the real kernel, so
 * that `diff-compare.py` can compare both.
 *
 *   npx tsx --conditions=@hmmlab/source test/differential/run.ts DIR OUTDIR [--profile 6.1]
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROFILE_NAMES, type ProfileName } from '@hmmlab/core';
import { interpretScript } from './interpreter.js';

async function main(argv: readonly string[]): Promise<number> {
  const args = [...argv];
  let profile: ProfileName = '6.1';
  const pi = args.indexOf('--profile');
  if (pi >= 0) {
    const p = args[pi + 1];
    if (p === undefined || !(PROFILE_NAMES as readonly string[]).includes(p)) {
      console.error(`run.ts: --profile needs one of ${PROFILE_NAMES.join(', ')}`);
      return 2;
    }
    profile = p as ProfileName;
    args.splice(pi, 2);
  }
  const [dir, outDir] = args;
  if (dir === undefined || outDir === undefined || args.length !== 2) {
    console.error('usage: run.ts SCRIPT_DIR OUT_DIR [--profile NAME]');
    return 2;
  }
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((f) => f.endsWith('.hmm'))
      .sort();
  } catch (e) {
    console.error(`run.ts: cannot read ${dir}: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  mkdirSync(outDir, { recursive: true });
  for (const f of names) {
    const lines = await interpretScript(readFileSync(join(dir, f), 'utf8'), { profile });
    writeFileSync(join(outDir, f.replace(/\.hmm$/, '.out')), lines.map((l) => `${l}\n`).join(''));
  }
  console.log(`run.ts: ${names.length} scripts -> ${outDir} (profile ${profile})`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
