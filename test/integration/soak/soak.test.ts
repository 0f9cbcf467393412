/**
 * A short, fixed-seed run of the randomized fault soak (test/soak) against every S3 test server: generated
 * datastores, GC runs with injected faults, killed and stopped engine processes and a concurrent PBS-like writer;
 * after every run the oracle checks that no referenced chunk is gone, and a clean run's counters equal the oracle's.
 * The datastores must age past grace + the writer margin before they play, so this takes minutes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatFigures, soakServer } from "../../soak/soak.ts";
import { s3TestServers } from "../../support/s3-servers.ts";

const servers = await s3TestServers();
const ROUNDS = Number(process.env.CHUNKGC_SOAK_CI_ROUNDS ?? 12);
const SEED = 20_261_129;

test(`soak: ${ROUNDS} rounds from seed ${SEED} on ${servers.map((server) => server.name).join(" and ")}`, async () => {
  const results = await Promise.all(
    servers.map((server) =>
      soakServer(server, { rounds: ROUNDS, seed: SEED, parallel: 4, report: (line) => console.error(line) }),
    ),
  );
  for (const result of results) {
    console.error(formatFigures(result));
    const f = result.figures;
    assert.deepEqual(
      result.findings.filter((line) => line.startsWith("VIOLATION")),
      [],
      `${result.server}: violations`,
    );
    assert.equal(f.violations, 0, `${result.server}: violations (replay seeds ${f.failedSeeds.join(", ")})`);
    assert.equal(f.rounds, ROUNDS);
    assert.equal(f.results.crashed ?? 0, 0, `${result.server}: the engine ended without a report`);
    // The soak must have exercised what it claims: faults, real deletions and an exact counter comparison.
    assert.ok(Object.values(f.faults).reduce((sum, n) => sum + n, 0) > 0, `${result.server}: no fault injected`);
    assert.ok(f.chunksDeleted > 0, `${result.server}: nothing was deleted`);
    assert.ok(f.cleanRunsCompared > 0, `${result.server}: no clean run compared with the oracle`);
  }
});
