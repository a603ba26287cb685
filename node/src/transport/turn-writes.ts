/**
 * Socket writes coalesced per turn of the event loop: the frames written in
 * one turn (the appends of one Ready, the answers one apply resolves) leave in
 * one write system call, not one each. On loopback a write costs the sender
 * the receiver's TCP work too, so this is CPU, not only packets.
 */

import type { Writable } from "node:stream";

const corked = new WeakSet<Writable>();

/** Writes `data` to `socket`, holding it (corked) until the current turn's ticks and microtasks are done. */
export function writeInTurn(socket: Writable, data: Buffer | string): void {
  if (!corked.has(socket)) {
    corked.add(socket);
    socket.cork();
    process.nextTick(() => {
      corked.delete(socket);
      socket.uncork();
    });
  }
  socket.write(data);
}
