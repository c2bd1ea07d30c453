"""The local stack: embedded AWS, the real model, and Lambda-shaped plumbing around the functions."""
