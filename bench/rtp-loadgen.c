/*
 * Load generator for bench/rtp-relay.ts: C, so that it is not the bottleneck (the Node one it replaces ran at 100 %
 * of a core while the relay still had time to spare, and the relay's figures then measured the generator).
 *
 * Driven over stdin/stdout, one command per line, one reply line each:
 *   open MODE N pub1 pbx1 ... pubN pbxN   -> "ports phone1 pbx1 ... phoneN pbxN"
 *        MODE plain | srtp-rtp | rtp-srtp. Per session a "phone" socket connected to the relay's public port and a
 *        "pbx" socket connected to its PBX port. Phones protect what they send with SRTP (AES_CM_128_HMAC_SHA1_80,
 *        libsrtp2) unless MODE is plain. Senders: plain both, srtp-rtp phones, rtp-srtp PBXs.
 *   latch                                  -> "ok"  one packet from every phone (the relay latches on it)
 *   run rate|sat RATE MS LAT               -> "result SENT RECEIVED MS CPU_US P50_MS P99_MS"
 *        rate: open loop at RATE packets/s; sat: closed loop, at most WINDOW packets in flight (a packet sent more
 *        than 30 ms ago counts as settled, so losses never close the window). LAT 1: collect one-way latency.
 *   baseline RATE STREAMS                  -> like run, 1 s open loop over STREAMS direct socket pairs (no relay):
 *        what the kernel and this generator add by themselves at that rate and stream count
 *   close                                  -> "ok"
 *
 * Packets are 172 bytes (G.711 20 ms: 12-byte header + 160). The send time travels in the RTP timestamp (µs of
 * CLOCK_REALTIME mod 2^32; SRTP leaves the header in clear) and is compared with the kernel's receive stamp
 * (SO_TIMESTAMPNS), so the time the generator takes to get round to a socket is not counted as the relay's.
 * In the CPU phases receiving never sleeps (epoll with timeout 0, recvmmsg per ready socket): a sleeping receiver
 * would make every relay send pay for waking it, which a relay sending to remote hosts never does. Latency phases
 * sleep until the next packet is due instead: spinning there put milliseconds into the tail even for the C relay
 * (N = 1: p99 549 µs spinning, 117 µs sleeping).
 *
 * Bench-only keys (not secrets): phones protect with master key 0x11 x 16, salt 0x22 x 14 (as rtp-relay.ts).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PACKET_BYTES 172
#define MAX_SESSIONS 4096
#define LAT_MAX 2000000
#define BATCH 32

enum { MODE_PLAIN, MODE_SRTP_RTP, MODE_RTP_SRTP };

struct sock {
  int fd;
  int phone; /* 1: phone socket (protects with SRTP unless plain) */
  uint32_t ssrc;
  uint16_t seq;
};

static struct sock socks[2 * MAX_SESSIONS];
static int nsocks;
static int senders[2 * MAX_SESSIONS];
static int nsenders;
static int mode = MODE_PLAIN;
static int ep = -1;
static srtp_t srtp_session;
static int have_srtp;
static double lat[LAT_MAX];
static long latn;
static int collect;
static long received;
/* In-flight packets in closed loop: BENCH_WINDOW, else 128 per sending stream up to 1024. A single stream with 1024
 * in flight overflowed the relay's socket buffer, and every loss then held the window shut for 30 ms. */
static int window_override;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CLOCK_REALTIME: the receive side reads the kernel's SO_TIMESTAMPNS stamp, which is in that clock. */
static uint32_t now_us32(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static int udp_connected(int remote_port, int *local_port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int buf = 1 << 20, on = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) goto fail;
  if (remote_port > 0) {
    a.sin_port = htons(remote_port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) goto fail;
  }
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *local_port = ntohs(a.sin_port);
  return fd;
fail:
  close(fd);
  return -1;
}

static void watch(int index) {
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
  epoll_ctl(ep, EPOLL_CTL_ADD, socks[index].fd, &ev);
}

static void send_one(struct sock *s) {
  unsigned char b[PACKET_BYTES + SRTP_MAX_TRAILER_LEN];
  memset(b + 12, 0xd5, PACKET_BYTES - 12);
  b[0] = 0x80;
  b[1] = 0;
  b[2] = s->seq >> 8;
  b[3] = s->seq & 0xff;
  s->seq++;
  uint32_t t = now_us32();
  b[4] = t >> 24, b[5] = t >> 16, b[6] = t >> 8, b[7] = t;
  b[8] = s->ssrc >> 24, b[9] = s->ssrc >> 16, b[10] = s->ssrc >> 8, b[11] = s->ssrc;
  int len = PACKET_BYTES;
  if (have_srtp && s->phone && srtp_protect(srtp_session, b, &len) != srtp_err_status_ok) return;
  send(s->fd, b, (size_t)len, MSG_DONTWAIT);
}

