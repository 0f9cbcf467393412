import { ApiException, type KubernetesObject, type V1Job, type V1Pod } from "@kubernetes/client-node";
import type { GarbageCollectionObject, ReadCache } from "../../../../src/operator/controller/reconciler.ts";
import type { KubeClients } from "../../../../src/operator/runtime/kube-api.ts";

/**
 * An in-memory Kubernetes API for unit tests of the reconciler: objects by kind, namespace and name, the few calls
 * the operator makes, and a log of every call (verb, kind, namespace, name, body) so that tests assert on what was
 * asked of the API server, not on the reconciler's internals. The read caches are views of the same store, as an
 * informer that is never behind. Not a Kubernetes: no admission, no controllers; a test plays the Job controller.
 */

export type Kind =
  | "GarbageCollection"
  | "Job"
  | "Pod"
  | "Secret"
  | "PersistentVolumeClaim"
  | "ServiceAccount"
  | "Lease"
  | "Event"
  | "CoreEvent";

export interface ApiCall {
  readonly verb: "get" | "list" | "create" | "replace" | "patch" | "delete";
  readonly kind: Kind;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly body?: unknown;
}

interface NamedArgs {
  name?: string;
  namespace?: string;
  body?: unknown;
  labelSelector?: string;
  fieldSelector?: string;
}

const notFound = (kind: string, name: string | undefined) =>
  new ApiException(404, `${kind} ${name} not found`, { message: `${kind} "${name}" not found` }, {});
const conflict = (kind: string, name: string | undefined) =>
  new ApiException(409, `${kind} ${name} exists`, { message: `${kind} "${name}" already exists` }, {});

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

export class FakeKube {
  readonly calls: ApiCall[] = [];
  readonly #objects = new Map<Kind, Map<string, KubernetesObject>>();
  #version = 1;
  #uid = 1;
  /** What the clock says when the fake stamps creationTimestamp. */
  now: () => Date = () => new Date();

  /** Stores an object as if created earlier (no call is logged); fills uid, resourceVersion, creationTimestamp. */
  put<T extends KubernetesObject>(kind: Kind, object: T): T {
    const stored = structuredClone(object);
    stored.metadata ??= {};
    stored.metadata.uid ??= `uid-${this.#uid++}`;
    stored.metadata.creationTimestamp ??= this.now();
    stored.metadata.resourceVersion = String(this.#version++);
    this.#bucket(kind).set(this.#key(stored.metadata.namespace, stored.metadata.name), stored);
    return stored;
  }

  get<T extends KubernetesObject>(kind: Kind, namespace: string | undefined, name: string): T | undefined {
    return this.#bucket(kind).get(this.#key(namespace, name)) as T | undefined;
  }

  list<T extends KubernetesObject>(kind: Kind, namespace?: string): T[] {
    return [...this.#bucket(kind).values()].filter(
      (object) => namespace === undefined || object.metadata?.namespace === namespace,
    ) as T[];
  }

  /** Removes an object behind the operator's back (no call is logged). */
  remove(kind: Kind, namespace: string | undefined, name: string): void {
    this.#bucket(kind).delete(this.#key(namespace, name));
  }

  /** The calls that changed something (create, replace, patch, delete), optionally of one kind. */
  writes(kind?: Kind): ApiCall[] {
    return this.calls.filter(
      (call) => call.verb !== "get" && call.verb !== "list" && (kind === undefined || call.kind === kind),
    );
  }

  /** Forgets the calls so far (a test's next step asserts on its own requests). */
  clearCalls(): void {
    this.calls.length = 0;
  }

  cache<T extends KubernetesObject>(kind: Kind): ReadCache<T> {
    return {
      get: (name, namespace) => this.get<T>(kind, namespace, name),
      list: (namespace) => this.list<T>(kind, namespace),
    };
  }

  get resources(): ReadCache<GarbageCollectionObject> {
    return this.cache<GarbageCollectionObject>("GarbageCollection");
  }
  get jobs(): ReadCache<V1Job> {
    return this.cache<V1Job>("Job");
  }
  get pods(): ReadCache<V1Pod> {
    return this.cache<V1Pod>("Pod");
  }

  /** client-node's typed APIs, as far as the operator uses them; any other call fails the test loudly. */
  clients(): KubeClients {
    const api = (methods: Record<string, (args: NamedArgs) => unknown>) =>
      new Proxy(methods, {
        get: (target, property) => {
          const method = target[property as string];
          if (method) return async (args: NamedArgs) => method(args);
          if (property === "then") return undefined;
          return () => {
            throw new Error(`FakeKube: ${String(property)} is not implemented`);
          };
        },
      });
    return {
      batch: api({
        readNamespacedJob: (a) => this.#read("Job", a),
        createNamespacedJob: (a) => this.#create("Job", a),
        deleteNamespacedJob: (a) => this.#delete("Job", a),
      }),
      core: api({
        readNamespacedSecret: (a) => this.#read("Secret", a),
        readNamespacedPersistentVolumeClaim: (a) => this.#read("PersistentVolumeClaim", a),
        createNamespacedPersistentVolumeClaim: (a) => this.#create("PersistentVolumeClaim", a),
        readNamespacedServiceAccount: (a) => this.#read("ServiceAccount", a),
        createNamespacedServiceAccount: (a) => this.#create("ServiceAccount", a),
        listNamespacedPod: (a) => this.#list("Pod", a),
        listNamespacedEvent: (a) => this.#list("CoreEvent", a),
      }),
      coordination: api({
        readNamespacedLease: (a) => this.#read("Lease", a),
        createNamespacedLease: (a) => this.#create("Lease", a),
        replaceNamespacedLease: (a) => this.#replace("Lease", a),
        deleteNamespacedLease: (a) => this.#delete("Lease", a),
      }),
      events: api({
        createNamespacedEvent: (a) => this.#create("Event", a),
        patchNamespacedEvent: (a) => this.#patch("Event", a),
      }),
      custom: api({
        patchNamespacedCustomObjectStatus: (a) => this.#patch("GarbageCollection", a),
      }),
    } as unknown as KubeClients;
  }

  #bucket(kind: Kind): Map<string, KubernetesObject> {
    let bucket = this.#objects.get(kind);
    if (bucket === undefined) {
      bucket = new Map();
      this.#objects.set(kind, bucket);
    }
    return bucket;
  }

