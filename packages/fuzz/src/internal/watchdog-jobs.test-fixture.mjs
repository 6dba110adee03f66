// Jobs for watchdog.test.ts. Driver code starts once a job says its modules have loaded. A job
// that beats is given the URL of the heartbeat module the host's thread runs (the source, or the
// bundle of a host from the build: `ownModule('heartbeat', …)`), so that it shares its state.
import { setFlagsFromString } from 'node:v8';

export function echo(x) {
  return x;
}
export function fail() {
  throw new RangeError('bad job');
}
export async function spin(heartbeat) {
  const { markLoaded } = await import(heartbeat);
  markLoaded();
  for (;;) {}
}
export async function hoard(heartbeat) {
  const { markLoaded } = await import(heartbeat);
  markLoaded();
  const all = [];
  for (;;) all.push(new Array(1 << 16).fill(all.length));
}
export async function grow(heartbeat) {
  const { markLoaded } = await import(heartbeat);
  markLoaded();
  const one = [];
  for (let i = 0; ; i++) one.push(i);
}
export async function drawForever(heartbeat) {
  const { markDrawing, markLoaded, markRun } = await import(heartbeat);
  markLoaded();
  markRun(7);
  markDrawing();
  for (;;) {}
}
export async function drawThenSpin(heartbeat) {
  const { beatDraw, markDrawing, markDrawn, markLoaded, markRun } = await import(heartbeat);
  markLoaded();
  markRun(7);
  const was = markDrawing();
  for (let i = 0; i < 3; i++) beatDraw();
  markDrawn(was);
  for (;;) {}
}

// Whether V8 optimizes a function before and after a campaign of `runs` runs says it starts:
// %OptimizeFunctionOnNextCall compiles it at its next call, at once, with the tiers the flags
// allow, and %GetOptimizationStatus says whether it is optimized (its bit 16). Natives syntax is
// on for code parsed from then on.
export async function tiers({ runs, heartbeat }) {
  const { expectRuns } = await import(heartbeat);
  setFlagsFromString('--allow-natives-syntax');
  const natives = (body) => new Function('f', body);
  const prepare = natives('%PrepareFunctionForOptimization(f)');
  const optimizeNext = natives('%OptimizeFunctionOnNextCall(f)');
  const status = natives('return %GetOptimizationStatus(f)');
  const optimized = () => {
    const sum = (n) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (i * i) % 7;
      return s;
    };
    prepare(sum);
    sum(10);
    optimizeNext(sum);
    sum(10);
    return (status(sum) & 16) !== 0;
  };
  const before = optimized();
  expectRuns(runs);
  return { noTurbofan: process.execArgv.includes('--no-turbofan'), before, after: optimized() };
}
