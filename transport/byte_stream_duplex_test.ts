import { strict as assert } from "node:assert";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Duplex } from "node:stream";
import { finished } from "node:stream/promises";
import { ExporterService } from "../proto/mod.ts";
import {
  byteStreamDuplex,
  type ByteStreamHandler,
  createChannel,
  type GrpcServer,
  leanUnary,
  openByteStream,
  serve,
} from "./mod.ts";

async function withServers(
  fn: (relay: string, inner: GrpcServer) => Promise<void>,
  handler?: ByteStreamHandler,
) {
  const dir = mkdtempSync(join(tmpdir(), "jmp-bsd-"));
  // The inner server has no address of its own worth using: it is reached through the relay.
  const inner = await serve({
    address: `unix:${join(dir, "inner.sock")}`,
    routes: () => {},
    unary: [leanUnary(ExporterService.method.driverCall, (req) => ({ uuid: req.method }))],
  });
  // The relay hands each byte stream to the inner server as a connection, as an exporter does
  // with router streams.
  const relayHandler: ByteStreamHandler = handler ?? (async ({ stream }) => {
    const connection = byteStreamDuplex(stream);
    inner.accept(connection);
    await finished(connection).catch(() => {});
  });
  const relay = await serve({
    address: `unix:${join(dir, "relay.sock")}`,
    routes: () => {},
    byteStream: relayHandler,
  });
  try {
    await fn(`unix:${join(dir, "relay.sock")}`, inner);
  } finally {
    await relay.close();
    await inner.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

Deno.test("a byte stream handed to a server as a connection carries gRPC calls", async () => {
  await withServers(async (relay) => {
    const channel = createChannel(relay);
    try {
      const call = await openByteStream(channel);
      const tunnel = byteStreamDuplex(call.stream);
      const session = http2.connect("http://localhost", { createConnection: () => tunnel });
      try {
        // A call made by hand on the tunnelled session: a DriverCall request for method "x".
        const req = session.request({
          ":method": "POST",
          ":path": "/jumpstarter.v1.ExporterService/DriverCall",
          "content-type": "application/grpc",
          te: "trailers",
        });
        const body = new Uint8Array([0, 0, 0, 0, 3, 0x12, 1, 0x78]);
        const chunks: Uint8Array[] = [];
        let trailers: http2.IncomingHttpHeaders = {};
        req.on("data", (c) => chunks.push(c));
        req.on("trailers", (t) => (trailers = t));
        req.end(body);
        await new Promise((resolve) => req.on("close", resolve));
        assert.equal(trailers["grpc-status"], "0");
        // DriverCallResponse{uuid: "x"} in its envelope.
        assert.deepEqual([...Buffer.concat(chunks)], [0, 0, 0, 0, 3, 0x0a, 1, 0x78]);
      } finally {
        session.destroy();
        // Deno's session does not destroy a connection it did not open itself.
        tunnel.destroy();
      }
      await call.done;
    } finally {
      channel.close();
    }
  });
});

Deno.test("bytes cross a duplex over a byte stream intact, and its end ends the call", async () => {
  const echo: ByteStreamHandler = async ({ stream }) => {
    for await (const chunk of stream) await stream.send(chunk);
    await stream.close();
  };
  await withServers(async (relay) => {
    const channel = createChannel(relay);
    try {
      const call = await openByteStream(channel);
      const duplex = byteStreamDuplex(call.stream);
      const data = randomBytes(4 * 1024 * 1024);
      const received = createHash("sha256");
      let bytes = 0;
      duplex.on("data", (chunk: Uint8Array) => {
        received.update(chunk);
        bytes += chunk.length;
      });
      for (let i = 0; i < data.length; i += 64 * 1024) {
        if (!duplex.write(data.subarray(i, i + 64 * 1024))) {
          await new Promise((resolve) => duplex.once("drain", resolve));
        }
      }
      duplex.end();
      await finished(duplex);
      await call.done;
      assert.equal(bytes, data.length);
      assert.equal(received.digest("hex"), createHash("sha256").update(data).digest("hex"));
    } finally {
      channel.close();
    }
  }, echo);
});

Deno.test("a connection accepted after the server closed is destroyed", async () => {
  await withServers(async (_relay, inner) => {
    await inner.close();
    const duplex = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
    inner.accept(duplex);
    assert.ok(duplex.destroyed);
  });
});