  #key(namespace: string | undefined, name: string | undefined): string {
    return `${namespace ?? ""}/${name ?? ""}`;
  }

  #log(verb: ApiCall["verb"], kind: Kind, args: NamedArgs, name = args.name): void {
    const call: ApiCall = { verb, kind, namespace: args.namespace, name };
    this.calls.push(args.body === undefined ? call : { ...call, body: structuredClone(args.body) });
  }

  #read(kind: Kind, args: NamedArgs): KubernetesObject {
    this.#log("get", kind, args);
    const object = this.get(kind, args.namespace, args.name ?? "");
    if (object === undefined) throw notFound(kind, args.name);
    return structuredClone(object);
  }

  #list(kind: Kind, args: NamedArgs): { items: KubernetesObject[] } {
    this.#log("list", kind, args);
    let items = this.list(kind, args.namespace);
    const label = args.labelSelector?.split("=");
    if (label?.length === 2) items = items.filter((item) => item.metadata?.labels?.[label[0]!] === label[1]);
    const uid = args.fieldSelector?.match(/^involvedObject\.uid=(.*)$/)?.[1];
    if (uid !== undefined) {
      items = items.filter((item) => (item as { involvedObject?: { uid?: string } }).involvedObject?.uid === uid);
    }
    return { items: structuredClone(items) };
  }

  #create(kind: Kind, args: NamedArgs): KubernetesObject {
    const body = args.body as KubernetesObject;
    this.#log("create", kind, args, body.metadata?.name);
    if (this.get(kind, args.namespace, body.metadata?.name ?? "")) throw conflict(kind, body.metadata?.name);
    return structuredClone(this.put(kind, { ...body, metadata: { ...body.metadata, namespace: args.namespace } }));
  }

  #replace(kind: Kind, args: NamedArgs): KubernetesObject {
    this.#log("replace", kind, args);
    const current = this.get(kind, args.namespace, args.name ?? "");
    if (current === undefined) throw notFound(kind, args.name);
    const body = args.body as KubernetesObject;
    if (body.metadata?.resourceVersion !== current.metadata?.resourceVersion) throw conflict(kind, args.name);
    return structuredClone(this.put(kind, body));
  }

  #patch(kind: Kind, args: NamedArgs): KubernetesObject {
    this.#log("patch", kind, args);
    const current = this.get(kind, args.namespace, args.name ?? "");
    if (current === undefined) throw notFound(kind, args.name);
    return structuredClone(this.put(kind, applyMergePatch(current, args.body) as KubernetesObject));
  }

  #delete(kind: Kind, args: NamedArgs): { status: string } {
    this.#log("delete", kind, args);
    const current = this.get(kind, args.namespace, args.name ?? "");
    if (current === undefined) throw notFound(kind, args.name);
    const precondition = (args.body as { preconditions?: { resourceVersion?: string } } | undefined)?.preconditions;
    if (
      precondition?.resourceVersion !== undefined &&
      precondition.resourceVersion !== current.metadata?.resourceVersion
    )
      throw conflict(kind, args.name);
    this.remove(kind, args.namespace, args.name ?? "");
    return { status: "Success" };
  }
}