/* Drains every ready socket; never blocks. */
static void receive_ready(long wait_ns) {
  static struct epoll_event evs[256];
  static unsigned char bufs[BATCH][2048];
  static struct mmsghdr msgs[BATCH];
  static struct iovec iov[BATCH];
  static char ctl[BATCH][64];
  static int init;
  if (!init) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = sizeof bufs[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    init = 1;
  }
  for (int i = 0; i < BATCH; i++) {
    msgs[i].msg_hdr.msg_control = ctl[i];
    msgs[i].msg_hdr.msg_controllen = sizeof ctl[i];
  }
  int n;
  if (wait_ns <= 0) {
    n = epoll_wait(ep, evs, 256, 0);
  } else {
    struct timespec to = {.tv_sec = wait_ns / 1000000000L, .tv_nsec = wait_ns % 1000000000L};
    n = epoll_pwait2(ep, evs, 256, &to, NULL);
  }
  for (int e = 0; e < n; e++) {
    int fd = socks[evs[e].data.u32].fd;
    for (;;) {
      int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
      if (got <= 0) break;
      uint32_t t_now = now_us32();
      for (int i = 0; i < got; i++) {
        received++;
        if (collect && latn < LAT_MAX && msgs[i].msg_len >= 12) {
          /* When the kernel queued it on our socket: the time this generator took to read it is not the relay's. */
          uint32_t t = t_now;
          for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
              struct timespec ts;
              memcpy(&ts, CMSG_DATA(c), sizeof ts);
              t = (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
            }
          unsigned char *b = bufs[i];
          uint32_t sent = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
          lat[latn++] = (double)(uint32_t)(t - sent) / 1000.0;
        }
      }
      if (got < BATCH) break;
    }
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double percentile(double p) {
  if (latn == 0) return -1;
  long i = (long)(p / 100.0 * latn);
  if (i >= latn) i = latn - 1;
  return lat[i];
}

#define RING 65536
static double ring_t[RING];
static long ring_sent[RING];

/* One phase over the given senders; prints the result line. */
static void run(int sat, double rate, double ms, int with_latency, int *pool, int npool) {
  double cpu0 = cpu_us();
  double t0 = now_ms();
  long r0 = received, sent = 0, settled = 0;
  int next = 0, ring_head = 0, ring_len = 0;
  latn = 0;
  collect = with_latency;
  double elapsed;
  long window_size = window_override > 0 ? window_override : npool * 128L < 1024 ? npool * 128L : 1024;
  for (;;) {
    double now = now_ms();
    elapsed = now - t0;
    if (elapsed >= ms) break;
    long budget;
    if (!sat) {
      budget = (long)(rate * elapsed / 1000.0) - sent;
    } else {
      while (ring_len > 0 && ring_t[ring_head] < now - 30) {
        settled = ring_sent[ring_head];
        ring_head = (ring_head + 1) % RING;
        ring_len--;
      }
      long done = received - r0 > settled ? received - r0 : settled;
      budget = window_size - (sent - done);
    }
    if (budget > 64) budget = 64;
    for (long i = 0; i < budget; i++) {
      send_one(&socks[pool[next]]);
      next = next + 1 == npool ? 0 : next + 1;
      sent++;
    }
    if (sat && budget > 0 && ring_len < RING) {
      ring_t[(ring_head + ring_len) % RING] = now;
      ring_sent[(ring_head + ring_len) % RING] = sent;
      ring_len++;
    }
    /* Latency phases sleep until the next packet is due (see the header); the others never sleep. */
    long wait_ns = 0;
    if (!sat && with_latency) {
      double due_ms = (double)(sent + 1) * 1000.0 / rate;
      wait_ns = (long)((due_ms - (now_ms() - t0)) * 1e6);
    }
    receive_ready(wait_ns);
  }
  collect = 0;
  /* let in-flight packets land before counting */
  double until = now_ms() + 50;
  while (now_ms() < until) receive_ready(0);
  qsort(lat, (size_t)latn, sizeof lat[0], cmp_double);
  printf("result %ld %ld %.3f %.0f %.4f %.4f\n", sent, received - r0, elapsed, cpu_us() - cpu0, percentile(50), percentile(99));
  fflush(stdout);
}

static void close_all(void) {
  for (int i = 0; i < nsocks; i++) close(socks[i].fd);
  nsocks = 0;
  nsenders = 0;
  if (ep >= 0) close(ep);
  ep = -1;
  if (have_srtp) srtp_dealloc(srtp_session);
  have_srtp = 0;
}

static int open_srtp(void) {
  unsigned char key[30];
  memset(key, 0x11, 16);
  memset(key + 16, 0x22, 14);
  srtp_policy_t p;
  memset(&p, 0, sizeof p);
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
  p.ssrc.type = ssrc_any_outbound;
  p.key = key;
  p.window_size = 128;
  if (srtp_create(&srtp_session, &p) != srtp_err_status_ok) return -1;
  have_srtp = 1;
  return 0;
}

int main(void) {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  if (srtp_init() != srtp_err_status_ok) return 2;
  const char *w = getenv("BENCH_WINDOW");
  if (w && atoi(w) > 0) window_override = atoi(w);
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    char *save = NULL;
    char *cmd = strtok_r(line, " \n", &save);
    if (!cmd) continue;
    if (strcmp(cmd, "open") == 0) {
      close_all();
      const char *m = strtok_r(NULL, " \n", &save);
      int n = atoi(strtok_r(NULL, " \n", &save));
      mode = strcmp(m, "srtp-rtp") == 0 ? MODE_SRTP_RTP : strcmp(m, "rtp-srtp") == 0 ? MODE_RTP_SRTP : MODE_PLAIN;
      if (n < 1 || n > MAX_SESSIONS || (mode != MODE_PLAIN && open_srtp() < 0)) {
        printf("error open\n");
        fflush(stdout);
        continue;
      }
      ep = epoll_create1(0);
      printf("ports");
      for (int i = 0; i < n; i++) {
        int pub = atoi(strtok_r(NULL, " \n", &save));
        int pbx = atoi(strtok_r(NULL, " \n", &save));
        int lp_phone = 0, lp_pbx = 0;
        int a = udp_connected(pub, &lp_phone);
        int b = udp_connected(pbx, &lp_pbx);
        if (a < 0 || b < 0) {
          fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
          return 1;
        }
        socks[nsocks] = (struct sock){.fd = a, .phone = 1, .ssrc = 0x10000u + (uint32_t)nsocks};
        watch(nsocks);
        if (mode != MODE_RTP_SRTP) senders[nsenders++] = nsocks;
        nsocks++;
        socks[nsocks] = (struct sock){.fd = b, .phone = 0, .ssrc = 0x10000u + (uint32_t)nsocks};
        watch(nsocks);
        if (mode != MODE_SRTP_RTP) senders[nsenders++] = nsocks;
        nsocks++;
        printf(" %d %d", lp_phone, lp_pbx);
      }
      printf("\n");
    } else if (strcmp(cmd, "latch") == 0) {
      for (int i = 0; i < nsocks; i++)
        if (socks[i].phone) send_one(&socks[i]);
      double until = now_ms() + 100;
      while (now_ms() < until) receive_ready(0);
      printf("ok\n");
    } else if (strcmp(cmd, "run") == 0) {
      int sat = strcmp(strtok_r(NULL, " \n", &save), "sat") == 0;
      double rate = atof(strtok_r(NULL, " \n", &save));
      double ms = atof(strtok_r(NULL, " \n", &save));
      int with_latency = atoi(strtok_r(NULL, " \n", &save));
      run(sat, rate, ms, with_latency, senders, nsenders);
    } else if (strcmp(cmd, "baseline") == 0) {
      double rate = atof(strtok_r(NULL, " \n", &save));
      int streams = atoi(strtok_r(NULL, " \n", &save));
      if (streams < 1) streams = 1;
      if (streams > MAX_SESSIONS) streams = MAX_SESSIONS;
      /* direct pairs (a_i -> b_i), as many streams as the phase had, appended after the sessions' sockets */
      if (ep < 0) ep = epoll_create1(0);
      static int pool[MAX_SESSIONS];
      int first = nsocks;
      for (int i = 0; i < streams; i++) {
        int lp_b = 0, lp_a = 0;
        int b = udp_connected(0, &lp_b);
        int a = udp_connected(lp_b, &lp_a);
        int ia = first + 2 * i, ib = ia + 1;
        socks[ia] = (struct sock){.fd = a, .phone = 0, .ssrc = 0xba5e0000u + (uint32_t)ia};
        socks[ib] = (struct sock){.fd = b, .phone = 0, .ssrc = 0xba5e0000u + (uint32_t)ib};
        watch(ib);
        pool[i] = ia;
      }
      run(0, rate, 1000, 1, pool, streams);
      for (int i = 0; i < streams; i++) {
        epoll_ctl(ep, EPOLL_CTL_DEL, socks[first + 2 * i + 1].fd, NULL);
        close(socks[first + 2 * i].fd);
        close(socks[first + 2 * i + 1].fd);
      }
    } else if (strcmp(cmd, "close") == 0) {
      close_all();
      printf("ok\n");
    } else {
      printf("error unknown command\n");
    }
    fflush(stdout);
  }
  close_all();
  srtp_shutdown();
  free(line);
  return 0;
}
