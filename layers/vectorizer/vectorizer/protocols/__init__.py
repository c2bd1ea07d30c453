"""The incoming embedding protocols other clients already speak, served from the same vectorizer.

These are the shapes this service *answers* (the outgoing HF client is `vectorizer.hf`):

- `hf_inference_api`: Hugging Face's feature-extraction API (huggingface_hub, LangChain's
  HuggingFaceInferenceAPIEmbeddings, Weaviate's text2vec-huggingface with endpointURL) and TEI's
  `/embed`;
- `openai_embeddings`: OpenAI's `/v1/embeddings` (the openai SDK, LangChain's OpenAIEmbeddings);
- `embedding_call`: what they share, a protocol-neutral call through `HuggingFaceClient.embed`.

Each protocol parses its own request shape and shapes its own answers and errors; nothing here
knows about API Gateway events (the API function translates those).
"""
