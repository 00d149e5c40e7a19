# Asterisk 22 from Debian sid: the same packages as the private root `hotline pbx up` builds.
FROM debian:sid-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-modules asterisk-core-sounds-en asterisk-moh-opsound-wav \
 && rm -rf /var/lib/apt/lists/*
# The configuration is rendered from the site file by the pbx-config service into the
# shared state volume; Asterisk runs in the foreground as root inside the container.
CMD ["asterisk", "-f", "-n", "-C", "/var/lib/hotline/asterisk/etc/asterisk.conf"]
