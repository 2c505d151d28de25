/**
 * Registration bindings kept at the edge. The PBX stays the registrar; Palisade registers its own Contact
 * (`sip:<token>@<pbx-listener>`) on the phone's behalf and remembers which flow the phone registered over,
 * so a call from the PBX to that token reaches the phone over its own TCP/TLS/WSS connection or NAT binding
 * (the RFC 5626 "flow" idea without requiring the phone to support outbound).
 */
import { createHmac } from 'node:crypto';
import { BoundedMap } from '../core/bounded-map.ts';
import type { Target } from '../transport/types.ts';

export interface Binding {
  readonly token: string;
  /** Address of record (To URI of the REGISTER, as written). */
  readonly aor: string;
  /** The phone's own Contact URI (without <>), used as Request-URI toward it. */
  readonly contactUri: string;
  /** The phone's Contact header value as written (returned to it in the 200 OK). */
  readonly contactRaw: string;
  readonly flow: Target;
  /** Monotonic ms; 0 while the PBX has not confirmed it yet. */
  expiresAt: number;
}

export class RegistrationStore {
  private readonly byToken: BoundedMap<string, Binding>;
  private readonly secret: Buffer;

  constructor(max: number, secret: Buffer) {
    this.byToken = new BoundedMap(max);
    this.secret = secret;
  }

  /** Stable token for (aor, contact): a refresh maps to the same inside Contact. */
  tokenFor(aor: string, contactUri: string): string {
    return `r${createHmac('sha256', this.secret).update(aor).update('\u0000').update(contactUri).digest('hex').slice(0, 20)}`;
  }

  upsert(b: Binding): void {
    const prev = this.byToken.get(b.token);
    if (prev && b.expiresAt === 0) b.expiresAt = prev.expiresAt; // keep the confirmed expiry until the PBX answers
    this.byToken.set(b.token, b);
  }

  get(token: string, now: number): Binding | undefined {
    const b = this.byToken.get(token);
    if (!b) return undefined;
    if (b.expiresAt !== 0 && b.expiresAt <= now) {
      this.byToken.delete(token);
      return undefined;
    }
    return b;
  }

  /** Any binding regardless of expiry (for mapping Contacts of a REGISTER response). */
  peek(token: string): Binding | undefined {
    return this.byToken.get(token);
  }

  remove(token: string): void {
    this.byToken.delete(token);
  }

  removeAor(aor: string): number {
    let n = 0;
    for (const [k, b] of [...this.byToken.entries()]) {
      if (b.aor === aor) {
        this.byToken.delete(k);
        n++;
      }
    }
    return n;
  }

  /** Drops bindings whose flow was this closed connection: the phone must re-register on a new one. */
  dropConnection(connectionId: number): number {
    let n = 0;
    for (const [k, b] of [...this.byToken.entries()]) {
      if (b.flow.connectionId === connectionId) {
        this.byToken.delete(k);
        n++;
      }
    }
    return n;
  }

  sweep(now: number): number {
    let n = 0;
    for (const [k, b] of [...this.byToken.entries()]) {
      if (b.expiresAt !== 0 && b.expiresAt <= now) {
        this.byToken.delete(k);
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.byToken.size;
  }

  get evictions(): number {
    return this.byToken.evictions;
  }

  list(): Binding[] {
    return [...this.byToken.values()];
  }
}
