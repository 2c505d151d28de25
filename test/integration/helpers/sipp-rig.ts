/** A SIPp UAS playing the PBX and a Palisade in front of it, in one work directory: started, and torn down. */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { PalisadeHandle } from '../harness/daemon.ts';
import type { SippUasHandle } from '../harness/sipp.ts';

export interface SippRig {
  work: string;
  uas: SippUasHandle;
  d: PalisadeHandle;
  /** Palisade's UDP listener port (listener id `udp`). */
  port: number;
}

/** Waits for the daemon and finds its `udp` listener; stops both on failure. */
export async function readySippRig(work: string, uas: SippUasHandle, d: PalisadeHandle): Promise<SippRig> {
  try {
    await d.waitReady();
    const l = (await d.listeners()).find((x) => x.id === 'udp');
    assert.ok(l, 'udp listener');
    return { work, uas, d, port: l.port };
  } catch (e) {
    await d.stop();
    await uas.stop();
    throw e;
  }
}

export async function stopSippRig(r: SippRig | undefined): Promise<void> {
  if (r === undefined) return;
  await r.d.stop();
  await r.uas.stop();
  await rm(r.work, { recursive: true, force: true });
}
