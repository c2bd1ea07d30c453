"""The outgoing Hugging Face client: batched, concurrent, retried feature-extraction calls.

`client` sends the requests, `response` decodes HF's answers and failures, `retry` decides when to
try again. Nothing here knows about jobs, queues or the HTTP API this service serves.
"""
