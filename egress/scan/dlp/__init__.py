"""The DLP scanner: secrets in requests and responses, however they are encoded."""
