/**
 * The benchmark's report: results.json (everything measured), results.md (the tables and the ratios against the
 * targets) and chart.svg (wall time against chunks, one line per engine and latency; bars for requests by kind),
 * drawn by Vega-Lite compiled to Vega and rendered to SVG in Node (no browser, no canvas).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { parse as parseVega, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export interface Measured {
  mode?: string;
  wallMs: number;
  peakRssMiB: number;
  keys?: number;
  result?: string;
  message?: string;
  counters?: Record<string, number>;
  phases?: Record<string, number>;
  requests?: Record<string, number>;
  chunkDeleteRequests?: number;
  indexBytesDownloaded?: number;
}

export interface BenchRun extends Measured {
  server: string;
  chunks: number;
  latency: string;
  rttMs: number;
  garbage: number;
  engine: string;
}

export interface BenchResults {
  date: string;
  machine: Record<string, string | number>;
  command: string;
  servers: Record<string, { endpoint: string; version: string }>;
  runs: BenchRun[];
  memory: Record<string, unknown>[];
}

const seconds = (ms: number | undefined) => (ms === undefined ? "–" : `${(ms / 1000).toFixed(2)} s`);
const requestsOf = (run: BenchRun) =>
  Object.entries(run.requests ?? {})
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(", ");

function find(runs: BenchRun[], where: Partial<BenchRun>): BenchRun | undefined {
  return runs.find((run) => Object.entries(where).every(([key, value]) => run[key as keyof BenchRun] === value));
}

/**
 * The run matching `where` measured closest to `run` (in the order of the runs): the same garbage datastore serves
 * several sizes, and each size's garbage rows were measured one after the other.
 */
function nearest(runs: BenchRun[], run: BenchRun, where: Partial<BenchRun>): BenchRun | undefined {
  const position = runs.indexOf(run);
  let best: BenchRun | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  runs.forEach((candidate, index) => {
    const matches = Object.entries(where).every(([key, value]) => candidate[key as keyof BenchRun] === value);
    if (matches && Math.abs(index - position) < bestDistance) {
      best = candidate;
      bestDistance = Math.abs(index - position);
    }
  });
  return best;
}

/** The machine a benchmark ran on, as the report states it. */
export function machineFacts(loadAverageAtStart: string): BenchResults["machine"] {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "?",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverageAtStart,
  };
}

