// Client of network drivers (upstream's NetworkClient): open the target's byte stream, or
// forward a local port to it so that ordinary tools (ssh, curl, a browser) reach the board.

import * as dgram from "node:dgram";
import * as net from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";
import { type ClientByteStream, FrameType } from "../../transport/mod.ts";
import { DriverClient, stdioDuplex, type Verb } from "../framework/mod.ts";

/** A local listener tunnelling to the driver's target. */
export interface Forward {
  /** `host:port` or the socket path it listens on. */
  readonly address: string;
  /** Connections served so far. */
  readonly connections: number;
  /** Stops listening and closes open tunnels. */
  close(): Promise<void>;
}

/**
 * Reaches a TCP/UDP/Unix target next to the exporter.
 *
 * @example
 * ```ts
 * const fwd = await (dut.root.child("ssh") as NetworkClient).forward({ port: 2222 });
 * // ssh -p 2222 root@localhost
 * await fwd.close();
 * ```
 */
export class NetworkClient extends DriverClient {
  /** The target's address as the exporter sees it (`tcp://host:port`, ...). */
  async address(): Promise<string> {
    return String(await this.call("address"));
  }

  /**
   * Listens on `host:port` (default 127.0.0.1 and a free port) or on Unix socket `path`; each
   * accepted connection is tunnelled to the target through its own byte stream.
   */
  async forward(options: { host?: string; port?: number; path?: string } = {}): Promise<Forward> {
    const open = new Set<net.Socket>();
    let connections = 0;
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      connections++;
      open.add(socket);
      this.pipe("connect", socket)
        .catch((err) => {
          process.stderr.write(
            `forward: ${this.name}: ${err instanceof Error ? err.message : err}\n`,
          );
          socket.destroy();
        })
        .finally(() => open.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      if (options.path) server.listen(options.path, resolve);
      else server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve);
    });
    const bound = server.address();
    const address = typeof bound === "string" ? bound : `${bound!.address}:${bound!.port}`;
    return {
      address,
      get connections() {
        return connections;
      },
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of open) socket.destroy();
          server.close(() => resolve());
        }),
    };
  }

  /**
   * Listens for UDP datagrams on `host:port` (default 127.0.0.1 and a free port); each sender
   * gets its own byte stream to the target (a UdpNetwork driver), and the replies go back to it.
   */
  async forwardUdp(options: { host?: string; port?: number } = {}): Promise<Forward> {
    const host = options.host ?? "127.0.0.1";
    const socket = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
    const peers = new Map<string, Promise<ClientByteStream>>();
    const peerFor = (from: dgram.RemoteInfo) => {
      const key = `${from.address}:${from.port}`;
      let session = peers.get(key);
      if (!session) {
        session = this.openStream("connect").then((call) => {
          // Replies, one datagram per message, back to this sender.
          (async () => {
            for await (const frame of call.stream.frames()) {
              if (frame.frameType !== FrameType.DATA) break;
              socket.send(frame.payload, from.port, from.address);
            }
          })().catch(() => {}).finally(() => peers.delete(key));
          return call;
        });
        session.catch((err) => {
          process.stderr.write(
            `forward-udp: ${this.name}: ${err instanceof Error ? err.message : err}\n`,
          );
          peers.delete(key);
        });
        peers.set(key, session);
      }
      return session;
    };
    socket.on("message", (datagram, from) => {
      peerFor(from).then((call) => call.stream.sendMessage(datagram)).catch(() => {});
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(options.port ?? 0, host, () => resolve());
    });
    const bound = socket.address();
    return {
      address: `${bound.address}:${bound.port}`,
      get connections() {
        return peers.size;
      },
      close: async () => {
        for (const session of peers.values()) session.then((call) => call.cancel(), () => {});
        await new Promise<void>((resolve) => socket.close(() => resolve()));
      },
    };
  }

  override verbs(): Verb[] {
    const forwardUntilStopped = async (fwd: Forward, io: { stderr(t: string): void }) => {
      io.stderr(`forwarding ${fwd.address} to ${this.name}; Ctrl-C stops\n`);
      await new Promise<void>((resolve) => {
        for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
          process.once(signal, resolve);
        }
      });
      await fwd.close();
    };
    // `forward-tcp [PORT]` (upstream's spelling) and `forward --port N` take the same options.
    const forwardTcp = async (args: string[], io: { stderr(t: string): void }) => {
      const { values, positionals } = parseArgs({
        args,
        options: {
          address: { type: "string", default: "127.0.0.1" },
          port: { type: "string", short: "p" },
        },
        allowPositionals: true,
      });
      const given = values.port ?? positionals[0];
      const port = given === undefined ? 0 : Number(given);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new Error(`the port must be a number from 0 to 65535, got "${given}"`);
      }
      await forwardUntilStopped(await this.forward({ host: values.address, port }), io);
    };
    return [
      {
        name: "forward-tcp",
        summary: "Forward a local TCP port to the target (e.g. ssh -p PORT localhost)",
        usage: "[--address HOST] [PORT]",
        options: [{
          flags: "    --address HOST",
          summary: "local address to listen on (127.0.0.1)",
        }],
        run: (args, io) => forwardTcp(args, io),
      },
      {
        name: "forward",
        summary: "Same as forward-tcp, with the port as an option",
        usage: "[--port N] [--address HOST]",
        options: [
          { flags: "-p, --port N", summary: "local port (default: a free one, printed)" },
          { flags: "    --address HOST", summary: "local address to listen on (127.0.0.1)" },
        ],
        run: (args, io) => forwardTcp(args, io),
      },
      {
        name: "forward-udp",
        summary: "Forward a local UDP port to a UDP target, one stream per sender",
        usage: "[--address HOST] [PORT]",
        options: [{ flags: "    --address HOST", summary: "local address (127.0.0.1)" }],
        run: async (args, io) => {
          const { values, positionals } = parseArgs({
            args,
            options: { address: { type: "string", default: "127.0.0.1" } },
            allowPositionals: true,
          });
          const port = positionals[0] === undefined ? 0 : Number(positionals[0]);
          if (!Number.isInteger(port) || port < 0 || port > 65535) {
            throw new Error(`the port must be a number from 0 to 65535, got "${positionals[0]}"`);
          }
          await forwardUntilStopped(await this.forwardUdp({ host: values.address, port }), io);
        },
      },
      {
        name: "forward-unix",
        summary: "Forward a local Unix socket to the target",
        usage: "PATH",
        run: async ([path], io) => {
          if (!path) throw new Error("forward-unix: give the socket PATH to listen on");
          await forwardUntilStopped(await this.forward({ path }), io);
        },
      },
      {
        name: "connect",
        summary: "Pipe standard input and output through a connection to the target",
        usage: "",
        run: () => this.pipe("connect", stdioDuplex()),
      },
      {
        name: "address",
        summary: this.methodsDescription.address ?? "Print the target's address",
        usage: "",
        run: async (_args, io) => io.stdout(`${await this.address()}\n`),
      },
    ];
  }
}
