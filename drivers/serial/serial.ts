// Serial console driver (upstream's jumpstarter_driver_pyserial PySerial): a tty set to raw
// mode at the configured speed with stty, exposed as the byte stream `connect`.

import { spawn } from "node:child_process";
import {
  closeSync,
  constants,
  createReadStream,
  createWriteStream,
  existsSync,
  openSync,
  type ReadStream,
  type WriteStream,
} from "node:fs";
import { resolve } from "node:path";
import { Duplex } from "node:stream";
import type { Fields } from "../../config/mod.ts";
import {
  Args,
  byteStream,
  DeviceUnavailableError,
  type Driver,
  type DriverContext,
  NotImplementedError,
  unary,
} from "../framework/mod.ts";
import { pipeDuplex } from "../../transport/mod.ts";

/** The client class name upstream reports for serial ports. */
export const SERIAL_CLIENT = "jumpstarter_driver_pyserial.client.PySerialClient";

// Speeds stty accepts.
const BAUD_RATES = [
  50,
  75,
  110,
  134,
  150,
  200,
  300,
  600,
  1200,
  1800,
  2400,
  4800,
  9600,
  19200,
  38400,
  57600,
  115200,
  230400,
  460800,
  500000,
  576000,
  921600,
  1000000,
  1152000,
  1500000,
  2000000,
  2500000,
  3000000,
  3500000,
  4000000,
];

// Raw mode: no line editing, no echo, no signals, 8 bits, as a console needs.
function configureTty(device: string, baudrate: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const stty = spawn("stty", ["-F", device, String(baudrate), "raw", "-echo", "-hupcl"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    stty.stderr.on("data", (d) => (stderr += d));
    stty.once(
      "error",
      (err) =>
        reject(new DeviceUnavailableError(`serial ${device}: cannot run stty: ${err.message}`)),
    );
    stty.once("close", (code) => {
      if (code === 0) resolvePromise();
      else {
        reject(new DeviceUnavailableError(`serial ${device}: stty failed: ${stderr.trim()}`));
      }
    });
  });
}

/**
 * One open tty. It is read continuously from the moment it opens: an abandoned read on a tty
 * cannot be cancelled and would swallow the next session's first output, so sessions attach
 * to this reader instead of opening reads of their own.
 */
class TtyPort {
  readonly #device: string;
  readonly #baudrate: number;
  #open: { fd: number; readable: ReadStream; writable: WriteStream } | undefined;
  #session: Duplex | undefined;

  constructor(device: string, baudrate: number) {
    this.#device = device;
    this.#baudrate = baudrate;
  }

  /** A duplex for one session; only one session holds the port at a time. */
  async attach(): Promise<Duplex> {
    if (this.#session) {
      throw new DeviceUnavailableError(`serial ${this.#device}: in use by another session`);
    }
    const port = await this.#ensureOpen();
    const session: Duplex = new Duplex({
      read() {},
      write(chunk, _encoding, callback) {
        port.writable.write(chunk, callback);
      },
      final(callback) {
        callback();
      },
      destroy: (err, callback) => {
        if (this.#session === session) this.#session = undefined;
        callback(err);
      },
    });
    this.#session = session;
    return session;
  }

  /** Closes the tty (and any session on it). */
  close(): void {
    this.#session?.destroy();
    const open = this.#open;
    this.#open = undefined;
    if (!open) return;
    open.readable.destroy();
    open.writable.destroy();
    try {
      closeSync(open.fd);
    } catch {
      // Already gone with the device.
    }
  }

  async #ensureOpen() {
    if (this.#open) return this.#open;
    if (!existsSync(this.#device)) {
      throw new DeviceUnavailableError(`serial ${this.#device}: not present (unplugged?)`);
    }
    await configureTty(this.#device, this.#baudrate);
    let fd: number;
    try {
      fd = openSync(this.#device, constants.O_RDWR | constants.O_NOCTTY);
    } catch (err) {
      throw new DeviceUnavailableError(`serial ${this.#device}: ${(err as Error).message}`);
    }
    const readable = createReadStream("", { fd, autoClose: false, highWaterMark: 64 * 1024 });
    const writable = createWriteStream("", { fd, autoClose: false });
    const open = { fd, readable, writable };
    // Output with no session attached is dropped, as on a terminal nobody watches.
    readable.on("data", (chunk) => this.#session?.push(chunk));
    const lost = (err?: Error) => {
      if (this.#open !== open) return;
      const reason = new DeviceUnavailableError(
        `serial ${this.#device}: ${err ? err.message : "the device went away"}`,
      );
      this.#session?.destroy(reason);
      this.close();
    };
    readable.on("error", lost);
    readable.on("end", () => lost());
    writable.on("error", lost);
    this.#open = open;
    return open;
  }
}

/**
 * `type: PySerial`. Config: `url` (the device, e.g. /dev/ttyUSB0; relative to the config file's
 * folder), `baudrate` (115200), `check_present` (true: the device must exist when the exporter
 * starts).
 *
 * @example
 * ```yaml
 * serial:
 *   type: jumpstarter_driver_pyserial.driver.PySerial
 *   config: { url: /dev/ttyUSB0, baudrate: 115200 }
 * ```
 */
export function createSerial(config: Fields, ctx: DriverContext): Driver {
  const device = resolve(ctx.baseDir, config.string("url", { nonEmpty: true }));
  const baudrate = config.number("baudrate", { default: 115200, integer: true });
  if (!BAUD_RATES.includes(baudrate)) {
    throw config.error("baudrate", `must be a standard speed (9600, 115200, ...), got ${baudrate}`);
  }
  if (config.boolean("check_present", { default: true }) && !existsSync(device)) {
    throw config.error("url", `${device} does not exist (set check_present: false to allow that)`);
  }
  const port = new TtyPort(device, baudrate);
  const unsupported = (name: string) =>
    unary(`Set the ${name.slice(4).toUpperCase()} line`, (args) => {
      new Args(name, args, 1).boolean(0, "value");
      throw new NotImplementedError(`${name}: modem lines cannot be set by this exporter yet`);
    });
  return {
    client: SERIAL_CLIENT,
    description: `Serial port ${device} at ${baudrate} baud`,
    methods: {
      connect: byteStream("Open the serial console", async (stream, call) => {
        const session = await port.attach();
        call.ready?.();
        call.log.info(`opened ${device}`);
        try {
          await pipeDuplex(stream, session, { signal: call.signal, endWithStream: true });
        } finally {
          session.destroy();
        }
      }),
      close: unary("Close the port (the next connect opens it again)", (args) => {
        new Args("close", args, 0);
        port.close();
      }),
      set_dtr: unsupported("set_dtr"),
      set_rts: unsupported("set_rts"),
    },
    close: () => port.close(),
  };
}
