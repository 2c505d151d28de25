/** Messages a scripted peer received: every one is kept in `all`; `next` consumes the first match (bounded wait). */
export class Inbox {
  /** Everything ever received, in order (for leak checks). Bounded: tests are short. */
  readonly all: string[] = [];
  private readonly pending: string[] = [];
  private readonly waiters: Array<{ pred: (m: string) => boolean; resolve: (m: string) => void }> = [];
  private static readonly MAX = 10_000;

  push(m: string): void {
    if (this.all.length < Inbox.MAX) this.all.push(m);
    const w = this.waiters.find((x) => x.pred(m));
    if (w) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve(m);
      return;
    }
    if (this.pending.length < Inbox.MAX) this.pending.push(m);
  }

  /** Drops what has not been consumed yet (`all` is kept). */
  clear(): void {
    this.pending.length = 0;
  }

  count(pred: (m: string) => boolean): number {
    return this.pending.filter(pred).length;
  }

  next(pred: (m: string) => boolean, ms = 3000, what = 'message'): Promise<string> {
    const i = this.pending.findIndex(pred);
    if (i >= 0) {
      const [m] = this.pending.splice(i, 1);
      return Promise.resolve(m as string);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (m: string) => {
          clearTimeout(t);
          resolve(m);
        },
      };
      const t = setTimeout(() => {
        const k = this.waiters.indexOf(waiter);
        if (k >= 0) this.waiters.splice(k, 1);
        const seen = this.pending.map((m) => m.split('\r\n', 1)[0]).join(' | ');
        reject(new Error(`timeout after ${ms} ms waiting for ${what}; unconsumed: [${seen}]`));
      }, ms);
      this.waiters.push(waiter);
    });
  }
}
