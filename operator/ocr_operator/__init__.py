"""ocr-operator: reconciles OcrBatch resources into Indexed Jobs of `ocr-job` workers, and
OcrIntake resources (drop folders in a bucket) into OcrBatches.

The package lives under `operator/` (which is not itself a package). Layout (no import
cycles, `tests/operator/test_layout.py`):

* `kube`: the API group, plurals, labels, timestamps, index ranges, status diff (a leaf);
* `batch/`: one OcrBatch (spec model, policy, planner, Jobs, OOM retries, status, storage,
  and `batch.reconcile`, the pass over one batch);
* `intake/`: one OcrIntake (spec model, storage, `intake.reconcile`, `intake.runtime`); it
  creates OcrBatches and so may import `batch`, never the other way round;
* `cluster`, `scheduler`, `metrics`, `messages`, `config`, `quantities`: shared plumbing;
* `handlers`: every kopf registration; `kopf_settings`: kopf's own settings; `cli`: the
  `ocr-operator` entry point.
"""
