"""`ocr-job`: run the OCR worker, merge results, make sample cards, show results."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ocr_job import __version__
from ocr_job.config import Detector, EngineName, JobConfig, LogFormat, S3Settings
from ocr_job.exit_codes import ExitCode
from ocr_job.logs import setup_logging
from ocr_job.memory import (
    cgroup_memory_limit,
    mib,
    peak_rss_bytes,
    pictures_in_flight,
    release_library_pages,
    tune_allocator,
)

log = logging.getLogger("ocr_job")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-job", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="OCR every image under SOURCE into DEST")
    run.add_argument("source", nargs="?", help="a folder or s3://BUCKET/PREFIX (or OCR_SOURCE)")
    run.add_argument("--output", "-o", help="a folder or s3://BUCKET/PREFIX (or OCR_OUTPUT)")
    run.add_argument("--engine", choices=[e.value for e in EngineName])
    run.add_argument("--threads", type=int)
    run.add_argument(
        "--second-opinion",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read doubtful names again with a second recogniser (onnx engine; "
        "on by default; or OCR_SECOND_OPINION)",
    )
    run.add_argument(
        "--detector",
        choices=[d.value for d in Detector],
        help="the onnx engine's text detector: int8 (default) or float (or OCR_DETECTOR)",
    )
    run.add_argument(
        "--crops",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the card and portrait crops beside each record (personal "
        "data; off by default; or OCR_CROPS)",
    )
    run.add_argument("--shard", help="I/N: process shard I of N (stable hash of the key)")
    run.add_argument("--manifest", help="a file of keys, one per line; {index} = JOB_COMPLETION_INDEX")
    run.add_argument("--log-format", choices=[f.value for f in LogFormat])
    run.add_argument(
        "--no-merge",
        action="store_true",
        help="do not write results.jsonl/csv at the end (done anyway for sharded runs)",
    )

    merge = sub.add_parser("merge", help="build results.jsonl and results.csv from DEST's records")
    merge.add_argument("output", help="a folder or s3://BUCKET/PREFIX")

    samples = sub.add_parser("samples", help="generate synthetic ID-card images with labels")
    samples.add_argument("dest", type=Path)
    samples.add_argument("--count", type=int, default=24)
    samples.add_argument("--seed", type=int, default=0)
    samples.add_argument("--levels", default="clean,photo,hard", help="comma-separated: clean, photo, hard")
    samples.add_argument("--bad-inputs", action="store_true", help="add broken files too")
    samples.add_argument("--styles", default=None,
                         help="comma-separated layout styles (default: classic, realdesign, "
                              "compact, wide; held out unless named: slim, lattice, sweep, "
                              "ledger, mono)")  # fmt: skip
    samples.add_argument("--watermark", action="store_true",
                         help="lay a KYC watermark (仅供…使用) over every picture")  # fmt: skip

    sub.add_parser(
        "models",
        help="build the int8 detector and the optimised second recogniser now "
        "(else the first run builds them)",
    )

    show = sub.add_parser("show", help="print a table of the records in DEST")
    show.add_argument("output", help="a folder or s3://BUCKET/PREFIX")
    show.add_argument("--limit", type=int, default=50)
    show.add_argument("--unmasked", action="store_true", help="show ID numbers in full")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "run": cmd_run,
        "merge": cmd_merge,
        "samples": cmd_samples,
        "show": cmd_show,
        "models": cmd_models,
    }
    try:
        return int(handler[args.command](args))
    except ValidationError as exc:  # settings read on the way (OCR_S3_*): a usage error
        setup_logging()
        log.error("invalid configuration: %s", _brief(exc))
        return ExitCode.USAGE


# --------------------------------------------------------------------------- run


def _config_from(args: argparse.Namespace) -> JobConfig:
    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "source": args.source,
            "output": args.output,
            "engine": args.engine,
            "threads": args.threads,
            "shard": args.shard,
            "manifest": args.manifest,
            "log_format": args.log_format,
            "second_opinion": args.second_opinion,
            "crops": args.crops,
            "detector": args.detector,
        }.items()
        if value is not None
    }
    return JobConfig(**overrides)


def cmd_run(args: argparse.Namespace) -> ExitCode:
    from ocr_job import pipeline
    from ocr_job.engines import MEMORY_NEED_BYTES
    from ocr_job.sharding import expand_index, resolve_shard_index
    from ocr_job.storage import (
        StorageError,
        open_sink,
        open_source,
        output_inside_source,
        read_manifest,
    )

    try:
        config = _config_from(args)
        s3 = S3Settings().check()
        index = resolve_shard_index()
        if index is None and config.shard is not None:
            index = config.shard.index
        manifest_url = expand_index(config.manifest, index) if config.manifest else None
    except (ValidationError, ValueError) as exc:
        setup_logging()
        log.error("invalid configuration: %s", _brief(exc))
        return ExitCode.USAGE
    setup_logging(config.log_format)
    inside = output_inside_source(config.source, config.output)
    if inside == "":
        log.error(
            "the output is the source folder itself: records would mix with the inputs; give another --output"
        )
        return ExitCode.USAGE

    limit = cgroup_memory_limit()
    need = MEMORY_NEED_BYTES[config.engine]
    if config.check_memory and limit is not None and limit < need:
        log.error(
            "memory limit %s is below the %s engine's need of %s; raise the limit",
            mib(limit),
            config.engine.value,
            mib(need),
        )
        return ExitCode.USAGE

    with contextlib.ExitStack() as held:
        try:
            source = open_source(config.source, s3, skip=inside)
            sink = open_sink(config.output, s3)
            sharded = manifest_url is not None or (config.shard is not None and config.shard.count > 1)
            held.enter_context(sink.lock(shared=sharded))
            manifest = read_manifest(manifest_url, s3) if manifest_url else None
            items = pipeline.plan_items(source, config.shard, manifest, config.max_object_bytes)
        except (StorageError, OSError) as exc:
            log.error("cannot use the source or output: %s", _storage_reason(exc))
            return ExitCode.CANNOT_PROCEED
        return _run(args, config, index, limit, source, sink, manifest, items)


def _lanes(config: JobConfig, limit: int | None) -> int:
    """Pictures read at the same time: one per thread (`--threads`) while the memory limit
    holds them (`lanes.lanes_for`), for an engine that can (`Lanes`); otherwise one, whose
    model runs get every thread."""
    from ocr_job.engines import MEMORY_NEED_BYTES
    from ocr_job.lanes import lanes_for

    if config.engine is not EngineName.ONNX:
        return 1
    return lanes_for(config.threads, limit, MEMORY_NEED_BYTES[config.engine])


def _run(
    args: argparse.Namespace,
    config: JobConfig,
    index: int | None,
    limit: int | None,
    source: Any,
    sink: Any,
    manifest: list[str] | None,
    items: list[Any],
) -> ExitCode:
    """Load the engine, process `items`, write the shard summary or merge (output locked)."""
    from ocr_job import imaging, pipeline
    from ocr_job.engines import EngineError, load_engine
    from ocr_job.engines.base import Lanes, Rereads
    from ocr_job.merge import merge
    from ocr_job.reporting import Reporters, ShardStatusReporter, default_reporters
    from ocr_job.storage import StorageError
    from ocr_job.storage.base import SHARDS_DIR

    tune_allocator()
    count = _lanes(config, limit)
    threads = max(1, config.threads // count)  # each lane's model runs
    imaging.limit_threads(threads)
    try:
        engine = load_engine(config.engine, threads, config.second_opinion, config.detector)
        if config.second_opinion and not isinstance(engine, Rereads):
            log.info("the %s engine has no second opinion: names are read once", config.engine.value)
        engines = [engine]
        if isinstance(engine, Lanes):
            engines += [engine.lane() for _ in range(count - 1)]
    except EngineError as exc:
        log.error("%s", exc)
        return ExitCode.CANNOT_PROCEED
    release_library_pages()  # the pages only the imports and the models' loading touched
    pictures_in_flight(len(engines))
    log.info(
        "engine %s loaded (%d picture(s) at a time, %d thread(s) each); memory limit %s; %d inputs",
        config.engine.value,
        len(engines),
        threads,
        mib(limit),
        len(items),
    )

    reporters: list[Any] = default_reporters()
    if config.status_target and index is not None:
        from ocr_job.status import StatusReporter

        patcher = StatusReporter(sink, index, config.status_interval_s)
        reporters.append(ShardStatusReporter(index, patcher, limit))
    progress = Reporters(reporters)

    sharded = manifest is not None or (config.shard is not None and config.shard.count > 1)
    summary = pipeline.RunSummary()
    try:
        pipeline.run(items, source, sink, engines, config, progress, summary)
        if sharded and index is not None:
            sink.write_text(
                f"{SHARDS_DIR}/shard-{index:04d}.json",
                json.dumps(
                    {
                        "index": index,
                        "total": summary.total,
                        "processed": summary.processed,
                        "succeeded": summary.succeeded,
                        "failed": summary.failed,
                        "skipped": summary.skipped,
                        "errors": summary.error_codes,
                        "peakRssBytes": peak_rss_bytes(),
                        "memoryLimitBytes": limit,
                    },
                    indent=1,
                ),
            )
        elif not sharded and not args.no_merge:
            merge(sink)
    except StorageError as exc:
        log.error("cannot go on with the source or output, stopping; finished items are kept: %s", exc)
        progress.finish(summary, ok=False, message=str(exc))
        return ExitCode.CANNOT_PROCEED
    progress.finish(summary, ok=True)
    log.info(
        "done: %d inputs, %d ok, %d error, %d skipped (already done) in %.1f s; errors %s; "
        "peak RSS %s, memory limit %s",
        summary.total,
        summary.succeeded,
        summary.failed,
        summary.skipped,
        summary.wall_s,
        summary.error_codes or "none",
        mib(peak_rss_bytes()),
        mib(limit),
    )
    return ExitCode.OK


# --------------------------------------------------------------------------- merge / samples / show


def cmd_merge(args: argparse.Namespace) -> ExitCode:
    from ocr_job.merge import merge
    from ocr_job.storage import StorageError, open_sink

    setup_logging()
    try:
        s3 = S3Settings().check()
    except ValueError as exc:
        log.error("invalid configuration: %s", _brief(exc))
        return ExitCode.USAGE
    try:
        sink = open_sink(args.output, s3)
        with sink.lock():
            result = merge(sink)
    except StorageError as exc:
        log.error("cannot merge: %s", exc)
        return ExitCode.CANNOT_PROCEED
    log.info(
        "merged %d records (%d ok, %d error); %d other .json file(s) left out",
        result.records,
        result.ok,
        result.errors,
        result.ignored,
    )
    return ExitCode.OK


def cmd_samples(args: argparse.Namespace) -> ExitCode:
    from ocr_job.synth import generate_set

    setup_logging()
    from ocr_job.synth import STYLES

    levels = tuple(level.strip() for level in args.levels.split(",") if level.strip())
    styles = tuple(s.strip() for s in args.styles.split(",") if s.strip()) if args.styles else STYLES
    labels = generate_set(
        args.dest,
        args.count,
        seed=args.seed,
        levels=levels,
        bad_inputs=args.bad_inputs,
        styles=styles,
        watermark=args.watermark,
    )
    log.info("wrote %d sample cards to %s (labels: %s)", args.count, args.dest, labels.name)
    return ExitCode.OK


def cmd_models(args: argparse.Namespace) -> ExitCode:
    """Build the models the onnx engine looks for (`quantize.model_dir`): the int8 detector
    and the second recogniser's optimised graph."""
    from ocr_job.engines import quantize
    from ocr_job.engines.onnx import bundled_model_paths, second_rec_paths

    setup_logging()
    failed = False
    for model, recipe in (
        (bundled_model_paths()["Det"], quantize.DETECTOR),
        (second_rec_paths()[0], quantize.SECOND_RECOGNISER),
    ):
        built = quantize.built(model, recipe)
        failed = failed or built == model
        if built != model:
            log.info("the %s is %s", recipe.built, built.name)
    return ExitCode.CANNOT_PROCEED if failed else ExitCode.OK


