/*
 * Calibration only (BENCH_BARE=c in bench/rtp-relay.ts): the least a relay can do per packet on this machine, in C.
 * Two connected sockets per session, epoll, recvmsg one packet at a time and send() it on the other socket —
 * what node:dgram does underneath, without Node. Not part of Palisade.
 *
 * stdin/stdout, one reply line per command:
 *   alloc N BASEPORT        -> "ports pub1 pbx1 ..."   binds 2N sockets on 127.0.0.1 from BASEPORT (step 2)
 *   update phone1 pbx1 ...  -> "ok"                    connects each pair to the load generator's sockets
 *   snapshot                -> "snap CPU_US RELAYED"
 *   release                 -> "ok"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX 8192
static int fds[MAX];
static int nfds;
static long relayed;

static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

int main(void) {
  int ep = epoll_create1(0);
  struct epoll_event in = {.events = EPOLLIN, .data.u32 = 0xffffffffu};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  static char line[1 << 20];
  static unsigned char buf[2048];
  struct epoll_event evs[256];
  size_t have = 0;
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int e = 0; e < n; e++) {
      uint32_t i = evs[e].data.u32;
      if (i != 0xffffffffu) {
        for (int k = 0; k < 32; k++) {
          ssize_t got = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
          if (got < 0) break;
          send(fds[i ^ 1], buf, (size_t)got, MSG_DONTWAIT);
          relayed++;
        }
        continue;
      }
      ssize_t r = read(0, line + have, sizeof line - have - 1);
      if (r <= 0) return 0;
      have += (size_t)r;
      char *nl;
      while ((nl = memchr(line, '\n', have)) != NULL) {
        *nl = 0;
        char *save = NULL;
        char *cmd = strtok_r(line, " ", &save);
        if (cmd && strcmp(cmd, "alloc") == 0) {
          int count = atoi(strtok_r(NULL, " ", &save));
          int port = atoi(strtok_r(NULL, " ", &save));
          printf("ports");
          for (int s = 0; s < 2 * count && nfds < MAX; s++, port += 2) {
            int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            bind(fd, (struct sockaddr *)&a, sizeof a);
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)nfds};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            fds[nfds++] = fd;
            printf(" %d", port);
          }
          printf("\n");
        } else if (cmd && strcmp(cmd, "update") == 0) {
          char *p;
          for (int s = 0; s < nfds && (p = strtok_r(NULL, " ", &save)) != NULL; s++) {
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(p)), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            connect(fds[s], (struct sockaddr *)&a, sizeof a);
          }
          printf("ok\n");
        } else if (cmd && strcmp(cmd, "snapshot") == 0) {
          printf("snap %.0f %ld\n", cpu_us(), relayed);
        } else if (cmd && strcmp(cmd, "release") == 0) {
          for (int s = 0; s < nfds; s++) close(fds[s]);
          nfds = 0;
          printf("ok\n");
        }
        fflush(stdout);
        size_t used = (size_t)(nl - line) + 1;
        memmove(line, nl + 1, have - used);
        have -= used;
      }
    }
  }
}
