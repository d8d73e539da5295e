"""HTTP routes: thin handlers over the model store, the micro-batcher and the audit log."""
