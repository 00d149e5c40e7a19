FROM python:3.11-slim-bookworm
# espeak-ng and sox generate the voice prompts when the configuration is rendered
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng sox \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/hotline
COPY . .
# editable: the templates (asterisk-conf/) and sites/ stay beside the code
RUN pip install --no-cache-dir -e ".[postgres]"
ENV HOTLINE_STATE_DIR=/var/lib/hotline HOTLINE_SITE=/etc/hotline/site.toml
ENTRYPOINT ["hotline"]
