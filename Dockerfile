# syntax=docker/dockerfile:1
#
# Palisade container image.
#
#   docker build -t palisade .
#   docker run -d --name palisade \
#     -p 5060:5060/udp -p 5060:5060/tcp -p 5061:5061/tcp -p 8443:8443/tcp \
#     -v palisade-data:/var/lib/palisade \
#     -v ./my-policy.yaml:/etc/palisade/palisade.yaml:ro \
#     palisade
#   docker exec palisade palisade status          # or: docker run … palisade policy check /etc/palisade/palisade.yaml
#   docker stop -t 40 palisade                    # SIGTERM drains calls for shutdown.drainMs (30 s by default)
#
# The TypeScript sources run through tsx (a runtime dependency), so there is no compile step: the build stage
# only installs production dependencies. tsx keeps its transpile cache in /tmp: with --read-only, mount a tmpfs
# there (--tmpfs /tmp).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: production dependencies and the container policy --------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NODE_ENV=production \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY config ./config
# The default policy, adapted to the container: state in the data volume, metrics reachable from the
# container network (publish 9090 only toward your Prometheus). The guards fail the build if the default
# file changed shape, and `policy check` proves the result is valid.
RUN sed -e 's|^  dataDir: ./data$|  dataDir: /var/lib/palisade|' \
        -e '/^metrics:/,/^[a-z]/ s|^  address: 127.0.0.1$|  address: 0.0.0.0|' \
        config/palisade.yaml > config/palisade.container.yaml \
 && grep -q '^  dataDir: /var/lib/palisade$' config/palisade.container.yaml \
 && grep -q '^  address: 0.0.0.0$' config/palisade.container.yaml \
 && node bin/palisade.js policy check config/palisade.container.yaml

# ---- runtime ----------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="palisade" \
      org.opencontainers.image.description="Palisade: a pure-TypeScript SIP session border controller" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    PALISADE_CONFIG=/etc/palisade/palisade.yaml
RUN groupadd --system palisade \
 && useradd --system --gid palisade --home-dir /var/lib/palisade --no-create-home --shell /usr/sbin/nologin palisade \
 && install -d -o palisade -g palisade -m 0700 /var/lib/palisade \
 && install -d -o root -g root -m 0755 /etc/palisade
WORKDIR /opt/palisade
# Code and dependencies stay owned by root: the daemon cannot modify itself.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/bin ./bin
COPY --from=build /app/src ./src
COPY --from=build /app/config ./config
COPY --from=build /app/config/palisade.container.yaml /etc/palisade/palisade.yaml
RUN ln -s /opt/palisade/bin/palisade.js /usr/local/bin/palisade && chmod 0755 bin/palisade.js

USER palisade
# Bans, the generated TLS certificate, the node key and the admin socket (0600) live here.
VOLUME ["/var/lib/palisade"]
# SIP UDP/TCP, SIP over TLS, SIP over secure WebSocket, Prometheus metrics.
EXPOSE 5060/udp 5060/tcp 5061/tcp 8443/tcp 9090/tcp

# `palisade status` asks the daemon over its admin socket: exit 0 running, 1 not answering.
# The socket path is the default (dataDir + admin.socket); change it here if your policy moves it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["node", "/opt/palisade/bin/palisade.js", "status", "--socket", "/var/lib/palisade/palisade.sock"]

# The daemon handles SIGTERM (drain, then stop), SIGINT (stop) and SIGHUP (reload the policy) itself.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/palisade/bin/palisade.js"]
CMD ["start", "--config", "/etc/palisade/palisade.yaml"]
