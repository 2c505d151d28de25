/**
 * The media control and anchor the media integration tests run on loopback: both sides on 127.0.0.1, 60 ports of
 * the test range, nothing pre-bound, no quarantine (ports come back at once), the system clock and a silent
 * logger unless a test says otherwise.
 */
import { systemClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/log.ts';
import { createMediaControl, type MediaControl, type MediaControlOptions } from '../../../src/media/control.ts';
import { createMediaAnchor, type MediaAnchor, type MediaAnchorOptions } from '../../../src/proxy/media-anchor.ts';
import { testPortRange } from '../../unit/media/helpers.ts';

export function loopbackControl(extra: Partial<MediaControlOptions> = {}): MediaControl {
  return createMediaControl({
    publicAddress: '127.0.0.1',
    pbxAddress: '127.0.0.1',
    ...testPortRange(60),
    maxSessions: 8,
    clock: systemClock,
    logger: silentLogger,
    prebindLegs: 0,
    quarantineMs: 0,
    ...extra,
  });
}

export function loopbackAnchor(control: MediaControl, extra: Partial<MediaAnchorOptions> = {}): MediaAnchor {
  return createMediaAnchor(control, { publicAdvertise: '127.0.0.1', pbxAdvertise: '127.0.0.1', ...extra });
}
