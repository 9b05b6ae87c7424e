// A queue one producer fills and one server stream drains: the Listen and Status streams of
// exporters, which the controller feeds from lease events.

/**
 * Items put in, read in order by one reader.
 *
 * @example
 * ```ts
 * const box = new Mailbox<string>(8);
 * box.put("hello");
 * for await (const item of box.drain(signal)) send(item);
 * ```
 */
export class Mailbox<T> {
  readonly #queue: T[] = [];
  readonly #capacity: number;
  #wake: () => void = () => {};
  #closed = false;

  /** At most `capacity` items wait; put() refuses more. */
  constructor(capacity = Infinity) {
    this.#capacity = capacity;
  }

  /** Queues `item`; false when the box is full or closed. */
  put(item: T): boolean {
    if (this.#closed || this.#queue.length >= this.#capacity) return false;
    this.#queue.push(item);
    this.#wake();
    return true;
  }

  /** Ends draining once the queued items are read. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The items as they come, until close() or `signal` aborts. */
  async *drain(signal: AbortSignal): AsyncGenerator<T> {
    const aborted = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    while (!signal.aborted) {
      if (this.#queue.length > 0) {
        yield this.#queue.shift()!;
        continue;
      }
      if (this.#closed) return;
      await Promise.race([new Promise<void>((resolve) => (this.#wake = resolve)), aborted]);
    }
  }
}
