/**
 * Test audio: a sine tone as 16-bit signed PCM, and a canonical RIFF/WAVE file of it (what baresip's `aufile`
 * source reads: PCM, 16 bit, mono, 8000 Hz). Also 10 ms frames for wrtc's RTCAudioSource.
 */
import { writeFile } from 'node:fs/promises';

export interface ToneOptions {
  /** Hz. Default 440. */
  frequency?: number;
  /** Samples per second. Default 8000. */
  sampleRate?: number;
  /** Length in seconds. Default 1. */
  seconds?: number;
  /** Peak amplitude 0..1 of full scale. Default 0.5. */
  amplitude?: number;
}

/** A sine tone as 16-bit signed samples (mono). */
export function tone(opts: ToneOptions = {}): Int16Array {
  const rate = opts.sampleRate ?? 8000;
  const freq = opts.frequency ?? 440;
  const amp = Math.max(0, Math.min(1, opts.amplitude ?? 0.5)) * 32767;
  const n = Math.max(0, Math.round(rate * (opts.seconds ?? 1)));
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * i) / rate));
  return out;
}

/** RIFF/WAVE bytes for 16-bit PCM mono samples. */
export function wavBytes(samples: Int16Array, sampleRate = 8000): Buffer {
  const dataLen = samples.length * 2;
  const b = Buffer.alloc(44 + dataLen);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + dataLen, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16); // fmt chunk size
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // channels
  b.writeUInt32LE(sampleRate, 24);
  b.writeUInt32LE(sampleRate * 2, 28); // byte rate
  b.writeUInt16LE(2, 32); // block align
  b.writeUInt16LE(16, 34); // bits per sample
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(dataLen, 40);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i] ?? 0, 44 + 2 * i);
  return b;
}

export interface WavInfo {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  samples: number;
}

/** Reads the fmt and data chunk sizes of a WAV (null when it is not one). Never throws. */
export function parseWav(b: Buffer): WavInfo | null {
  if (b.length < 12 || b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') return null;
  let off = 12;
  let fmt: Omit<WavInfo, 'samples'> | null = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ' && body + 16 <= b.length) {
      fmt = {
        format: b.readUInt16LE(body),
        channels: b.readUInt16LE(body + 2),
        sampleRate: b.readUInt32LE(body + 4),
        bitsPerSample: b.readUInt16LE(body + 14),
      };
    } else if (id === 'data' && fmt !== null) {
      const len = Math.min(size, b.length - body);
      return { ...fmt, samples: Math.floor(len / ((fmt.bitsPerSample / 8) * Math.max(1, fmt.channels))) };
    }
    off = body + size + (size % 2);
  }
  return null;
}

/** Writes an 8 kHz 16-bit mono WAV tone to `path`. */
export async function writeToneWav(path: string, opts: ToneOptions = {}): Promise<void> {
  const sampleRate = opts.sampleRate ?? 8000;
  await writeFile(path, wavBytes(tone({ ...opts, sampleRate }), sampleRate));
}
