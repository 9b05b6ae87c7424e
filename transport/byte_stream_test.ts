import { strict as assert } from "node:assert";
import { createHash, randomBytes } from "node:crypto";
import * as http2 from "node:http2";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { Code, ConnectError } from "@connectrpc/connect";
import { createChannel, FrameType, openByteStream, serve } from "./mod.ts";
import type { ByteStreamHandler } from "./mod.ts";

const echo: ByteStreamHandler = async ({ stream, metadata, sendHeaders }) => {
  sendHeaders({ "x-echo-of": metadata.get("request") ?? "" });
  for await (const chunk of stream) await stream.send(chunk);
  await stream.close();
};

async function withEchoServer(
  fn: (target: string) => Promise<void>,
  handler: ByteStreamHandler = echo,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "jmp-bs-"));
  const server = await serve({
    address: `unix:${join(dir, "s.sock")}`,
    routes: () => {},
    byteStream: handler,
  });
  try {
    await fn(`unix:${join(dir, "s.sock")}`);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

Deno.test("byte stream echoes 8 MiB intact and passes metadata both ways", async () => {
  await withEchoServer(async (target) => {
    const channel = createChannel(target);
    try {
      const call = await openByteStream(channel, { metadata: { request: '{"kind":"test"}' } });
      const data = randomBytes(8 * 1024 * 1024);
      const sent = createHash("sha256").update(data).digest("hex");
      const sender = (async () => {
        for (let i = 0; i < data.length; i += 32 * 1024) {
          await call.stream.send(data.subarray(i, i + 32 * 1024));
        }
        await call.stream.close();
      })();
      const hash = createHash("sha256");
      let received = 0;
      for await (const chunk of call.stream) {
        hash.update(chunk);
        received += chunk.length;
      }
      await sender;
      await call.done;
      assert.equal((await call.headers).get("x-echo-of"), '{"kind":"test"}');
      assert.equal(received, data.length);
      assert.equal(hash.digest("hex"), sent);
    } finally {
      channel.close();
    }
  });
});

Deno.test("a handler error reaches the client as its gRPC status", async () => {
  await withEchoServer(async (target) => {
    const channel = createChannel(target);
    try {
      const call = await openByteStream(channel);
      await assert.rejects(call.done, (err: ConnectError) => {
        assert.equal(err.code, Code.NotFound);
        assert.match(err.rawMessage, /no such driver/);
        return true;
      });
      await assert.rejects(call.headers, ConnectError);
    } finally {
      channel.close();
    }
  }, () => Promise.reject(new ConnectError("no such driver", Code.NotFound)));
});

Deno.test("PING frames are skipped and GOAWAY ends the reader", async () => {
  await withEchoServer(async (target) => {
    const channel = createChannel(target);
    try {
      const call = await openByteStream(channel);
      await call.stream.sendFrame(FrameType.PING);
      await call.stream.send(new TextEncoder().encode("abc"));
      await call.stream.sendFrame(42); // unknown frame types are ignored
      await call.stream.close();
      const chunks: string[] = [];
      for await (const chunk of call.stream) chunks.push(new TextDecoder().decode(chunk));
      assert.deepEqual(chunks, ["abc"]);
      await call.done;
    } finally {
      channel.close();
    }
  });
});

Deno.test("an oversized message ends the call with RESOURCE_EXHAUSTED", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jmp-bs-"));
  const server = await serve({
    address: `unix:${join(dir, "s.sock")}`,
    routes: () => {},
    byteStream: echo,
    maxMessageBytes: 1024,
  });
  const channel = createChannel(`unix:${join(dir, "s.sock")}`);
  try {
    const call = await openByteStream(channel);
    await call.stream.send(new Uint8Array(4096));
    await assert.rejects(call.done, (err: ConnectError) => err.code === Code.ResourceExhausted);
  } finally {
    channel.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("a deadline ends a byte stream that never finishes", async () => {
  await withEchoServer(async (target) => {
    const channel = createChannel(target);
    try {
      const call = await openByteStream(channel, { timeoutMs: 200 });
      await assert.rejects(call.done, (err: ConnectError) => err.code === Code.DeadlineExceeded);
    } finally {
      channel.close();
    }
  }, (call) => new Promise((resolve) => call.signal.addEventListener("abort", () => resolve())));
});

Deno.test("a sender whose connection is lost is told so instead of sending into nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jmp-bs-"));
  const path = join(dir, "s.sock");
  // A server that takes the call, then drops the whole connection once bytes arrive.
  const server = http2.createServer();
  const sockets: Duplex[] = [];
  server.on("connection", (socket: Duplex) => sockets.push(socket));
  server.on("session", (session) => session.on("error", () => {}));
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    stream.once("data", () => sockets.forEach((socket) => socket.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const channel = createChannel(`unix:${path}`);
  try {
    const call = await openByteStream(channel);
    const chunk = new Uint8Array(256 * 1024).fill(1);
    const sending = (async () => {
      for (let sends = 0; sends < 100_000; sends++) await call.stream.send(chunk);
    })();
    await assert.rejects(sending, (err: ConnectError) => {
      assert.equal(err.code, Code.Unavailable);
      assert.match(err.rawMessage, /^the connection to unix:\S+ was lost before the call finished/);
      return true;
    });
    await assert.rejects(call.done, (err: ConnectError) => err.code === Code.Unavailable);
  } finally {
    channel.close();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
});
