/** Exhaustiveness guard for `switch` over unions: the compiler proves this is unreachable. */
export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${String(x)}`);
}
