#!/usr/bin/env bash
# Installs the Debian packages the test suite drives as real peers. Idempotent: installs only what is missing.
#   sip-tester   SIPp (UAC/UAS for calls, registrations and load)
#   stunnel4     TLS bridge for SIPp (Debian's SIPp is built without TLS)
#   sipvicious   svmap / svwar / svcrack (attack-resistance tests)
#   redis-server cluster state tests
#   libsrtp2-dev SRTP differential oracle (a tiny C helper is built against it)
#   baresip-core  a real SRTP softphone (SDES and DTLS-SRTP media interop)
#   libmaxmind-db-writer-perl  builds the small test GeoIP .mmdb (scripts/build-test-mmdb.pl)
#   nftables     kernel offload of bans (test in its own network namespace)
#   gcc, openssl, iproute2
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in sip-tester stunnel4 sipvicious redis-server libsrtp2-dev baresip-core libmaxmind-db-writer-perl nftables gcc libc6-dev openssl iproute2 procps; do
  have_pkg "$p" || need+=("$p")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "install-test-tools: all present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-tools: missing Debian packages: ${need[*]} — run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "install-test-tools: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install-test-tools: done"
