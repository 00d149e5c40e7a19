FROM python:3.11-slim-bookworm
# espeak-ng and sox generate the voice prompts when the configuration is rendered; npm
# installs the console's browser phone (SIP.js) from package-lock.json
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng sox npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/hotline
COPY . .
RUN npm ci --ignore-scripts --no-audit --no-fund
# exactly what uv.lock says (versions and hashes), then the project itself, editable: the
# templates (asterisk-conf/) and sites/ stay beside the code
RUN pip install --no-cache-dir uv==0.13.9 \
 && uv export --frozen --no-dev --extra postgres --no-emit-project -o /tmp/requirements.txt \
 && pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt \
 && pip install --no-cache-dir --no-deps -e . \
 && pip uninstall -y uv && rm /tmp/requirements.txt
ENV HOTLINE_STATE_DIR=/var/lib/hotline HOTLINE_SITE=/etc/hotline/site.toml
ENTRYPOINT ["hotline"]
