"""One OcrBatch: its spec, what it may ask of the cluster, its plan, its worker Jobs,
their OOM retries, its status, its storage, and the reconcile pass that ties them."""
