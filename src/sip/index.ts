/** Public API of the SIP codec. */
export { parseMessage } from './parser.ts';
export { parseUri } from './uri.ts';
export { parseCSeq, parseNameAddr, parseNameAddrList, parseVia, parseViaValue, splitList } from './headers.ts';
export { buildResponseTo, createRequest, createResponse } from './build.ts';
export { canonicalName } from './header-names.ts';
export { DEFAULT_SIP_LIMITS } from './types.ts';
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
