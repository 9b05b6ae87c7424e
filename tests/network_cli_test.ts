// Network verbs of `j` inside `jmp shell`, run as processes.

import { strict as assert } from "node:assert";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runToEnd } from "./fixtures/processes_io.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CONFIG = join(ROOT, "tests/fixtures/network-exporter.yaml");

function shell(script: string) {
  return runToEnd(
    [
      process.execPath,
      "run",
      "-A",
      join(ROOT, "cli/jmp.ts"),
      "shell",
      "--exporter-config",
      CONFIG,
      "--",
      "sh",
      "-c",
      script,
    ],
    process.env,
  );
}

Deno.test("j NAME connect pipes standard input through the target and back", async () => {
  const run = await shell("printf 'line one\\nline two\\n' | j echo connect");
  assert.equal(run.stdout, "line one\nline two\n", run.stderr);
  assert.equal(run.code, 0);
});

Deno.test("j NAME forward listens locally and tunnels each connection", async () => {
  // The forward runs in the background; a second j-less client talks through it.
  const run = await shell(
    "j echo forward --port 0 2>fwd.log & pid=$!; " +
      "for i in 1 2 3 4 5 6 7 8 9 10; do grep -q forwarding fwd.log 2>/dev/null && break; sleep 0.2; done; " +
      "addr=$(sed -n 's/^forwarding \\([^ ]*\\) to .*/\\1/p' fwd.log); " +
      `printf ping | ${JSON.stringify(process.execPath)} eval ` +
      `"const [h,p]=Deno.args[0].split(':');const c=await Deno.connect({hostname:h,port:+p});` +
      `await c.write(new TextEncoder().encode('ping'));await c.closeWrite();` +
      `const b=new Uint8Array(64);const n=await c.read(b);console.log(new TextDecoder().decode(b.subarray(0,n)))" "$addr"; ` +
      "kill $pid; wait $pid 2>/dev/null; rm -f fwd.log",
  );
  assert.equal(run.stdout, "ping\n", run.stderr);
});

Deno.test("j NAME address prints the target; an unreachable one is a one-line error", async () => {
  const address = await shell("j nowhere address");
  assert.equal(address.stdout, "tcp://127.0.0.1:9\n", address.stderr);
  const refused = await shell("echo hi | j nowhere connect");
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /^error: nowhere\.connect: cannot connect to 127\.0\.0\.1:9: ECONNREFUSED\n$/,
  );
});
