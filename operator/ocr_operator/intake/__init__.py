"""One OcrIntake: drop folders in a bucket become OcrBatches (docs/intake.md). Imports
`ocr_operator.batch` (it makes batches); nothing in `batch` imports it."""
