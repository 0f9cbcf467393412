/**
 * Runs several async sources with at most `concurrency` of them at once and yields their items as they arrive.
 * Back-pressure: a source waits while `buffer` items are queued and unread. The first failure aborts every source
 * (through the signal they are given) and is rethrown to the reader; a reader that stops early aborts them too.
 */
export async function* mergeParallel<T>(
  sources: ReadonlyArray<(signal: AbortSignal) => AsyncIterable<T>>,
  options: { concurrency: number; buffer?: number; signal?: AbortSignal },
): AsyncGenerator<T> {
  const controller = new AbortController();
  const outer = options.signal;
  const onOuterAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  if (outer?.aborted) controller.abort(outer.reason);

  const capacity = Math.max(1, options.buffer ?? 64);
  const queue: T[] = [];
  let failure: { error: unknown } | undefined;
  let active = 0;
  let nextSource = 0;
  let wakeReader: (() => void) | undefined;
  const wakeWriters: Array<() => void> = [];

  const notifyReader = () => {
    const wake = wakeReader;
    wakeReader = undefined;
    wake?.();
  };
  const releaseWriters = () => {
    for (const wake of wakeWriters.splice(0)) wake();
  };

  const runSource = async (source: (signal: AbortSignal) => AsyncIterable<T>) => {
    for await (const item of source(controller.signal)) {
      while (queue.length >= capacity && !controller.signal.aborted) {
        await new Promise<void>((resolve) => wakeWriters.push(resolve));
      }
      controller.signal.throwIfAborted();
      queue.push(item);
      notifyReader();
    }
  };
  const startNext = () => {
    while (active < options.concurrency && nextSource < sources.length && !failure) {
      const source = sources[nextSource++]!;
      active += 1;
      runSource(source)
        .catch((error: unknown) => {
          if (!failure) failure = { error };
          controller.abort(error);
          releaseWriters();
        })
        .finally(() => {
          active -= 1;
          startNext();
          notifyReader();
        });
    }
  };

  try {
    startNext();
    for (;;) {
      if (failure) throw failure.error;
      if (queue.length > 0) {
        const batch = queue.splice(0);
        releaseWriters();
        for (const item of batch) yield item;
        continue;
      }
      if (active === 0 && nextSource >= sources.length) return;
      await new Promise<void>((resolve) => {
        wakeReader = resolve;
      });
    }
  } finally {
    if (!controller.signal.aborted) controller.abort(new Error("reader stopped"));
    releaseWriters();
    outer?.removeEventListener("abort", onOuterAbort);
  }
}
