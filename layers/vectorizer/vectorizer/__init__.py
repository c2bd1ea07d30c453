"""Text vectorization with Hugging Face models: config, HF client, jobs and stores.

Nothing here knows API Gateway or SQS event shapes; the functions translate events into calls.
"""
