import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type BenchResults,
  type BenchRun,
  CLOUD_LATENCY,
  costGrowth,
  LOOPBACK_LATENCY,
  markdownOf,
  targetVerdicts,
} from "../../../bench/report.ts";

function run(engine: string, chunks: number, latency: string, wallMs: number, extra: Partial<BenchRun> = {}): BenchRun {
  return { server: "s3", chunks, latency, rttMs: 0, garbage: 0, engine, wallMs, peakRssMiB: 100, ...extra };
}

function results(runs: BenchRun[], memory: Record<string, unknown>[] = []): BenchResults {
  return { date: "2026-01-01T00:00:00Z", machine: { cores: 2 }, command: "npm run bench", servers: {}, runs, memory };
}

const phases = (sweepMs: number, deleteMs = 0) => ({ markMs: 0, sweepMs, deleteMs, cacheMs: 0 });

function verdict(all: ReturnType<typeof targetVerdicts>, prefix: string) {
  const found = all.find((v) => v.target.startsWith(prefix));
  assert.ok(found, `no verdict for ${prefix}`);
  return found;
}

describe("targetVerdicts", () => {
  const cloudRuns = (steadyMs: number, coldMs: number) => [
    run("raw parallel listing", 1e6, CLOUD_LATENCY, 10_000),
    run("raw sequential listing", 1e6, CLOUD_LATENCY, 30_000),
    run("chunkgc cold cache", 1e6, CLOUD_LATENCY, coldMs, { phases: phases(9_000) }),
    run("chunkgc steady state", 1e6, CLOUD_LATENCY, steadyMs, { phases: phases(9_000) }),
    run("PBS-faithful baseline", 1e6, CLOUD_LATENCY, 80_000),
    run("PBS, every index downloaded", 1e6, CLOUD_LATENCY, 200_000),
  ];

  it("meets the cloud ratios exactly at their bounds and misses them just below", () => {
    const met = targetVerdicts(results(cloudRuns(10_000, 20_000)));
    assert.equal(verdict(met, "steady state ≥ 8×").met, true);
    assert.equal(verdict(met, "cold cache ≥ 10×").met, true);
    const missed = targetVerdicts(results(cloudRuns(10_001, 20_001)));
    assert.equal(verdict(missed, "steady state ≥ 8×").met, false);
    assert.equal(verdict(missed, "cold cache ≥ 10×").met, false);
    assert.equal(verdict(missed, "steady state ≥ 8×").measured, "8.00×");
  });

  it("states the server's limit beside a listing target: the baseline against the raw parallel listing", () => {
    const limit = verdict(targetVerdicts(results(cloudRuns(10_000, 20_000))), "steady state ≥ 8×").limit;
    assert.match(limit, /baseline ÷ raw parallel listing 8\.00×/);
    assert.match(limit, /sequential listing ÷ parallel listing 3\.00×/);
  });

  it("checks the steady state against the raw listing at 0 ms only", () => {
    const loopback = [
      run("raw parallel listing", 1e5, LOOPBACK_LATENCY, 10_000),
      run("chunkgc steady state", 1e5, LOOPBACK_LATENCY, 12_001, { phases: phases(11_000) }),
    ];
    const all = targetVerdicts(results(loopback));
    assert.equal(verdict(all, "steady state ≤ 1.2×").met, false);
    assert.equal(verdict(all, "sweep ≤ 1.2×").met, true);
    assert.equal(
      all.some((v) => v.target.startsWith("steady state ≥ 8×")),
      false,
    );
    const cloud = targetVerdicts(results(cloudRuns(10_000, 20_000)));
    assert.equal(
      cloud.some((v) => v.target.startsWith("steady state ≤ 1.2×")),
      false,
    );
  });

  it("counts DeleteObjects against ceil(removed / 1000) and compares delete phases at 20 ms", () => {
    const garbage = (engine: string, deleteMs: number, extra: Partial<BenchRun> = {}) =>
      run(engine, 1e5, CLOUD_LATENCY, deleteMs * 2, { garbage: 30_000, phases: phases(1, deleteMs), ...extra });
    const all = targetVerdicts(
      results([
        garbage("chunkgc (garbage)", 3_000, { chunkDeleteRequests: 31, counters: { removedChunks: 30_001 } }),
        garbage("PBS-faithful baseline (garbage)", 9_000),
        garbage("raw parallel delete (garbage)", 2_000),
      ]),
    );
    assert.equal(verdict(all, "DeleteObjects").met, true);
    assert.equal(verdict(all, "delete phase").met, true);
    assert.match(verdict(all, "delete phase").limit, /4\.50×/);
    const twoSizes = targetVerdicts(
      results([
        garbage("raw parallel delete (garbage)", 2_000),
        garbage("chunkgc (garbage)", 3_000, { chunkDeleteRequests: 31, counters: { removedChunks: 30_001 } }),
        garbage("PBS-faithful baseline (garbage)", 9_000),
        garbage("raw parallel delete (garbage)", 1_000),
        garbage("chunkgc (garbage)", 2_000, { chunkDeleteRequests: 31, counters: { removedChunks: 30_001 } }),
        garbage("PBS-faithful baseline (garbage)", 4_000),
      ]),
    ).filter((v) => v.target.startsWith("delete phase"));
    assert.deepEqual(
      twoSizes.map((v) => [v.measured, v.limit]),
      [
        ["3.00×", "baseline's delete ÷ bare parallel DeleteObjects 4.50×"],
        ["2.00×", "baseline's delete ÷ bare parallel DeleteObjects 4.00×"],
      ],
      "each chunkgc row is compared with the rows measured beside it",
    );
    const wrongCount = targetVerdicts(
      results([garbage("chunkgc (garbage)", 3_000, { chunkDeleteRequests: 30, counters: { removedChunks: 30_001 } })]),
    );
    assert.equal(verdict(wrongCount, "DeleteObjects").met, false);
  });

  it("holds memory to 512 MiB on a first run and 384 MiB with a marker cache, at the largest size", () => {
    const memory = (runName: string, peakRssMiB: number, chunks = 1e7) => ({
      run: runName,
      chunks,
      peakRssMiB,
      result: "succeeded",
    });
    const all = targetVerdicts(
      results(
        [],
        [
          memory("first run (no marker cache)", 512),
          memory("with marker cache", 385),
          memory("with marker cache", 900, 1e6),
        ],
      ),
    );
    assert.equal(all.length, 2);
    const withOptions = targetVerdicts(
      results([], [{ ...memory("with marker cache", 300), gcArgs: ["--index-concurrency=16"] }]),
    );
    assert.match(withOptions[0]!.target, /with marker cache \(--index-concurrency=16\)/);
    assert.equal(verdict(all, "peak RSS ≤ 512 MiB").met, true);
    assert.equal(verdict(all, "peak RSS ≤ 384 MiB").met, false);
  });
});