def cmd_show(args: argparse.Namespace) -> ExitCode:
    """A table of DEST's records. Unless `--unmasked`: ID number, birth date, name and
    address masked, and the source key replaced by its reference, as in the logs (a file
    name may hold a name in any script)."""
    from rich.console import Console
    from rich.table import Table

    from ocr_job.privacy import key_ref, scrub
    from ocr_job.records import FIELD_NAMES
    from ocr_job.storage import StorageError, open_sink

    setup_logging()
    table = Table(title=_cell(scrub(f"ocr-job results: {args.output}")), show_lines=False)
    for column in ("source", "side", *FIELD_NAMES, "checks", "error"):
        table.add_column(column, overflow="fold")
    shown = total = ok = 0
    try:
        for record in open_sink(args.output, S3Settings()).iter_records():
            total += 1
            ok += record.status == "ok"
            if shown >= args.limit:
                continue
            shown += 1
            fields = record.fields.model_dump()
            if not args.unmasked:
                fields = _masked_fields(fields)
            failed = [k for k, v in record.checks.items() if not v]
            cells = (
                record.source,
                record.side or "",
                *(fields[f] or "" for f in FIELD_NAMES),
                "ok" if not failed else "✗ " + ",".join(failed),
                record.error.code.value if record.error else "",
            )
            if not args.unmasked:
                cells = (key_ref(record.source), *cells[1:])
            table.add_row(*(_cell(c) for c in cells))
    except StorageError as exc:
        log.error("cannot read results: %s", exc)
        return ExitCode.CANNOT_PROCEED
    console = Console(width=max(160, Console().width))
    console.print(table)
    console.print(
        f"{total} records: {ok} ok, {total - ok} error" + (f" (first {shown} shown)" if shown < total else "")
    )
    return ExitCode.OK


