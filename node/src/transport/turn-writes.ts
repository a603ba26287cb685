/**
 * Socket writes coalesced per turn of the event loop: the frames written in
 * one turn (the appends of one Ready, the answers one apply resolves) leave in
 * one write system call, not one each. On loopback a write costs the sender
 * the receiver's TCP work too, so this is CPU, not only packets.
 */

import type { Writable } from "node:stream";

// Insertion order is the order the sockets were first written in this turn, and the order they are flushed in.
const corked = new Set<Writable>();
let scheduled = false;

/** Writes `data` to `socket`, holding it (corked) until the current turn's ticks and microtasks are done. */
export function writeInTurn(socket: Writable, data: Buffer | string): void {
  if (!corked.has(socket)) {
    corked.add(socket);
    socket.cork();
    if (!scheduled) {
      scheduled = true;
      process.nextTick(endOfTurn);
    }
  }
  socket.write(data);
}

/** Sends everything held so far now, socket by socket in the order they were first written (for a caller whose next step is slow). */
export function flushTurnWrites(): void {
  if (corked.size === 0) return;
  const sockets = [...corked];
  corked.clear();
  for (const s of sockets) s.uncork();
}

function endOfTurn(): void {
  scheduled = false;
  flushTurnWrites();
}