export function markdownOf(results: BenchResults): string {
  const lines: string[] = [];
  const m = results.machine;
  lines.push(
    `# chunkgc benchmark, ${results.date.slice(0, 10)}`,
    "",
    `Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}; load average at start ${m.loadAverageAtStart}.`,
    `Servers: ${Object.entries(results.servers)
      .map(([name, s]) => `${name} (${s.version})`)
      .join(", ")}, on the same cores as the engine.`,
    `Command: \`${results.command}\`. Latency: toxiproxy between every client and the server (round trip measured).`,
    "",
  );
  const groups = new Map<string, BenchRun[]>();
  for (const run of results.runs) {
    const key = `${run.server}|${run.chunks}|${run.latency}|${run.garbage > 0}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  for (const runs of groups.values()) {
    const first = runs[0]!;
    lines.push(
      `## ${first.server}, ${first.chunks.toLocaleString("en-US")} chunks${first.garbage ? `, ${first.garbage.toLocaleString("en-US")} garbage` : ", no garbage"}, latency ${first.latency} (round trip ${first.rttMs} ms)`,
      "",
      "| engine | wall | mark | sweep | delete | peak RSS | requests | DeleteObjects | removed |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const run of runs) {
      lines.push(
        `| ${run.engine} | ${seconds(run.wallMs)} | ${seconds(run.phases?.markMs)} | ${seconds(run.phases?.sweepMs)} | ` +
          `${seconds(run.phases?.deleteMs)} | ${run.peakRssMiB} MiB | ${requestsOf(run)} | ${run.chunkDeleteRequests ?? "–"} | ` +
          `${run.counters?.removedChunks ?? "–"} |`,
      );
    }
    lines.push("");
  }

  lines.push(
    "## Targets",
    "",
    "Each target beside the server's own limit measured in the same run: how much faster than the baseline any engine",
    "that lists (or deletes from) the bucket could be on this server at all.",
    "",
    "| target | server | chunks | latency | measured | server's limit | met? |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const verdict of targetVerdicts(results)) {
    lines.push(
      `| ${verdict.target} | ${verdict.server} | ${verdict.chunks.toLocaleString("en-US")} | ${verdict.latency} | ` +
        `${verdict.measured} | ${verdict.limit} | ${verdict.met ? "yes" : "**no**"} |`,
    );
  }
  lines.push("");

  const growth = costGrowth(results);
  if (growth.length > 0) {
    lines.push(
      "## How cost grows",
      "",
      "Per engine, server and latency: wall time, requests and peak RSS at each size, per million chunks; the last",
      "column is the wall time's growth against the growth in chunks (1.00 = linear).",
      "",
      "| engine | server | latency | chunks | wall | wall per million | requests per million | peak RSS | growth vs linear |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const row of growth) {
      lines.push(
        `| ${row.engine} | ${row.server} | ${row.latency} | ${row.chunks.toLocaleString("en-US")} | ${seconds(row.wallMs)} | ` +
          `${seconds(row.wallMsPerMillion)} | ${Math.round(row.requestsPerMillion).toLocaleString("en-US")} | ${row.peakRssMiB} MiB | ` +
          `${row.growthVsLinear === undefined ? "–" : row.growthVsLinear.toFixed(2)} |`,
      );
    }
    lines.push("");
  }

  if (results.memory.length > 0) {
    lines.push(
      "## Memory: the whole `chunkgc gc` process (synthetic S3 endpoint)",
      "",
      "| chunks | run | CLI | Node options | peak RSS | per million chunks | wall | result |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const run of results.memory) {
      lines.push(
        `| ${Number(run.chunks).toLocaleString("en-US")} | ${memoryRunName(run)} | ${run.cli ?? "sources"} | ${run.nodeOptions || "(none)"} | ${run.peakRssMiB} MiB | ` +
          `${(Number(run.bytesPerMillionChunks) / 2 ** 20).toFixed(1)} MiB | ${seconds(Number(run.wallMs))} | ${run.result} |`,
      );
    }
    lines.push("");
  }
  lines.push("Chart: [chart.svg](chart.svg). Raw figures: [results.json](results.json).", "");
  return lines.join("\n");
}

/** A memory run's name, with the `chunkgc gc` options it was given beyond the defaults. */
function memoryRunName(run: Record<string, unknown>): string {
  const gcArgs = Array.isArray(run.gcArgs) ? (run.gcArgs as string[]) : [];
  return gcArgs.length > 0 ? `${String(run.run)} (${gcArgs.join(" ")})` : String(run.run);
}

/** One target of the benchmark checked against one measured configuration. */
export interface TargetVerdict {
  target: string;
  server: string;
  chunks: number;
  latency: string;
  measured: string;
  /** The server's own limit for this target, measured in the same run ("–" where the target is itself the limit). */
  limit: string;
  met: boolean;
}

/** The latency profile the cloud targets are stated at. */
export const CLOUD_LATENCY = "20ms";
/** The latency profile of the physical-limit targets. */
export const LOOPBACK_LATENCY = "0ms";

const times = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const sumRequests = (run: BenchRun) => Object.values(run.requests ?? {}).reduce((sum, n) => sum + n, 0);

/**
 * Every target of the benchmark against every configuration it applies to. A ratio target is met when the
 * measured ratio reaches it; the server's limit beside it is the same ratio with chunkgc replaced by the server's
 * bare operation (the raw parallel listing, the bare parallel delete), i.e. the best any engine could reach here.
 */
