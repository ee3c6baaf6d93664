"""Insights: the read models (projector, refresh, scheduling, worker), the topic rules
and the queries behind ``/api/v1/insights/*`` and ``analytics_update``."""
