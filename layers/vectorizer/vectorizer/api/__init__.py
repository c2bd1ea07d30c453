"""The HTTP API's own room: request and answer models, limits, inline answers and job reports.

The event shapes of API Gateway stay in `functions/api`; this package sees pydantic models only.
"""
