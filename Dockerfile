# One image for the hub (`hub run`) and the device simulators (`hub-sim ...`); see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 hub \
    && useradd --system --uid 10001 --gid hub --home-dir /app --no-create-home --shell /usr/sbin/nologin hub

WORKDIR /app
COPY . /app
# The code stays root-owned (read-only for the service user). The mount points exist in the image, owned by
# the service user, so the named volumes compose mounts there start out writable by it.
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info \
    && mkdir -p /mosquitto/auth /sim \
    && chown hub:hub /mosquitto/auth /sim

USER hub
EXPOSE 8000
CMD ["hub", "run"]
