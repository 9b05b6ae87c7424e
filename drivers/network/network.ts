// Network drivers (upstream's jumpstarter_driver_network): a byte stream `connect` to a TCP
// port, a Unix socket or a UDP port reachable from the exporter, an echo for tests, and
// `address()`.

import * as dgram from "node:dgram";
import * as net from "node:net";
import { resolve } from "node:path";
import {
  Args,
  byteStream,
  type CallContext,
  DeviceUnavailableError,
  type Driver,
  type DriverContext,
  unary,
} from "../framework/mod.ts";
import type { Fields } from "../../config/mod.ts";
import { type ByteStream, FrameType, pipeDuplex } from "../../transport/mod.ts";

/** The client class name upstream reports for network drivers. */
export const NETWORK_CLIENT = "jumpstarter_driver_network.client.NetworkClient";

function networkDriver(
  description: string,
  address: string,
  connect: (stream: ByteStream, call: CallContext) => Promise<void>,
): Driver {
  return {
    client: NETWORK_CLIENT,
    description,
    methods: {
      connect: byteStream("Open a connection to the target", connect),
      address: unary("The target's address", (args) => {
        new Args("address", args, 0);
        return address;
      }),
    },
  };
}

// Opens a stream socket and waits until it is connected; a refusal is the device's problem.
function openSocket(options: net.NetConnectOpts, label: string, signal: AbortSignal) {
  return new Promise<net.Socket>((resolvePromise, reject) => {
    const socket = net.connect({ ...options, allowHalfOpen: true, signal });
    socket.once("connect", () => {
      socket.off("error", reject);
      resolvePromise(socket);
    });
    socket.once(
      "error",
      (err: NodeJS.ErrnoException) =>
        reject(
          new DeviceUnavailableError(`cannot connect to ${label}: ${err.code ?? err.message}`),
        ),
    );
  });
}

function readPort(config: Fields): number {
  return config.number("port", { integer: true, min: 1, max: 65535 });
}

/** `type: TcpNetwork`; config `host` (default 127.0.0.1), `port`. */
export function createTcpNetwork(config: Fields): Driver {
  const host = config.string("host", { default: "127.0.0.1" });
  const port = readPort(config);
  const label = `${host}:${port}`;
  return networkDriver(`TCP port ${label}`, `tcp://${label}`, async (stream, call) => {
    const socket = await openSocket({ host, port }, label, call.signal);
    call.ready?.();
    await pipeDuplex(stream, socket, { signal: call.signal });
  });
}

/** `type: UnixNetwork`; config `path` (relative to the config file's folder). */
export function createUnixNetwork(config: Fields, ctx: DriverContext): Driver {
  const path = resolve(ctx.baseDir, config.string("path", { nonEmpty: true }));
  return networkDriver(`Unix socket ${path}`, `unix://${path}`, async (stream, call) => {
    const socket = await openSocket({ path }, path, call.signal);
    call.ready?.();
    await pipeDuplex(stream, socket, { signal: call.signal });
  });
}

/**
 * `type: UdpNetwork`; config `host` (default 127.0.0.1), `port`. Each DATA message is one
 * datagram to the target, each datagram back is one DATA message.
 */
export function createUdpNetwork(config: Fields): Driver {
  const host = config.string("host", { default: "127.0.0.1" });
  const port = readPort(config);
  const label = `${host}:${port}`;
  return networkDriver(`UDP port ${label}`, `udp://${label}`, async (stream, call) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
    try {
      await new Promise<void>((resolvePromise, reject) => {
        socket.once(
          "error",
          (err) => reject(new DeviceUnavailableError(`udp ${label}: ${err.message}`)),
        );
        socket.connect(port, host, () => resolvePromise());
      });
      call.ready?.();
      const forward = (datagram: Uint8Array) => {
        if (!stream.sendingClosed) stream.sendMessage(datagram).catch(() => {});
      };
      socket.on("message", forward);
      const ended = new Promise<void>((resolvePromise) =>
        call.signal.addEventListener("abort", () => resolvePromise(), { once: true })
      );
      const sending = (async () => {
        for await (const frame of stream.frames()) {
          if (frame.frameType === FrameType.GOAWAY) break;
          if (frame.frameType === FrameType.DATA) socket.send(frame.payload);
        }
      })();
      await Promise.race([sending, ended]);
      socket.off("message", forward);
      await stream.close();
    } finally {
      socket.close();
    }
  });
}

/** `type: EchoNetwork`: every byte comes back; for tests and demos. */
export function createEchoNetwork(): Driver {
  return networkDriver("Echo (for tests)", "echo", async (stream, call) => {
    call.ready?.();
    for await (const chunk of stream) await stream.send(chunk);
    await stream.close();
  });
}
