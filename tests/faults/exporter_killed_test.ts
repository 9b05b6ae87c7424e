// An exporter killed with SIGKILL in the middle of a byte stream, with real processes
// (`jmp-controller run`, `jmp-exporter run`): the client's transfer fails instead of hanging,
// with an error that says the connection to the exporter was lost, and stops reading its
// source; the lease stays Ready for its client while the exporter is listed offline; the
// exporter starts again despite what the killed one left behind and the same lease reaches it;
// once released, the exporter goes to the next lease.

import { strict as assert } from "node:assert";
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { connectExporter, ControllerConnection } from "../../client/mod.ts";
import { loadClientConfig } from "../../config/mod.ts";
import type { StorageMuxClient } from "../../drivers/storage/mod.ts";
import { cliCommand } from "../fixtures/cli_processes.ts";
import { setExports, startControllerProcess } from "../fixtures/controller_process.ts";
import { eventually } from "../fixtures/wait.ts";
import { startUntil } from "../fixtures/processes_io.ts";
import { withTempDir } from "../fixtures/temp_dir.ts";

// What `promise` settles to, or a failure naming `what` once `ms` have passed.
async function within<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

// An image that never ends, of 1 MiB chunks that are not zeros (which a sparse upload would
// leave out); `onClosed` is told when its reader lets go of it.
async function* endlessImage(onClosed: () => void): AsyncGenerator<Uint8Array> {
  try {
    for (let i = 1;; i++) yield new Uint8Array(1024 * 1024).fill(i % 255 + 1);
  } finally {
    onClosed();
  }
}

Deno.test(
  "an exporter killed mid-stream fails the transfer with a clear error, keeps the lease, " +
    "and serves the same lease once it is started again",
  withTempDir(async (dir) => {
    const env = { ...process.env, HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "xdg") };
    // The exporter's own temporary files (its session socket, the mock disk) land here, so that
    // what a killed exporter leaves behind can be seen.
    const exporterTmp = join(dir, "exporter-tmp");
    mkdirSync(exporterTmp);
    const exporterEnv = { ...env, TMPDIR: exporterTmp };
    const controller = await startControllerProcess(dir, env);
    let exporter: Awaited<ReturnType<typeof startUntil>> | undefined;
    try {
      const admin = controller.admin;
      const exporterFile = await admin("exporter", "bench", ["-l", "board=rpi4"]);
      setExports(exporterFile, "  storage: {type: MockStorageMux}");
      const startExporter = () =>
        startUntil(
          cliCommand("jmp-exporter.ts", ["run", "-c", exporterFile]),
          exporterEnv,
          "stderr",
          "registered with the controller",
        );
      exporter = await startExporter();

      const [alice, bob] = await Promise.all(
        ["alice", "bob"].map(async (name) =>
          new ControllerConnection(
            await loadClientConfig(await admin("client", name, ["--unsafe"])),
          )
        ),
      );
      using _alice = alice, _bob = bob;
      const asked = await alice.createLease({ selector: "board=rpi4", durationMs: 600_000 });
      const lease = await alice.waitForLease(asked.name, { timeoutMs: 20_000 });
      assert.equal(lease.exporter, "bench");
      await using tunnel = await alice.openTunnel(lease.name);

      // A transfer that never ends by itself, so that the kill lands mid-stream.
      let dropped: () => void;
      const sourceClosed = new Promise<void>((resolve) => dropped = resolve);
      // The image the exporter is writing, in its temporary folder.
      const partialBytes = () => {
        const [partial] = readdirSync(exporterTmp).filter((f) => f.endsWith(".img.partial"));
        return partial ? statSync(join(exporterTmp, partial)).size : 0;
      };
      let failure: Error;
      {
        await using board = await connectExporter(`unix:${tunnel.socket}`);
        const storage = board.root.child("storage") as StorageMuxClient;
        await storage.host();
        const transfer = storage.write(endlessImage(() => dropped()));
        transfer.catch(() => {/* awaited below */});
        await eventually(
          "the exporter writing the image",
          () => Promise.resolve(partialBytes() >= 4 * 1024 * 1024 || undefined),
          { ms: 60_000 },
        );

        const killed = exporter.child;
        exporter = undefined;
        const closed = new Promise((resolve) => killed.once("close", resolve));
        killed.kill("SIGKILL");
        await closed;

        failure = await within(
          "the transfer neither failed nor finished after the exporter was killed",
          transfer.then(
            () => assert.fail("the transfer succeeded although its exporter was killed"),
            (err: Error) => err,
          ),
          30_000,
        );
        await within("the client did not stop reading the image", sourceClosed, 10_000);
      }
      assert.match(
        failure.message,
        /^storage\.\w+: the connection to unix:\S+ was lost before the call finished/,
        `the client is told the connection to the exporter was lost, not: ${failure.message}`,
      );

      // The exporter is offline, and the lease is kept for its client.
      await eventually("the controller listing the killed exporter offline", async () => {
        const [bench] = await alice.listExporters("board=rpi4");
        return bench && !bench.online ? bench : undefined;
      });
      const kept = await alice.getLease(lease.name);
      assert.equal(kept.state, "Ready");
      assert.equal(kept.exporter, "bench");
      assert.equal(kept.client, "alice");

      // The killed exporter left its session socket behind; a new one starts all the same.
      const leftovers = readdirSync(exporterTmp).filter((f) => f.startsWith("jmp-exporter-"));
      assert.ok(
        leftovers.some((d) => readdirSync(join(exporterTmp, d)).includes("session.sock")),
        `the killed exporter's session socket should be left in ${exporterTmp} (found ${leftovers})`,
      );
      exporter = await startExporter();
      await eventually("the controller listing the exporter online again", async () => {
        const [bench] = await alice.listExporters("board=rpi4");
        return bench?.online ? bench : undefined;
      });
      await eventually("the same lease reaching the restarted exporter", async () => {
        await using board = await connectExporter(`unix:${tunnel.socket}`);
        await (board.root.child("storage") as StorageMuxClient).off();
        return true;
      });
      const still = await alice.getLease(lease.name);
      assert.equal(still.state, "Ready");
      assert.equal(still.exporter, "bench");

      // Released, the exporter goes to the next client.
      await alice.releaseLease(lease.name);
      const next = await bob.createLease({ selector: "board=rpi4", durationMs: 60_000 });
      const granted = await bob.waitForLease(next.name, { timeoutMs: 20_000 });
      assert.equal(granted.exporter, "bench");
      await bob.releaseLease(granted.name);
    } finally {
      await exporter?.stop();
      await controller.stop();
    }
  }),
);
