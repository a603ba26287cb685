/** The ports tests and the bench bind: free, distinct, and outside the kernel's ephemeral range. */

import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { test } from "node:test";
import { ephemeralStart, freePort, portIn } from "../../scripts/free-port.ts";

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

const close = (s: Server) => new Promise((r) => s.close(r));

test("ports are below the ephemeral range, distinct within a process, and bindable", async () => {
  const start = ephemeralStart();
  assert.ok(start > 11_000, `ephemeral range starts at ${start}`);
  const ports: number[] = [];
  for (let i = 0; i < 40; i++) ports.push(await freePort());
  assert.equal(new Set(ports).size, ports.length, "no port is handed out twice");
  for (const p of ports) assert.ok(p >= 10_000 && p < start, `${p} lies in [10000, ${start})`);
  const servers = await Promise.all(ports.map(listen));
  await Promise.all(servers.map(close));
});

test("a port another process listens on is skipped; a range with none free falls back to the kernel's choice", async () => {
  // Two ports in a row taken by listeners the picker did not hand out.
  const lo = await freePort();
  const held = await Promise.all([listen(lo + 1), listen(lo + 2)]);
  try {
    // [lo+1, lo+3): both taken, so the answer comes from the kernel's range.
    const outside = await portIn("127.0.0.1", lo + 1, lo + 3);
    assert.ok(outside >= ephemeralStart(), `${outside} came from the kernel`);
    await close(await listen(outside));
    // [lo+1, lo+4): only lo+3 is free in the range (or, were it taken meanwhile, the kernel's).
    const third = await portIn("127.0.0.1", lo + 1, lo + 4);
    assert.ok(third === lo + 3 || third >= ephemeralStart(), `${third} is lo+3 or the kernel's`);
  } finally {
    await Promise.all(held.map(close));
  }
});