describe("costGrowth", () => {
  it("gives per-million figures and the growth against linear", () => {
    const rows = costGrowth(
      results([
        run("chunkgc steady state", 1e5, LOOPBACK_LATENCY, 2_000, { requests: { list: 100 } }),
        run("chunkgc steady state", 1e6, LOOPBACK_LATENCY, 30_000, { requests: { list: 1000, get: 2 } }),
        run("chunkgc steady state", 1e5, CLOUD_LATENCY, 2_000),
      ]),
    );
    assert.equal(rows.length, 2, "a series with one size has no growth to state");
    const [small, large] = rows;
    assert.equal(small!.wallMsPerMillion, 20_000);
    assert.equal(small!.growthVsLinear, undefined);
    assert.equal(large!.wallMsPerMillion, 30_000);
    assert.equal(large!.requestsPerMillion, 1002);
    assert.equal(large!.growthVsLinear, 1.5);
  });

  it("appears in the Markdown report with the targets", () => {
    const text = markdownOf(
      results([
        run("raw parallel listing", 1e5, LOOPBACK_LATENCY, 1_000),
        run("raw parallel listing", 1e6, LOOPBACK_LATENCY, 10_000),
      ]),
    );
    assert.match(text, /## How cost grows/);
    assert.match(text, /\| raw parallel listing \| s3 \| 0ms \| 1,000,000 \| 10\.00 s \| 10\.00 s \|/);
  });
});
