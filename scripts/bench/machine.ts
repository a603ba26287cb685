import { closeSync, fsyncSync, openSync, rmSync, writeSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { QUICK } from "./options.ts";
import type { System } from "./system.ts";
import { freePort, pct, startProc, stopProc, waitFor } from "./util.ts";

/** Latency of fsync after a 4 KiB write in `dir`: p50 and p99 in ms. */
export function fsyncLatency(dir: string, n = QUICK ? 50 : 500): { p50: number; p99: number } {
  const f = join(dir, "fsync-probe");
  const fd = openSync(f, "w");
  const buf = Buffer.alloc(4096, 1);
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    writeSync(fd, buf);
    const t = performance.now();
    fsyncSync(fd);
    lat.push(performance.now() - t);
  }
  closeSync(fd);
  rmSync(f, { force: true });
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** Round trip of one byte over a loopback TCP connection to a child process (an echo server). */
export async function loopbackRtt(n = QUICK ? 200 : 2000): Promise<number> {
  const port = await freePort();
  const echo = startProc(
    process.execPath,
    [
      "-e",
      `require("net").createServer((s)=>{s.setNoDelay(true);s.on("data",(d)=>s.write(d))}).listen(${port},"127.0.0.1",()=>console.log("up"))`,
    ],
    { PATH: process.env.PATH ?? "" },
  );
  await waitFor("echo server", 5000, async () => (echo.out.join("").includes("up") ? true : undefined));
  const sock = connect(port, "127.0.0.1");
  sock.setNoDelay(true);
  await new Promise((r) => sock.once("connect", r));
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((r) => {
      sock.once("data", () => r());
      sock.write("x");
    });
    lat.push(performance.now() - t);
  }
  sock.destroy();
  await stopProc(echo);
  lat.sort((a, b) => a - b);
  return pct(lat, 50);
}

/** A plain Node HTTP server (one process) that answers every request with a small JSON body. */
export async function echoServer(): Promise<{ sys: System; stop: () => Promise<void> }> {
  const port = await freePort();
  const p = startProc(
    process.execPath,
    [
      "-e",
      `require("http").createServer((q,s)=>{q.resume();q.on("end",()=>{s.setHeader("content-type","application/json");s.end('{"index":1}')})}).listen(${port},"127.0.0.1",()=>console.log("up"))`,
    ],
    { PATH: process.env.PATH ?? "" },
  );
  await waitFor("http echo server", 5000, async () => (p.out.join("").includes("up") ? true : undefined));
  const sys: System = {
    name: "node-http-echo",
    ports: [port],
    put: (key, value) => ({ method: "POST", path: "/key", body: JSON.stringify({ [key]: value }) }),
    get: (key) => ({ method: "GET", path: `/key/${key}` }),
    value: () => undefined,
    follower: async () => 0,
    leader: async () => 0,
    pids: () => [p.proc.pid as number],
    stop: async () => stopProc(p),
  };
  return { sys, stop: () => stopProc(p) };
}