export function targetVerdicts(results: BenchResults): TargetVerdict[] {
  const verdicts: TargetVerdict[] = [];
  const at = (run: BenchRun) => ({ server: run.server, chunks: run.chunks, latency: run.latency });
  for (const steady of results.runs.filter((r) => r.engine === "chunkgc steady state")) {
    const where = at(steady);
    const raw = find(results.runs, { ...where, engine: "raw parallel listing" });
    const sequential = find(results.runs, { ...where, engine: "raw sequential listing" });
    const pbs = find(results.runs, { ...where, engine: "PBS-faithful baseline" });
    const pbsAll = find(results.runs, { ...where, engine: "PBS, every index downloaded" });
    const cold = find(results.runs, { ...where, engine: "chunkgc cold cache" });
    if (!raw) continue;
    const listingGain = sequential
      ? `sequential listing ÷ parallel listing ${times(sequential.wallMs, raw.wallMs)}`
      : "";
    if (steady.latency === LOOPBACK_LATENCY) {
      verdicts.push({
        target: "steady state ≤ 1.2× the raw parallel listing",
        ...where,
        measured: times(steady.wallMs, raw.wallMs),
        limit: "–",
        met: steady.wallMs <= 1.2 * raw.wallMs,
      });
    }
    if (steady.latency === CLOUD_LATENCY && pbs) {
      verdicts.push({
        target: "steady state ≥ 8× faster than the PBS-faithful baseline",
        ...where,
        measured: times(pbs.wallMs, steady.wallMs),
        limit: `baseline ÷ raw parallel listing ${times(pbs.wallMs, raw.wallMs)}; ${listingGain}`,
        met: pbs.wallMs >= 8 * steady.wallMs,
      });
    }
    if (steady.latency === CLOUD_LATENCY && pbsAll && cold) {
      verdicts.push({
        target: "cold cache ≥ 10× faster than the download-everything baseline",
        ...where,
        measured: times(pbsAll.wallMs, cold.wallMs),
        limit: `download-everything baseline ÷ raw parallel listing ${times(pbsAll.wallMs, raw.wallMs)}`,
        met: pbsAll.wallMs >= 10 * cold.wallMs,
      });
    }
    for (const run of [cold, steady]) {
      if (!run?.phases) continue;
      verdicts.push({
        target: `sweep ≤ 1.2× the raw parallel listing (${run.engine})`,
        ...where,
        measured: times(run.phases.sweepMs ?? 0, raw.wallMs),
        limit: "–",
        met: (run.phases.sweepMs ?? 0) <= 1.2 * raw.wallMs,
      });
    }
  }
  for (const gc of results.runs.filter((r) => r.engine === "chunkgc (garbage)")) {
    const where = at(gc);
    const removed = gc.counters?.removedChunks ?? 0;
    verdicts.push({
      target: "DeleteObjects requests = ceil(removed / 1000)",
      ...where,
      measured: `${gc.chunkDeleteRequests} for ${removed.toLocaleString("en-US")} removed`,
      limit: "–",
      met: gc.chunkDeleteRequests === Math.ceil(removed / 1000),
    });
    const pbs = nearest(results.runs, gc, { ...where, engine: "PBS-faithful baseline (garbage)" });
    const bare = nearest(results.runs, gc, { ...where, engine: "raw parallel delete (garbage)" });
    const gcDelete = gc.phases?.deleteMs;
    const pbsDelete = pbs?.phases?.deleteMs;
    if (gc.latency === CLOUD_LATENCY && gcDelete && pbsDelete) {
      const bareDelete = bare?.phases?.deleteMs;
      verdicts.push({
        target: "delete phase ≥ 3× faster than the baseline's",
        ...where,
        measured: times(pbsDelete, gcDelete),
        limit: bareDelete ? `baseline's delete ÷ bare parallel DeleteObjects ${times(pbsDelete, bareDelete)}` : "–",
        met: pbsDelete >= 3 * gcDelete,
      });
    }
  }
  const largest = Math.max(0, ...results.memory.map((run) => Number(run.chunks)));
  for (const run of results.memory.filter((m) => Number(m.chunks) === largest)) {
    const firstRun = String(run.run).startsWith("first run");
    const limitMiB = firstRun ? 512 : 384;
    verdicts.push({
      target: `peak RSS ≤ ${limitMiB} MiB, ${memoryRunName(run)} (Node options: ${run.nodeOptions || "none"})`,
      server: "synthetic",
      chunks: largest,
      latency: LOOPBACK_LATENCY,
      measured: `${run.peakRssMiB} MiB`,
      limit: "–",
      met: Number(run.peakRssMiB) <= limitMiB && run.result === "succeeded",
    });
  }
  return verdicts;
}

/** One row of the cost-growth table. */
export interface GrowthRow {
  engine: string;
  server: string;
  latency: string;
  chunks: number;
  wallMs: number;
  wallMsPerMillion: number;
  requestsPerMillion: number;
  peakRssMiB: number;
  /** (wall ÷ wall at the next smaller size) ÷ (chunks ÷ its chunks); undefined at the smallest size. */
  growthVsLinear?: number;
}

