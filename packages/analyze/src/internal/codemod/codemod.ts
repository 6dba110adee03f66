/**
 * `codemod`: rewrites driver sources written for one kernel API profile into another, keeping
 * formatting and comments. Code inside a branch that tests the profile (multi-profile drivers
 * such as examples/dmirror) is left alone.
 */
import { writeFileSync } from 'node:fs';
import { Project } from 'ts-morph';
import { displayPath, expandPaths } from '../files.js';
import { assertParses } from '../syntax.js';
import { unifiedDiff } from './diff.js';
import { FileEdits } from './edits.js';
import { rewriteExclusive } from './exclusive.js';
import { fixImports } from './imports.js';
import { rewriteMigrateSelect } from './migrate-select.js';
import { renameOwnerField } from './owner-field.js';
import { rewritePfnLocked } from './pfn-locked.js';
import { profileApi } from './profiles.js';
import { rewriteProfilesField } from './profiles-field.js';

/** Options of {@link codemod}. */
export interface CodemodOptions {
  /** The profile the code is written for: '5.8', 'seed', '5.9', '5.14', '6.1' or 'latest'. */
  readonly from: string;
  /** The profile to rewrite it for. */
  readonly to: string;
  /** Files or folders (their `.ts` files, tests included). */
  readonly paths: readonly string[];
  /** Only compute the diff; write nothing. @defaultValue false */
  readonly dryRun?: boolean;
  /** Paths in the result are relative to this folder. @defaultValue process.cwd() */
  readonly cwd?: string;
}

/** What happened at one place of one file. */
export interface CodemodNote {
  /** Path of the file. */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** What was rewritten, or why it was left alone. */
  readonly message: string;
}

/** What {@link codemod} returns. */
export interface CodemodResult {
  /** Files that changed (or would change, in a dry run). */
  readonly changed: string[];
  /** Each rewrite. */
  readonly changes: CodemodNote[];
  /** What was left alone and why, or needs a look. */
  readonly notes: CodemodNote[];
  /** Unified diff of every changed file. */
  readonly diff: string;
}

/**
 * Rewrites the driver sources in `paths` from profile `from` to profile `to`: the range's owner
 * field (`data` ↔ `migratePgmapOwner` ↔ `owner`), `MigrateVma` selection (`srcOwner` ↔
 * `pgmapOwner` + `MIGRATE_VMA_SELECT_*`), `makeDeviceExclusiveRange` ↔ `makeDeviceExclusive`,
 * `MIGRATE_PFN_LOCKED` on destination entries (before 5.17 only), and the driver's `profiles`.
 */
export function codemod(options: CodemodOptions): CodemodResult {
  const from = profileApi('codemod', 'source (--from)', options.from);
  const to = profileApi('codemod', 'target (--to)', options.to);
  const files = expandPaths('codemod', options.paths).concat();
  const cwd = options.cwd ?? process.cwd();
  const project = new Project({ skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true });
  const result: CodemodResult = { changed: [], changes: [], notes: [], diff: '' };
  let diff = '';
  // Every file must parse before any is rewritten.
  const sources = files.map((path) => {
    const file = project.addSourceFileAtPath(path);
    assertParses('codemod', file, cwd);
    return { path, file };
  });
  for (const { path, file } of sources) {
    const fe = new FileEdits(file);
    renameOwnerField(fe, from, to);
    rewriteMigrateSelect(fe, from, to);
    rewritePfnLocked(fe, from, to);
    rewriteExclusive(fe, from, to);
    rewriteProfilesField(fe, from, to);
    const before = file.getFullText();
    const after = fixImports(fe.apply(), fe.touched);
    const shown = displayPath(path, cwd);
    result.changes.push(...fe.changes.map((c) => ({ file: shown, ...c })));
    result.notes.push(...fe.notes.map((c) => ({ file: shown, ...c })));
    if (after === before) continue;
    result.changed.push(shown);
    diff += unifiedDiff(shown, before, after);
    if (options.dryRun !== true) writeFileSync(path, after);
  }
  return { ...result, diff };
}
