/**
 * Statements: blocks, declarations, if/else, switch (on `range.event` it splits the event set
 * by case), loops (body at most once), try/finally, labels, return, break, continue and throw.
 */
import { Node, type SwitchStatement, SyntaxKind } from 'ts-morph';
import { evalExpr } from './eval-expr.js';
import { bindPattern, type Frame, type Interp } from './interp.js';
import { decide, type State } from './state.js';
import { asCond, type Cond, keyOf, type Located, newEnv, sym, UNDEF, type Value } from './values.js';

/** Runs `stmts` on every normal path of `states`; other paths pass through. */
export function execBody(ip: Interp, fr: Frame, stmts: readonly Node[], states: State[]): State[] {
  let cur = states;
  for (const st of stmts) {
    const next: State[] = [];
    for (const s of cur) {
      if (s.ctl !== 'normal') next.push(s);
      else next.push(...execStmt(ip, fr, st, s));
    }
    cur = next;
  }
  return cur;
}

function child(fr: Frame): Frame {
  return { ...fr, env: newEnv(fr.env) };
}

/** Runs one statement on path `s`. */
function execStmt(ip: Interp, fr: Frame, st: Node, s: State): State[] {
  if (!ip.step()) return [];
  if (Node.isBlock(st)) return execBody(ip, child(fr), st.getStatements(), [s]);
  if (Node.isExpressionStatement(st)) return evalExpr(ip, fr, st.getExpression(), s).map(([t]) => t);
  if (Node.isVariableStatement(st)) {
    let cur = [s];
    for (const d of st.getDeclarations()) {
      const init = d.getInitializer();
      cur = cur.flatMap((t) => {
        if (init === undefined) {
          bindPattern(fr, d.getNameNode(), UNDEF, t);
          return [t];
        }
        return evalExpr(ip, fr, init, t).map(([u, v]) => {
          bindPattern(fr, d.getNameNode(), stripOrigin(v), u);
          return u;
        });
      });
    }
    return cur;
  }
  if (Node.isIfStatement(st)) {
    const elseSt = st.getElseStatement();
    return evalExpr(ip, fr, st.getExpression(), s).flatMap(([t, c]) =>
      decide(asCond(c), t, ip.budget, ip.where()).flatMap(([u, v]) => {
        if (v) return execStmt(ip, child(fr), st.getThenStatement(), u);
        return elseSt === undefined ? [u] : execStmt(ip, child(fr), elseSt, u);
      }),
    );
  }
  if (Node.isReturnStatement(st)) {
    const e = st.getExpression();
    const results: [State, Located][] = e === undefined ? [[s, UNDEF]] : evalExpr(ip, fr, e, s);
    return results.map(([t, v]) => {
      t.ctl = 'return';
      t.ret = v.origin !== undefined ? v : { ...v, origin: st };
      t.effects.push({ t: 'return', held: ip.held(t), node: st, stack: ip.where() });
      return t;
    });
  }
  if (Node.isThrowStatement(st)) {
    return evalExpr(ip, fr, st.getExpression(), s).map(([t]) => {
      t.ctl = 'throw';
      return t;
    });
  }
  if (Node.isBreakStatement(st) || Node.isContinueStatement(st)) {
    s.ctl = Node.isBreakStatement(st) ? 'break' : 'continue';
    s.label = st.getLabel()?.getText();
    return [s];
  }
  if (Node.isSwitchStatement(st)) return execSwitch(ip, fr, st, s);
  if (Node.isLabeledStatement(st)) {
    const label = st.getLabel().getText();
    return execStmt(ip, fr, st.getStatement(), s).map((t) => {
      if (t.ctl === 'break' && t.label === label) {
        t.ctl = 'normal';
        t.label = undefined;
      }
      return t;
    });
  }
  if (Node.isTryStatement(st)) return execTry(ip, fr, st, s);
  if (
    Node.isForStatement(st) ||
    Node.isForOfStatement(st) ||
    Node.isForInStatement(st) ||
    Node.isWhileStatement(st) ||
    Node.isDoStatement(st)
  ) {
    return execLoop(ip, fr, st, s);
  }
  return [s];
}

function stripOrigin(v: Value): Value {
  if (!('origin' in v)) return v;
  const { origin: _o, ...rest } = v as Value & { origin?: Node };
  return rest as Value;
}

function execTry(ip: Interp, fr: Frame, st: Node & { getTryBlock(): Node; getFinallyBlock(): Node | undefined }, s: State): State[] {
  const after = execStmt(ip, fr, st.getTryBlock(), s);
  const fin = st.getFinallyBlock();
  if (fin === undefined) return after;
  return after.flatMap((t) => {
    const saved = { ctl: t.ctl, label: t.label, ret: t.ret };
    t.ctl = 'normal';
    t.label = undefined;
    t.ret = undefined;
    return execStmt(ip, fr, fin, t).map((u) => {
      if (u.ctl === 'normal') {
        u.ctl = saved.ctl;
        u.label = saved.label;
        u.ret = saved.ret;
      }
      return u;
    });
  });
}

type Loop = Node & { getStatement(): Node };

