"""`ocr-operator`: a thin wrapper over kopf's runner (same flag names as `kopf run`)."""

from __future__ import annotations

import argparse
import logging
import sys

import kopf

from ocr_operator.config import OperatorConfig
from ocr_operator.handlers import OperatorState, register


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ocr-operator", description="Reconcile OcrBatch resources into worker Jobs."
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch this namespace (repeatable; globs as in kopf)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument("--standalone", action="store_true", help="no peering with other operator instances")
    parser.add_argument("--liveness", metavar="URL", help="e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--metrics-port", type=int, metavar="PORT", help="serve /metrics here")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    if not args.namespace and not args.all_namespaces:
        parser.error("give --namespace NS (repeatable) or --all-namespaces")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kopf.configure(verbose=args.verbose, quiet=args.quiet)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    registry = kopf.OperatorRegistry()
    state = OperatorState(
        config=OperatorConfig.from_env(),
        namespaces=list(args.namespace) or None,
        metrics_port=args.metrics_port,
    )
    register(registry, state)
    # A fresh registry has none of kopf's default login handlers: log in from the
    # in-cluster service account or KUBECONFIG through the official client.
    kopf.on.login(registry=registry)(kopf.login_via_client)
    kopf.run(
        registry=registry,
        standalone=args.standalone,
        namespaces=args.namespace,
        clusterwide=args.all_namespaces,
        liveness_endpoint=args.liveness,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