/** Wall time, requests and peak RSS per million chunks, size by size, for the engines run without garbage. */
export function costGrowth(results: BenchResults): GrowthRow[] {
  const engines = ["chunkgc steady state", "chunkgc cold cache", "PBS-faithful baseline", "raw parallel listing"];
  const rows: GrowthRow[] = [];
  const series = new Map<string, BenchRun[]>();
  for (const run of results.runs.filter((r) => r.garbage === 0 && engines.includes(r.engine))) {
    const key = `${run.engine}|${run.server}|${run.latency}`;
    series.set(key, [...(series.get(key) ?? []), run]);
  }
  for (const runs of series.values()) {
    runs.sort((a, b) => a.chunks - b.chunks);
    if (new Set(runs.map((r) => r.chunks)).size < 2) continue;
    runs.forEach((run, i) => {
      const previous = i > 0 ? runs[i - 1] : undefined;
      rows.push({
        engine: run.engine,
        server: run.server,
        latency: run.latency,
        chunks: run.chunks,
        wallMs: run.wallMs,
        wallMsPerMillion: (run.wallMs * 1e6) / run.chunks,
        requestsPerMillion: (sumRequests(run) * 1e6) / run.chunks,
        peakRssMiB: run.peakRssMiB,
        ...(previous ? { growthVsLinear: run.wallMs / previous.wallMs / (run.chunks / previous.chunks) } : {}),
      });
    });
  }
  return rows;
}

/** Wall time against chunks (log scales), one line per engine × latency, a column per server; requests by kind. */
export function chartSpec(results: BenchResults): TopLevelSpec {
  const wall = results.runs
    .filter((run) => run.garbage === 0)
    .map((run) => ({
      server: run.server,
      chunks: run.chunks,
      seconds: run.wallMs / 1000,
      line: `${run.engine}, ${run.latency}`,
    }));
  const requests = results.runs
    .filter((run) => run.garbage === 0 && run.chunks === Math.max(...results.runs.map((r) => r.chunks)))
    .flatMap((run) =>
      Object.entries(run.requests ?? {})
        .filter(([, n]) => n > 0)
        .map(([kind, n]) => ({ run: `${run.server}: ${run.engine}, ${run.latency}`, kind, requests: n })),
    );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `chunkgc benchmark ${results.date.slice(0, 10)} (${results.machine.cores} cores)`,
    vconcat: [
      {
        data: { values: wall },
        facet: { column: { field: "server", type: "nominal", title: null } },
        spec: {
          width: 360,
          height: 260,
          mark: { type: "line", point: true },
          encoding: {
            x: { field: "chunks", type: "quantitative", scale: { type: "log" }, title: "chunks" },
            y: { field: "seconds", type: "quantitative", scale: { type: "log" }, title: "wall time (s)" },
            color: { field: "line", type: "nominal", title: "engine, latency" },
          },
        },
      },
      {
        data: { values: requests },
        width: 600,
        mark: "bar",
        encoding: {
          y: { field: "run", type: "nominal", title: null, sort: null },
          x: { field: "requests", type: "quantitative", scale: { type: "symlog" }, title: "requests (largest size)" },
          color: { field: "kind", type: "nominal", title: "request" },
        },
      },
    ],
  } as TopLevelSpec;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parseVega(compile(spec).spec), { renderer: "none" });
  return view.toSVG();
}

export async function writeReport(dir: string, results: BenchResults): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(dir, "results.md"), markdownOf(results));
  writeFileSync(join(dir, "chart.svg"), await renderSvg(chartSpec(results)));
}

