import type { KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import { type InformerEvent, type InformerOptions, ResilientInformer } from "./informer.ts";

/**
 * One kind watched in several namespaces (one informer each: a namespaced Role grants no cluster-wide list) or in
 * all of them (one informer), behind the read interface of a single cache.
 */

export interface InformerSetOptions<T extends KubernetesObject>
  extends Omit<InformerOptions<T>, "path" | "list" | "name"> {
  readonly name: string;
  /** undefined: all namespaces. */
  readonly namespaces: readonly string[] | undefined;
  /** The watch path for one namespace, or for all when namespace is undefined. */
  readonly path: (namespace: string | undefined) => string;
  readonly list: (namespace: string | undefined) => Promise<KubernetesListObject<T>>;
  readonly onEvent: (event: InformerEvent, object: T) => void;
}

export class InformerSet<T extends KubernetesObject> {
  readonly name: string;
  readonly #byNamespace = new Map<string | undefined, ResilientInformer<T>>();

  constructor(options: InformerSetOptions<T>) {
    this.name = options.name;
    const scopes = options.namespaces ?? [undefined];
    for (const namespace of scopes) {
      this.#byNamespace.set(
        namespace,
        new ResilientInformer<T>({
          ...options,
          name: namespace === undefined ? options.name : `${options.name}/${namespace}`,
          path: options.path(namespace),
          list: () => options.list(namespace),
        }),
      );
    }
  }

  get synced(): boolean {
    return [...this.#byNamespace.values()].every((informer) => informer.synced);
  }

  get errors(): number {
    return [...this.#byNamespace.values()].reduce((sum, informer) => sum + informer.errors, 0);
  }

  #informerFor(namespace: string | undefined): ResilientInformer<T> | undefined {
    return this.#byNamespace.get(undefined) ?? (namespace === undefined ? undefined : this.#byNamespace.get(namespace));
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#informerFor(namespace)?.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    if (namespace !== undefined) return this.#informerFor(namespace)?.list(namespace) ?? [];
    return [...this.#byNamespace.values()].flatMap((informer) => informer.list());
  }

  async start(): Promise<void> {
    await Promise.all([...this.#byNamespace.values()].map((informer) => informer.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#byNamespace.values()].map((informer) => informer.stop()));
  }
}
