/**
 * The chart's PrometheusRule and Grafana dashboard: the rules, as rendered, pass `promtool check rules` (promtool
 * built from the Prometheus Go module by scripts/install.d/60-promtool.sh), every alert uses only metrics the
 * operator exports, and the dashboard is valid JSON that queries exported metrics.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { stringify } from "yaml";
import { OperatorMetrics } from "../../../src/operator/controller/metrics.ts";
import { renderChart } from "../../support/helm.ts";

const PROMTOOL = join(process.env.CHUNKGC_CACHE ?? join(homedir(), ".cache", "chunkgc"), "bin", "promtool");
const dir = mkdtempSync(join(tmpdir(), "chunkgc-rules-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function promtool(args: string[]): Promise<{ code: number; output: string }> {
  assert.ok(existsSync(PROMTOOL), `${PROMTOOL} missing: run bash scripts/install.d/60-promtool.sh`);
  return new Promise((resolve) => {
    execFile(PROMTOOL, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: typeof error?.code === "number" ? error.code : error ? 1 : 0, output: `${stdout}${stderr}` });
    });
  });
}

const exported = new Set(
  (await new OperatorMetrics().registry.getMetricsAsJSON()).flatMap((m) =>
    String(m.type) === "histogram" ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name],
  ),
);
const metricNames = (expr: string) => [...expr.matchAll(/\b(chunkgc_[a-z_]+)\b/g)].map((m) => m[1]!);

describe("PrometheusRule", async () => {
  const manifests = await renderChart({ values: { metrics: { prometheusRule: { enabled: true } } } });
  const rule = manifests.find((m) => m.kind === "PrometheusRule") as unknown as {
    spec: { groups: { name: string; rules: { alert: string; expr: string }[] }[] };
  };

  test("is rendered only when enabled", async () => {
    assert.ok(rule, "rendered when enabled");
    assert.equal(
      (await renderChart()).find((m) => m.kind === "PrometheusRule"),
      undefined,
    );
  });

  test("promtool check rules passes", async () => {
    const file = join(dir, "rules.yaml");
    writeFileSync(file, stringify(rule.spec));
    const result = await promtool(["check", "rules", file]);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /SUCCESS: 6 rules found/);
  });

  test("promtool refuses a broken expression (the check can fail)", async () => {
    const file = join(dir, "broken.yaml");
    writeFileSync(file, stringify({ groups: [{ name: "x", rules: [{ alert: "X", expr: "chunkgc_stalled ==" }] }] }));
    const result = await promtool(["check", "rules", file]);
    assert.notEqual(result.code, 0);
  });

  test("every alert asks for metrics the operator exports", () => {
    const alerts = rule.spec.groups.flatMap((group) => group.rules);
    assert.deepEqual(alerts.map((a) => a.alert).sort(), [
      "ChunkgcLastRunFailed",
      "ChunkgcNoRecentSuccess",
      "ChunkgcPendingBytesGrowing",
      "ChunkgcRunCannotStart",
      "ChunkgcRunTooLong",
      "ChunkgcStalled",
    ]);
    for (const alert of alerts) {
      for (const name of metricNames(alert.expr)) assert.ok(exported.has(name), `${alert.alert}: ${name}`);
    }
  });
});

describe("Grafana dashboard", async () => {
  const manifests = await renderChart({ values: { metrics: { grafanaDashboard: { enabled: true } } } });
  const map = manifests.find((m) => m.kind === "ConfigMap" && m.metadata.name.endsWith("-dashboard")) as unknown as {
    metadata: { labels: Record<string, string> };
    data: Record<string, string>;
  };
  test("a ConfigMap the Grafana sidecar picks up, with panels over exported metrics", () => {
    assert.equal(map.metadata.labels.grafana_dashboard, "1");
    const dashboard = JSON.parse(map.data["chunkgc.json"] ?? "") as {
      uid: string;
      panels: { targets: { expr: string }[] }[];
    };
    assert.equal(dashboard.uid, "chunkgc");
    assert.ok(dashboard.panels.length >= 8);
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        for (const name of metricNames(target.expr)) assert.ok(exported.has(name), `${target.expr}: ${name}`);
      }
    }
  });
});
