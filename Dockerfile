# syntax=docker/dockerfile:1
#
# Production image of filterbets-nb: one image for the Celery worker (the default command), beat,
# Flower, the one-shot migration and JupyterLab; docker-compose.yml picks the role per service.
#
#   docker build -t filterbets-nb .
#   docker run --rm -e FILTERBETS_BROKER_URL=redis://... -e FILTERBETS_DATABASE_URL=... filterbets-nb
#
# Two stages, so compilers and pip caches never reach the runtime image: the builder turns the
# project and every dependency into wheels, the runtime stage installs only those wheels.

ARG PYTHON_IMAGE=python:3.11-slim

# EXTRAS picks the install set: empty (the default) is the lean core that the worker, beat,
# migrate and Flower run on; "[notebook]" adds JupyterLab, ipywidgets and matplotlib for the
# compose file's jupyter service (built from this file with that argument).
ARG EXTRAS=""

FROM ${PYTHON_IMAGE} AS builder
ARG EXTRAS
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Only what the build reads: metadata (README.md is the package's `readme`) and the package
# itself, whose migrations ship as package data.
COPY pyproject.toml README.md ./
COPY filterbets_nb ./filterbets_nb
# Flower is a dev extra of the project, but the compose stack runs it from this image; keep this
# requirement equal to pyproject's (tests/test_compose.py checks it).
RUN pip wheel --wheel-dir /wheels . "flower>=2.0" \
    && if [ -n "${EXTRAS}" ]; then pip wheel --wheel-dir /wheels ".${EXTRAS}"; fi

FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=1000
ARG EXTRAS
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FILTERBETS_DATA_DIR=/home/app/data
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "filterbets-nb${EXTRAS}" flower \
    && useradd --create-home --uid "${APP_UID}" --shell /usr/sbin/nologin app
# Tasks never need root; a compromised task then cannot touch the image. The home directory is
# the working directory, so `celery beat` can write its schedule file there.
USER app
WORKDIR /home/app
RUN mkdir -p /home/app/data /home/app/notebooks
# No ENTRYPOINT on purpose: compose's `command:` lines (celery ..., filterbets-nb ...,
# jupyter ...) then run exactly as written.
CMD ["celery", "-A", "filterbets_nb.tasks.celery_app", "worker", "-Q", "backtest,stats", "--loglevel=info"]
