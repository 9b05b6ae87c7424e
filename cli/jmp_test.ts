import { strict as assert } from "node:assert";
import { isGroup, type LazyCommand } from "./command.ts";
import { jmp } from "./jmp.ts";

Deno.test("every lazily loaded jmp command is what its name and summary promise", async () => {
  for (const entry of jmp.commands) {
    if (!("load" in entry)) continue;
    const loaded = await (entry as LazyCommand).load();
    assert.equal(loaded.name, entry.name);
    assert.equal(loaded.summary, entry.summary, `the summary of ${entry.name}`);
    assert.ok(isGroup(loaded) || typeof loaded.run === "function");
  }
});
