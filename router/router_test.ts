import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type Channel,
  createChannel,
  formatAddress,
  type GrpcServer,
  openByteStream,
  serve,
} from "../transport/mod.ts";
import { Router, type RouterGrant } from "./router.ts";

// Test tokens are "streamId:lease"; "bad" is refused, as a forged token would be.
function verify(token: string): Promise<RouterGrant> {
  const [streamId, lease] = token.split(":");
  if (!lease) return Promise.reject(new Error("signature does not verify"));
  return Promise.resolve({ streamId, namespace: "lab", lease, expiresAt: Date.now() + 60_000 });
}

async function withRouter(
  test: (ctx: { router: Router; channel: () => Channel }) => Promise<void>,
  pairTimeoutMs = 60_000,
): Promise<void> {
  const router = new Router({ verify, pairTimeoutMs });
  const server: GrpcServer = await serve({
    address: "127.0.0.1:0",
    routes: () => {},
    byteStream: router.handle,
  });
  const channels: Channel[] = [];
  try {
    await test({
      router,
      channel: () => {
        const c = createChannel(formatAddress(server.address), { tls: false });
        channels.push(c);
        return c;
      },
    });
  } finally {
    for (const c of channels) c.close();
    await server.close();
  }
}

const open = (channel: Channel, token: string) =>
  openByteStream(channel, { metadata: { authorization: `Bearer ${token}` } });

async function collect(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest("hex");
}

Deno.test("two streams with one token are paired and carry 32 MiB each way", async () => {
  await withRouter(async ({ channel, router }) => {
    const client = await open(channel(), "s1:lease-a");
    // The first side waits; the router holds it until its partner arrives.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(router.waitingCount, 1);
    const exporter = await open(channel(), "s1:lease-a");
    const block = new Uint8Array(1024 * 1024).map((_, i) => i & 0xff);
    const expected = createHash("sha256");
    for (let i = 0; i < 32; i++) expected.update(block);
    const send = async (side: typeof client) => {
      for (let i = 0; i < 32; i++) await side.stream.send(block);
      await side.stream.close();
    };
    const [, , atExporter, atClient] = await Promise.all([
      send(client),
      send(exporter),
      collect(exporter.stream),
      collect(client.stream),
    ]);
    const sha = expected.digest("hex");
    assert.equal(atExporter, sha);
    assert.equal(atClient, sha);
    await Promise.all([client.done, exporter.done]);
    assert.equal(router.waitingCount, 0);
  });
});

Deno.test("a missing or bad token is refused with UNAUTHENTICATED", async () => {
  await withRouter(async ({ channel }) => {
    for (const token of ["bad", ""]) {
      const call = await openByteStream(channel(), {
        metadata: token ? { authorization: `Bearer ${token}` } : {},
      });
      const err = await call.done.catch((e) => e);
      assert.ok(err instanceof ConnectError, String(err));
      assert.equal(err.code, Code.Unauthenticated);
      assert.match(err.rawMessage, token ? /router token refused: signature/ : /missing router/);
    }
  });
});

Deno.test("a stream whose partner never comes is ended; a used token cannot pair again", async () => {
  await withRouter(async ({ channel }) => {
    const probe = await open(channel(), "lonely:lease-a");
    const err = await probe.done.catch((e) => e);
    assert.equal(err.code, Code.DeadlineExceeded);
    const a = await open(channel(), "s2:lease-a");
    const b = await open(channel(), "s2:lease-a");
    await Promise.all([a.stream.close(), b.stream.close()]);
    await Promise.all([a.done, b.done, collect(a.stream), collect(b.stream)]);
    const third = await open(channel(), "s2:lease-a");
    const reused = await third.done.catch((e) => e);
    assert.equal(reused.code, Code.PermissionDenied);
  }, 200);
});

Deno.test("when one side goes away or the lease ends, the other side's call ends", async () => {
  await withRouter(async ({ channel, router }) => {
    const a = await open(channel(), "s3:lease-a");
    const b = await open(channel(), "s3:lease-a");
    await a.stream.send(new TextEncoder().encode("hi"));
    const reader = b.stream[Symbol.asyncIterator]();
    assert.equal(new TextDecoder().decode((await reader.next()).value), "hi");
    a.cancel();
    // The status follows whatever was in flight: read on to reach it.
    await drain(reader).catch(() => {});
    const err = await b.done.catch((e) => e);
    assert.ok(err instanceof ConnectError, "b's call failed");

    const c = await open(channel(), "s4:lease-b");
    const d = await open(channel(), "s4:lease-b");
    await c.stream.send(new Uint8Array([1]));
    const first = d.stream[Symbol.asyncIterator]();
    await first.next();
    router.cutLease("lab", "lease-b");
    await Promise.all([collect(c.stream), drain(first)].map((p) => p.catch(() => {})));
    for (const side of [c, d]) {
      const cut = await side.done.catch((e) => e);
      assert.equal(cut.code, Code.Unavailable);
      assert.match(cut.rawMessage, /lease lease-b has ended/);
    }
  });
});

async function drain(iterator: AsyncIterator<Uint8Array>): Promise<void> {
  while (!(await iterator.next()).done);
}
