// Benchmark peer for network forwarding: runs a TCP sink and a TCP echo server, has the
// exporter at --target reach them as TcpNetwork drivers, and measures throughput and round
// trips through `forward` next to the same over a direct loopback connection.
// Prints one JSON line.

import * as net from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";
import { connectExporter } from "../client/mod.ts";
import type { NetworkClient } from "../drivers/network/mod.ts";
import { measureLatencies } from "./peer_args.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    target: { type: "string" },
    "sink-port": { type: "string" },
    "echo-port": { type: "string" },
    mib: { type: "string", default: "256" },
    calls: { type: "string", default: "1000" },
  },
});

/** The servers the exporter's drivers point at; started by `serve`. */
export async function startTargets(sinkPort: number, echoPort: number) {
  const sink = net.createServer((socket) => {
    let bytes = 0;
    socket.on("data", (d) => (bytes += d.length));
    socket.on("end", () => socket.end(String(bytes)));
  });
  const echo = net.createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => sink.listen(sinkPort, "127.0.0.1", resolve));
  await new Promise<void>((resolve) => echo.listen(echoPort, "127.0.0.1", resolve));
  return () => {
    sink.close();
    echo.close();
  };
}

async function throughput(port: number, data: Uint8Array): Promise<number> {
  const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once("connect", resolve));
  const t0 = performance.now();
  const answer = new Promise<string>((resolve) => {
    let text = "";
    socket.on("data", (d) => (text += d));
    socket.on("end", () => resolve(text));
  });
  const chunk = 256 * 1024;
  for (let i = 0; i < data.length; i += chunk) {
    if (!socket.write(data.subarray(i, i + chunk))) {
      await new Promise((resolve) => socket.once("drain", resolve));
    }
  }
  socket.end();
  const received = Number(await answer);
  if (received !== data.length) throw new Error(`sink got ${received} of ${data.length} bytes`);
  return data.length / ((performance.now() - t0) / 1000) / 1e6;
}

async function roundTrips(port: number, count: number): Promise<number[]> {
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once("connect", resolve));
  const ping = new Uint8Array(64).fill(7);
  const latencies = await measureLatencies(count, () =>
    new Promise<void>((resolve) => {
      let got = 0;
      const onData = (d: Uint8Array) => {
        got += d.length;
        if (got >= ping.length) {
          socket.off("data", onData);
          resolve();
        }
      };
      socket.on("data", onData);
      socket.write(ping);
    }));
  socket.destroy();
  return latencies.sort((a, b) => a - b);
}

if (import.meta.main) {
  if (!values.target || !values["sink-port"] || !values["echo-port"]) {
    console.error("usage: peer_forward.ts --target unix:PATH --sink-port N --echo-port N");
    process.exit(2);
  }
  const stopTargets = await startTargets(Number(values["sink-port"]), Number(values["echo-port"]));
  const exporter = await connectExporter(values.target);
  const sinkForward = await (exporter.root.child("sink") as NetworkClient).forward();
  const echoForward = await (exporter.root.child("echo") as NetworkClient).forward();
  const port = (address: string) => Number(address.split(":").pop());
  const data = new Uint8Array(Number(values.mib) * 1024 * 1024).fill(0x5a);
  const calls = Number(values.calls);
  // Warm-up on both paths, then the timed runs.
  await throughput(port(sinkForward.address), data.subarray(0, 16 * 1024 * 1024));
  const direct = await throughput(Number(values["sink-port"]), data);
  const forwarded = await throughput(port(sinkForward.address), data);
  const directRtt = await roundTrips(Number(values["echo-port"]), calls);
  const forwardedRtt = await roundTrips(port(echoForward.address), calls);
  const p = (sorted: number[], q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  console.log(JSON.stringify({
    direct_mb_per_s: direct,
    forward_mb_per_s: forwarded,
    direct_p50_ms: p(directRtt, 0.5),
    forward_p50_ms: p(forwardedRtt, 0.5),
    forward_p99_ms: p(forwardedRtt, 0.99),
  }));
  await sinkForward.close();
  await echoForward.close();
  exporter.close();
  stopTargets();
}
