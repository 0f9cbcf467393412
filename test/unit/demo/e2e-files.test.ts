/**
 * The demo's and the kind end-to-end run's files agree with the code they drive: the GarbageCollections they apply
 * pass the CRD's schema, their `chunkgc seed` arguments are options of the real seed command, the kind script parses
 * (bash -n) and names the images and objects its manifests use, and the workflow runs that script with the versions
 * the local cluster pins. None of this needs Docker or kind, which cannot run here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { Command } from "commander";
import { parse, parseAllDocuments } from "yaml";
import { DEMO, demoGarbageCollection, SEED_ARGS } from "../../../scripts/demo/manifests.ts";
import { GarbageCollectionSpecSchema } from "../../../src/api/index.ts";
import { registerSeedCommand } from "../../../src/cli/commands/seed.ts";

const root = new URL("../../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), "utf8");

/** Long option names of the real `chunkgc seed`. */
function seedOptions(): Set<string> {
  const program = new Command("chunkgc");
  registerSeedCommand(program);
  const seed = program.commands.find((c) => c.name() === "seed");
  assert.ok(seed, "the seed command is registered");
  return new Set(seed.options.map((o) => o.long).filter((l): l is string => Boolean(l)));
}

function assertSeedArgs(args: readonly string[], where: string): void {
  const known = seedOptions();
  const flags = args.filter((a) => a.startsWith("--")).map((a) => a.split("=")[0]!);
  assert.ok(flags.length > 5, `${where}: seed arguments found`);
  for (const flag of flags) assert.ok(known.has(flag), `${where}: ${flag} is not an option of chunkgc seed`);
}

/** A shell variable's literal value in the kind script (NAME=value or NAME="${ENV:-value}"). */
function scriptValue(script: string, name: string): string {
  const match = new RegExp(`^${name}="?(?:\\$\\{[A-Z_]+:-)?([^"}\\n]+)`, "m").exec(script);
  assert.ok(match?.[1], `hack/kind-e2e.sh sets ${name}`);
  return match[1];
}

describe("make demo", () => {
  test("its GarbageCollection passes the CRD's schema", () => {
    const gc = demoGarbageCollection({ endpoint: "http://10.0.0.1:7070", region: "us-east-1" }, true);
    const spec = GarbageCollectionSpecSchema.parse(gc.spec);
    assert.equal(spec.dryRun, true);
    assert.equal(spec.gracePeriod, DEMO.gracePeriod);
    assert.equal(gc.metadata.namespace, DEMO.namespace);
  });

  test("its seed arguments are options of chunkgc seed", () => {
    assertSeedArgs(SEED_ARGS, "scripts/demo/manifests.ts");
  });
});

describe("kind end to end", () => {
  const script = read("hack/kind-e2e.sh");

  test("the script parses (bash -n)", () => {
    const result = spawnSync("bash", ["-n", new URL("hack/kind-e2e.sh", root).pathname], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
  });

  test("its GarbageCollection passes the CRD's schema and names the script's namespace and resource", () => {
    const gc = parse(read("hack/kind/garbagecollection.yaml"));
    const spec = GarbageCollectionSpecSchema.parse(gc.spec);
    assert.equal(spec.dryRun, true, "a dry run first");
    assert.equal(gc.metadata.namespace, scriptValue(script, "NS"));
    assert.equal(gc.metadata.name, scriptValue(script, "GC"));
    assert.equal(spec.gracePeriod, `${Number(scriptValue(script, "GRACE_SECONDS")) / 60}m`);
  });

  test("the seed Job runs chunkgc seed with its options, the script's image, and the resource's bucket", () => {
    const job = parse(read("hack/kind/seed-job.yaml"));
    const container = job.spec.template.spec.containers[0];
    assert.equal(container.image, "@IMAGE@", "the script fills in the image it built");
    assert.equal(container.args[0], "seed");
    assertSeedArgs(container.args.slice(1), "hack/kind/seed-job.yaml");
    const gc = parse(read("hack/kind/garbagecollection.yaml"));
    const s3 = gc.spec.datastore.s3;
    for (const [flag, value] of [
      ["--endpoint", s3.endpoint],
      ["--bucket", s3.bucket],
      ["--store", s3.store],
      ["--grace", gc.spec.gracePeriod],
    ]) {
      assert.ok(container.args.includes(`${flag}=${value}`), `seed ${flag}=${value}`);
    }
    assert.equal(job.metadata.namespace, gc.metadata.namespace);
  });

  test("the S3 server's image is the one the script builds and loads, at the suite's versitygw version", () => {
    const [deployment, service] = parseAllDocuments(read("hack/kind/versitygw.yaml")).map((d) => d.toJS());
    const image = scriptValue(script, "S3_IMAGE");
    assert.equal(deployment.spec.template.spec.containers[0].image, image);
    const pinned = /VERSITYGW_VERSION="(v[\d.]+)"/.exec(read("scripts/install.d/20-versitygw.sh"))?.[1];
    assert.ok(pinned);
    assert.match(read("hack/kind/versitygw.Dockerfile"), new RegExp(`ARG VERSITYGW_VERSION=${pinned}\\n`));
    assert.ok(image.endsWith(`:${pinned}`), `${image} is tagged ${pinned}`);
    const gc = parse(read("hack/kind/garbagecollection.yaml"));
    const host = `http://${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0].port}`;
    assert.equal(gc.spec.datastore.s3.endpoint, host);
  });

  test("the workflow runs the script with the pinned kubectl and helm", () => {
    const workflow = parse(read(".github/workflows/kind-e2e.yaml"));
    const steps = workflow.jobs["kind-e2e"].steps as { run?: string }[];
    assert.ok(steps.some((s) => s.run?.trim() === "bash hack/kind-e2e.sh"));
    const versions = read("test/cluster/versions.env");
    assert.equal(workflow.env.KUBECTL_VERSION, `v${/^KUBE_VERSION=(.+)$/m.exec(versions)?.[1]}`);
    assert.equal(workflow.env.HELM_VERSION, `v${/^HELM_VERSION=(.+)$/m.exec(versions)?.[1]}`);
    assert.deepEqual(workflow.permissions, { contents: "read" });
  });
});
