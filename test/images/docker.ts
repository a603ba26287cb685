/**
 * The Docker engine and CLI for the image tests: an engine that answers (started by
 * scripts/docker-engine.sh in a temporary folder when none does, and stopped again), and `docker` calls
 * bounded in time that return their output instead of throwing.
 */

import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");

/** What a finished command left. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` with `env`, killing it and its children after `timeoutMs`; never throws for a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout also ends what it started (which would hold the pipes open).
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd ?? root,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, opts.timeoutMs ?? 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A Docker engine the tests may use. */
export interface Engine {
  /** The environment for docker commands (DOCKER_HOST set to the engine). */
  env: NodeJS.ProcessEnv;
  /** Whether this process holds an engine of scripts/docker-engine.sh (and stop() lets go of it). */
  started: boolean;
  /** Runs `docker args` against the engine, with the classic builder. */
  docker(args: string[], timeoutMs?: number): Promise<Run>;
  /** Runs `docker args` and returns stdout; throws with stderr when it fails. */
  ok(args: string[], timeoutMs?: number): Promise<string>;
  /** Lets go of the engine; the script stops it when no other holder is left. */
  stop(): Promise<void>;
}

/** Why the image tests cannot run here, or undefined when they can. */
export function unavailable(): string | undefined {
  const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
  const answers = spawnSync("docker", ["version"], { timeout: 15_000 }).status === 0;
  if (answers) return undefined;
  // As root, scripts/docker-engine.sh installs docker.io with apt when dockerd is missing.
  if (process.getuid?.() !== 0) return "no engine answers and installing or starting dockerd needs root";
  if (!has("dockerd") && !has("apt-get")) return "no engine answers, no dockerd, and no apt-get to install docker.io";
  return undefined;
}

/**
 * An engine: the one that answers, or the one scripts/docker-engine.sh runs in /tmp/raftkv-docker (started
 * if needed), held by this process until stop(), which stops it if no other holder is left.
 */
export async function engine(): Promise<Engine> {
  const script = join(root, "scripts", "docker-engine.sh");
  const holder = String(process.pid);
  const res = await run("bash", [script, "start", "--holder", holder], { timeoutMs: 90_000 });
  const host = /^DOCKER_HOST=(.+)$/m.exec(res.stdout)?.[1];
  if (res.code !== 0 || host === undefined) throw new Error(`docker-engine.sh start failed:\n${res.stderr}`);
  const started = !res.stderr.includes("an engine already answers");
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_BUILDKIT: "0" };
  const docker = (args: string[], timeoutMs?: number) =>
    run("docker", args, timeoutMs === undefined ? { env } : { env, timeoutMs });
  return {
    env,
    started,
    docker,
    async ok(args, timeoutMs) {
      const r = await docker(args, timeoutMs);
      if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.code}:\n${r.stderr}`);
      return r.stdout;
    },
    async stop() {
      if (!started) return;
      const r = await run("bash", [script, "stop", "--holder", holder], { timeoutMs: 90_000 });
      if (r.code !== 0) throw new Error(`docker-engine.sh stop failed:\n${r.stderr}`);
    },
  };
}
