/** Public API of the SIP codec. */

export { buildResponseTo, createRequest, createResponse } from './build.ts';
export { canonicalName } from './header-names.ts';
export { parseCSeq, parseNameAddr, parseNameAddrList, parseVia, parseViaValue, splitList } from './headers.ts';
export { parseMessage } from './parser.ts';
export type {
  Contact,
  CSeq,
  HeaderField,
  NameAddr,
  ParseMessage,
  ParseOptions,
  RequestInit,
  ResponseInit,
  SipLimits,
  SipMessage,
  SipParseError,
  SipUri,
  Via,
} from './types.ts';
export { DEFAULT_SIP_LIMITS } from './types.ts';
export { parseUri } from './uri.ts';
