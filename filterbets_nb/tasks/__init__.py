"""Celery tasks: the backtest chain and the team-stats refresh (see ``celery_app``)."""