def _storage_reason(exc: Exception) -> str:
    """A StorageError's message, or an OSError's reason without its file name."""
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno) if exc.errno != errno.ENOENT else "no such file or folder"
    return str(exc)


def _masked_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The birth date is the ID number's hidden digits, so it is hidden with them; a name
    keeps its first character, an address its province and prefecture."""
    from ocr_job.privacy import mask_address, mask_date, mask_id, mask_name

    return {
        **fields,
        "id_number": mask_id(fields["id_number"]),
        "birth_date": mask_date(fields["birth_date"]),
        "name": mask_name(fields["name"]),
        "address": mask_address(fields["address"]),
    }


def _cell(value: str) -> Any:
    """A table cell: control characters escaped (no terminal escape sequences from a key),
    never read as rich markup."""
    from rich.text import Text

    return Text("".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in value))


def _brief(exc: Exception) -> str:
    """A one-line, scrubbed description of a configuration error; a validation error never
    echoes the value it refused (it may be a secret given to the wrong variable)."""
    from ocr_job.privacy import scrub

    if isinstance(exc, ValidationError):
        return scrub(
            "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {_without_input(err)}"
                for err in exc.errors()
            )
        )
    return scrub(str(exc))


def _without_input(err: Any) -> str:
    msg, value = str(err["msg"]), err.get("input")
    if isinstance(value, str) and value:
        msg = msg.replace(value, "***")
    return msg


if __name__ == "__main__":
    sys.exit(main())
