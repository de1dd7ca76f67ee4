"""Tools run by hand or by the tests as child processes, not tests themselves:
`python -m scripts.fuzzing` (scenario 7's fuzzer), `python -m scripts.capture_fixtures` and
`python -m scripts.capture_classes` (the parser's engine fixtures), `python -m
scripts.harness_cpu` (the e2e harness's own CPU time), `scripts/stop-started.py` (CI: stop
what a test run started), `scripts/build-kube.sh` (the real-apiserver tier's binaries)."""
