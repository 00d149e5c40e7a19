FROM python:3.11-slim-bookworm
WORKDIR /srv/hotline
COPY . .
# editable: the templates (asterisk-conf/) and sites/ stay beside the code
RUN pip install --no-cache-dir -e ".[postgres]"
ENV HOTLINE_STATE_DIR=/var/lib/hotline HOTLINE_SITE=/etc/hotline/site.toml
ENTRYPOINT ["hotline"]
