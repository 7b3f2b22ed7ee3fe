"""Models that read the page with their own vision encoder: image-text-to-text VLMs (their own
processor, tower and projector) and VisionEncoderDecoder models."""
