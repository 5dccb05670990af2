"""KMS clients the object server uses to get and unwrap per-object data keys."""