/** The rows a benchmark printed (bench/run.ts formatRow), for a run stopped before it wrote results.json. */
export function runsFromLog(text: string): { server: string; version?: string; runs: BenchRun[] } {
  const runs: BenchRun[] = [];
  let server = "";
  let version: string | undefined;
  let chunks = 0;
  let latency = "";
  let rttMs = 0;
  let garbage = 0;
  for (const line of text.split("\n")) {
    const head = /^# server (\S+) \((.*)\); machine/.exec(line);
    if (head) {
      server = head[1]!;
      version = head[2];
      continue;
    }
    const clean = /^## (\S+), (\d+) chunks, latency (\S+) \(measured round trip ([\d.]+) ms\), no garbage/.exec(line);
    if (clean) {
      [chunks, latency, rttMs, garbage] = [Number(clean[2]), clean[3]!, Number(clean[4]), 0];
      continue;
    }
    const dirty = /^## (\S+), (\d+) chunks with (\d+) garbage, latency (\S+)/.exec(line);
    if (dirty) {
      [chunks, garbage, latency] = [Number(dirty[2]), Number(dirty[3]), dirty[4]!];
      continue;
    }
    const row = /^(.{30}) wall +([\d.]+) s +\d+\/s +RSS +(\d+) MiB(.*)$/.exec(line);
    if (!row) continue;
    const rest = row[4]!;
    const phase = (name: string) => {
      const match = new RegExp(`${name} ([\\d.]+) s`).exec(rest);
      return match ? Math.round(Number(match[1]) * 1000) : undefined;
    };
    const number = (pattern: RegExp) => {
      const match = pattern.exec(rest);
      return match ? Number(match[1]) : undefined;
    };
    const label = row[1]!.trim();
    const markMs = phase("mark");
    runs.push({
      server,
      chunks,
      latency,
      rttMs,
      garbage,
      engine: garbage > 0 ? `${label === "chunkgc" ? "chunkgc" : label} (garbage)` : label,
      wallMs: Math.round(Number(row[2]) * 1000),
      peakRssMiB: Number(row[3]),
      ...(markMs !== undefined
        ? { phases: { markMs, sweepMs: phase("sweep") ?? 0, deleteMs: phase("delete") ?? 0, cacheMs: 0 } }
        : {}),
      requests: {
        list: number(/req list (\d+)/) ?? 0,
        get: number(/req list \d+ get (\d+)/) ?? 0,
        delete: number(/req list \d+ get \d+ delete (\d+)/) ?? 0,
      },
      ...(number(/DeleteObjects (\d+)/) !== undefined ? { chunkDeleteRequests: number(/DeleteObjects (\d+)/)! } : {}),
      ...(number(/removed (\d+)/) !== undefined ? { counters: { removedChunks: number(/removed (\d+)/)! } } : {}),
    });
  }
  return { server, ...(version ? { version } : {}), runs };
}

/**
 * Re-renders the report from saved results, merging several benchmark runs and a separate memory run:
 *   node bench/report.ts --results a.json[,b.json] [--memory-from memory.jsonl] --out docs/benchmarks
 */
if (import.meta.main) {
  const { parseArgs } = await import("node:util");
  const { readFileSync } = await import("node:fs");
  const { values } = parseArgs({
    options: {
      results: { type: "string" },
      "memory-from": { type: "string" },
      /** A run's printed log (when it stopped before writing results.json); its rows are added. */
      "from-log": { type: "string" },
      /** Markdown appended to results.md (what a stopped run did not measure, and the command that does). */
      notes: { type: "string" },
      out: { type: "string" },
    },
  });
  const files = (values.results ?? "").split(",").filter(Boolean);
  if (!values.out)
    throw new Error("usage: [--results a.json,b.json] [--from-log a.log,b.log] [--memory-from x] --out dir");
  const loaded = files.map((file) => JSON.parse(readFileSync(file, "utf8")) as BenchResults);
  const merged: BenchResults = {
    date: new Date().toISOString(),
    machine: machineFacts("see the runs"),
    ...loaded[0],
    command: loaded.map((results) => results.command).join("; ") || "npm run bench (rows from its log)",
    servers: Object.assign({}, ...loaded.map((results) => results.servers)),
    runs: loaded.flatMap((results) => results.runs),
    memory: loaded.flatMap((results) => results.memory),
  };
  for (const log of (values["from-log"] ?? "").split(",").filter(Boolean)) {
    const parsed = runsFromLog(readFileSync(log, "utf8"));
    merged.servers[parsed.server] = { endpoint: "", version: `${parsed.version ?? "?"} (rows from the run's log)` };
    merged.runs.push(...parsed.runs);
  }
  if (values["memory-from"]) {
    for (const line of readFileSync(values["memory-from"], "utf8").trim().split("\n")) {
      if (line.startsWith("{")) merged.memory.push(JSON.parse(line));
    }
  }
  await writeReport(values.out, merged);
  if (values.notes) {
    const { appendFileSync } = await import("node:fs");
    appendFileSync(join(values.out, "results.md"), `\n${readFileSync(values.notes, "utf8")}`);
  }
}
