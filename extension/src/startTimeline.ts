// The steps of a start with their times, for `npm run bench:ui` (CLAUDE_SYNC_UI_BENCH_TIMELINE=1),
// which prints them against VS Code's activation: one line `<Date.now()> <step>` each, appended to
// the file $CLAUDE_SYNC_START_TIMELINE names. Without that variable: nothing. The extension's own log
// is no clock for this: the workbench stamps its lines late (BENCHMARKS.md).
import * as fs from 'fs';

const file = process.env.CLAUDE_SYNC_START_TIMELINE;

export function startStep(step: string): void {
  if (file) fs.appendFileSync(file, `${Date.now()} ${step}\n`);
}

startStep('bundle evaluating');
