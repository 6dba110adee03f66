/**
 * @hmmlab/analyze: static checks of driver notifier callbacks (lint), their decision tables
 * (explain), codemods between kernel API profiles, and `init` templates; plus the entry points
 * the `hmmlab` command line calls.
 *
 * @module @hmmlab/analyze
 */

export { isCTarget } from './c/analyze.js';
export { explainCCommand, initFromCCommand, lintCCommand } from './c/commands.js';
export { type InitFromCResult, initFromC } from './c/init-c.js';
export { type CLintResult, explainC, lintC } from './c/lint-c.js';
export { type CodemodNote, type CodemodOptions, type CodemodResult, codemod } from './internal/codemod/codemod.js';
export type { CommandResult } from './internal/command-result.js';
export { type Argv, codemodCommand, explainCommand, initCommand, lintCommand } from './internal/commands.js';
export { AnalyzeError, type AnalyzeErrorCode } from './internal/errors.js';
export { explain } from './internal/explain.js';
export { type InitOptions, type InitResult, init, TEMPLATE_NAMES, type TemplateName } from './internal/init/init.js';
export { type Finding, type Incomplete, type LintOptions, type LintResult, lint, lintRules } from './internal/lint.js';
export {
  EQUIVALENTS_FILE,
  type Equivalent,
  type Mutant,
  type MutantOptions,
  type MutantSet,
  mutants,
  OPERATOR_NAMES,
  readEquivalents,
} from './internal/mutate/mutants.js';
export type { DecisionRow, DecisionTable, ExplainResult } from './internal/tables.js';
export type { Severity } from './rules/rule.js';
