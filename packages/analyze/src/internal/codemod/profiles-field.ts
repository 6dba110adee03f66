/** The `profiles` list of a driver definition: the source profile is replaced by the target one. */
import { Node, SyntaxKind } from 'ts-morph';
import type { FileEdits } from './edits.js';
import { PROFILE_NAMES, type ProfileApi } from './profiles.js';

/** Rewrites `profiles: [...]` literals that name `from`. */
export function rewriteProfilesField(fe: FileEdits, from: ProfileApi, to: ProfileApi): void {
  for (const p of fe.file.getDescendantsOfKind(SyntaxKind.PropertyAssignment)) {
    if (p.getName() !== 'profiles') continue;
    const init = p.getInitializer();
    if (init === undefined) continue;
    if (!Node.isArrayLiteralExpression(init)) {
      fe.note(p, `profiles is \`${init.getText()}\`, not a list: check it names profile ${to.name}`);
      continue;
    }
    const els = init.getElements();
    const names = els.map((e) => (Node.isStringLiteral(e) ? e.getLiteralValue() : ''));
    if (!names.every((n) => (PROFILE_NAMES as readonly string[]).includes(n))) continue;
    const i = names.indexOf(from.name);
    if (i < 0) continue;
    const q = (els[i] as Node).getText()[0] ?? "'";
    const next = names.includes(to.name) ? names.filter((n) => n !== from.name) : names.map((n) => (n === from.name ? to.name : n));
    fe.replace(init, `[${next.map((n) => `${q}${n}${q}`).join(', ')}]`, `profiles: ${from.name} → ${to.name}`);
  }
}
