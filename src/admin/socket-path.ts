/** Where the admin socket lives: `admin.socket` if absolute, else inside `node.dataDir` (DESIGN: control plane). */
import { isAbsolute, resolve } from 'node:path';
import type { Policy } from '../config/schema.ts';

/** `policy` as returned by the loader (dataDir already resolved against the policy file's directory). */
export function adminSocketPath(policy: { readonly node: Pick<Policy['node'], 'dataDir'>; readonly admin: Policy['admin'] }): string {
  const socket = policy.admin.socket;
  return isAbsolute(socket) ? socket : resolve(policy.node.dataDir, socket);
}