function execLoop(ip: Interp, fr: Frame, st: Loop, s: State): State[] {
  const fr2 = child(fr);
  let entry: [State, boolean][];
  if (Node.isForStatement(st)) {
    const init = st.getInitializer();
    let cur = [s];
    if (init !== undefined && Node.isVariableDeclarationList(init)) {
      for (const d of init.getDeclarations()) {
        const e = d.getInitializer();
        cur = cur.flatMap((t) =>
          e === undefined
            ? [t]
            : evalExpr(ip, fr2, e, t).map(([u, v]) => {
                bindPattern(fr2, d.getNameNode(), sym(`${d.getName()}`, v.k === 'const' ? typeof v.v : undefined), u);
                return u;
              }),
        );
      }
    } else if (init !== undefined) {
      cur = cur.flatMap((t) => evalExpr(ip, fr2, init, t).map(([u]) => u));
    }
    const cond = st.getCondition();
    entry = cur.flatMap((t) => (cond === undefined ? [[t, true] as [State, boolean]] : test(ip, fr2, cond, t)));
  } else if (Node.isForOfStatement(st) || Node.isForInStatement(st)) {
    const init = st.getInitializer();
    entry = evalExpr(ip, fr2, st.getExpression(), s).flatMap(([t, iter]) =>
      decide({ k: 'atom', key: `${keyOf(iter)} is not empty` }, t, ip.budget, ip.where()).map(([u, v]): [State, boolean] => {
        if (v && Node.isVariableDeclarationList(init)) {
          for (const d of init.getDeclarations()) bindPattern(fr2, d.getNameNode(), sym(`element of ${keyOf(iter)}`), u);
        }
        return [u, v];
      }),
    );
  } else if (Node.isWhileStatement(st)) {
    entry = test(ip, fr2, st.getExpression(), s);
  } else {
    entry = [[s, true]];
  }
  // A loop without an exit condition (`for (;;)`, `while (true)`) leaves only through break or
  // return: a path that would go round again is dropped (the body runs at most once).
  const endless = mandatory(st);
  const out: State[] = [];
  for (const [t, enter] of entry) {
    if (!enter) {
      out.push(t);
      continue;
    }
    for (const u of execStmt(ip, fr2, st.getStatement(), t)) {
      if (u.label === undefined && (u.ctl === 'continue' || (u.ctl === 'normal' && endless))) {
        if (endless) continue;
        u.ctl = 'normal';
      }
      if (u.ctl === 'break' && u.label === undefined) u.ctl = 'normal';
      out.push(u);
    }
  }
  return out;
}

function mandatory(st: Loop): boolean {
  if (Node.isForStatement(st)) {
    const c = st.getCondition();
    return c === undefined || c.getKind() === SyntaxKind.TrueKeyword;
  }
  return Node.isWhileStatement(st) && st.getExpression().getKind() === SyntaxKind.TrueKeyword;
}

function test(ip: Interp, fr: Frame, cond: Node, s: State): [State, boolean][] {
  return evalExpr(ip, fr, cond, s).flatMap(([t, c]) => decide(asCond(c), t, ip.budget, ip.where()));
}

/** `switch`: on `range.event` each case narrows the event set; otherwise each clause is a possible entry. */
function execSwitch(ip: Interp, fr: Frame, st: SwitchStatement, s: State): State[] {
  const clauses = st.getClauses();
  const fr2 = child(fr);
  const run = (t: State, from: number): State[] => {
    let cur = [t];
    for (let i = from; i < clauses.length; i++) {
      cur = execBody(ip, fr2, (clauses[i] as Node & { getStatements(): Node[] }).getStatements(), cur);
      if (cur.every((u) => u.ctl !== 'normal')) break;
    }
    return cur.map((u) => {
      if (u.ctl === 'break' && u.label === undefined) u.ctl = 'normal';
      return u;
    });
  };
  return evalExpr(ip, fr, st.getExpression(), s).flatMap(([t, disc]) => {
    const out: State[] = [];
    let rest: State[] = [t];
    let def = -1;
    clauses.forEach((cl, i) => {
      if (Node.isDefaultClause(cl)) {
        def = i;
        return;
      }
      const next: State[] = [];
      for (const u of rest) {
        for (const [w, cv] of evalExpr(ip, fr, cl.getExpression(), u)) {
          const c: Cond =
            disc.k === 'event' && cv.k === 'const' && typeof cv.v === 'number'
              ? { k: 'event', set: 1 << cv.v, node: cl }
              : disc.k === 'const' && cv.k === 'const'
                ? { k: 'const', v: disc.v === cv.v }
                : { k: 'atom', key: `${keyOf(disc)} === ${keyOf(cv)}` };
          for (const [x, v] of decide(c, w, ip.budget, ip.where())) {
            if (v) out.push(...run(x, i));
            else next.push(x);
          }
        }
      }
      rest = next;
    });
    for (const u of rest) {
      if (def >= 0) {
        if (disc.k === 'event')
          u.effects.push({ t: 'event-test', set: u.events ^ 0xff, positive: false, node: clauses[def] as Node, stack: ip.where() });
        out.push(...run(u, def));
      } else out.push(u);
    }
    return out;
  });
}
