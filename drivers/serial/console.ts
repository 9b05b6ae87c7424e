// An expect-style session on a byte stream, for test scripts: send a line, wait for a pattern.

import type { ClientByteStream } from "../../transport/mod.ts";

/** Waiting for a pattern took too long; the message shows what did arrive. */
export class ExpectTimeoutError extends Error {
  /** What was received since the last match (its tail is in the message). */
  readonly received: string;

  /** Creates the error for `pattern`. */
  constructor(pattern: RegExp, timeoutMs: number, received: string) {
    super(
      `expected ${pattern} within ${timeoutMs} ms; last output: ${
        JSON.stringify(received.slice(-200))
      }`,
    );
    this.name = "ExpectTimeoutError";
    this.received = received;
  }
}

/**
 * A console session: output is buffered as it arrives; `expect` consumes it up to a match.
 *
 * @example
 * ```ts
 * await using console = await serial.open();
 * await console.expect(/login: /);
 * await console.sendLine("root");
 * ```
 */
export class SerialConsole implements AsyncDisposable {
  readonly #call: ClientByteStream;
  #buffer = "";
  #ended = false;
  #error: unknown;
  #wake: () => void = () => {};
  readonly #reading: Promise<void>;
  readonly #decoder = new TextDecoder();

  /** Wraps an open `connect` stream. */
  constructor(call: ClientByteStream) {
    this.#call = call;
    this.#reading = (async () => {
      try {
        for await (const chunk of call.stream) {
          this.#buffer += this.#decoder.decode(chunk, { stream: true });
          this.#wake();
        }
      } catch (err) {
        this.#error = err;
      } finally {
        this.#ended = true;
        this.#wake();
      }
    })();
  }

  /** Sends text as is. */
  async send(text: string | Uint8Array): Promise<void> {
    await this.#call.stream.send(typeof text === "string" ? new TextEncoder().encode(text) : text);
  }

  /** Sends `text` and a line ending (`\r`, what a terminal's Enter key sends, by default). */
  async sendLine(text: string, ending = "\r"): Promise<void> {
    await this.send(`${text}${ending}`);
  }

  /**
   * Waits until the output received since the last match matches `pattern`; consumes the
   * output up to the end of the match and returns the match.
   */
  async expect(
    pattern: RegExp | string,
    options: { timeoutMs?: number } = {},
  ): Promise<RegExpMatchArray> {
    const regex = typeof pattern === "string"
      ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      : pattern;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const match = this.#buffer.match(regex);
      if (match) {
        this.#buffer = this.#buffer.slice((match.index ?? 0) + match[0].length);
        return match;
      }
      if (this.#ended) {
        throw this.#error ?? new Error(`the console closed before ${regex} appeared`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new ExpectTimeoutError(regex, timeoutMs, this.#buffer);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Ends the session (the exporter closes the port) and waits for it to finish. */
  async close(): Promise<void> {
    if (!this.#call.stream.sendingClosed) await this.#call.stream.close();
    await this.#reading;
    await this.#call.done.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
