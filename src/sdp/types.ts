/**
 * SDP data model (RFC 8866, formerly RFC 4566). Plain data: the parser builds it, rewrite functions return a
 * new one, the serializer prints it. Attributes are kept verbatim and in order; typed views over the few
 * attributes Palisade acts on live in attributes.ts.
 */

/** Bounds for untrusted SDP bodies. Every collection the parser fills is capped by one of these. */
export const SDP_MAX_LINES = 512;
export const SDP_MAX_LINE_LENGTH = 4096;
export const SDP_MAX_MEDIA = 8;
/** Whole body: every line at its maximum plus CRLF. */
export const SDP_MAX_BYTES = SDP_MAX_LINES * (SDP_MAX_LINE_LENGTH + 2);

export type SdpErrorCode =
  | 'SDP_EMPTY'
  | 'SDP_TOO_LARGE'
  | 'SDP_TOO_MANY_LINES'
  | 'SDP_LINE_TOO_LONG'
  | 'SDP_TOO_MANY_MEDIA'
  | 'SDP_BAD_ENCODING'
  | 'SDP_BAD_LINE'
  | 'SDP_BAD_VERSION'
  | 'SDP_BAD_ORIGIN'
  | 'SDP_BAD_CONNECTION'
  | 'SDP_BAD_BANDWIDTH'
  | 'SDP_BAD_TIMING'
  | 'SDP_BAD_MEDIA'
  | 'SDP_BAD_ATTRIBUTE'
  | 'SDP_MISSING_LINE'
  | 'SDP_DUPLICATE_LINE';

export interface SdpError {
  readonly code: SdpErrorCode;
  /** 1-based line number in the input, when the error is tied to one line. */
  readonly line?: number;
  /** Short reason, safe to log (never echoes more than the line type of the input). */
  readonly reason: string;
}

/** o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> (RFC 8866 §5.2). */
export interface SdpOrigin {
  username: string;
  /** Digits; kept as a string because values above 2^53 are common (NTP timestamps). */
  sessionId: string;
  /** Digits; bumped with BigInt arithmetic. */
  sessionVersion: string;
  netType: string;
  addrType: string;
  address: string;
}

/** c=<nettype> <addrtype> <connection-address> (RFC 8866 §5.7). `address` may carry /ttl[/count] for multicast. */
export interface SdpConnection {
  netType: string;
  addrType: string;
  address: string;
}

/** b=<bwtype>:<bandwidth> (RFC 8866 §5.8). */
export interface SdpBandwidth {
  type: string;
  value: number;
}

/** t=<start-time> <stop-time> with its r= lines verbatim (RFC 8866 §5.9, §5.10). */
export interface SdpTiming {
  start: string;
  stop: string;
  repeats: string[];
}

/** a=<name>[:<value>]. `value` is undefined for a property attribute (a=rtcp-mux), '' for "a=name:". */
export interface SdpAttribute {
  name: string;
  value: string | undefined;
}

/** A line whose type letter this model does not know; kept verbatim (RFC 8866 §5: parsers ignore unknown types). */
export interface SdpOtherLine {
  type: string;
  value: string;
}

/** m=<media> <port>[/<number of ports>] <proto> <fmt> ... (RFC 8866 §5.14). */
export interface SdpMedia {
  type: string;
  port: number;
  portCount: number | undefined;
  proto: string;
  /** For RTP profiles: payload type numbers as decimal strings. */
  formats: string[];
  info: string | undefined;
  connection: SdpConnection | undefined;
  bandwidths: SdpBandwidth[];
  key: string | undefined;
  attributes: SdpAttribute[];
  otherLines: SdpOtherLine[];
}

export interface Sdp {
  version: number;
  origin: SdpOrigin;
  sessionName: string;
  info: string | undefined;
  uri: string | undefined;
  emails: string[];
  phones: string[];
  connection: SdpConnection | undefined;
  bandwidths: SdpBandwidth[];
  timing: SdpTiming[];
  /** z= verbatim. */
  zone: string | undefined;
  key: string | undefined;
  attributes: SdpAttribute[];
  otherLines: SdpOtherLine[];
  media: SdpMedia[];
}
