"""Live delivery of changes: the event stream, webhooks and e-mail digests."""
