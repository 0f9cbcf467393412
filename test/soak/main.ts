/**
 * `npm run soak -- --rounds N --seed S [--server versitygw|ceph|both]`: the randomized fault soak against real S3
 * servers. Uses the suite's servers when CHUNKGC_TEST_S3_SERVERS is set, else starts its own (and stops them).
 * Prints the figures per server; exits 1 when any round violated the invariant (each one is printed with its seed).
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { start as startCeph } from "../servers/ceph-rgw.ts";
import { connectionOf, type S3ServerHandle } from "../servers/s3-server.ts";
import { start as startVersitygw } from "../servers/versitygw.ts";
import { parseS3Servers, S3_SERVERS_ENV, type S3TestServer } from "../support/s3-servers.ts";
import { formatFigures, soakServer } from "./soak.ts";

const USAGE =
  "usage: npm run soak -- --rounds N [--seed S] [--server versitygw|ceph|both] [--parallel P] [--minutes M]";

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "20" },
    seed: { type: "string" },
    server: { type: "string", default: "both" },
    // Development only: a shorter age leaves nothing deletable while backups run (the writer margin is 300 s).
    "age-seconds": { type: "string" },
    parallel: { type: "string", default: "2" },
    // Stop starting rounds after this many minutes; the figures cover the rounds played.
    minutes: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const rounds = Number(values.rounds);
if (!Number.isSafeInteger(rounds) || rounds < 1) fail(`--rounds must be a positive integer, got "${values.rounds}"`);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isSafeInteger(seed)) fail(`--seed must be an integer, got "${values.seed}"`);
const wanted = { versitygw: ["versitygw"], ceph: ["ceph-rgw"], both: ["versitygw", "ceph-rgw"] }[values.server];
if (!wanted) fail(`--server must be versitygw, ceph or both, got "${values.server}"`);

const handles: S3ServerHandle[] = [];
let servers: S3TestServer[];
const fromSuite = process.env[S3_SERVERS_ENV];
if (fromSuite !== undefined) {
  servers = parseS3Servers(fromSuite).filter((server) => wanted.includes(server.name));
} else {
  const root = join(process.env.CHUNKGC_TEST_WORKDIR ?? join(tmpdir(), "chunkgc-suite"));
  mkdirSync(root, { recursive: true });
  const workDir = mkdtempSync(join(root, "soak-"));
  const starters = { versitygw: startVersitygw, "ceph-rgw": startCeph } as const;
  for (const name of wanted as ("versitygw" | "ceph-rgw")[]) {
    handles.push(await starters[name](join(workDir, name)));
  }
  servers = handles.map((handle) => connectionOf(handle) as S3TestServer);
}
const stopServers = async () => {
  await Promise.all(handles.splice(0).map((handle) => handle.stop()));
};
process.once("SIGINT", () => {
  void stopServers().then(() => process.exit(130));
});

console.error(`# soak: ${rounds} rounds per server from seed ${seed} on ${servers.map((s) => s.name).join(", ")}`);
try {
  const results = await Promise.all(
    servers.map((server) =>
      soakServer(server, {
        rounds,
        seed,
        parallel: Number(values.parallel),
        ...(values.minutes ? { budgetMs: Number(values.minutes) * 60_000 } : {}),
        ...(values["age-seconds"] ? { ageSeconds: Number(values["age-seconds"]) } : {}),
      }),
    ),
  );
  for (const result of results) console.log(formatFigures(result));
  console.log(`# replay: npm run soak -- --rounds ${rounds} --seed ${seed} --server ${values.server}`);
  process.exitCode = results.some((result) => result.figures.violations > 0) ? 1 : 0;
} finally {
  await stopServers();
}
