"""Bulk jobs: the job service, its stores on DynamoDB, the work queue and its message.

`service` splits a request into queued chunks and works one chunk; `job_store` and `vector_store`
keep job records and vectors; `work_queue` sends chunk messages; `message` is the documented
queue schema; `codec`, `batch_write` and `timestamps` are the stores' small helpers.
"""
