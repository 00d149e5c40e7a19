# The line's SIP edge: Kamailio from Debian, its configuration rendered by hotline from the
# site file (`hotline edge run` renders it, checks it with `kamailio -c`, and runs Kamailio in
# the foreground).
FROM hotline:latest
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kamailio kamailio-tls-modules kamailio-websocket-modules \
 && rm -rf /var/lib/apt/lists/*
