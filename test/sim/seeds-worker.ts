/** Worker thread entry: runs one range of seeds and posts the summary back. */
import { parentPort, workerData } from "node:worker_threads";
import { runRange, type SeedRange } from "./seeds.ts";

parentPort?.postMessage(runRange(workerData as SeedRange));
