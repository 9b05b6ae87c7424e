// Distributed mode end to end with real processes: `jmp-controller run` (TLS, state in its data
// folder), two `jmp-exporter run` with different labels, three clients. Selectors pick the right
// exporter, a third client waits and gets the exporter when it is released; then the controller
// is killed with SIGKILL mid-lease and started again: the leases are still there, the exporters
// register again by themselves within 5 s of the new controller being ready, and the client
// reaches the board through the same lease.

import { strict as assert } from "node:assert";
import { join } from "node:path";
import process from "node:process";
import { connectExporter, ControllerConnection } from "../../client/mod.ts";
import { loadClientConfig } from "../../config/mod.ts";
import { startUntil } from "../fixtures/processes_io.ts";
import { withTempDir } from "../fixtures/temp_dir.ts";
import { cliCommand } from "../fixtures/cli_processes.ts";
import { setExports, startControllerProcess } from "../fixtures/controller_process.ts";
import { eventually } from "../fixtures/wait.ts";

Deno.test(
  "two exporters, three clients: selectors, a FIFO wait, and a controller killed mid-lease " +
    "that keeps every lease while the exporters come back by themselves",
  withTempDir(async (dir) => {
    const env = { ...process.env, HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "xdg") };
    const controller = await startControllerProcess(dir, env);
    const exporters: Awaited<ReturnType<typeof startUntil>>[] = [];
    try {
      const admin = controller.admin;
      for (const [name, board] of [["bench-rpi", "rpi4"], ["bench-imx", "imx8"]]) {
        const file = await admin("exporter", name, ["-l", `board=${board}`]);
        setExports(file, "  power: {type: MockPower}");
        exporters.push(
          await startUntil(
            cliCommand("jmp-exporter.ts", ["run", "-c", file]),
            env,
            "stderr",
            "registered with the controller",
          ),
        );
      }
      const [alice, bob, carol] = await Promise.all(
        ["alice", "bob", "carol"].map(async (name) =>
          new ControllerConnection(
            await loadClientConfig(await admin("client", name, ["--unsafe"])),
          )
        ),
      );
      using _alice = alice, _bob = bob, _carol = carol;
      const lease = async (who: ControllerConnection, selector: string) =>
        await who.createLease({ selector, durationMs: 600_000 });

      // Selectors pick the right exporter; the third client waits for the busy one.
      const a = await alice.waitForLease((await lease(alice, "board=rpi4")).name, {
        timeoutMs: 20_000,
      });
      const b = await bob.waitForLease((await lease(bob, "board=imx8")).name, {
        timeoutMs: 20_000,
      });
      assert.deepEqual([a.exporter, b.exporter], ["bench-rpi", "bench-imx"]);
      const waiting = await lease(carol, "board=rpi4");
      assert.equal(waiting.state, "Pending");
      await alice.releaseLease(a.name);
      const c = await carol.waitForLease(waiting.name, { timeoutMs: 20_000 });
      assert.equal(c.exporter, "bench-rpi");

      await using tunnel = await carol.openTunnel(c.name);
      {
        await using board = await connectExporter(`unix:${tunnel.socket}`);
        await board.root.child("power").call("on");
      }

      const killed = controller.current.child;
      killed.kill("SIGKILL");
      await new Promise((resolve) => killed.once("close", resolve));
      await controller.restart();
      const ready = Date.now();
      // Polled on its own, so that the time it took is not blurred by the other checks.
      const back = eventually("both exporters registering again", async () => {
        const listed = await carol.listExporters();
        return listed.length === 2 && listed.every((e) => e.online) ? Date.now() : undefined;
      }, { everyMs: 50 });
      back.catch(() => {/* awaited below */});

      for (const [who, held] of [[carol, c], [bob, b]] as const) {
        const kept = await eventually("the controller answering", () => who.getLease(held.name));
        assert.equal(kept.state, "Ready");
        assert.equal(kept.exporter, held.exporter);
      }
      const tookMs = (await back) - ready;
      assert.ok(
        tookMs <= 5000,
        `both exporters were back online ${(tookMs / 1000).toFixed(1)} s after the restarted ` +
          "controller was ready; at most 5 s is expected",
      );
      await eventually("the board answering through the same lease", async () => {
        await using board = await connectExporter(`unix:${tunnel.socket}`);
        await board.root.child("power").call("off");
        return true;
      });

      // A bad token is refused by the restarted controller too.
      const forged = await loadClientConfig(join(dir, "alice.yaml"));
      using mallory = new ControllerConnection({
        ...forged,
        token: `${forged.token!.slice(0, -6)}AAAAAA`,
      });
      const refused = await mallory.listLeases().catch((e) => e);
      assert.match(String(refused?.message), /token refused/);
    } finally {
      for (const exporter of exporters) await exporter.stop();
      await controller.stop();
    }
  }),
);
