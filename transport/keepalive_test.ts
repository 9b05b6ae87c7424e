import { strict as assert } from "node:assert";
import * as net from "node:net";
import { Code, ConnectError, createClient, type ServiceImpl } from "@connectrpc/connect";
import { ExporterService } from "../proto/mod.ts";
import { createChannel, type GrpcServer, serve } from "./mod.ts";

// A TCP relay that can go silent: it keeps both connections open but stops moving bytes, like a
// network path that died without any RST reaching either end.
async function silentRelay(target: number) {
  const sockets = new Set<net.Socket>();
  let frozen = false;
  const relay = net.createServer((inbound) => {
    const outbound = net.connect(target, "127.0.0.1");
    for (const [from, to] of [[inbound, outbound], [outbound, inbound]]) {
      sockets.add(from);
      from.on("data", (chunk) => frozen || to.write(chunk));
      from.on("error", () => {});
      from.on("close", () => to.destroy());
    }
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  return {
    port: (relay.address() as net.AddressInfo).port,
    freeze: () => (frozen = true),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}

// Fails the test instead of hanging it when a dead peer is never noticed.
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} not noticed within ${ms} ms`)), ms);
    }),
  ]);
}

function streamingService(onEnd: () => void): Partial<ServiceImpl<typeof ExporterService>> {
  return {
    async *streamingDriverCall(req, ctx) {
      try {
        for (let i = 0; !ctx.signal.aborted; i++) {
          yield { uuid: req.uuid, result: { kind: { case: "numberValue", value: i } } };
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        onEnd();
      }
    },
  };
}

async function startServer(
  keepalive: { intervalMs: number; timeoutMs: number } | undefined,
  onEnd: () => void,
): Promise<GrpcServer & { port: number }> {
  const server = await serve({
    address: "127.0.0.1:0",
    keepalive,
    routes: (r) => r.service(ExporterService, streamingService(onEnd)),
  });
  return Object.assign(server, { port: server.address.kind === "tcp" ? server.address.port : 0 });
}

Deno.test("client keepalive pings detect a server that went silent", async () => {
  const server = await startServer(undefined, () => {});
  const relay = await silentRelay(server.port);
  const channel = createChannel(`127.0.0.1:${relay.port}`, {
    tls: false,
    keepalive: { intervalMs: 200, timeoutMs: 300 },
  });
  try {
    const client = createClient(ExporterService, channel.transport);
    const read = (async () => {
      let n = 0;
      for await (const _ of client.streamingDriverCall({ uuid: "d" })) {
        if (++n === 2) relay.freeze();
      }
    })();
    await within(
      assert.rejects(read, (err: ConnectError) => {
        assert.ok(err instanceof ConnectError, String(err));
        assert.ok([Code.Unavailable, Code.DeadlineExceeded, Code.Canceled].includes(err.code));
        return true;
      }),
      10_000,
      "a dead server",
    );
  } finally {
    channel.close();
    await relay.close();
    await server.close();
  }
});

Deno.test("server keepalive pings drop a client that went silent and cancel its calls", async () => {
  let ended!: () => void;
  const handlerEnded = new Promise<void>((resolve) => (ended = resolve));
  const server = await startServer({ intervalMs: 200, timeoutMs: 300 }, () => ended());
  const relay = await silentRelay(server.port);
  const channel = createChannel(`127.0.0.1:${relay.port}`, { tls: false });
  try {
    const client = createClient(ExporterService, channel.transport);
    const abort = new AbortController();
    const read = (async () => {
      let n = 0;
      for await (const _ of client.streamingDriverCall({ uuid: "d" }, { signal: abort.signal })) {
        if (++n === 2) relay.freeze();
      }
    })().catch(() => {});
    await within(handlerEnded, 10_000, "a dead client");
    abort.abort();
    await read;
  } finally {
    channel.close();
    await relay.close();
    await server.close();
  }
});
