/** The real helm (scripts/helm-binary.sh) against the e2e cluster's admin kubeconfig. */

import { execFile } from "node:child_process";
import { helmBinary } from "../../charts/helm.ts";

/** Runs `helm args` with KUBECONFIG = `kubeconfig`; resolves with stdout, rejects with stderr on failure. */
export async function helm(kubeconfig: string, args: string[], timeoutMs = 300_000): Promise<string> {
  const bin = await helmBinary();
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`helm ${args.join(" ")}: ${err.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}
