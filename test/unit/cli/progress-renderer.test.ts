import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { attachProgressRenderer, formatEta, formatProgressLine } from "../../../src/cli/progress-renderer.ts";
import { Progress, progressSnapshot } from "../../../src/engine/progress.ts";

/** A pino logger writing JSON lines into an array. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ base: undefined }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

describe("progress", () => {
  it("computes rate, percent and ETA from the total", () => {
    const snapshot = progressSnapshot("mark", 400, 1600, 2000, false);
    assert.equal(snapshot.ratePerSecond, 200);
    assert.equal(snapshot.percent, 25);
    assert.equal(snapshot.etaSeconds, 6);
    const open = progressSnapshot("sweep", 5000, undefined, 1000, false);
    assert.equal(open.percent, undefined);
    assert.equal(open.etaSeconds, undefined);
  });

  it("formats the live line with phase, objects, rate, percent and ETA", () => {
    assert.equal(formatEta(75), "1:15");
    assert.equal(formatEta(3725), "1:02:05");
    assert.equal(
      formatProgressLine(progressSnapshot("mark", 400, 1600, 2000, false)),
      "mark   400 / 1 600 indexes  200/s  25%  ETA 0:06",
    );
    assert.equal(
      formatProgressLine(progressSnapshot("sweep", 1_250_000, undefined, 50_000, true)),
      "sweep  1 250 000 chunk keys  25 000/s  done in 0:50",
    );
  });

  it("on a terminal, redraws one line in place and ends it when the phase is done", () => {
    const { log, lines } = capturingLogger();
    const written: string[] = [];
    const detach = attachProgressRenderer({
      log,
      intervalMs: 10_000,
      target: { isTTY: true, columns: 120, write: (text) => written.push(text) },
    });
    try {
      const progress = new Progress(log, "mark", { total: 10 });
      progress.advance(3);
      progress.finish();
    } finally {
      detach();
    }
    assert.ok(written.length >= 2);
    for (const text of written) assert.ok(text.startsWith("\r\x1b[2K"), JSON.stringify(text));
    assert.ok(written[0]!.includes("mark   3 / 10 indexes"));
    assert.ok(written.at(-1)!.endsWith("\n") && written.at(-1)!.includes("done in"));
    assert.equal(lines.filter((line) => line.msg === "progress").length, 0, "no JSON progress on a terminal");
  });

  it("without a terminal, logs structured progress at most every interval, and when a phase ends", () => {
    const { log, lines } = capturingLogger();
    let clock = 0;
    const detach = attachProgressRenderer({
      log,
      intervalMs: 10_000,
      now: () => clock,
      target: { isTTY: false, write: () => assert.fail("nothing is drawn without a terminal") },
    });
    const realNow = Date.now;
    let wall = 1_000_000;
    Date.now = () => wall;
    try {
      const progress = new Progress(log, "sweep");
      for (let step = 0; step < 100; step++) {
        wall += 1000; // the engine publishes at most every 200 ms of its own clock
        clock += 1000;
        progress.advance(1000);
      }
      progress.finish();
    } finally {
      Date.now = realNow;
      detach();
    }
    const progressLines = lines.filter((line) => line.msg === "progress");
    // 100 s of work at one line per 10 s: 10 lines, plus the one at the end of the phase.
    assert.equal(progressLines.length, 11);
    const last = progressLines.at(-1)!.progress as Record<string, unknown>;
    assert.equal(last.phase, "sweep");
    assert.equal(last.done, 100_000);
    assert.equal(last.finished, true);
    assert.equal(last.ratePerSecond, 1000);
  });

  it("with no renderer attached, the engine logs progress itself", () => {
    const { log, lines } = capturingLogger();
    const progress = new Progress(log, "mark", { total: 2, everyMs: 0 });
    progress.advance();
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.phase, "mark");
    assert.equal(lines[0]!.done, 1);
  });
});
